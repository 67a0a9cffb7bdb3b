#!/usr/bin/env bash
# Regenerates docs/RESULTS.md and docs/loss_curve.png from scratch: the quality
# of the default model against bicubic and against itself with unrelated
# references, the training loss curve, and the time and memory of the demo and
# of one 4K-mode image. Every number in the report is measured by this run;
# the goals' MET / NOT MET are computed from them (tools/results_report.py).
#
#   tools/make_results.sh [--model M] [--log LOG] [--val-seed S] [--val-sim SIM] [--quick] [--work DIR] [--out-dir DIR]
#
#   --model M     the model (default models/default.ckpt)
#   --log LOG     its training log (default models/train_log.jsonl)
#   --val-seed S  the seed of `dcsr prepare` for the validation set (default 2:
#                 the validation set the default model was trained with)
#   --val-sim SIM the telephoto simulation of that set, `dcsr prepare --sim`
#                 (default classic: the one the default model was trained and
#                 validated with; camera: the simulation of issue 15)
#   --quick       a smoke test of this script: 4 validation images and a 504x378
#                 4K-mode input; the report says so at the top, and it goes to
#                 the work folder unless --out-dir is given
#   --work DIR    where the datasets, evaluations and logs go (default: a new
#                 temporary folder, kept and printed at the end)
#   --out-dir DIR where RESULTS.md and loss_curve.png go (default docs/)
#
# Environment: DCSR_DATA, the folder holding the photo folders Set5, Set14 and
# Sun_Hays80 (default ../shared/data next to the repository);
# DCSR_NUM_THREADS, the CPU threads (default: all cores).
#
# Steps: (a) build the dcsr command; (b) prepare the validation set from the
# Set5 and Set14 photos together with `dcsr prepare --seed 2 --sim classic`; (c) `dcsr eval` (4k protocol) with
# the model, which measures bicubic in the same run, and again with
# --unrelated-ref; (d) `dcsr plot-log` of the training log; (e) `make demo`
# and `dcsr sr` on a 2016x1512 input in 4k mode under /usr/bin/time -v (the
# input: the first Sun_Hays80 photo resized to 4032x3024 with `dcsr resize`,
# then `dcsr prepare`, whose LR/x2 and Ref/x2 are 2016x1512); (f) the report.
# Any failing step stops the script with its log; the outputs are written to
# temporary names and renamed only when everything succeeded.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

model="models/default.ckpt"
log="models/train_log.jsonl"
quick=0
val_seed=2
val_sim=classic
work=""
out_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --model|--log|--work|--out-dir|--val-seed|--val-sim)
      [ $# -ge 2 ] || { echo "make_results: $1 needs a value (see --help)" >&2; exit 2; } ;;
  esac
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --log) log="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --val-seed) val_seed="$2"; shift 2 ;;
    --val-sim) val_sim="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --out-dir) out_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "make_results: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "make_results: error: $*" >&2; exit 1; }
step() { echo "make_results: $*"; }

data="${DCSR_DATA:-$repo/../shared/data}"
data="$(cd "$data" 2>/dev/null && pwd || echo "$data")"
for d in Set5 Set14 Sun_Hays80; do
  [ -d "$data/$d" ] || die "photo folder '$data/$d' not found (set DCSR_DATA to the folder holding Set5, Set14, Sun_Hays80)"
done
[ -f "$model" ] || die "model '$model' not found (train it or pass --model FILE)"
[ -f "$log" ] || die "training log '$log' not found (pass --log FILE)"
[ -x /usr/bin/time ] && /usr/bin/time -v true >/dev/null 2>&1 || die "GNU time (/usr/bin/time -v) is needed: apt-get install time"
command -v python3 >/dev/null || die "python3 is needed for the report (standard library only)"
model="$(cd "$(dirname "$model")" && pwd)/$(basename "$model")"
log="$(cd "$(dirname "$log")" && pwd)/$(basename "$log")"

if [ -z "$work" ]; then work="$(mktemp -d /tmp/dcsr_results.XXXXXX)"; fi
mkdir -p "$work"
work="$(cd "$work" && pwd)"
if [ -z "$out_dir" ]; then
  if [ "$quick" = 1 ]; then out_dir="$work/report"; else out_dir="$repo/docs"; fi
fi
mkdir -p "$out_dir" "$work/logs" "$work/eval"
threads="${DCSR_NUM_THREADS:-$(nproc)}"
export DCSR_NUM_THREADS="$threads"
dcsr="$repo/build/bin/dcsr"

