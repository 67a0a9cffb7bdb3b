#!/usr/bin/env bash
# One command for a session that has a GPU: build with CUDA, run the [cuda]
# tests, the kernel study programs, the GPU benches, a kernel-by-kernel profile
# of a model step, a whole 4K-mode image (ours, then the PyTorch reference's
# when torch is there) and the whole test suite,
# and write a short report. Designed to finish in under 8 minutes on an H100
# (16 cores); every step has its own timeout, the whole run has a deadline, a
# failing step is recorded and the next one still runs, and the report is
# rewritten after every step, so it exists even if the run is cut short.
#
#   tools/gpu_check.sh                 run everything (the report goes to $OUT
#                                      when set, else ./gpu_report/)
#   tools/gpu_check.sh --bundle-deps [--xz]
#                                      on the development machine: copy the
#                                      header-only build dependencies (Eigen,
#                                      nlohmann_json, Catch2, stb) and the
#                                      commit id into .gpu_deps/, which the
#                                      device call must carry (the device image
#                                      has CUDA, CMake and a compiler, not these);
#                                      --xz packs them into .gpu_deps.tar.xz (2 MB)
#
# Typical device call: run tools/gpu_check.sh --bundle-deps here, then run
# `tools/gpu_check.sh` on the device with carry [".gpu_deps"]. The report
# folder holds about ten files and the device tool brings back at most eight:
#   DCSR_GPU_REPORT_DIR=gpu_report tools/gpu_check.sh; tar czf $OUT/gpu_report.tgz gpu_report
#
# Environment: DCSR_GPU_CHECK_JOBS (build jobs, default: all cores),
# DCSR_GPU_CHECK_DEADLINE (seconds for the whole run, default 450),
# DCSR_GPU_CHECK_BUILD_DIR (default build-gpu), DCSR_GPU_REPORT_DIR (default $OUT, else
# ./gpu_report).
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

case "${1:-}:${2:-}:${3:-}" in
  "::" | "--bundle-deps::" | "--bundle-deps:--xz:") ;;
  *) echo "usage: tools/gpu_check.sh [--bundle-deps [--xz]]" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------- bundling
if [ "${1:-}" = "--bundle-deps" ]; then
  set -e  # a copy that failed must not report a bundle: the device build would fail on it
  dest="$ROOT/.gpu_deps/usr"
  rm -rf "$ROOT/.gpu_deps"
  mkdir -p "$dest/include" "$dest/share" "$dest/lib/cmake"
  # Same layout as the Debian packages, so the packages' CMake config files,
  # which locate their headers relative to themselves, work unchanged.
  cp -r /usr/include/eigen3 "$dest/include/"
  mkdir -p "$dest/share/eigen3" && cp -r /usr/share/eigen3/cmake "$dest/share/eigen3/"
  cp -r /usr/include/nlohmann "$dest/include/"
  mkdir -p "$dest/share/cmake" && cp -r /usr/share/cmake/nlohmann_json "$dest/share/cmake/"
  cp -r /usr/include/catch2 "$dest/include/"
  cp -r /usr/lib/cmake/Catch2 "$dest/lib/cmake/"
  # The package's target file checks that its libraries exist: libCatch2WithMain.a
  # (Catch2 2.13, Debian 12), libCatch2.a and libCatch2Main.a (Catch2 3, Debian 13).
  cp /usr/lib/libCatch2*.a "$dest/lib/"
  cp -r /usr/include/stb "$dest/include/"
  {
    git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown
    echo "uncommitted changes: $(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) files"
  } >"$ROOT/.gpu_deps/COMMIT"
  if [ "${2:-}" = "--xz" ]; then
    # Packed, 2 MB instead of 16: room beside .gpu_train in the 64 MiB a call carries.
    tar cJf "$ROOT/.gpu_deps.tar.xz" -C "$ROOT" .gpu_deps && rm -rf "$ROOT/.gpu_deps"
    echo "bundled into .gpu_deps.tar.xz ($(du -sh "$ROOT/.gpu_deps.tar.xz" | cut -f1)); carry [\".gpu_deps.tar.xz\"] with the device call"
  else
    echo "bundled into .gpu_deps ($(du -sh "$ROOT/.gpu_deps" | cut -f1)); carry [\".gpu_deps\"] with the device call"
  fi
  exit 0
fi
# Packed dependencies (--bundle-deps --xz) are unpacked where the unpacked ones would be.
. "$ROOT/tools/gpu_build.sh"
gpu_unpack_deps "$ROOT"

