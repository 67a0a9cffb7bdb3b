#!/usr/bin/env bash
# Trains the width-64 basic model (issue 15) on a lent GPU, one segment per
# session: a session's device time is 15 minutes, a machine starts bare, and
# what travels with a call is at most 64 MiB. So each segment starts from the
# last segment's weights (--init, a fresh Adam state), trains until its time is
# up (SIGTERM: the trainer saves model_latest.ckpt after the current step) and
# brings back the weights alone (dcsr export, 13 MB at width 64; with Adam's
# two moments a checkpoint would not travel beside the photos). Validation
# runs afterwards on the development machine (dcsr eval), not on the device.
# models/README.md keeps the segment table: inputs, lr, steps, validation.
#
# On the development machine:
#   tools/gpu_check.sh --bundle-deps --xz       the build dependencies, packed (2 MB)
#   tools/gpu_train.sh --pack --photos DIR [--init SEGMENT.ckpt]
#                                               the training photos (real files) and the
#                                               weights to start from, into .gpu_train/
# On the device (carry [".gpu_deps.tar.xz", ".gpu_train"]), after or without gpu_check.sh:
#   tools/gpu_train.sh --seconds N --segment K [--lr LR]
#     writes $OUT/basic64_gpu_seg<K>.ckpt, $OUT/train_log_seg<K>.jsonl and
#     $OUT/gpu_train_seg<K>.txt (card, commit, steps, seconds, the last losses)
#
# DCSR_GPU_TRAIN_DEVICE=cpu runs a segment on the CPU: a dry run of this script
# on a machine without a GPU.
#
# The data are the width-64 run's (models/README.md): `dcsr prepare --seed 1` of
# the 80 Sun_Hays80 + 24 Kodak24 photos (the camera simulation), the same bytes
# for any thread count. Segment K draws its patches with seed K.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PACK="$ROOT/.gpu_train"
CONFIG="configs/basic64_camera_gpu.json"

die() { echo "gpu_train: $*" >&2; exit 2; }

