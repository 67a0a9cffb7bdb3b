#!/usr/bin/env bash
# Runs the [cuda] tests (or a kernel study program) on a machine WITHOUT a
# GPU, against a host emulation of the CUDA runtime and cuBLAS
# (tools/cuda_emu/include, emu_runtime.cpp). The CUDA sources (kernels/cuda,
# kernels/study) are rewritten into C++ (each `kernel<<<grid, block>>>(args)`
# becomes `::emu::launch(grid, block, kernel, args)`) and compiled with g++
# together with the library; threads of a block run as fibers, so
# __syncthreads, shared memory and warp shuffles behave as on the device, one
# block at a time.
#
# What this checks: index math, launch geometry, barrier placement, grid
# striding (grids are capped at 16 blocks), the row-major/column-major
# cuBLAS derivation (the emulated SGEMM follows cuBLAS's column-major
# definition and argument checks), the TF32 tensor-core fragments
# (DCSR_CUDA_EMU: kernels/cuda/mma_tf32.cuh computes each lane's share of an
# mma through warp shuffles), and CPU-vs-CUDA parity of the ops. What it
# does not check: speed, races between blocks (blocks run one after
# another), device floating point (expf, FMA contraction), memory limits.
#
#   tools/cuda_emu/run.sh [catch test spec...]     the [cuda] tests (default: all
#                                                  but the 2^31-element one, which
#                                                  needs 8 GiB tensors)
#   tools/cuda_emu/run.sh --study NAME [args...]   kernels/study/NAME.cu, with --quick
# Environment: EMU_DIR (build directory, default /tmp/dcsr_cuda_emu), JOBS (default 2),
# EMU_OPT (optimisation flags, default -O1; -O3 makes GCC contract the CPU
# kernels' a*b+c into FMAs as the real build does).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${EMU_DIR:-/tmp/dcsr_cuda_emu}"
JOBS="${JOBS:-2}"
GEN="$OUT/gen"
mkdir -p "$GEN/kernels/cuda" "$GEN/kernels/study" "$OUT/obj"

# 1. Rewrite the launches of every CUDA source and header into the shadow tree.
python3 - "$ROOT" "$GEN" <<'PY'
import pathlib, re, sys
root, gen = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
launch = re.compile(r"(\b[\w:]+(?:<[^<>()]*>)?)<<<(.*?)>>>\(", re.S)
for folder in ("cuda", "study"):
    src_dir = root / "kernels" / folder
    if not src_dir.is_dir():
        continue
    for src in sorted(src_dir.iterdir()):
        if src.suffix not in (".cu", ".cuh", ".h"):
            continue
        text = launch.sub(lambda m: "::emu::launch(" + m.group(2) + ", " + m.group(1) + ", ", src.read_text())
        dst = gen / "kernels" / folder / (src.stem + ".cpp" if src.suffix == ".cu" else src.name)
        if not dst.exists() or dst.read_text() != text:
            dst.write_text(text)
PY

# 2. A Makefile over the library, the rewritten kernels, the emulator, the
#    tests and the study programs.
CXXFLAGS="-std=c++17 ${EMU_OPT:--O1} -march=native -fopenmp -w -DDCSR_HAVE_CUDA -DDCSR_CUDA_EMU -DDCSR_CUDA_MAX_GRID_BLOCKS=16 \
-DDCSR_SOURCE_DIR=\\\"$ROOT\\\" -DDCSR_BIN_DIR=\\\"$OUT\\\" -I$ROOT/tools/cuda_emu/include -I$GEN -I$ROOT -I/usr/include/eigen3 -I/usr/include/stb"
object() { echo "$OUT/obj/$(echo "${1#/}" | tr '/' '_').o"; }
rule() {
  local src="$1" obj compiler='g++ $(CXXFLAGS)'
  obj="$(object "$src")"
  [ "${src##*.}" = c ] && compiler='gcc -O1 -w -I/usr/include/stb'
  echo "$obj: $src"
  printf '\t%s -MMD -c %s -o %s\n' "$compiler" "$src" "$obj"
  echo "-include ${obj%.o}.d"
}
{
  echo "CXXFLAGS = $CXXFLAGS"
  lib=()
  # The library's source patterns, read from CMakeLists.txt's DCSR_SOURCES glob.
  patterns=$(python3 - "$ROOT/CMakeLists.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"file\(GLOB DCSR_SOURCES CONFIGURE_DEPENDS(.*?)\)", text, re.S)
print(" ".join(m.group(1).split()))
PY
)
  sources=()
  for pattern in $patterns; do
    for src in "$ROOT"/$pattern; do sources+=("$src"); done
  done
  for src in "${sources[@]}" "$GEN"/kernels/cuda/*.cpp "$ROOT"/tools/cuda_emu/emu_runtime.cpp; do
    [ -f "$src" ] || continue
    lib+=("$(object "$src")")
    rule "$src"
  done
  tests=()
  for src in "$ROOT"/tests/*.cpp; do
    tests+=("$(object "$src")")
    rule "$src"
  done
  echo "$OUT/dcsr_tests_emu: ${lib[*]} ${tests[*]}"
  printf '\tg++ -fopenmp -o $@ $^\n'
  for src in "$GEN"/kernels/study/*.cpp; do
    [ -f "$src" ] || continue
    rule "$src"
    echo "$OUT/study_$(basename "$src" .cpp)_emu: ${lib[*]} $(object "$src")"
    printf '\tg++ -fopenmp -o $@ $^\n'
  done
} >"$OUT/Makefile"

# 3. Build what is asked for and run it.
if [ "${1:-}" = "--study" ]; then
  name="$2"
  shift 2
  make -s -f "$OUT/Makefile" -j "$JOBS" "$OUT/study_${name}_emu"
  OMP_NUM_THREADS=1 "$OUT/study_${name}_emu" --quick "$@"
else
  make -s -f "$OUT/Makefile" -j "$JOBS" "$OUT/dcsr_tests_emu"
  if [ $# -eq 0 ]; then
    set -- "[cuda]~cuda: tensors past 2^31 elements index with 64-bit offsets"
  fi
  OMP_NUM_THREADS=1 "$OUT/dcsr_tests_emu" "$@"
fi