# ---------------------------------------------------------------- setup
START=$(date +%s)
DEADLINE=$((START + ${DCSR_GPU_CHECK_DEADLINE:-450}))
JOBS="${DCSR_GPU_CHECK_JOBS:-$(nproc)}"
BUILD="${DCSR_GPU_CHECK_BUILD_DIR:-build-gpu}"
# Absolute, since some steps run from other folders (the NCCL step's mpirun).
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
REPORT_DIR="${DCSR_GPU_REPORT_DIR:-${OUT:-$ROOT/gpu_report}}"
mkdir -p "$REPORT_DIR"
REPORT="$REPORT_DIR/report.md"
STEPS="$REPORT_DIR/.steps"
: >"$STEPS"
for f in build.log cuda_tests.log study.jsonl bench.jsonl ctest.log; do : >"$REPORT_DIR/$f"; done

HAVE_GPU=no
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then HAVE_GPU=yes; fi

# The device's copy of the tree may carry a .git that lags behind the files
# (its HEAD then shows the changed files as uncommitted), so the commit
# recorded by --bundle-deps on the development machine comes first.
commit_id() {
  local id=""
  if [ -f "$ROOT/.gpu_deps/COMMIT" ]; then
    id="$(head -1 "$ROOT/.gpu_deps/COMMIT") (bundled with --bundle-deps; $(sed -n 2p "$ROOT/.gpu_deps/COMMIT"))"
  fi
  if git -C "$ROOT" rev-parse HEAD >/dev/null 2>&1; then
    local here
    here="$(git -C "$ROOT" rev-parse HEAD) ($(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) uncommitted files)"
    if [ -n "$id" ]; then id="$id; git here: $here"; else id="$here"; fi
  fi
  echo "${id:-unknown (no git checkout and no .gpu_deps/COMMIT)}"
}

# Keeps a log under 1 MiB (head and tail), so the report files stay small.
trim_log() {
  local f="$1"
  if [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 1048576 ]; then
    { head -c 200000 "$f"; echo; echo "[... trimmed ...]"; tail -c 600000 "$f"; } >"$f.tmp.trim" && mv "$f.tmp.trim" "$f"
  fi
}

# run_step NAME TIMEOUT LOG command...: runs the command with the smaller of
# TIMEOUT and the time left before the deadline, appending its output to LOG,
# and records "NAME<TAB>status<TAB>seconds".
run_step() {
  local name="$1" limit="$2" log="$3"
  shift 3
  local now left status rc t0
  now=$(date +%s)
  left=$((DEADLINE - now))
  if [ "$left" -lt 10 ]; then
    printf '%s\tSKIPPED (deadline reached)\t0\n' "$name" >>"$STEPS"
    write_report
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  t0=$(date +%s)
  echo "== $name (limit ${limit}s): $*" >>"$log"
  timeout --signal=TERM --kill-after=10 "$limit" "$@" >>"$log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then status="ok"
  elif [ $rc -eq 77 ]; then status="SKIPPED (exit 77: a prerequisite is missing, see the log)"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status="TIMEOUT after ${limit}s"
  else status="FAILED (exit $rc)"
  fi
  printf '%s\t%s\t%s\n' "$name" "$status" "$(($(date +%s) - t0))" >>"$STEPS"
  trim_log "$log"
  write_report
  return $rc
}

