#!/usr/bin/env python3
"""Tests of tools/crops_figure.py and tools/results_report.py (standard library only; no dcsr binary, no data).

    python3 tools/test_results_tools.py
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import crops_figure  # noqa: E402


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def encode_png(path, width, rows, channels, depth, filters):
    """A PNG whose row y uses PNG filter filters[y % len(filters)] (rows: bytes of width * channels samples)."""
    bpp = channels * depth // 8
    raw, prev = b"", bytes(len(rows[0]))
    for y, row in enumerate(rows):
        kind = filters[y % len(filters)]
        out = bytearray(len(row))
        for i, v in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, prev[i], (a + prev[i]) >> 1, paeth(a, prev[i], c)][kind]
            out[i] = (v - pred) & 255
        raw += bytes([kind]) + bytes(out)
        prev = row
    colour = {1: 0, 3: 2, 4: 6}[channels]
    def chunk(k, body):
        return struct.pack(">I", len(body)) + k + body + struct.pack(">I", zlib.crc32(k + body) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, len(rows), depth, colour, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class PngTest(unittest.TestCase):
    def test_every_filter_decodes_to_the_pixels(self):
        width, height = 7, 10
        rows = [bytes((x * 37 + y * 91 + c * 53 + x * y * 13) % 256 for x in range(width) for c in range(3))
                for y in range(height)]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "a.png")
            encode_png(path, width, rows, 3, 8, [0, 1, 2, 3, 4])
            self.assertEqual(crops_figure.read_png(path), (width, height, rows))
            crops_figure.write_png(os.path.join(d, "b.png"), width, height, rows)
            self.assertEqual(crops_figure.read_png(os.path.join(d, "b.png")), (width, height, rows))

    def test_grey_rgba_and_16_bit_become_rgb8(self):
        with tempfile.TemporaryDirectory() as d:
            grey = os.path.join(d, "g.png")
            encode_png(grey, 3, [bytes([10, 20, 30])], 1, 8, [4])
            self.assertEqual(crops_figure.read_png(grey)[2], [bytes([10] * 3 + [20] * 3 + [30] * 3)])
            rgba = os.path.join(d, "a.png")
            encode_png(rgba, 2, [bytes([1, 2, 3, 255, 4, 5, 6, 0])], 4, 8, [1])
            self.assertEqual(crops_figure.read_png(rgba)[2], [bytes([1, 2, 3, 4, 5, 6])])
            deep = os.path.join(d, "d.png")
            encode_png(deep, 1, [bytes([200, 1, 100, 2, 50, 3])], 3, 16, [3])
            self.assertEqual(crops_figure.read_png(deep)[2], [bytes([200, 100, 50])])

    def test_not_a_png_is_one_error(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.png")
            with open(path, "wb") as f:
                f.write(b"GIF89a")
            with self.assertRaises(crops_figure.FigureError):
                crops_figure.read_png(path)


    def test_a_broken_container_is_one_error_naming_the_file(self):
        # tools/png_chunks.py, which sr_peer.py shares: a short IHDR, no IDAT, data that does not inflate
        def chunk(k, body):
            return struct.pack(">I", len(body)) + k + body + struct.pack(">I", zlib.crc32(k + body) & 0xFFFFFFFF)
        ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        files = {"short.png": chunk(b"IHDR", b"\0" * 12) + chunk(b"IEND", b""),
                 "no_idat.png": ihdr + chunk(b"IEND", b""),
                 "bad_zlib.png": ihdr + chunk(b"IDAT", b"not zlib") + chunk(b"IEND", b"")}
        with tempfile.TemporaryDirectory() as d:
            for name, body in files.items():
                path = os.path.join(d, name)
                with open(path, "wb") as f:
                    f.write(b"\x89PNG\r\n\x1a\n" + body)
                with self.assertRaises(crops_figure.FigureError) as caught:
                    crops_figure.read_png(path)
                self.assertIn(name, str(caught.exception))

class CropChoiceTest(unittest.TestCase):
    def test_the_textured_square_is_chosen(self):
        texture = [[0] * 64 for _ in range(64)]
        for y in range(40, 56):
            for x in range(8, 24):
                texture[y][x] = 255 * ((x + y) % 2)
        self.assertEqual(crops_figure.choose_crop(texture, (0, 0, 64, 64), 16), (40, 8))

    def test_repeated_rows_score_nothing(self):
        # Rows 0-31 vary only along x (a repeated row): no vertical detail. Rows 32-63: weak detail both ways.
        texture = [[(x % 2) * 255 for x in range(32)] for _ in range(32)] + \
                  [[((x + y) % 3) for x in range(32)] for y in range(32)]
        y, x = crops_figure.choose_crop(texture, (0, 0, 64, 32), 16)
        self.assertGreaterEqual(y, 24)


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))


def scores(psnr, fov):
    return {"psnr": psnr, "ssim": 0.9, "psnr_fov": fov, "ssim_fov": 0.9}


def evaluation(names, sr, bicubic, unrelated=False, refs=None, reference=None):
    reference = reference or ("unrelated: ..." if unrelated else "own")
    return {"n_feats": 32, "reference": reference,
            "images": [{"name": n, "ref": r, "sr": scores(*s), "bicubic": scores(*b)}
                       for n, r, s, b in zip(names, refs or names, sr, bicubic)]}


TIME = "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:07.50\nMaximum resident set size (kbytes): 102400\n"


def make_work(root, sra=True, real_worst=-0.1, other_scene_fov=33.6):
    """A work folder of make_results.sh with known numbers: synthetic FoV gain +3.5, whole +1.0 dB; real FoV gain
    +3.6, right over the next frame +1.0 (other scene: 35.6 - other_scene_fov) dB; one real image real_worst dB
    below bicubic."""
    data, work = os.path.join(root, "data"), os.path.join(root, "work")
    write(os.path.join(data, "Set5", "bird.png"), "")
    write(os.path.join(data, "Set14", "zebra.png"), "")
    syn = ["bird.png", "zebra.png"]
    write(os.path.join(work, "eval", "own.json"), evaluation(syn, [(31, 33.5), (31, 33.5)], [(30, 30), (30, 30)]))
    write(os.path.join(work, "eval", "unrelated.json"),
          evaluation(syn, [(30.5, 31), (30.5, 31)], [(30, 30), (30, 30)], unrelated=True))
    real = ["Pitch_F1.png", "Roll_F1.png"]
    bic = [(33, 32), (33, 32)]
    write(os.path.join(work, "eval", "real_own.json"), evaluation(real, [(35, 35.6), (33 + real_worst, 35.6)], bic))
    write(os.path.join(work, "eval", "real_unrelated.json"),
          evaluation(real, [(34, 34.6), (34, 34.6)], bic, unrelated=True))
    write(os.path.join(work, "eval", "real_other_scene.json"),
          evaluation(real, [(34, other_scene_fov), (34, other_scene_fov)], bic, refs=["Left_F1.png", "Left_F2.png"],
                     reference="from 'data_sra_train': ..."))
    for m, base in [("basic", 0.47)] + ([("sra", 0.55)] if sra else []):
        for name in ["demo", "real_Pitch_F1", "real_Roll_F1"]:
            write(os.path.join(work, "detail", m, name + ".json"),
                  {"fov": [1, 2, 3, 4], "ours": {"correlation": base, "energy_ratio": 0.5, "blocks": 9},
                   "bicubic": {"correlation": 0.46, "energy_ratio": 0.3, "blocks": 9}})
    write(os.path.join(work, "detail", "crop.json"), {"panel_y": 300, "panel_x": 400, "size": 128, "zoom": 2})
    write(os.path.join(work, "logs", "demo.time"), TIME)
    write(os.path.join(work, "logs", "sr4k.time"), TIME)
    write(os.path.join(work, "logs", "steps.tsv"), "eval\t1500\nsr8k_basic.demo\t2000\nsr8k_basic.real_Roll_F1\t1000\n")
    reg = {"tele_to_wide": {"scale": 1.85, "angle_deg": 0.1}, "confidence": 0.6}
    for s in ("sra_train", "validation"):
        write(os.path.join(work, "real", f"data_{s}", "prepare.json"), {"pairs": [{"name": "a.png", "registration": reg}]})
    write(os.path.join(root, "split.json"), {"source": "dualfocal", "sra_train": ["Left"], "validation": ["Pitch", "Roll"]})
    write(os.path.join(root, "log.jsonl"), '{"type": "start", "config": {"n_feats": 32}}\n{"type": "train", "step": 10}\n')
    return data, work


def report(root, data, work, sra=True):
    out = os.path.join(root, "RESULTS.md")
    args = [sys.executable, os.path.join(TOOLS, "results_report.py"), "--work", work, "--out", out,
            "--model", os.path.join(root, "m.ckpt"), "--real-model", os.path.join(root, "r.ckpt") if sra else "none",
            "--log", os.path.join(root, "log.jsonl"), "--split", os.path.join(root, "split.json"), "--quick", "1",
            "--threads", "1", "--cores", "2", "--cpu", "a CPU", "--commit", "abc", "--date", "today",
            "--photo", "p.jpg", "--size4k", "1008x756", "--data", data, "--val-seed", "2", "--val-sim", "classic", "--device", "cpu"]
    r = subprocess.run(args, capture_output=True, text=True)
    if not os.path.exists(out):
        return r, None
    with open(out) as f:
        return r, f.read()


def goal_line(text, start):
    return next(line for line in text.splitlines() if line.startswith("| " + start))


class ReportTest(unittest.TestCase):
    def test_goals_follow_the_numbers(self):
        with tempfile.TemporaryDirectory() as root:
            r, text = report(root, *make_work(root))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("QUICK RUN", text)
            self.assertIn("+3.50 dB | **MET**", goal_line(text, "synthetic validation, FoV"))
            self.assertIn("+1.00 dB | **NOT MET**", goal_line(text, "synthetic validation, whole"))
            self.assertIn("+3.60 dB | **MET**", goal_line(text, "real validation, FoV"))
            line = goal_line(text, "real validation, right reference")
            # Judged on the other scene's reference (+2.0), the next frame's (+1.0) beside it.
            self.assertIn("+2.00 dB (over the next frame of the same scene, `--unrelated-ref`: +1.00 dB) | **MET**", line)
            self.assertIn("`Roll_F1.png` -0.10 dB | **NOT MET**", goal_line(text, "no image"))
            self.assertIn("demo +0.0800; real pairs mean +0.0800, SRA above on 2 of 2 | **MET**",
                          goal_line(text, "8K mode"))
            self.assertIn("| `sr8k_basic` | 2 | 3.0 s |", text)
            self.assertIn("`Pitch_F1.png`: `Left_F1.png`, `Roll_F1.png`: `Left_F2.png`", text)

    def test_the_unrelated_reference_goal_follows_the_other_scene(self):
        with tempfile.TemporaryDirectory() as root:
            r, text = report(root, *make_work(root, other_scene_fov=34.4))
            self.assertEqual(r.returncode, 0, r.stderr)
            line = goal_line(text, "real validation, right reference")
            self.assertIn("+1.20 dB (over the next frame of the same scene, `--unrelated-ref`: +1.00 dB) | **NOT MET**",
                          line)

    def test_no_image_below_bicubic_and_no_sra(self):
        with tempfile.TemporaryDirectory() as root:
            r, text = report(root, *make_work(root, sra=False, real_worst=0.2), sra=False)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("**MET**", goal_line(text, "no image"))
            self.assertIn("**NOT MEASURED**", goal_line(text, "8K mode"))
            self.assertIn("**No SRA model**", text)

    def test_a_missing_file_is_one_error_and_no_report(self):
        with tempfile.TemporaryDirectory() as root:
            data, work = make_work(root)
            os.remove(os.path.join(work, "eval", "real_unrelated.json"))
            r, text = report(root, data, work)
            self.assertEqual(r.returncode, 1)
            self.assertIsNone(text)
            self.assertIn("real_unrelated.json", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1)


class SraSelectMeanTest(unittest.TestCase):
    """tools/sra_select_mean.py: the stop with the best mean over held-out folds."""

    def fold(self, root, name, curve, chosen=True, pairs=None):
        """curve: [(step, mean correlation)]; pairs: {step: {pair: correlation}} or none."""
        work = os.path.join(root, name)
        os.makedirs(work)
        with open(os.path.join(work, "selection.jsonl"), "w") as f:
            for step, corr in curve:
                f.write(json.dumps({"step": step, "correlation": corr, "bicubic": 0.5,
                                    "pairs": (pairs or {}).get(step, {})}) + "\n")
            if chosen:
                f.write(json.dumps({"chosen": max(curve, key=lambda c: c[1])[0]}) + "\n")
        return work

    def run_tool(self, *args):
        return subprocess.run([sys.executable, os.path.join(TOOLS, "sra_select_mean.py"), *args],
                              capture_output=True, text=True)

    def test_the_mean_decides_not_one_fold(self):
        with tempfile.TemporaryDirectory() as root:
            # The folds peak at 100, 150 and 50; the mean at 50 (0.650 against 0.640 and 0.617).
            a = self.fold(root, "a", [(0, 0.60), (50, 0.62), (100, 0.66), (150, 0.58)])
            b = self.fold(root, "b", [(0, 0.60), (50, 0.68), (100, 0.62), (150, 0.70)])
            c = self.fold(root, "c", [(0, 0.60), (50, 0.65), (100, 0.64), (150, 0.57)])
            out = os.path.join(root, "mean.jsonl")
            r = self.run_tool(a, b, c, "--out", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = [json.loads(line) for line in r.stdout.splitlines()]
            self.assertEqual(lines[-1]["chosen"], 50)
            self.assertAlmostEqual(lines[-1]["mean"], (0.62 + 0.68 + 0.65) / 3)
            self.assertAlmostEqual(lines[-1]["basic"], 0.60)
            self.assertEqual(lines[1]["folds"], {"a": 0.62, "b": 0.68, "c": 0.65})
            with open(out) as f:
                self.assertEqual(f.read(), r.stdout)
            # The output file is never overwritten.
            r = self.run_tool(a, b, "--out", out)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("exists", r.stderr)

    def test_every_pair_rule_wants_every_held_out_pair_above_its_basic_model(self):
        with tempfile.TemporaryDirectory() as root:
            # Fold a: both pairs gain at 50 and 100; at 150 its second pair falls below step 0.
            # Fold b: its pair gains everywhere. The mean peaks at 150, the every-pair rule takes 100.
            pa = {0: {"a1": 0.60, "a2": 0.60}, 50: {"a1": 0.61, "a2": 0.61},
                  100: {"a1": 0.64, "a2": 0.62}, 150: {"a1": 0.74, "a2": 0.59}}
            pb = {0: {"b1": 0.50}, 50: {"b1": 0.52}, 100: {"b1": 0.53}, 150: {"b1": 0.56}}
            mean = lambda d: {s: sum(v.values()) / len(v) for s, v in d.items()}
            a = self.fold(root, "a", sorted(mean(pa).items()), pairs=pa)
            b = self.fold(root, "b", sorted(mean(pb).items()), pairs=pb)
            r = self.run_tool(a, b)
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = [json.loads(line) for line in r.stdout.splitlines()]
            self.assertEqual((lines[-1]["chosen"], lines[-1]["rule"]), (150, "mean"))
            self.assertEqual([l["pairs_above_basic"] for l in lines[:-1]], [0, 3, 3, 2])
            self.assertEqual(lines[3]["pairs"], 3)
            self.assertAlmostEqual(lines[3]["worst_gain"], -0.01)
            r = self.run_tool(a, b, "--rule", "every-pair")
            self.assertEqual(r.returncode, 0, r.stderr)
            choice = json.loads(r.stdout.splitlines()[-1])
            self.assertEqual((choice["chosen"], choice["rule"]), (100, "every-pair"))
            self.assertAlmostEqual(choice["mean"], (0.63 + 0.53) / 2)
            # No step where every pair gains: the basic model (step 0) is the choice.
            pc = {0: {"c1": 0.5}, 50: {"c1": 0.49}, 100: {"c1": 0.48}, 150: {"c1": 0.5}}
            c = self.fold(root, "c", sorted(mean(pc).items()), pairs=pc)
            r = self.run_tool(a, b, c, "--rule", "every-pair")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(json.loads(r.stdout.splitlines()[-1])["chosen"], 0)
            # Folds without the pairs' scores cannot use the rule.
            d = self.fold(root, "d", [(0, 0.6), (50, 0.62), (100, 0.6), (150, 0.6)])
            r = self.run_tool(d, "--rule", "every-pair")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("needs the pairs' scores", r.stderr)

    def test_folds_must_match_and_be_finished(self):
        with tempfile.TemporaryDirectory() as root:
            a = self.fold(root, "a", [(0, 0.6), (50, 0.62)])
            b = self.fold(root, "b", [(0, 0.6), (100, 0.62)])
            c = self.fold(root, "c", [(0, 0.6), (50, 0.62)], chosen=False)
            r = self.run_tool(a, b)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("must share --every and --max", r.stderr)
            r = self.run_tool(a, c)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("not a finished sra_select.sh run", r.stderr)


if __name__ == "__main__":
    unittest.main()
