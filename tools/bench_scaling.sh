#!/usr/bin/env bash
# Data-parallel training throughput: `dcsr train` on 1 rank x 1 thread against
# `mpirun -np 2 dcsr train` with 1 thread per rank, the same global batch,
# seed and data, in one run (docs/scaling.md). Prints the CPU, one JSON line
# per configuration (steps/s from the wall time of the training steps alone,
# the communication share from the log's comm_s) and the ratio.
#
#   tools/bench_scaling.sh [--binary build/bin/dcsr] [--steps N] [--width W] [--patch P] [--batch B]
#
# The dataset is generated from noise-free synthetic photos by `dcsr prepare`
# in a temporary folder; nothing outside it is written.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
binary="$here/../build/bin/dcsr"
steps=12 width=64 patch=48 batch=4
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --width) width=$2; shift 2 ;;
    --patch) patch=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    *) echo "bench_scaling: unknown option $1" >&2; exit 2 ;;
  esac
done
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
command -v mpirun > /dev/null || { echo "SKIPPED: no mpirun (tools/setup.sh installs Open MPI)"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 - <<'EOF'
import random, struct, zlib
# Four smooth 256x256 test photos as PNGs (no dependencies beyond the standard library).
def png(path, w, h, pix):
    raw = b"".join(b"\0" + bytes(pix[y * w * 3:(y + 1) * w * 3]) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
import os, math
os.makedirs("photos")
for i in range(4):
    r = random.Random(i)
    a = [r.uniform(0.01, 0.08) for _ in range(6)]
    pix = []
    for y in range(256):
        for x in range(256):
            for c in range(3):
                v = 0.5 + 0.25 * math.sin(a[c] * x + a[c + 3] * y + c) + 0.2 * math.sin(0.3 * x * a[c] * y * 0.01)
                pix.append(max(0, min(255, int(255 * v))))
    png("photos/p%d.png" % i, 256, 256, pix)
EOF
"$binary" prepare --photos photos --out data > /dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 DCSR_NUM_THREADS=1
common="train --data data --steps $steps --quiet --set n_feats=$width --set batch_size=$batch --set patch_size=$patch \
  --set num_patch=64 --set log_every=1 --set checkpoint_every=100000"
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "{\"name\": \"scaling_machine\", \"cpu\": \"$cpu\", \"cores\": $(nproc), \"steps\": $steps, \"n_feats\": $width, \"patch\": $patch, \"global_batch\": $batch}"
# steps/s over the steps after the first (warm-up), from the log's it_s, and the mean communication share.
summarise() {  # label log
  python3 - "$1" "$2" <<'EOF'
import json, sys
label, path = sys.argv[1], sys.argv[2]
lines = [json.loads(l) for l in open(path) if '"type":"train"' in l]
rates = [l["it_s"] for l in lines[1:]]
comm = [l.get("comm_s", 0.0) for l in lines[1:]]
step_s = sum(1.0 / r for r in rates) / len(rates)
print(json.dumps({"name": "scaling_" + label, "steps_per_s": 1.0 / step_s, "step_s": step_s,
                  "comm_s_per_step": sum(comm) / len(comm), "comm_share": sum(comm) / len(comm) / step_s}))
EOF
}
"$binary" $common --out one > /dev/null
summarise 1rank_1thread one/train_log.jsonl | tee one.json
mpirun --oversubscribe -np 2 -x DCSR_NUM_THREADS=1 "$binary" $common --out two > /dev/null
summarise 2ranks_1thread two/train_log.jsonl | tee two.json
python3 - <<'EOF'
import json
one, two = json.load(open("one.json")), json.load(open("two.json"))
print(json.dumps({"name": "scaling_ratio", "throughput_2ranks_over_1rank": two["steps_per_s"] / one["steps_per_s"],
                  "goal": 1.8}))
EOF