write_report() {
  {
    echo "# GPU check"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- commit: $(commit_id)"
    echo "- host: $(uname -n), $(nproc) cores, build jobs $JOBS"
    if [ "$HAVE_GPU" = yes ]; then
      echo "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null | head -1)"
    else
      echo "- GPU: none found (nvidia-smi missing or failing); GPU steps run and report themselves as skipped"
    fi
    echo "- nvcc: $( (nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version 2>/dev/null) | tail -1)"
    echo "- elapsed: $(($(date +%s) - START)) s of a ${DCSR_GPU_CHECK_DEADLINE:-450} s deadline"
    echo
    echo "## Steps"
    echo
    echo "| step | status | seconds |"
    echo "| --- | --- | --- |"
    while IFS=$'\t' read -r name status secs; do echo "| $name | $status | $secs |"; done <"$STEPS"
    echo
    echo "## [cuda] tests"
    echo
    echo '```'
    grep -E "^(Passed|Failed|No tests ran)" "$REPORT_DIR/cuda_tests.log" 2>/dev/null | tail -3
    echo "skipped (no GPU): $(grep -c "SKIPPED: no GPU" "$REPORT_DIR/cuda_tests.log" 2>/dev/null)"
    grep -E ": (failed|FAILED)" "$REPORT_DIR/cuda_tests.log" 2>/dev/null | head -20
    # The comparisons that came closest to their tolerance.
    grep -E "% of tolerance used" "$REPORT_DIR/cuda_tests.log" 2>/dev/null |
      sed -E "s/.*'([^']*): ([0-9.eE+-]+)% of tolerance used'.*/\2 \1/" | sort -g -r | head -8 |
      sed 's/^/tolerance used (%): /'
    echo '```'
    echo
    echo "## Whole suite (ctest)"
    echo
    echo '```'
    grep -E "tests passed|tests failed|Total Test time" "$REPORT_DIR/ctest.log" 2>/dev/null
    echo "skipped: $(grep -c "(Skipped)" "$REPORT_DIR/ctest.log" 2>/dev/null)"
    grep -E "\*\*\*Failed|\*\*\*Timeout|\*\*\*Exception|Not Run" "$REPORT_DIR/ctest.log" 2>/dev/null | head -30
    echo '```'
    echo
    echo "## Study programs (kernels/study)"
    echo
    echo '```'
    grep -E '^\{' "$REPORT_DIR/study.jsonl" 2>/dev/null
    echo '```'
    echo
    echo "## Benchmarks (dcsr_bench, cuda group)"
    echo
    echo '```'
    grep -E '^\{' "$REPORT_DIR/bench.jsonl" 2>/dev/null
    echo '```'
    echo
    echo "## A whole 4K-mode image on the GPU (dcsr sr, 2016x1512 -> 4032x3024, default model; then PyTorch's)"
    echo
    echo '```'
    grep -E "^wrote .*sr(_im2col|_implicit|_implicit_tf32|_tile_tf32_float32|_tile_tf32_tf32|_tile_tf32_batch8|_tf32|_tf32match|_batch8|_fast_[12]|_in_line|_teardown)?.png|quality guard|^eight tiles per call|^implicit GEMM forced|^exact tf32 matching|^end to end|^dcsr: (process start|main's return)|the same bytes" "$REPORT_DIR/sr_4k.log" 2>/dev/null | tail -40
    grep -E '^\{"peer": "sr"|SKIPPED: no torch' "$REPORT_DIR/sr_4k.log" 2>/dev/null | tail -1
    echo '```'
    echo
    echo "The whole image with DCSR_CONV_PATH=measure (each shape's kernels timed at its first call; float32, then TF32):"
    echo
    echo '```'
    grep -E "^dcsr: conv measure:|^wrote |^end to end|quality guard" "$REPORT_DIR/sr_4k_measure.log" 2>/dev/null | head -120
    echo '```'
    echo
    echo "The whole image with DCSR_PROFILE=1 (each kernel synchronised; the allocators' driver calls as rows):"
    echo
    echo '```'
    grep -vE '^== ' "$REPORT_DIR/sr_4k_profile.log" 2>/dev/null | head -40
    echo '```'
    echo
    echo "## Time per kernel (dcsr_bench --profile VARIANT --device cuda)"
    echo
    echo "Each kernel synchronised on its own: the rows show what each costs; the first line"
    echo "of each table compares the unprofiled time per run with the profiled one."
    echo
    echo '```'
    grep -vE '^(\{|== )' "$REPORT_DIR/profile.log" 2>/dev/null
    echo '```'
    echo
    echo "Logs beside this file: build.log, cuda_tests.log, ctest.log, profile.log (trimmed to 1 MiB)."
  } >"$REPORT.tmp.write" && mv "$REPORT.tmp.write" "$REPORT"
}

trap write_report EXIT

# ---------------------------------------------------------------- steps
printf 'start\tok\t0\n' >>"$STEPS"
write_report

# 1. configure (a separate build dir, CUDA required; tools/gpu_build.sh)
gpu_cmake_args "$ROOT" "$BUILD"
if run_step "configure" 120 "$REPORT_DIR/build.log" cmake "${GPU_CMAKE_ARGS[@]}"; then
  # 2. build everything: library, tests, benches, study programs
  run_step "build (-j$JOBS)" 330 "$REPORT_DIR/build.log" cmake --build "$BUILD" -j "$JOBS"
else
  if [ ! -d "$ROOT/.gpu_deps/usr" ]; then
    echo "configure failed and there is no .gpu_deps/: run tools/gpu_check.sh --bundle-deps on the development" \
      "machine and carry .gpu_deps with the device call" >>"$REPORT_DIR/build.log"
  fi
  printf 'build\tSKIPPED (configure failed)\t0\n' >>"$STEPS"
