#!/usr/bin/env python3
"""Writes docs/RESULTS.md from what tools/make_results.sh measured (standard library only).

Reads, in the work folder: eval/own.json and eval/unrelated.json (`dcsr eval` output on the
validation set made from the Set5 and Set14 photos together), logs/demo.time and logs/sr4k.time (`/usr/bin/time -v` output), and the
training log. Every number in the report comes from these files; the goals' MET / NOT MET are
computed here, never written by hand. Fails (exit 1, nothing written) when a file is missing or
malformed.
"""
import argparse
import json
import math
import os
import re
import sys

SETS = ["Set5", "Set14"]
METRICS = ["psnr", "ssim", "psnr_fov", "ssim_fov"]
# The goals of issue 7, inside the telephoto's field of view (the central half).
GOAL_OVER_BICUBIC_DB = 2.0
GOAL_OVER_UNRELATED_DB = 0.5


class ReportError(Exception):
    pass


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ReportError(f"cannot read '{path}': {e}")


def image_scores(evaluation, method, path):
    """{image name: {metric: value}} for method 'sr' or 'bicubic'."""
    rows = {}
    for image in evaluation.get("images", []):
        scores = image.get(method)
        if scores is None:
            raise ReportError(f"'{path}': image {image.get('name')} has no '{method}' scores")
        for m in METRICS:
            if not isinstance(scores.get(m), (int, float)) or not math.isfinite(scores[m]):
                raise ReportError(f"'{path}': image {image.get('name')} {method}.{m} is {scores.get(m)!r}")
        rows[image.get("name")] = scores
    if not rows:
        raise ReportError(f"'{path}' holds no images")
    return rows


def mean(rows, metric):
    return sum(r[metric] for r in rows) / len(rows)


