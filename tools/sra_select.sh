#!/usr/bin/env bash
# Chooses where SRA (dcsr-spec §10.4) stops by a measure, not by a fixed step:
# one motion sequence of the SRA training pairs is held out, SRA runs on the
# others with a checkpoint every --every steps, and each checkpoint's output
# (in --mode, 8k unless told) on the held-out pairs is scored with `dcsr detail` (the correlation of
# its fine detail with the raw telephoto frame's, docs/app.md). The step with
# the best mean score (the earliest of equal ones) is the stop; the basic
# model is scored too, as step 0. The validation pairs are never read.
#
#   tools/sra_select.sh --init MODEL --data DIR --tele DIR --hold PREFIX --work DIR
#                       [--config FILE] [--mode 8k|4k] [--every N] [--max N] [--build-dir DIR] [--threads N]
#
#   --init MODEL     the basic model SRA starts from
#   --data DIR       the SRA training pairs (`dcsr prepare --real`: HR, LR/x1,
#                    LR/x2, Ref/x1, Ref/x2, one PNG per pair in each)
#   --tele DIR       the raw telephoto frames, <pair name>.jpg (for dcsr detail)
#   --hold PREFIX    the pairs whose names start with PREFIX_ are held out
#   --work DIR       new folder: the split, the run, the checkpoints, the outputs,
#                    and selection.jsonl (one line per step, then the choice)
#   --config FILE    SRA config (default configs/sra_real32.json)
#   --mode 8k|4k     the mode SRA trains in (its config key mode) and the held-out
#                    pairs are super-resolved in (default 8k, the spec's SRA mode)
#   --every N        steps between checkpoints (default 50)
#   --max N          the last step tried (default 600)
#
# Any failing command stops the script with its log under DIR/logs.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
init="" data="" tele="" hold="" work="" config="$repo/configs/sra_real32.json"
every=50 max=600 build_dir="$repo/build" threads="" mode=8k
die() { echo "sra_select: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --init|--data|--tele|--hold|--work|--config|--mode|--every|--max|--build-dir|--threads)
      [ $# -ge 2 ] || die "$1 needs a value" ;;
  esac
  case "$1" in
    --init) init="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --tele) tele="$2"; shift 2 ;;
    --hold) hold="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --mode) mode="$2"; shift 2 ;;
    --every) every="$2"; shift 2 ;;
    --max) max="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    -h|--help) sed -n '2,26p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
for v in init data tele hold work; do [ -n "${!v}" ] || die "--$v is required (see --help)"; done
[ -f "$init" ] || die "no model '$init'"
[ -d "$data/HR" ] || die "'$data' has no HR folder (a dcsr prepare --real output)"
[ -d "$tele" ] || die "no telephoto folder '$tele'"
[[ "$every" =~ ^[1-9][0-9]*$ && "$max" =~ ^[1-9][0-9]*$ ]] || die "--every and --max must be positive integers"
[ "$mode" = 8k ] || [ "$mode" = 4k ] || die "--mode must be 8k or 4k, not '$mode'"
[ "$max" -ge "$every" ] || die "--max $max is below --every $every"
[ ! -e "$work" ] || die "'$work' exists; give a new folder (nothing is overwritten)"
dcsr="$build_dir/bin/dcsr"
[ -x "$dcsr" ] || die "no dcsr command at '$dcsr' (build it, or --build-dir)"
thread_args=(); [ -z "$threads" ] || thread_args=(--threads "$threads")

mkdir -p "$work/logs" "$work/ckpt" "$work/sr" "$work/detail"
run() {  # run NAME COMMAND...: the command's output to logs/NAME.log; stops on failure
  local name="$1"; shift
  "$@" > "$work/logs/$name.log" 2>&1 || { echo "sra_select: '$name' failed; its log:" >&2; tail -n 20 "$work/logs/$name.log" >&2; exit 1; }
}