fi

BIN="$BUILD/bin"
if [ -x "$BIN/dcsr_tests" ]; then
  # 3. the CPU-versus-CUDA parity tests
  run_step "dcsr_tests [cuda]" 180 "$REPORT_DIR/cuda_tests.log" "$BIN/dcsr_tests" "[cuda]" --reporter compact

  # 4. the data-parallel path on the GPU (issue 19, docs/scaling.md): `mpirun -np 1 dcsr train
  # --device cuda` on a tiny dataset made here, with DCSR_COLLECTIVES_ALWAYS=1 so that the gradient
  # allreduce goes through NCCL although there is one rank (nn/distributed.h), and NCCL_DEBUG=INFO so
  # that the log shows NCCL's communicator; both checked, with the count of allreduces the rank prints
  # at exit. Skipped (exit 77) without mpirun or NCCL.
  if [ -x "$BIN/dcsr" ]; then
    nccl_dir="$REPORT_DIR/nccl"
    rm -rf "$nccl_dir" && mkdir -p "$nccl_dir/photos"
    run_step "mpirun -np 1 dcsr train --device cuda (NCCL allreduce)" 120 "$REPORT_DIR/nccl.log" bash -c "
      if ! command -v mpirun >/dev/null 2>&1; then echo 'SKIPPED: no mpirun (Open MPI: tools/setup.sh)'; exit 77; fi
      if ! grep -q 'NCCL ON' '$REPORT_DIR/build.log'; then
        echo 'SKIPPED: the build has no NCCL (configure printed no \"NCCL ON\": no MPI or no nccl.h)'; exit 77; fi
      set -e -o pipefail
      for k in 0 1; do
        '$BIN/dcsr' resize --in '$ROOT/demo/wide.jpg' --out '$nccl_dir/photos/p'\$k.png --size \$((256 + 64 * k))x192
      done
      '$BIN/dcsr' prepare --photos '$nccl_dir/photos' --out '$nccl_dir/set'
      cd '$nccl_dir'
      env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np 1 \\
        -x DCSR_COLLECTIVES_ALWAYS=1 -x NCCL_DEBUG=INFO '$BIN/dcsr' train --data set --out run --device cuda \\
        --steps 3 --set n_feats=8 --set batch_size=2 --set patch_size=32 --set num_patch=2 --set log_every=1 --quiet \\
        2>&1 | tee run.log
      grep -q 'NCCL INFO' run.log || { echo 'FAILED: NCCL never started (no NCCL INFO line)'; exit 1; }
      grep -q 'DCSR_COLLECTIVES_ALWAYS=1: 3 allreduces went through' run.log ||
        { echo 'FAILED: not one gradient allreduce per step'; exit 1; }
      test \$(grep -c '\"type\":\"train\"' run/train_log.jsonl) -eq 3
      echo 'ok: 3 steps, gradients through NCCL'"
    rm -rf "$nccl_dir"
  fi

  # 5. a whole 4K-mode image on the GPU (issue 5's goal: 2016x1512 in, 4032x3024 out, at most 10 s;
  # issue 18's: 2 s end to end): the embedded demo's wide frame resized to 4032x3024 and made into a
  # pair by `dcsr prepare`. These steps come before the studies and benches: they answer the open
  # questions, and a session's device time may run out before the end. Each `dcsr sr` line splits its
  # tiled inference (TilingTimes: windows, tile crops, network calls, outputs to the CPU, placing);
  # DCSR_TIME_PROCESS=1 adds the process's start-up (to main) and exit (CUDA's teardown) around it.
  if [ -x "$BIN/dcsr" ]; then
    sr_dir="$REPORT_DIR/sr_4k"
    rm -rf "$sr_dir" && mkdir -p "$sr_dir/photo"
    # The pair's `dcsr sr` command and the PSNR tool, quoted for the `bash -c` lines below (each adds its
    # environment before and --out after).
    sr_4k="'$BIN/dcsr' sr --lr '$sr_dir/ds/LR/x2/p.png' --ref '$sr_dir/ds/Ref/x2/p.png' --mode 4k --device cuda \
      --model '$ROOT/models/default.ckpt'"
    psnr="python3 '$ROOT/tools/image_psnr.py'"
    seconds_since_t0="\$(awk -v a=\$t0 -v b=\$(date +%s.%N) 'BEGIN{print b-a}')"
    run_step "dcsr sr 2016x1512 4k --device cuda" 120 "$REPORT_DIR/sr_4k.log" bash -c \
      "'$BIN/dcsr' resize --in '$ROOT/demo/wide.jpg' --out '$sr_dir/photo/p.png' --size 4032x3024 &&
       '$BIN/dcsr' prepare --photos '$sr_dir/photo' --out '$sr_dir/ds' &&
       t0=\$(date +%s.%N) && env DCSR_TIME_PROCESS=1 $sr_4k --out '$sr_dir/sr.png' &&
       echo \"end to end, float32: $seconds_since_t0 s\""
    # 5-tile. the direct tile kernel on TF32 tensor cores (DCSR_CONV_PATH=tile DCSR_TF32=1,
    # kernels/cuda/conv2d_tile_tf32.cuh; not in the plan's "auto" until timed here), with the exact
    # TF32 matching beside it, and the map matching (DCSR_CUDA_MATCH=map, kernels/cuda/max_cosine_map.cu;
    # both must leave the bytes of the float32 matching), end to end, with the quality guard against the
    # float32 output; then its
    # profile (the convolutions' share). First after the float32 run: the open question.
    if [ "$HAVE_GPU" = yes ] && [ -f "$sr_dir/sr.png" ]; then
      run_step "DCSR_TF32=1 DCSR_CONV_PATH=tile dcsr sr 2016x1512 4k, end to end (PSNR vs fp32 >= 50 dB)" 90 \
        "$REPORT_DIR/sr_4k.log" bash -c "for match in float32 tf32 map; do
            t0=\$(date +%s.%N)
            env DCSR_TF32=1 DCSR_CONV_PATH=tile DCSR_CUDA_MATCH=\$match $sr_4k \
              --out '$sr_dir/sr_tile_tf32'_\$match.png || exit 1
            echo \"end to end, tile TF32 convolutions + \$match matching: $seconds_since_t0 s\"
            $psnr '$sr_dir/sr_tile_tf32'_\$match.png '$sr_dir/sr.png' --min 50 \
              --label \"tile kernel on TF32 + \$match matching, quality guard against the float32 output\" || exit 1
          done
          # the exact matching paths change no byte
          for match in tf32 map; do
            cmp '$sr_dir/sr_tile_tf32'_\$match.png '$sr_dir/sr_tile_tf32_float32.png' || exit 1
            echo \"exact \$match matching: the same bytes as float32 matching\"
          done
          # 8 tiles per call: an LR-sized 32-channel layer is 121 blocks of 16x16 pixels, under one
          # wave of 132 SMs at 2 blocks each; 8 tiles make it 968.
          t0=\$(date +%s.%N)
          env DCSR_TF32=1 DCSR_CONV_PATH=tile $sr_4k --tile-batch 8 --out '$sr_dir/sr_tile_tf32_batch8.png' || exit 1
          echo \"end to end, tile TF32 convolutions, 8 tiles per call: $seconds_since_t0 s\"
          $psnr '$sr_dir/sr_tile_tf32_batch8.png' '$sr_dir/sr.png' --min 50 \
            --label \"tile kernel on TF32, 8 tiles per call, quality guard against the float32 output\" || exit 1"
      # 5-measure. DCSR_CONV_PATH=measure: each convolution shape's first call times every kernel
      # that can run it and keeps the fastest ("dcsr: conv measure:" lines, one per shape: the table
      # to refit kernels/conv_forward_plan.cpp from), in float32 and with TF32 (the tile kernel among
      # the candidates); end to end, with the quality guards against the float32 output.
      run_step "DCSR_CONV_PATH=measure dcsr sr 2016x1512 4k, float32 and TF32, end to end" 90 \
        "$REPORT_DIR/sr_4k_measure.log" bash -c "for tf32 in 0 1; do
            t0=\$(date +%s.%N)
            env DCSR_CONV_PATH=measure DCSR_TF32=\$tf32 $sr_4k --out '$sr_dir/sr_measure_tf32_'\$tf32.png || exit 1
            echo \"end to end, measured conv kernels, TF32 \$tf32: $seconds_since_t0 s\"
            $psnr '$sr_dir/sr_measure_tf32_'\$tf32.png '$sr_dir/sr.png' --min 50 \
              --label \"measured conv kernels, TF32 \$tf32, quality guard against the float32 output\" || exit 1
          done"
      run_step "DCSR_PROFILE=1 DCSR_TF32=1 DCSR_CONV_PATH=tile dcsr sr 2016x1512 4k" 90 \
        "$REPORT_DIR/sr_4k_profile.log" bash -c "env DCSR_PROFILE=1 DCSR_TF32=1 DCSR_CONV_PATH=tile $sr_4k \
          --out '$sr_dir/sr_tile_profiled.png' --quiet"
      # 5-write. the outputs written in line (DCSR_WRITE_BEHIND=0) against the CUDA default, written
      # behind the inference on a thread of their own (apps/dcsr/sr_batch.h): each end to end (the
      # float32 run above is the default's), and the same bytes.
      run_step "DCSR_WRITE_BEHIND=0 dcsr sr 2016x1512 4k, end to end (same bytes as behind)" 60 \
        "$REPORT_DIR/sr_4k.log" bash -c "t0=\$(date +%s.%N) && env DCSR_WRITE_BEHIND=0 DCSR_TIME_PROCESS=1 $sr_4k \
          --out '$sr_dir/sr_in_line.png' && echo \"end to end, float32, written in line: $seconds_since_t0 s\" &&
          cmp '$sr_dir/sr_in_line.png' '$sr_dir/sr.png' && echo 'written in line: the same bytes as behind'"
      # 5-exit. the CUDA runtime's teardown kept (DCSR_FAST_EXIT=0) against the default, which ends a
      # successful GPU run with _Exit once its outputs are on disk (apps/dcsr/main.cpp): end to end.
      run_step "DCSR_FAST_EXIT=0 dcsr sr 2016x1512 4k, end to end (same bytes)" 60 \
        "$REPORT_DIR/sr_4k.log" bash -c "t0=\$(date +%s.%N) && env DCSR_FAST_EXIT=0 DCSR_TIME_PROCESS=1 $sr_4k \
          --out '$sr_dir/sr_teardown.png' && echo \"end to end, float32, with CUDA's teardown: $seconds_since_t0 s\" &&
          cmp '$sr_dir/sr_teardown.png' '$sr_dir/sr.png' && echo 'with the teardown: the same bytes'"
    fi
    if [ "$HAVE_GPU" = yes ] && [ -f "$sr_dir/ds/LR/x2/p.png" ]; then
      run_step "DCSR_CONV_PATH=im2col dcsr sr 2016x1512 4k --device cuda" 90 "$REPORT_DIR/sr_4k.log" \
        bash -c "env DCSR_CONV_PATH=im2col $sr_4k --out '$sr_dir/sr_im2col.png'"
      # 5a. the same image with DCSR_PROFILE=1: the time per kernel (each one synchronised, so the
      # total is above the plain run's), the time outside kernels, and the caching allocators' calls to
      # the driver (rows allocator:system_alloc/free, and the counts at the end). Issue 18's question:
      # where a whole image's seconds go beyond the tiles' kernels.
      run_step "DCSR_PROFILE=1 dcsr sr 2016x1512 4k --device cuda" 90 "$REPORT_DIR/sr_4k_profile.log" \
        bash -c "env DCSR_PROFILE=1 $sr_4k --out '$sr_dir/sr_profiled.png' --quiet"
    fi
    # The steps that compare their output with the float32 one.
    if [ "$HAVE_GPU" = yes ] && [ -f "$sr_dir/sr.png" ]; then
      # 5b. the implicit GEMM forced (DCSR_CONV_PATH=implicit): the width-32 model's layers of 32
      # output channels then take the 32-channel block (kImplicit32x256, not yet in the plan's "auto"
      # until timed here; study_conv2d version 16 times it alone); its output agrees with the default's
      # within float32 rounding. Then on TF32 tensor cores (the block's TF32 twin, version 17), with the
      # quality guard of 5d.
      run_step "DCSR_CONV_PATH=implicit dcsr sr 2016x1512 4k --device cuda (PSNR vs auto >= 60 dB)" 90 \
        "$REPORT_DIR/sr_4k.log" bash -c "env DCSR_CONV_PATH=implicit $sr_4k --out '$sr_dir/sr_implicit.png' &&
          $psnr '$sr_dir/sr_implicit.png' '$sr_dir/sr.png' --min 60 \
            --label 'implicit GEMM forced (32-channel blocks), against the default plan'"
      run_step "DCSR_TF32=1 DCSR_CONV_PATH=implicit dcsr sr 2016x1512 4k --device cuda (PSNR vs fp32 >= 50 dB)" 90 \
        "$REPORT_DIR/sr_4k.log" bash -c "env DCSR_TF32=1 DCSR_CONV_PATH=implicit $sr_4k \
          --out '$sr_dir/sr_implicit_tf32.png' &&
          $psnr '$sr_dir/sr_implicit_tf32.png' '$sr_dir/sr.png' --min 50 \
            --label 'implicit GEMM forced on TF32 (32-channel blocks), quality guard against the float32 output'"
      # 5c. the exact TF32 matching (DCSR_CUDA_MATCH=tf32): its time, and the same bytes as the float32
      # sweep's output (the path is exact: cmp, not a PSNR).
      run_step "DCSR_CUDA_MATCH=tf32 dcsr sr 2016x1512 4k --device cuda (same bytes as float32)" 90 \
        "$REPORT_DIR/sr_4k.log" bash -c "env DCSR_CUDA_MATCH=tf32 $sr_4k --out '$sr_dir/sr_tf32match.png' &&
          cmp '$sr_dir/sr_tf32match.png' '$sr_dir/sr.png' && echo 'exact tf32 matching: the same bytes as float32'"
      # 5d. TF32 tensor cores (DCSR_TF32=1: cuBLAS for the im2col convolutions and the matmuls,
      # conv2d_implicit_tf32.cuh for the implicit ones), and issue 18's quality guard: its PSNR against
      # the float32 output must be >= 50 dB.
      run_step "DCSR_TF32=1 dcsr sr 2016x1512 4k --device cuda (PSNR vs fp32 >= 50 dB)" 90 "$REPORT_DIR/sr_4k.log" \
        bash -c "env DCSR_TF32=1 $sr_4k --out '$sr_dir/sr_tf32.png' &&
          $psnr '$sr_dir/sr_tf32.png' '$sr_dir/sr.png' --min 50 --label 'tf32 quality guard, against the float32 output'"
      # 5e. eight tiles per network call (--tile-batch 8) against the default one: the time of
      # each (the lines above and this one), and the outputs' agreement (the GPU's kernels may sum a
      # batch in another order, so within float32 rounding rather than byte for byte).
      run_step "dcsr sr 2016x1512 4k --device cuda --tile-batch 8 (PSNR vs 1 per call >= 60 dB)" 90 \
        "$REPORT_DIR/sr_4k.log" bash -c "$sr_4k --out '$sr_dir/sr_batch8.png' --tile-batch 8 &&
          $psnr '$sr_dir/sr_batch8.png' '$sr_dir/sr.png' --min 60 --label 'eight tiles per call, against one per call'"
      # 5f. both tensor-core paths at once (TF32 convolutions and matmuls, exact TF32 matching), twice,
      # each timed end to end by the shell (process start, CUDA's start, reading, registration,
      # inference, PNG writing): issue 18's "a whole 4K-mode image in 2 s end to end", with its guard.
      run_step "DCSR_TF32=1 DCSR_CUDA_MATCH=tf32 dcsr sr 2016x1512 4k, twice, end to end (PSNR >= 50 dB)" 90 \
        "$REPORT_DIR/sr_4k.log" bash -c "for k in 1 2; do
            t0=\$(date +%s.%N)
            env DCSR_TF32=1 DCSR_CUDA_MATCH=tf32 $sr_4k --out '$sr_dir/sr_fast_'\$k.png || exit 1
            echo \"end to end, TF32 convolutions + TF32 matching: $seconds_since_t0 s (run \$k)\"
          done
          $psnr '$sr_dir/sr_fast_2.png' '$sr_dir/sr.png' --min 50 \
            --label 'tf32 convolutions + tf32 matching quality guard, against the float32 output'"
    fi
    # 5g. the same pair through the PyTorch reference network, tiled the same way (tools/sr_peer.py),
    # when a python with torch is there: the goal's "not slower than PyTorch on the same card".
    if [ "$HAVE_GPU" = yes ] && [ -f "$sr_dir/ds/LR/x2/p.png" ]; then
      run_step "sr_peer.py (PyTorch) 2016x1512 4k --device cuda" 150 "$REPORT_DIR/sr_4k.log" \
        "$ROOT/tools/with_torch_python.sh" "$ROOT/tools/sr_peer.py" --lr "$sr_dir/ds/LR/x2/p.png" \
        --ref "$sr_dir/ds/Ref/x2/p.png" --mode 4k --device cuda --model "$ROOT/models/default.ckpt"
    fi
    rm -rf "$sr_dir"
  fi

  # 6. kernel study programs: each version checked against the CPU, then timed
  for study in "$BIN"/study_*; do
    [ -x "$study" ] || continue
    run_step "$(basename "$study")" 60 "$REPORT_DIR/study.jsonl" "$study"
  done

  # 7. GPU benches (with PyTorch on the same GPU as a peer when python3 has torch)
  if [ -x "$BIN/dcsr_bench" ]; then
    run_step "dcsr_bench --filter cuda" 180 "$REPORT_DIR/bench.jsonl" "$BIN/dcsr_bench" --filter cuda
    # 7b. where a model step's time goes, kernel by kernel (runtime/profiler.h)
    for variant in infer_tile train_l1; do
      run_step "dcsr_bench --profile $variant --device cuda" 60 "$REPORT_DIR/profile.log" \
        "$BIN/dcsr_bench" --profile "$variant" --device cuda --runs 5
    done
    # 7b'. the conv and tile benches with the direct tile kernel on TF32 tensor cores (conv2d_tile_tf32.cuh,
    # study version 18): before 7c-7e, which a deadline may cut, as it is the open question.
    run_step "DCSR_TF32=1 DCSR_CONV_PATH=tile dcsr_bench (conv2d, inference tile)" 120 "$REPORT_DIR/bench.jsonl" \
      env DCSR_TF32=1 DCSR_CONV_PATH=tile bash -c "'$BIN/dcsr_bench' --filter cuda_conv2d && '$BIN/dcsr_bench' --filter cuda_dcsr_infer"
    # 7c. the conv forward with im2col + cuBLAS forced (DCSR_CONV_PATH=im2col), where the default
    # "auto" chooses per convolution (kernels/conv_forward_plan.h): the conv bench, the inference
    # tile's bench and its profile again, to compare (not the training steps: this run must stay under
    # 8 minutes on an H100, and took 7 with them).
    run_step "DCSR_CONV_PATH=im2col dcsr_bench (conv2d, inference tile)" 120 "$REPORT_DIR/bench.jsonl" \
      env DCSR_CONV_PATH=im2col bash -c "'$BIN/dcsr_bench' --filter cuda_conv2d && '$BIN/dcsr_bench' --filter cuda_dcsr_infer"
    run_step "DCSR_CONV_PATH=im2col dcsr_bench --profile infer_tile --device cuda" 60 "$REPORT_DIR/profile.log" \
      env DCSR_CONV_PATH=im2col "$BIN/dcsr_bench" --profile infer_tile --device cuda --runs 5
    # 7d. the same two benches with TF32 tensor cores (DCSR_TF32=1) on the im2col path: the data a
    # TF32-aware conv plan needs (conv_forward_plan.cpp is fitted to float32 timings only).
    run_step "DCSR_TF32=1 DCSR_CONV_PATH=im2col dcsr_bench (conv2d, inference tile)" 120 "$REPORT_DIR/bench.jsonl" \
      env DCSR_TF32=1 DCSR_CONV_PATH=im2col bash -c "'$BIN/dcsr_bench' --filter cuda_conv2d && '$BIN/dcsr_bench' --filter cuda_dcsr_infer"
    # 7e. and with the implicit GEMM forced on TF32 tensor cores (conv2d_implicit_tf32.cuh, first
    # timed here; study_conv2d versions 14 and 15 time it alone).
    run_step "DCSR_TF32=1 DCSR_CONV_PATH=implicit dcsr_bench (conv2d, inference tile)" 120 "$REPORT_DIR/bench.jsonl" \
      env DCSR_TF32=1 DCSR_CONV_PATH=implicit bash -c "'$BIN/dcsr_bench' --filter cuda_conv2d && '$BIN/dcsr_bench' --filter cuda_dcsr_infer"
  fi

  # 8. the whole suite, last: it gets whatever time is left
  run_step "ctest (whole suite)" 400 "$REPORT_DIR/ctest.log" \
    env OMP_NUM_THREADS=2 bash -c "cd '$BUILD' && ctest -j $(((JOBS + 1) / 2)) --timeout 240 --output-on-failure"
else
  printf 'tests, studies, benches\tSKIPPED (no build)\t0\n' >>"$STEPS"
fi

printf 'end\tok\t%s\n' "$(($(date +%s) - START))" >>"$STEPS"
write_report
echo "report: $REPORT"
tail -n +1 "$STEPS" | column -t -s $'\t' 2>/dev/null || cat "$STEPS"
# Exit status: 0 when every step passed; steps cut by the deadline did not.
! grep -qE $'\t(FAILED|TIMEOUT|SKIPPED \\(deadline)' "$STEPS"
