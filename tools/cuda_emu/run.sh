#!/usr/bin/env bash
# Runs the [cuda] tests on a machine WITHOUT a GPU, against a host emulation
# of the CUDA runtime and cuBLAS (tools/cuda_emu/include, emu_runtime.cpp).
# The CUDA kernels (kernels/cuda/*.cu) are rewritten into C++ (each
# `kernel<<<grid, block>>>(args)` becomes `::emu::launch(grid, block, kernel,
# args)`) and compiled with g++ together with the library and the tests;
# threads of a block run as fibers, so __syncthreads, shared memory and warp
# shuffles behave as on the device, one block at a time.
#
# What this checks: index math, launch geometry, barrier placement, grid
# striding (the grid is capped at 16 blocks), the row-major/column-major
# cuBLAS derivation (the emulated SGEMM follows cuBLAS's column-major
# definition), and the ops' CPU-vs-CUDA parity. What it does not check:
# speed, races between blocks (blocks run one after another), device
# floating point (FMA contraction, expf), or memory limits.
#
#   tools/cuda_emu/run.sh [BUILD_DIR] [catch test spec...]
#   (default BUILD_DIR /tmp/dcsr_cuda_emu; default spec "[cuda]" without the
#   2^31-element test, which needs 8 GiB tensors)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-/tmp/dcsr_cuda_emu}"
shift || true
JOBS="${JOBS:-2}"
GEN="$OUT/gen"
mkdir -p "$GEN/kernels/cuda" "$OUT/obj"

# 1. Rewrite the launches of every CUDA source and header into the shadow tree.
python3 - "$ROOT" "$GEN" <<'PY'
import pathlib, re, sys
root, gen = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
launch = re.compile(r"(\b[\w:]+(?:<[^<>()]*>)?)<<<(.*?)>>>\(", re.S)
for src in sorted((root / "kernels" / "cuda").iterdir()):
    if src.suffix not in (".cu", ".cuh", ".h"):
        continue
    text = launch.sub(lambda m: "::emu::launch(" + m.group(2) + ", " + m.group(1) + ", ", src.read_text())
    dst = gen / "kernels" / "cuda" / (src.stem + ".cpp" if src.suffix == ".cu" else src.name)
    if not dst.exists() or dst.read_text() != text:
        dst.write_text(text)
PY

# 2. A Makefile over the library, the rewritten kernels, the emulator and the tests.
CXXFLAGS="-std=c++17 -O1 -march=native -fopenmp -w -DDCSR_HAVE_CUDA -DDCSR_CUDA_MAX_GRID_BLOCKS=16 -DDCSR_SOURCE_DIR=\\\"$ROOT\\\" \
-I$ROOT/tools/cuda_emu/include -I$GEN -I$ROOT -I/usr/include/eigen3 -I/usr/include/stb"
{
  echo "CXXFLAGS = $CXXFLAGS"
  objs=()
  for src in "$ROOT"/tensor/*.cpp "$ROOT"/autograd/*.cpp "$ROOT"/autograd/ops/*.cpp "$ROOT"/kernels/*.cpp \
             "$ROOT"/kernels/cpu/*.cpp "$ROOT"/nn/*.cpp "$ROOT"/dcsr/*.cpp "$GEN"/kernels/cuda/*.cpp \
             "$ROOT"/tools/cuda_emu/emu_runtime.cpp "$ROOT"/tests/*.cpp; do
    [ -f "$src" ] || continue
    obj="$OUT/obj/$(echo "${src#/}" | tr '/' '_').o"
    objs+=("$obj")
    echo "$obj: $src"
    printf '\tg++ $(CXXFLAGS) -MMD -c %s -o %s\n' "$src" "$obj"
    echo "-include ${obj%.o}.d"
  done
  echo "$OUT/dcsr_tests_emu: ${objs[*]}"
  printf '\tg++ -fopenmp -o $@ $^\n'
} >"$OUT/Makefile"
make -s -f "$OUT/Makefile" -j "$JOBS" "$OUT/dcsr_tests_emu"

# 3. Run.
if [ $# -eq 0 ]; then
  set -- "[cuda]~cuda: tensors past 2^31 elements index with 64-bit offsets"
fi
OMP_NUM_THREADS=1 "$OUT/dcsr_tests_emu" "$@"
