#!/usr/bin/env bash
# Regenerates docs/RESULTS.md, docs/loss_curve.png and docs/demo_sra_crops.png
# from scratch: the basic model's quality against bicubic and against itself
# with unrelated references, on the synthetic validation set and on the real
# validation pairs; the 8K-mode detail transfer of the basic and the SRA model
# on the demo pair and the real validation pairs; demo crops before and after
# SRA; the training loss curve; the time and memory of the demo and of one
# 4K-mode image. Every number in the report is measured by this run; the
# goals' MET / NOT MET are computed from them (tools/results_report.py).
#
#   tools/make_results.sh [--model M] [--real-model M|none] [--log LOG] [--val-seed S] [--val-sim SIM]
#                         [--real-split FILE] [--max-real N] [--build-dir DIR] [--device cpu|cuda] [--quick] [--work DIR]
#                         [--out-dir DIR]
#
#   --model M       the basic model (default models/default.ckpt): dcsr eval
#                   (4k protocol) and the "basic" column of the 8K measure
#   --real-model M  the SRA model for 8K mode (default models/real.ckpt when
#                   it exists; none, or no such file: the SRA column and the
#                   SRA panel are left out, and the report says so)
#   --log LOG       the basic model's training log (default models/train_log.jsonl)
#   --val-seed S    the seed of `dcsr prepare` for the synthetic validation set
#                   (default 2: the validation set the default model was trained with)
#   --val-sim SIM   its telephoto simulation, `dcsr prepare --sim` (default
#                   classic: the default model's; camera: the simulation of issue 15)
#   --real-split F  the real-pair split (default configs/real_split_dualfocal.json)
#   --max-real N    only the first N (at least 2) real validation pairs in
#                   dcsr eval and in 8K mode (default 0: all; the report gives the count)
#   --build-dir D   the build folder (default build; `make ... BUILD=D`)
#   --device DEV    where the networks run in eval, sr and demo (default cpu;
#                   cuda needs a CUDA build and a GPU: the times are then GPU times)
#   --quick         a smoke test of this script: 4 synthetic and 2 real validation
#                   images, the demo and 2 real pairs in 8K mode, a 504x378
#                   4K-mode input; the report says so at the top, and it goes to
#                   the work folder unless --out-dir is given
#   --work DIR      where the datasets, evaluations and logs go (default: a new
#                   temporary folder, kept and printed at the end)
#   --out-dir DIR   where RESULTS.md, loss_curve.png and demo_sra_crops.png go (default docs/)
#
# Environment: DCSR_DATA, the folder holding the photo folders Set5, Set14,
# Sun_Hays80 and the real frames dualfocal-ultrawide-wide (default
# ../shared/data next to the repository); DCSR_NUM_THREADS, the CPU threads
# (default: all cores).
#
# Steps: (a) build the dcsr command; (b) prepare the synthetic validation set
# from the Set5 and Set14 photos together with `dcsr prepare --seed 2 --sim
# classic`; (c) prepare the real pairs of the split's two sets and of the demo
# pair with `dcsr prepare --real` (CameraFusion's 4K protocol; the script stops
# if a sequence or a frame is in both sets); (d) `dcsr eval` (4k protocol) of
# the basic model on both validation sets, bicubic measured in the same runs,
# again with --unrelated-ref, and on the real set with the other scene's
# references (--ref-from the training pairs: validation pair i gets training
# pair i's Ref/x2); (e) `dcsr plot-log`; (f)
# `make demo` and `dcsr sr` on a 2016x1512 input in 4k mode under
# /usr/bin/time -v (the input: the first Sun_Hays80 photo resized to
# 4032x3024 with `dcsr resize`, then `dcsr prepare`); (g) 8K mode, §11's 8K
# test: `dcsr sr --mode 8k` with the basic and the SRA model on the demo pair
# (as a user runs it: the raw frames, registration auto) and on each real
# validation pair (LR = HR, Ref = Ref/x1, the canonical layout by
# construction: --registration none), then `dcsr detail` on every output
# against the raw telephoto frame (bicubic measured in the same run); (h) the
# demo crops (tools/crops_figure.py: bicubic x2 | basic | SRA | the
# telephoto as Ref/x1 of the demo pair); (i) the report. Any failing step
# stops the script with its log; the outputs are written to temporary names
# and renamed only when everything succeeded.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
caller="$PWD"  # the paths given on the command line (and DCSR_DATA) are the caller's
from_caller() { case "$1" in /*) echo "$1" ;; *) echo "$caller/$1" ;; esac; }
cd "$repo"

model="models/default.ckpt"
real_model=""
log="models/train_log.jsonl"
split="configs/real_split_dualfocal.json"
build_dir="$repo/build"
device=cpu
max_real_n=0
quick=0
val_seed=2
val_sim=classic
work=""
out_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --model|--real-model|--log|--work|--out-dir|--val-seed|--val-sim|--real-split|--build-dir|--device|--max-real)
      [ $# -ge 2 ] || { echo "make_results: $1 needs a value (see --help)" >&2; exit 2; } ;;
  esac
  case "$1" in
    --model) model="$(from_caller "$2")"; shift 2 ;;
    --real-model) real_model="$2"; [ "$2" = none ] || real_model="$(from_caller "$2")"; shift 2 ;;
    --log) log="$(from_caller "$2")"; shift 2 ;;
    --real-split) split="$(from_caller "$2")"; shift 2 ;;
    --build-dir) build_dir="$(from_caller "$2")"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --max-real) max_real_n="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --val-seed) val_seed="$2"; shift 2 ;;
    --val-sim) val_sim="$2"; shift 2 ;;
    --work) work="$(from_caller "$2")"; shift 2 ;;
    --out-dir) out_dir="$(from_caller "$2")"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "make_results: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "make_results: error: $*" >&2; exit 1; }
step() { echo "make_results: $*"; }
case "$device" in cpu|cuda) ;; *) echo "make_results: --device must be cpu or cuda, got '$device'" >&2; exit 2 ;; esac
[[ "$max_real_n" =~ ^[0-9]+$ ]] && [ "$max_real_n" != 1 ] || { echo "make_results: --max-real must be 0 (all) or at least 2 (--unrelated-ref needs two images), got '$max_real_n'" >&2; exit 2; }
[ "$quick" = 0 ] || max_real_n=2
absolute() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
png_size() {  # WIDTHxHEIGHT of a PNG, from its IHDR chunk
  python3 -c 'import struct, sys; d = open(sys.argv[1], "rb").read(24); print("%dx%d" % struct.unpack(">II", d[16:24]))' "$1"
}

data="$(from_caller "${DCSR_DATA:-$repo/../shared/data}")"
data="$(cd "$data" 2>/dev/null && pwd || echo "$data")"
for d in Set5 Set14 Sun_Hays80 dualfocal-ultrawide-wide; do
  [ -d "$data/$d" ] || die "data folder '$data/$d' not found (set DCSR_DATA to the folder holding Set5, Set14, Sun_Hays80, dualfocal-ultrawide-wide)"
done
[ -f "$model" ] || die "model '$model' not found (train it or pass --model FILE)"
[ -f "$log" ] || die "training log '$log' not found (pass --log FILE)"
[ -f "$split" ] || die "real-pair split '$split' not found (pass --real-split FILE)"
for f in demo/ultrawide.jpg demo/wide.jpg; do [ -f "$f" ] || die "the demo pair's '$f' is missing"; done
# The SRA model: the option, else models/real.ckpt when present; "none" leaves it out.
real_model_note=""
if [ -z "$real_model" ]; then
  if [ -f models/real.ckpt ]; then real_model=models/real.ckpt
  else real_model=none; real_model_note="no models/real.ckpt and no --real-model"; fi
elif [ "$real_model" = none ]; then
  real_model_note="--real-model none"
else
  [ -f "$real_model" ] || die "SRA model '$real_model' not found (pass --real-model FILE, or none)"
fi
# The split's sequences, one "SET SEQUENCE" line each; refused when a sequence is in both sets.
split_lines="$(python3 - "$split" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
train, val = s.get("sra_train"), s.get("validation")
if not isinstance(train, list) or not isinstance(val, list) or not train or not val:
    sys.exit(f"'{sys.argv[1]}' needs non-empty lists sra_train and validation")
both = set(train) & set(val)
if both:
    sys.exit(f"'{sys.argv[1]}': sequences in both sets: {sorted(both)}")
for name, seqs in (("sra_train", train), ("validation", val)):
    for q in seqs:
        print(name, q)
PY
)" || die "the split '$split' is not usable (see above)"
[ -x /usr/bin/time ] && /usr/bin/time -v true >/dev/null 2>&1 || die "GNU time (/usr/bin/time -v) is needed: apt-get install time"
command -v python3 >/dev/null || die "python3 is needed for the report (standard library only)"
model="$(absolute "$model")"
log="$(absolute "$log")"
split="$(absolute "$split")"
if [ "$real_model" != none ]; then real_model="$(absolute "$real_model")"; fi

if [ -z "$work" ]; then work="$(mktemp -d /tmp/dcsr_results.XXXXXX)"; fi
mkdir -p "$work"
work="$(cd "$work" && pwd)"
if [ -z "$out_dir" ]; then
  if [ "$quick" = 1 ]; then out_dir="$work/report"; else out_dir="$repo/docs"; fi
fi
rm -rf "$work/detail" "$work/sr8k"  # a reused --work: an earlier run's scores would join this run's means
mkdir -p "$out_dir" "$work/logs" "$work/eval" "$work/detail"
: > "$work/logs/steps.tsv"
threads="${DCSR_NUM_THREADS:-$(nproc)}"
export DCSR_NUM_THREADS="$threads"
dcsr="$build_dir/bin/dcsr"

# run NAME CMD...: runs CMD with its output in logs/NAME.log and its wall
# milliseconds in logs/steps.tsv; on failure shows the end of the log and stops.
run() {
  local name="$1"; shift
  local start; start="$(date +%s%N)"
  if ! "$@" >"$work/logs/$name.log" 2>&1; then
    echo "make_results: step '$name' failed: $*" >&2
    tail -n 30 "$work/logs/$name.log" >&2
    exit 1
  fi
  printf '%s\t%s\n' "$name" "$(( ($(date +%s%N) - start) / 1000000 ))" >> "$work/logs/steps.tsv"
}

# timed NAME CMD...: like run, under /usr/bin/time -v; writes NAME.time.
timed() {
  local name="$1"; shift
  run "$name" /usr/bin/time -v -o "$work/logs/$name.time" "$@"
}

step "work folder $work, device $device, $threads threads$([ "$quick" = 1 ] && echo ', QUICK run')"
[ -z "$real_model_note" ] || step "no SRA model ($real_model_note): the SRA column and panel are left out"

step "(a) building the dcsr command ($build_dir)"
run configure make configure BUILD="$build_dir"
run build cmake --build "$build_dir" --target dcsr -j "$(nproc)"

step "(b) preparing the synthetic validation set from $data/{Set5,Set14} (seed $val_seed, $val_sim simulation)"
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

step "(c) preparing the real pairs ($(basename "$split")) and the demo pair with dcsr prepare --real"
frames="$data/dualfocal-ultrawide-wide"
rm -rf "$work/real"
while read -r set seq; do
  [ -d "$frames/$seq" ] || die "sequence folder '$frames/$seq' of the split not found"
  mkdir -p "$work/real/$set/wide" "$work/real/$set/tele"
  # Pair name: the sequence's first word and the frame number (Roll_F1), as docs/RESULTS.md's commands name them.
  for f in "$frames/$seq"/*.jpg; do
    k="$(basename "$f" | grep -o 'F[0-9]*' | head -n 1)" || die "no frame number (F1..) in '$f'"
    case "$(basename "$f")" in
      *ultra*) side=wide ;;
      *wide*) side=tele ;;
      *) die "'$f' is neither an ultra-wide (*ultra*) nor a wide (*wide*) frame" ;;
    esac
    link="$work/real/$set/$side/${seq%%_*}_$k.jpg"
    [ ! -e "$link" ] || die "two frames would be named $(basename "$link") in the $set set"
    ln -s "$f" "$link"
  done
done <<< "$split_lines"
# No frame (by content) in both sets: the left-out reversed copies would be such frames.
dups="$(cd "$work/real" && md5sum -- sra_train/*/*.jpg validation/*/*.jpg | sort | uniq -w 32 -D | awk '{print $2}')"
[ -z "$dups" ] || die "the same frame (by content) is in both real sets or twice in one: $(echo $dups | cut -c 1-300)"
for set in sra_train validation; do
  run "prepare_real_$set" "$dcsr" prepare --real --wide "$work/real/$set/wide" --tele "$work/real/$set/tele" \
    --out "$work/real/data_$set"
done
mkdir -p "$work/real/demo/wide" "$work/real/demo/tele"
ln -s "$repo/demo/ultrawide.jpg" "$work/real/demo/wide/demo.jpg"
ln -s "$repo/demo/wide.jpg" "$work/real/demo/tele/demo.jpg"
# Which validation pair the demo pair is, if any (same files): the report says so.
: > "$work/real/demo_in_validation.txt"
for f in "$work/real/validation/wide"/*.jpg; do
  if cmp -s "$f" "$repo/demo/ultrawide.jpg" && cmp -s "$work/real/validation/tele/$(basename "$f")" "$repo/demo/wide.jpg"; then
    basename "$f" .jpg >> "$work/real/demo_in_validation.txt"
  fi
done
run prepare_real_demo "$dcsr" prepare --real --wide "$work/real/demo/wide" --tele "$work/real/demo/tele" \
  --out "$work/real/data_demo"

step "(d) evaluating bicubic, the basic model and its controls (4k protocol)"
max_val=() max_real=()
if [ "$quick" = 1 ]; then max_val=(--max-images 4); fi
if [ "$max_real_n" -gt 0 ]; then max_real=(--max-images "$max_real_n"); fi
run eval "$dcsr" eval --data "$work/val" --model "$model" --json "$work/eval/own.json" "${max_val[@]}" --device "$device" --quiet
run eval_unrelated "$dcsr" eval --data "$work/val" --model "$model" --unrelated-ref \
  --json "$work/eval/unrelated.json" "${max_val[@]}" --device "$device" --quiet
real_val="$work/real/data_validation"
run eval_real "$dcsr" eval --data "$real_val" --model "$model" --json "$work/eval/real_own.json" "${max_real[@]}" --device "$device" --quiet
run eval_real_unrelated "$dcsr" eval --data "$real_val" --model "$model" --unrelated-ref \
  --json "$work/eval/real_unrelated.json" "${max_real[@]}" --device "$device" --quiet
run eval_real_other_scene "$dcsr" eval --data "$real_val" --ref-from "$work/real/data_sra_train" --model "$model" \
  --json "$work/eval/real_other_scene.json" "${max_real[@]}" --device "$device" --quiet

step "(e) plotting the training loss"
run plot "$dcsr" plot-log "$log" --out "$work/loss_curve.png" --title "training loss: $(basename "$log")"

step "(f) timing make demo and one 4K-mode image"
# make demo with the model it takes by default in 8k mode: the SRA model when there is one.
demo_model="$model"; [ "$real_model" = none ] || demo_model="$real_model"
timed demo make demo BUILD="$build_dir" DEMO_ARGS="--model $demo_model --out $work/demo --device $device --quiet"
photo="$(find "$data/Sun_Hays80" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | LC_ALL=C sort | head -n 1)"
[ -n "$photo" ] || die "no photo in $data/Sun_Hays80"
if [ "$quick" = 1 ]; then size4k=1008x756; else size4k=4032x3024; fi
rm -rf "$work/big"
mkdir -p "$work/big/photo"
run resize "$dcsr" resize --in "$photo" --out "$work/big/photo/big.png" --size "$size4k"
run prepare_big "$dcsr" prepare --photos "$work/big/photo" --out "$work/big/data" --seed 1 --sim classic
timed sr4k "$dcsr" sr --lr "$work/big/data/LR/x2/big.png" --ref "$work/big/data/Ref/x2/big.png" \
  --out "$work/big/sr.png" --model "$model" --mode 4k --device "$device" --quiet

step "(g) 8K mode: dcsr sr with the basic$([ "$real_model" = none ] || echo ' and the SRA') model, then dcsr detail"
models8k=(basic); [ "$real_model" = none ] || models8k+=(sra)
model_file() { if [ "$1" = basic ]; then echo "$model"; else echo "$real_model"; fi; }
# pair8k NAME LR REF REGISTRATION TELE: both models' outputs and their detail scores against TELE.
pair8k() {
  local name="$1" lr="$2" ref="$3" registration="$4" tele="$5" m
  for m in "${models8k[@]}"; do
    mkdir -p "$work/sr8k/$m" "$work/detail/$m"
    run "sr8k_$m.$name" "$dcsr" sr --lr "$lr" --ref "$ref" --out "$work/sr8k/$m/$name.png" --mode 8k \
      --model "$(model_file "$m")" --registration "$registration" --device "$device" --quiet
    run "detail_$m.$name" "$dcsr" detail --sr "$work/sr8k/$m/$name.png" --ref "$tele" --lr "$lr" \
      --json "$work/detail/$m/$name.json"
  done
}
pair8k demo "$repo/demo/ultrawide.jpg" "$repo/demo/wide.jpg" auto "$repo/demo/wide.jpg"
n8k=0
for hr in "$real_val"/HR/*.png; do
  if [ "$max_real_n" -gt 0 ] && [ "$n8k" -ge "$max_real_n" ]; then break; fi
  stem="$(basename "$hr" .png)"
  [ -f "$real_val/Ref/x1/$stem.png" ] || die "'$real_val/Ref/x1/$stem.png' missing"
  [ -e "$work/real/validation/tele/$stem.jpg" ] || die "the telephoto frame of pair $stem is missing"
  pair8k "real_$stem" "$hr" "$real_val/Ref/x1/$stem.png" none "$work/real/validation/tele/$stem.jpg"
  n8k=$((n8k + 1))
done

step "(h) the demo crops: bicubic x2 | basic$([ "$real_model" = none ] || echo ' | SRA') | telephoto"
run bicubic_demo "$dcsr" resize --in "$repo/demo/ultrawide.jpg" --out "$work/sr8k/bicubic_demo.png" \
  --size "$(png_size "$work/sr8k/${models8k[0]}/demo.png")"
# Ref/x1 of the demo pair is the telephoto over its HR's central half at twice its density; the HR is
# the h x w window of the demo frame at crop_top_left (top, left; dcsr prepare --real): Ref/x1 pixel
# (r, c) is pixel (2 top + h/2 + r, 2 left + w/2 + c) of the 2x output of the whole frame.
crop_args="$(python3 - "$work/real/data_demo/prepare.json" "$work/detail/basic/demo.json" <<'PY'
import json, sys
pair = json.load(open(sys.argv[1]))["pairs"][0]
w, h = pair["hr_size"]
top, left = pair["crop_top_left"]
y0, x0, fh, fw = json.load(open(sys.argv[2]))["fov"]  # the telephoto's view measured by dcsr detail (wide px)
print(f"--texture-at {2 * top + h // 2},{2 * left + w // 2} --region {2 * y0},{2 * x0},{2 * fh},{2 * fw}")
PY
)" || die "the demo crop's geometry (see above)"
panels=(--panel "$work/sr8k/bicubic_demo.png")
for m in "${models8k[@]}"; do panels+=(--panel "$work/sr8k/$m/demo.png"); done
# shellcheck disable=SC2086
run crops python3 tools/crops_figure.py "${panels[@]}" --texture "$work/real/data_demo/Ref/x1/demo.png" \
  $crop_args --size 128 --zoom 2 --out "$work/demo_sra_crops.png" --json "$work/detail/crop.json"

step "(i) writing the report"
commit="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit (with uncommitted changes)"; fi
cpu="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)"
python3 tools/results_report.py --work "$work" --out "$work/RESULTS.md" \
  --model "$model" --real-model "$real_model" --real-model-note "$real_model_note" --log "$log" --split "$split" --quick "$quick" \
  --threads "$threads" --cores "$(nproc)" --cpu "${cpu:-unknown}" --commit "$commit" \
  --date "$(date -u '+%Y-%m-%d %H:%M UTC')" --photo "$(basename "$photo")" --size4k "$size4k" --data "$data" \
  --val-seed "$val_seed" --val-sim "$val_sim" --device "$device" --max-real "$max_real_n" \
  || die "the report could not be written (see above)"

# Only now touch the outputs: copy next to them, then rename.
outputs=(loss_curve.png demo_sra_crops.png RESULTS.md)
for f in "${outputs[@]}"; do cp "$work/$f" "$out_dir/.$f.tmp"; done
for f in "${outputs[@]}"; do mv -f "$out_dir/.$f.tmp" "$out_dir/$f"; done
step "wrote $out_dir/{RESULTS.md,loss_curve.png,demo_sra_crops.png} (work folder: $work)"