def parse_time(path):
    """Wall seconds and peak RSS (MiB) from `/usr/bin/time -v` output."""
    try:
        text = open(path).read()
    except OSError as e:
        raise ReportError(f"cannot read '{path}': {e}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if not wall or not rss:
        raise ReportError(f"'{path}' is not /usr/bin/time -v output")
    seconds = 0.0
    for part in wall.group(1).split(":"):
        seconds = seconds * 60 + float(part)
    return seconds, int(rss.group(1)) / 1024.0


def read_log(path):
    """The start line's config, the train lines and the val lines of a train_log.jsonl."""
    config, train, val = {}, [], []
    with open(path) as f:
        for line in f:
            try:
                j = json.loads(line)
            except ValueError:
                continue  # an incomplete last line of a killed run
            if j.get("type") == "start" and not config:
                config = j.get("config", {})
            elif j.get("type") == "train":
                train.append(j)
            elif j.get("type") == "val" and isinstance(j.get("psnr"), (int, float)):
                val.append(j)
    if not train:
        raise ReportError(f"the training log '{path}' has no train lines")
    return config, train, val


def shown(path):
    """A path as the report shows it: relative to the repository (the current folder) when it lies inside it
    or beside it (../shared/data), else only its last component: the report names no machine's folders."""
    real, repo = os.path.realpath(path), os.path.realpath(os.getcwd())
    if real.startswith(os.path.dirname(repo) + os.sep):
        return os.path.relpath(real, repo)
    return os.path.basename(real)


def duration(seconds):
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def status(value, goal):
    return "**MET**" if value >= goal else "**NOT MET**"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    for name in ["work", "out", "model", "log", "quick", "threads", "cores", "cpu", "commit", "date", "photo",
                 "size4k", "data", "val_seed"]:
        p.add_argument("--" + name.replace("_", "-"), dest=name, required=True)
    a = p.parse_args()

    path, upath = os.path.join(a.work, "eval", "own.json"), os.path.join(a.work, "eval", "unrelated.json")
    ev, uev = load_json(path), load_json(upath)
    if not str(uev.get("reference", "")).startswith("unrelated"):
        raise ReportError(f"'{upath}' was not made with --unrelated-ref")
    n_feats = ev.get("n_feats")
    by_image = {"own": image_scores(ev, "sr", path), "bicubic": image_scores(ev, "bicubic", path),
                "unrelated": image_scores(uev, "sr", upath)}
    if set(by_image["own"]) != set(by_image["unrelated"]):
        raise ReportError(f"'{upath}' and '{path}' hold different images")
    # The images of each photo set (dcsr prepare names a pair after its photo's stem).
    groups = []
    for set_name in SETS:
        stems = {os.path.splitext(f)[0] for f in os.listdir(os.path.join(a.data, set_name))}
        names = sorted(n for n in by_image["own"] if os.path.splitext(n)[0] in stems)
        if names:
            groups.append((set_name, names))
    groups.append(("Set5 + Set14", sorted(by_image["own"])))
    own, unrelated, bicubic = {}, {}, {}
    for label, names in groups:
        own[label] = [by_image["own"][n] for n in names]
        unrelated[label] = [by_image["unrelated"][n] for n in names]
        bicubic[label] = [by_image["bicubic"][n] for n in names]
    groups = [(label, label) for label, _ in groups]

    demo_s, demo_mb = parse_time(os.path.join(a.work, "logs", "demo.time"))
    sr_s, sr_mb = parse_time(os.path.join(a.work, "logs", "sr4k.time"))
    config, train, val = read_log(a.log)

    all_key = "Set5 + Set14"
    gain_bicubic = mean(own[all_key], "psnr_fov") - mean(bicubic[all_key], "psnr_fov")
    gain_unrelated = mean(own[all_key], "psnr_fov") - mean(unrelated[all_key], "psnr_fov")
    n_all = len(own[all_key])
    lr_w, lr_h = (int(v) // 2 for v in a.size4k.split("x"))

    out = []
    w = out.append
    w("# Results\n")
    w("Written by `tools/make_results.sh`" + (" --quick" if a.quick == "1" else "") +
      "; every number below is measured by that run, and the goals' status is computed from them.\n")
    if a.quick == "1":
        w("> **QUICK RUN** (`--quick`): 4 validation images and a small 4K-mode input. A smoke test of the script, "
          "not the project's numbers.\n")
    w("| | |\n|---|---|")
    w(f"| date | {a.date} |")
    w(f"| commit | `{a.commit}` |")
    w(f"| machine | {a.cpu}, {a.cores} cores; threads used: {a.threads} (`DCSR_NUM_THREADS`) |")
    w(f"| model | `{shown(a.model)}`" + (f", n_feats {n_feats}" if n_feats is not None else "") + " |")
    w(f"| validation data | the Set5 and Set14 photos in one folder ({n_all} images evaluated), made into "
      f"dual-camera pairs by `dcsr prepare --seed {a.val_seed}` (simulated telephoto, docs/app.md) |")
    w("")

    w("## Goals (issue 7)\n")
    w(f"Both inside the telephoto's field of view (the central half of the output), mean PSNR over the "
      f"{n_all} images of Set5 + Set14.\n")
    w("| goal | measured | status |\n|---|---|---|")
    w(f"| DCSR at least +{GOAL_OVER_BICUBIC_DB:.1f} dB over bicubic | {gain_bicubic:+.2f} dB | "
      f"{status(gain_bicubic, GOAL_OVER_BICUBIC_DB)} |")
    w(f"| the right reference at least +{GOAL_OVER_UNRELATED_DB:.1f} dB over an unrelated one | "
      f"{gain_unrelated:+.2f} dB | {status(gain_unrelated, GOAL_OVER_UNRELATED_DB)} |")
    w("")

    w("## Quality\n")
    w("`dcsr eval`, 4k protocol (LR/x2 + Ref/x2 -> HR, dcsr-spec §11): 8-bit quantised, PSNR and SSIM on Y, "
      "shave 2 px; *FoV*: inside the telephoto's view, no shave. Bicubic is measured in the same run. "
      "*unrelated reference*: image i gets the reference of image (i+1) mod n of the set (both photo sets "
      "together, sorted by name), resized to its "
      "LR size (`dcsr eval --unrelated-ref`). Means over the images.\n")
    w("| images | method | PSNR | SSIM | PSNR FoV | SSIM FoV |\n|---|---|---|---|---|---|")
    for key, label in groups:
        n = len(own[key])
        for name, rows in [("bicubic", bicubic[key]), ("DCSR", own[key]), ("DCSR, unrelated reference",
                                                                           unrelated[key])]:
            w(f"| {label} ({n}) | {name} | {mean(rows, 'psnr'):.2f} | {mean(rows, 'ssim'):.4f} | "
              f"{mean(rows, 'psnr_fov'):.2f} | {mean(rows, 'ssim_fov'):.4f} |")
    w("")
    w("| images | DCSR - bicubic, PSNR FoV | DCSR - unrelated reference, PSNR FoV |\n|---|---|---|")
    for key, label in groups:
        w(f"| {label} | {mean(own[key], 'psnr_fov') - mean(bicubic[key], 'psnr_fov'):+.2f} dB | "
          f"{mean(own[key], 'psnr_fov') - mean(unrelated[key], 'psnr_fov'):+.2f} dB |")
    w("")

    w("## Speed and memory\n")
    w(f"Wall time and peak resident memory from `/usr/bin/time -v`; threads: {a.threads}.\n")
    w("| what | wall time | peak RSS |\n|---|---|---|")
    w(f"| `make demo`: the embedded 480x424 pair -> 960x848, 8k mode (build already up to date) | "
      f"{duration(demo_s)} | {demo_mb:.0f} MiB |")
    w(f"| `dcsr sr --mode 4k`: {lr_w}x{lr_h} -> {2 * lr_w}x{2 * lr_h} (`{a.photo}` of Sun_Hays80 resized to "
      f"{a.size4k}, then `dcsr prepare`; its LR/x2 and Ref/x2) | {duration(sr_s)} | {sr_mb:.0f} MiB |")
    w("")

    w("## Training\n")
    w("![training loss](loss_curve.png)\n")
    last = train[-1]
    facts = [f"{last['step']} steps"]
    for key in ["n_feats", "patch_size", "batch_size", "epochs", "loss", "lr"]:
        if key in config:
            facts.append(f"{key} `{config[key]}`")
    w(f"`{shown(a.log)}`: " + ", ".join(facts) + ".")
    if val:
        best = max(val, key=lambda v: v.get("psnr", -1))
        w(f" Validation during training ({len(val)} points): last PSNR {val[-1]['psnr']:.2f} dB at step "
          f"{val[-1]['step']} (bicubic {val[-1].get('psnr_bicubic', float('nan')):.2f}), best "
          f"{best['psnr']:.2f} dB at step {best['step']}.")
    w("")
    w("## How to reproduce\n")
    w("```sh\ntools/make_results.sh" + (" --quick" if a.quick == "1" else "") + "\n```\n")
    w(f"It builds the `dcsr` command, prepares the validation sets from `{shown(a.data)}`, runs the evaluations, "
      "plots the log, times the two runs and writes this file (see the script's header).\n")

    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(out))
    os.replace(tmp, a.out)


if __name__ == "__main__":
    try:
        main()
    except ReportError as e:
        print(f"results_report: error: {e}", file=sys.stderr)
        sys.exit(1)