if [ "${1:-}" = "--pack" ]; then
  shift
  photos="" init=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --photos) photos="${2:?--photos needs a folder}"; shift 2 ;;
      --init) init="${2:?--init needs a checkpoint}"; shift 2 ;;
      *) die "unknown option '$1' (--pack takes --photos DIR [--init CKPT])" ;;
    esac
  done
  [ -d "$photos" ] || die "--photos: '$photos' is not a folder"
  [ -z "$init" ] || [ -f "$init" ] || die "--init: '$init' does not exist"
  rm -rf "$PACK" && mkdir -p "$PACK/photos"
  cp -L "$photos"/* "$PACK/photos/"  # links become files: a link's target would not travel
  [ -z "$init" ] || cp "$init" "$PACK/init.ckpt"
  git -C "$ROOT" rev-parse HEAD > "$PACK/COMMIT" 2>/dev/null || echo unknown > "$PACK/COMMIT"
  echo "packed $(ls "$PACK/photos" | wc -l) photos$( [ -z "$init" ] || echo " and $init") into .gpu_train ($(du -sh "$PACK" | cut -f1)); carry [\".gpu_deps.tar.xz\", \".gpu_train\"]"
  exit 0
fi

seconds="" segment="" lr="" build="${DCSR_GPU_CHECK_BUILD_DIR:-build-gpu}"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:?}"; shift 2 ;;
    --segment) segment="${2:?}"; shift 2 ;;
    --lr) lr="${2:?}"; shift 2 ;;
    --build-dir) build="${2:?}"; shift 2 ;;
    *) die "unknown option '$1' (--seconds N --segment K [--lr LR] [--build-dir DIR])" ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -ge 10 ] || die "--seconds expects a whole number >= 10, got '$seconds'"
[[ "$segment" =~ ^[0-9]+$ ]] && [ "$segment" -ge 1 ] || die "--segment expects a whole number >= 1, got '$segment'"
[ -d "$PACK/photos" ] || die "no .gpu_train/photos: run tools/gpu_train.sh --pack on the development machine and carry .gpu_train"
if [ "$segment" -gt 1 ] && [ ! -f "$PACK/init.ckpt" ]; then die "segment $segment needs .gpu_train/init.ckpt (the last segment's weights)"; fi
case "$build" in /*) ;; *) build="$ROOT/$build" ;; esac
out="${OUT:-$ROOT/gpu_train_out}"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT  # also when a step dies
summary="$out/gpu_train_seg$segment.txt"

# The build: gpu_check.sh's folder when it ran in this call, else the dcsr target alone.
if [ ! -x "$build/bin/dcsr" ]; then
  . "$ROOT/tools/gpu_build.sh"
  gpu_unpack_deps "$ROOT"
  gpu_cmake_args "$ROOT" "$build"
  cmake "${GPU_CMAKE_ARGS[@]}" > "$work/build.log" 2>&1 || { tail -20 "$work/build.log"; die "configure failed"; }
  cmake --build "$build" -j "$(nproc)" --target dcsr >> "$work/build.log" 2>&1 || { tail -20 "$work/build.log"; die "build failed"; }
fi
dcsr="$build/bin/dcsr"

t0=$(date +%s)
"$dcsr" prepare --photos "$PACK/photos" --out "$work/train_camera" --seed 1 --threads "$(nproc)" > "$work/prepare.log" 2>&1 || { tail -5 "$work/prepare.log"; die "dcsr prepare failed"; }
t_prepare=$(( $(date +%s) - t0 ))

train_args=(--config "$CONFIG" --data "$work/train_camera" --out "$work/run" --device "${DCSR_GPU_TRAIN_DEVICE:-cuda}"
            --quiet --seed "$segment")
[ -f "$PACK/init.ckpt" ] && [ "$segment" -gt 1 ] && train_args+=(--init "$PACK/init.ckpt")
[ -n "$lr" ] && train_args+=(--set "lr=$lr")
t1=$(date +%s)
set +e
timeout --signal=TERM --kill-after=60 "$seconds" "$dcsr" train "${train_args[@]}"
status=$?
set -e
t_train=$(( $(date +%s) - t1 ))
# 124: the time was up and the trainer stopped cleanly on SIGTERM (it exits 143, which timeout reports as 124).
[ "$status" -eq 0 ] || [ "$status" -eq 124 ] || echo "gpu_train: dcsr train exited with status $status" >&2
[ -f "$work/run/model_latest.ckpt" ] || die "no checkpoint was written (status $status; a segment needs one epoch or a SIGTERM after its first step)"
"$dcsr" export --model "$work/run/model_latest.ckpt" --out "$out/basic64_gpu_seg$segment.ckpt"
cp "$work/run/train_log.jsonl" "$out/train_log_seg$segment.jsonl"
log_lines=$(grep -c '"type":"train"' "$work/run/train_log.jsonl" || true)
{
  echo "segment $segment of the width-64 GPU run (configs/basic64_camera_gpu.json)"
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "commit: $(cat "$PACK/COMMIT" 2>/dev/null || echo unknown)"
  echo "GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"
  echo "init: $([ "$segment" -gt 1 ] && echo ".gpu_train/init.ckpt" || echo "random (seed 1)"), lr ${lr:-from the config}, patch seed $segment"
  echo "prepare: ${t_prepare} s; training: ${t_train} s (limit $seconds s), trainer status $status"
  echo "train log lines: $log_lines (one per log_every steps); the last, and the stop:"
  grep '"type":"train"' "$work/run/train_log.jsonl" | tail -3 || true
  grep '"type":"stop"' "$work/run/train_log.jsonl" | tail -1 || true
} > "$summary"
cat "$summary"
# The checkpoint is exported either way; a trainer that failed (not stopped by the time limit) fails the call.
[ "$status" -eq 0 ] || [ "$status" -eq 124 ] || exit 1
