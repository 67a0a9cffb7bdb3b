#!/usr/bin/env python3
"""Chooses where SRA stops from several held-out sequences at once (cross-validation over sequences).

    tools/sra_select_mean.py WORK1 WORK2 ... [--rule mean|every-pair] [--out FILE]

Each WORK is the --work folder of one `tools/sra_select.sh` run (one held-out sequence each, the same
--init, --config, --every and --max). Their selection.jsonl files give the held-out pairs' mean detail
correlation at every step tried (step 0 = the basic model). This averages the folds step by step, each
fold weighing the same. One held-out sequence is a noisy judge: on the dualfocal training pairs the four
single folds chose 100, 250, 250 and 300 (models/README.md, "Where SRA stops").

The rule that chooses:
  mean        the step with the best mean (the earliest of equal ones);
  every-pair  the same among the steps at which every held-out pair scores above its own basic model
              (step 0): a stop whose gain holds pair by pair, not only on average. When no step
              qualifies the choice is step 0, the basic model. The pairs' scores are compared as
              sra_select.sh writes them, rounded to 4 decimals, so a gain under 0.00005 does not count.

Prints one JSON line per step ({"step", "mean", "folds": {work name: correlation}, "pairs_above_basic",
"pairs", "worst_gain": the lowest pair's correlation minus its basic model's}) and then {"chosen", "rule",
"mean", "basic", "bicubic"}; --out writes the same lines to FILE (a new file). Standard library only.
"""
import argparse
import json
import os
import sys


def fold_curve(work):
    """{step: correlation}, {step: {pair: correlation}} and the mean bicubic correlation of one
    sra_select.sh run."""
    path = os.path.join(work, "selection.jsonl")
    try:
        with open(path) as f:
            lines = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        raise SystemExit(f"sra_select_mean: cannot read '{path}': {e}")
    steps = [line for line in lines if "step" in line]
    if not steps or not any("chosen" in line for line in lines):
        raise SystemExit(f"sra_select_mean: '{path}' is not a finished sra_select.sh run (no steps or no choice)")
    return ({line["step"]: line["correlation"] for line in steps},
            {line["step"]: line.get("pairs", {}) for line in steps}, steps[0]["bicubic"])


def pair_gains(pairs, step):
    """The held-out pairs' correlation at step minus at step 0, over all folds: [gain]."""
    gains = []
    for name, by_step in pairs.items():
        basic, now = by_step[0], by_step[step]
        if sorted(basic) != sorted(now):
            raise SystemExit(f"sra_select_mean: '{name}' scored other pairs at step {step} than at step 0")
        gains += [now[pair] - basic[pair] for pair in basic]
    return gains


def choose(curves, pairs, rule="mean"):
    """curves: {name: {step: correlation}}, pairs: {name: {step: {pair: correlation}}}, the same steps
    -> (rows, choice)."""
    names = list(curves)
    steps = sorted(curves[names[0]])
    for name in names[1:]:
        if sorted(curves[name]) != steps:
            raise SystemExit(f"sra_select_mean: '{name}' tried steps {sorted(curves[name])}, '{names[0]}' tried "
                             f"{steps}: the folds must share --every and --max")
    if 0 not in steps:
        raise SystemExit("sra_select_mean: no step 0 (the basic model) in the folds")
    rows = []
    for s in steps:
        gains = pair_gains(pairs, s)
        rows.append({"step": s, "mean": sum(curves[n][s] for n in names) / len(names),
                     "folds": {n: round(curves[n][s], 4) for n in names},
                     "pairs_above_basic": sum(g > 0 for g in gains), "pairs": len(gains),
                     "worst_gain": round(min(gains), 4) if gains else None})
    if rule == "every-pair":
        if not rows[0]["pairs"]:
            raise SystemExit("sra_select_mean: --rule every-pair needs the pairs' scores, and the folds have none")
        eligible = [r for r in rows[1:] if r["pairs_above_basic"] == r["pairs"]] or rows[:1]
    else:
        eligible = rows
    best = max(eligible, key=lambda r: (r["mean"], -r["step"]))
    return rows, {"chosen": best["step"], "rule": rule, "mean": best["mean"], "basic": rows[0]["mean"]}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("works", nargs="+", metavar="WORK", help="sra_select.sh --work folders, one per held-out sequence")
    p.add_argument("--rule", choices=["mean", "every-pair"], default="mean",
                   help="mean: the best mean; every-pair: the best mean where every held-out pair gains")
    p.add_argument("--out", help="also write the lines here (a new file)")
    a = p.parse_args(argv)
    if len(set(os.path.realpath(w) for w in a.works)) != len(a.works):
        raise SystemExit("sra_select_mean: a folder is given twice")
    if a.out and os.path.exists(a.out):
        raise SystemExit(f"sra_select_mean: '{a.out}' exists; give a new file (nothing is overwritten)")
    curves, pairs, bicubic = {}, {}, []
    for w in a.works:
        name = os.path.basename(os.path.normpath(w))
        curves[name], pairs[name], b = fold_curve(w)
        bicubic.append(b)
    if len(curves) != len(a.works):
        raise SystemExit("sra_select_mean: two folders have the same name; the lines name folds by folder name")
    rows, choice = choose(curves, pairs, a.rule)
    choice["bicubic"] = sum(bicubic) / len(bicubic)
    text = "".join(json.dumps(r) + "\n" for r in rows + [choice])
    sys.stdout.write(text)
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, a.out)


if __name__ == "__main__":
    main(sys.argv[1:])
