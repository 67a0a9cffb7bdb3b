"""Reads what tools/make_results.sh measured, for tools/results_report.py (standard library only).

Every reader checks what it reads and raises ReportError naming the file; nothing here computes a goal.
"""
import json
import math
import os
import re

METRICS = ["psnr", "ssim", "psnr_fov", "ssim_fov"]


class ReportError(Exception):
    pass


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ReportError(f"cannot read '{path}': {e}")


def image_scores(evaluation, method, path):
    """{image name: {metric: value}} for method 'sr' or 'bicubic' of a `dcsr eval --json` file."""
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


def evaluations(work, own_name, unrelated_name, extra=None):
    """{'own', 'bicubic', 'unrelated'[, extra]: {image: scores}} and n_feats, from eval/*.json.

    own_name and unrelated_name: a normal run and its --unrelated-ref run; extra: (key, file) of a further
    normal run on the same images with other references (its bicubic must equal the first run's)."""
    path, upath = os.path.join(work, "eval", own_name), os.path.join(work, "eval", unrelated_name)
    ev, uev = load_json(path), load_json(upath)
    if not str(uev.get("reference", "")).startswith("unrelated"):
        raise ReportError(f"'{upath}' was not made with --unrelated-ref")
    by_image = {"own": image_scores(ev, "sr", path), "bicubic": image_scores(ev, "bicubic", path),
                "unrelated": image_scores(uev, "sr", upath)}
    runs = [(upath, by_image["unrelated"])]
    if extra:
        key, name = extra
        xpath = os.path.join(work, "eval", name)
        xev = load_json(xpath)
        by_image[key] = image_scores(xev, "sr", xpath)
        runs.append((xpath, by_image[key]))
        for image, scores in image_scores(xev, "bicubic", xpath).items():
            if abs(scores["psnr"] - by_image["bicubic"].get(image, {}).get("psnr", math.inf)) > 1e-6:
                raise ReportError(f"'{xpath}': image {image} has another bicubic PSNR than in '{path}' "
                                  "(not the same HR and LR)")
    for other, rows in runs:
        if set(by_image["own"]) != set(rows):
            raise ReportError(f"'{other}' and '{path}' hold different images")
    return by_image, ev.get("n_feats")


def parse_time(path):
    """Wall seconds and peak RSS (MiB) from `/usr/bin/time -v` output."""
    try:
        with open(path) as f:
            text = f.read()
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


def detail_scores(work, models):
    """{model: {pair name: {'ours', 'bicubic', 'energy', 'energy_bicubic', 'fov'}}} from detail/MODEL/NAME.json
    (`dcsr detail --json`). Every model must cover the same pairs, with the same bicubic score."""
    scores = {}
    for m in models:
        folder = os.path.join(work, "detail", m)
        try:
            names = sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".json"))
        except OSError as e:
            raise ReportError(f"cannot list '{folder}': {e}")
        scores[m] = {}
        for name in names:
            path = os.path.join(folder, name + ".json")
            j = load_json(path)
            try:
                row = {"ours": j["ours"]["correlation"], "bicubic": j["bicubic"]["correlation"],
                       "energy": j["ours"]["energy_ratio"], "energy_bicubic": j["bicubic"]["energy_ratio"],
                       "blocks": j["ours"]["blocks"], "fov": j["fov"]}
            except (KeyError, TypeError):
                raise ReportError(f"'{path}' is not `dcsr detail --json` output")
            if not all(isinstance(row[k], (int, float)) and math.isfinite(row[k])
                       for k in ("ours", "bicubic", "energy", "energy_bicubic")):
                raise ReportError(f"'{path}' holds a score that is not a finite number")
            scores[m][name] = row
        if "demo" not in scores[m]:
            raise ReportError(f"'{folder}' has no demo.json")
    first = models[0]
    for m in models[1:]:
        if set(scores[m]) != set(scores[first]):
            raise ReportError(f"detail/{m} and detail/{first} hold different pairs")
        for name, row in scores[m].items():
            if abs(row["bicubic"] - scores[first][name]["bicubic"]) > 1e-9:
                raise ReportError(f"detail/{m}/{name}.json has another bicubic score than detail/{first}: "
                                  "not the same pair")
    return scores


def step_seconds(work):
    """[(step group, seconds, runs)] in the order the steps ran, from logs/steps.tsv (NAME.PAIR -> group NAME)."""
    path = os.path.join(work, "logs", "steps.tsv")
    groups = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise ReportError(f"cannot read '{path}': {e}")
    for line in lines:
        try:
            name, ms = line.split("\t")
            group = name.split(".")[0]
            seconds, runs = groups.get(group, (0.0, 0))
            groups[group] = (seconds + int(ms) / 1000.0, runs + 1)
        except ValueError:
            raise ReportError(f"'{path}': bad line {line!r}")
    return [(g, s, n) for g, (s, n) in groups.items()]


def registrations(prepare_json):
    """[(pair name, zoom, angle deg, confidence)] of a `dcsr prepare --real` prepare.json."""
    rows = []
    for pair in load_json(prepare_json).get("pairs", []):
        try:
            r = pair["registration"]
            rows.append((pair["name"], r["tele_to_wide"]["scale"], r["tele_to_wide"]["angle_deg"], r["confidence"]))
        except (KeyError, TypeError):
            raise ReportError(f"'{prepare_json}': a pair without its registration")
    if not rows:
        raise ReportError(f"'{prepare_json}' holds no pairs")
    return rows