# run NAME CMD...: runs CMD with its output in logs/NAME.log; on failure shows
# the end of the log and stops.
run() {
  local name="$1"; shift
  if ! "$@" >"$work/logs/$name.log" 2>&1; then
    echo "make_results: step '$name' failed: $*" >&2
    tail -n 30 "$work/logs/$name.log" >&2
    exit 1
  fi
}

# timed NAME CMD...: like run, under /usr/bin/time -v; writes NAME.time.
timed() {
  local name="$1"; shift
  run "$name" /usr/bin/time -v -o "$work/logs/$name.time" "$@"
}

step "work folder $work, $threads threads$([ "$quick" = 1 ] && echo ', QUICK run')"

step "(a) building the dcsr command"
run configure make configure
run build cmake --build build --target dcsr -j "$(nproc)"

step "(b) preparing the validation set from $data/{Set5,Set14} (seed $val_seed, $val_sim simulation)"
# One folder of both sets' photos (as the training's validation set): photo i
# of the sorted list draws its simulated telephoto from (seed, i), so the same
# photos and seed give the same pairs.
rm -rf "$work/val_photos" "$work/val"
mkdir -p "$work/val_photos"
for set in Set5 Set14; do
  for photo in "$data/$set"/*; do
    [ -f "$photo" ] || continue
    [ ! -e "$work/val_photos/$(basename "$photo")" ] || die "two validation photos are named $(basename "$photo")"
    ln -s "$photo" "$work/val_photos/$(basename "$photo")"
  done
done
run prepare_val "$dcsr" prepare --photos "$work/val_photos" --out "$work/val" --seed "$val_seed" --sim "$val_sim"

step "(c) evaluating bicubic, the model and the model with unrelated references"
max_images=()
if [ "$quick" = 1 ]; then max_images=(--max-images 4); fi
run eval "$dcsr" eval --data "$work/val" --model "$model" --json "$work/eval/own.json" "${max_images[@]}" --quiet
run eval_unrelated "$dcsr" eval --data "$work/val" --model "$model" --unrelated-ref \
  --json "$work/eval/unrelated.json" "${max_images[@]}" --quiet

step "(d) plotting the training loss"
run plot "$dcsr" plot-log "$log" --out "$work/loss_curve.png" --title "training loss: $(basename "$log")"

step "(e) timing make demo and one 4K-mode image"
timed demo make demo DEMO_ARGS="--model $model --out $work/demo --quiet"
photo="$(find "$data/Sun_Hays80" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | LC_ALL=C sort | head -n 1)"
[ -n "$photo" ] || die "no photo in $data/Sun_Hays80"
if [ "$quick" = 1 ]; then size4k=1008x756; else size4k=4032x3024; fi
rm -rf "$work/big"
mkdir -p "$work/big/photo"
run resize "$dcsr" resize --in "$photo" --out "$work/big/photo/big.png" --size "$size4k"
run prepare_big "$dcsr" prepare --photos "$work/big/photo" --out "$work/big/data" --seed 1 --sim classic
timed sr4k "$dcsr" sr --lr "$work/big/data/LR/x2/big.png" --ref "$work/big/data/Ref/x2/big.png" \
  --out "$work/big/sr.png" --model "$model" --mode 4k --quiet

step "(f) writing the report"
commit="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit (with uncommitted changes)"; fi
cpu="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)"
python3 tools/results_report.py --work "$work" --out "$work/RESULTS.md" \
  --model "$model" --log "$log" --quick "$quick" --threads "$threads" --cores "$(nproc)" \
  --cpu "${cpu:-unknown}" --commit "$commit" --date "$(date -u '+%Y-%m-%d %H:%M UTC')" \
  --photo "$(basename "$photo")" --size4k "$size4k" --data "$data" --val-seed "$val_seed" \
  || die "the report could not be written (see above)"

# Only now touch the outputs: copy next to them, then rename.
cp "$work/loss_curve.png" "$out_dir/.loss_curve.png.tmp"
cp "$work/RESULTS.md" "$out_dir/.RESULTS.md.tmp"
mv -f "$out_dir/.loss_curve.png.tmp" "$out_dir/loss_curve.png"
mv -f "$out_dir/.RESULTS.md.tmp" "$out_dir/RESULTS.md"
step "wrote $out_dir/RESULTS.md and $out_dir/loss_curve.png (work folder: $work)"