# The split: symbolic links, the held-out pairs in select/, the others in fit/.
held=0 kept=0
for hr in "$data"/HR/*.png; do
  stem="$(basename "$hr" .png)"
  case "$stem" in "$hold"_*) side=select; held=$((held + 1)) ;; *) side=fit; kept=$((kept + 1)) ;; esac
  for sub in HR LR/x1 LR/x2 Ref/x1 Ref/x2; do
    [ -f "$data/$sub/$stem.png" ] || die "'$data/$sub/$stem.png' missing"
    mkdir -p "$work/$side/$sub"
    ln -s "$(cd "$data/$sub" && pwd)/$stem.png" "$work/$side/$sub/$stem.png"
  done
  if [ "$side" = select ]; then [ -f "$tele/$stem.jpg" ] || die "no telephoto frame '$tele/$stem.jpg'"; fi
done
[ "$held" -gt 0 ] || die "no pair of '$data' starts with '${hold}_'"
[ "$kept" -gt 0 ] || die "every pair of '$data' starts with '${hold}_': nothing left to train on"

# Scores a model on the held-out pairs: the mean correlation, one line in selection.jsonl.
score() {  # score STEP MODEL
  local step="$1" model="$2" stem sum=0 n=0 corr
  for hr in "$work"/select/HR/*.png; do
    stem="$(basename "$hr" .png)"
    run "sr_${step}_$stem" "$dcsr" sr --lr "$hr" --ref "$work/select/Ref/x1/$stem.png" --out "$work/sr/${step}_$stem.png" \
      --mode "$mode" --model "$model" --registration none --quiet "${thread_args[@]}"
    run "detail_${step}_$stem" "$dcsr" detail --sr "$work/sr/${step}_$stem.png" --ref "$tele/$stem.jpg" --lr "$hr" \
      --json "$work/detail/${step}_$stem.json"
  done
  python3 - "$work" "$step" <<'PY'
import glob, json, os, sys
work, step = sys.argv[1], int(sys.argv[2])
files = sorted(glob.glob(os.path.join(work, "detail", f"{step}_*.json")))
pairs = {os.path.basename(f)[len(str(step)) + 1:-5]: json.load(open(f)) for f in files}
line = {"step": step,
        "correlation": sum(p["ours"]["correlation"] for p in pairs.values()) / len(pairs),
        "bicubic": sum(p["bicubic"]["correlation"] for p in pairs.values()) / len(pairs),
        "pairs": {k: round(p["ours"]["correlation"], 4) for k, p in pairs.items()}}
with open(os.path.join(work, "selection.jsonl"), "a") as out:
    out.write(json.dumps(line) + "\n")
print(json.dumps(line))
PY
}

score 0 "$init"
for ((step = every; step <= max; step += every)); do
  if [ "$step" -eq "$every" ]; then
    run "sra_$step" "$dcsr" sra --config "$config" --data "$work/fit" --init "$init" --out "$work/run" \
      --set "mode=$mode" --steps "$step" --quiet "${thread_args[@]}"
  else  # an exact continuation: the checkpoint carries the config, the data order and the optimiser
    run "sra_$step" "$dcsr" sra --resume "$work/run/model_latest.ckpt" --steps "$step" --quiet "${thread_args[@]}"
  fi
  run "export_$step" "$dcsr" export --model "$work/run/model_latest.ckpt" --out "$work/ckpt/step_$step.ckpt"
  score "$step" "$work/ckpt/step_$step.ckpt"
done

python3 - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
lines = [json.loads(l) for l in open(os.path.join(work, "selection.jsonl")) if '"step"' in l and '"chosen"' not in l]
best = max(lines, key=lambda l: (l["correlation"], -l["step"]))
choice = {"chosen": best["step"], "correlation": best["correlation"], "basic": lines[0]["correlation"],
          "bicubic": lines[0]["bicubic"]}
with open(os.path.join(work, "selection.jsonl"), "a") as out:
    out.write(json.dumps(choice) + "\n")
print(json.dumps(choice))
PY
