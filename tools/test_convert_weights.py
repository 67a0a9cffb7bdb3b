#!/usr/bin/env python3
"""Tests of tools/convert_weights.py. Run with a python that has torch (e.g. /usr/bin/python3):

    /usr/bin/python3 tools/test_convert_weights.py

Exit status 0 when all checks pass, 1 on a failure, 77 when torch is not importable (ctest skip code).
Builds a randomly initialised DCSR (tests/reference/dcsr_ref.py) and a torchvision-layout VGG19 state dict
by hand (torchvision is not needed), converts them, reads them back and compares bit-exactly; checks
that a missing key, an unexpected key and a wrong shape each fail with a message naming the key; that
the output may not be the input, that a file named like a temporary file survives, that NaN / Inf
weights are refused; and that --check refuses, in one line naming the file, what the C++ reader
(parse_checkpoint in nn/checkpoint.cpp) refuses.
"""
import collections
import contextlib
import io
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

from torch_test_setup import HERE  # noqa: E402  (exits 77 without torch)

import torch  # noqa: E402

import numpy as np  # noqa: E402

import convert_weights as cw  # noqa: E402
import dcsr_ref  # noqa: E402

SCRIPT = os.path.join(HERE, "convert_weights.py")
RESULTS = []


def check(cond, msg):
    RESULTS.append(bool(cond))
    print(("ok   " if cond else "FAIL ") + msg)


def run_subprocess(*args):
    """The converter as a user runs it (its own interpreter, its own torch import)."""
    p = subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def run(*args):
    """The converter's command line in this interpreter (status, stdout, stderr): the same code path as
    run_subprocess without a torch import per call, which would make this test take a minute."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = cw.main(list(args))
        except SystemExit as e:  # argparse usage errors
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def same_bits(a, b):
    a = a.detach().cpu().contiguous().numpy() if hasattr(a, "detach") else a
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def compare_readback(path, sd, label):
    header, tensors = cw.read_checkpoint(path)
    check(list(tensors) == list(sd), "%s: names and order preserved (%d tensors)" % (label, len(tensors)))
    bad = [k for k in sd if k not in tensors or not same_bits(sd[k], tensors[k])]
    check(not bad, "%s: all tensors bit-exact%s" % (label, "" if not bad else " (differ: %s)" % bad[:5]))
    with open(path, "rb") as f:
        data = f.read()
    hlen = int.from_bytes(data[8:16], "little")
    start = (16 + hlen + 63) // 64 * 64
    check(all(e["offset"] % 64 == 0 for e in header["tensors"]) and start % 64 == 0
          and data[16 + hlen:start] == b"\0" * (start - 16 - hlen),
          "%s: data start and offsets are multiples of 64, zero padding" % label)
    return header


def expect_failure(args, needles, label):
    rc, out, err = run(*args)
    ok = rc != 0 and all(n in err for n in needles)
    check(ok, "%s fails with a clear message (rc %d)%s" % (label, rc, "" if ok else ": " + err.strip()[:300]))
    check(not os.path.exists(args[-1]), "%s: no output file left behind" % label)


def file_bytes(path):
    """The contents of path, None when there is no such file."""
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return f.read()


def temp_files(folder):
    """Files a conversion may have left behind: a temporary file is named .OUTPUT.XXXX.tmp."""
    return sorted(n for n in os.listdir(folder) if n.startswith(".") and n.endswith(".tmp"))


def rewrite_checkpoint(src, dst, edit=None, data_edit=None, raw_header=None):
    """Copy the checkpoint src to dst with its JSON header changed in place by edit(header) or replaced
    by the bytes raw_header, and its data changed in place by data_edit(data, header)."""
    with open(src, "rb") as f:
        blob = f.read()
    hlen = int.from_bytes(blob[8:16], "little")
    header = json.loads(blob[16:16 + hlen])
    data = bytearray(blob[(16 + hlen + 63) // 64 * 64:])
    if data_edit:
        data_edit(data, header)
    if edit:
        edit(header)
    text = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    start = (16 + len(text) + 63) // 64 * 64
    with open(dst, "wb") as f:
        f.write(b"DCSRCKPT" + struct.pack("<Q", len(text)) + text + b"\0" * (start - 16 - len(text)) + data)


def expect_check_refuses(path, needle, label):
    """--check fails with exactly one line 'error: PATH: ...' containing needle (no traceback)."""
    try:
        rc, out, err = run("--check", path)
    except Exception as e:  # noqa: BLE001  (what a user would see as a traceback)
        rc, out, err = "exception", "", "%s: %s" % (type(e).__name__, e)
    ok = (rc == 1 and err.startswith("error: %s: " % path) and err.count("\n") == 1 and needle in err
          and "architecture check: ok" not in out)
    check(ok, "--check refuses %s (rc %s)%s" % (label, rc, "" if ok else ": " + err.strip()[:300]))


def set_nan(index):
    """A data_edit putting a NaN into the first element of tensor `index`."""
    def edit(data, header):
        off = header["tensors"][index]["offset"]
        data[off:off + 4] = struct.pack("<f", float("nan"))
    return edit


def vgg19_torchvision_state_dict(gen):
    """torchvision VGG19 layout. The 16 kept tensors have their real shapes; the keys the converter drops
    (deeper convs, classifier) get tiny placeholder tensors: their shapes are not checked, and the real
    classifier (about 120 M weights) would only make the test slow."""
    sd = collections.OrderedDict()
    for idx, cin, cout in cw.VGG19_KEPT:
        sd["features.%d.weight" % idx] = torch.randn(cout, cin, 3, 3, generator=gen)
        sd["features.%d.bias" % idx] = torch.randn(cout, generator=gen)
    for idx in cw.VGG19_DEEPER_CONVS:
        sd["features.%d.weight" % idx] = torch.randn(2, 2, 3, 3, generator=gen)
        sd["features.%d.bias" % idx] = torch.randn(2, generator=gen)
    for idx in cw.VGG19_CLASSIFIER:
        sd["classifier.%d.weight" % idx] = torch.randn(3, 2, generator=gen)
        sd["classifier.%d.bias" % idx] = torch.randn(3, generator=gen)
    return sd


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    # the converter's shape table equals the reference module tree
    for n in (64, 32, 8):
        ref = collections.OrderedDict((k, tuple(v.shape)) for k, v in dcsr_ref.DCSR(n).state_dict().items())
        exp = cw.dcsr_expected_shapes(n)
        check(dict(ref) == dict(exp) and len(exp) == 194, "expected-shape table == dcsr_ref module tree, n_feats %d" % n)

    with tempfile.TemporaryDirectory() as d:
        p = lambda name: os.path.join(d, name)  # noqa: E731
        # 1. plain DCSR state dict, n_feats 64
        sd = dcsr_ref.DCSR(64).state_dict()
        torch.save(sd, p("basic.pt"))
        rc, out, err = run_subprocess("dcsr", p("basic.pt"), p("basic.ckpt"))
        check(rc == 0, "convert dcsr n_feats 64 as a script (rc %d) %s" % (rc, err.strip()))
        header = compare_readback(p("basic.ckpt"), sd, "dcsr64")
        check(header["config"] == {"model": "dcsr", "n_feats": 64} and header["format"] == "dcsr-checkpoint"
              and header["version"] == 1 and header["extra"].get("converted_from") == "basic.pt",
              "dcsr64: header fields %s" % header["config"])
        check(not temp_files(d), "no temporary file left")
        rc, out, err = run("--check", p("basic.ckpt"))
        check(rc == 0 and "aa3.align.p_conv.4.weight" in out and "architecture check: ok" in out,
              "--check lists the tensors and validates")

        # 2. wrapped + DataParallel prefix, n_feats 32, float64
        sd32 = collections.OrderedDict((k, v.double()) for k, v in dcsr_ref.DCSR(32).state_dict().items())
        torch.save({"state_dict": collections.OrderedDict(("module." + k, v) for k, v in sd32.items()),
                    "epoch": torch.tensor(3)}, p("wrapped.pt"))
        rc, out, err = run("dcsr", p("wrapped.pt"), p("wrapped.ckpt"))
        check(rc == 0 and "n_feats 32" in out, "convert wrapped dcsr n_feats 32 (rc %d) %s" % (rc, err.strip()))
        if rc == 0:
            header = compare_readback(p("wrapped.ckpt"), sd32, "dcsr32 wrapped")
            check(header["config"]["n_feats"] == 32, "n_feats 32 inferred")

        # 3. failures
        bad = collections.OrderedDict(sd)
        del bad["res1.RBs.2.conv1.bias"]
        torch.save(bad, p("missing.pt"))
        expect_failure(["dcsr", p("missing.pt"), p("missing.ckpt")], ["missing", "res1.RBs.2.conv1.bias"], "missing key")
        bad = collections.OrderedDict(sd)
        bad["aa2.align.p_conv.0.weight"] = torch.zeros(32, 64, 5, 5)
        torch.save(bad, p("extra.pt"))
        expect_failure(["dcsr", p("extra.pt"), p("extra.ckpt")], ["unexpected", "aa2.align.p_conv.0.weight"], "extra key")
        bad = collections.OrderedDict(sd)
        bad["fusion2.0.0.weight"] = torch.zeros(64, 128, 3, 3)
        torch.save(bad, p("shape.pt"))
        expect_failure(["dcsr", p("shape.pt"), p("shape.ckpt")],
                       ["wrong shape", "fusion2.0.0.weight", "(64, 128, 3, 3)", "(64, 128, 5, 5)"], "wrong shape")
        bad = collections.OrderedDict((k, v) for k, v in sd.items() if not k.startswith("input_encoder.conv_head"))
        torch.save(bad, p("no_nfeats.pt"))
        expect_failure(["dcsr", p("no_nfeats.pt"), p("no_nfeats.ckpt")], ["n_feats"], "missing n_feats key")

        # 4. VGG19
        vsd = vgg19_torchvision_state_dict(gen)
        torch.save(vsd, p("vgg19.pth"))
        rc, out, err = run("vgg19", p("vgg19.pth"), p("vgg19.ckpt"))
        check(rc == 0, "convert vgg19 (rc %d) %s" % (rc, err.strip()))
        kept = collections.OrderedDict((k, vsd[k]) for k in cw.vgg19_expected_shapes())
        header = compare_readback(p("vgg19.ckpt"), kept, "vgg19")
        check(header["config"]["model"] == "vgg19" and header["config"]["layers"] == "features"
              and len(header["tensors"]) == 16, "vgg19: 16 tensors up to relu3_4, config %s" % header["config"])
        rc, out, err = run("--check", p("vgg19.ckpt"))
        check(rc == 0 and "features.16.weight" in out, "--check vgg19")
        bad = collections.OrderedDict(vsd)
        bad["features.12.weight"] = torch.zeros(256, 128, 3, 3)
        torch.save(bad, p("vgg_shape.pth"))
        expect_failure(["vgg19", p("vgg_shape.pth"), p("vgg_shape.ckpt")], ["features.12.weight", "(256, 128, 3, 3)"],
                       "vgg19 wrong shape")
        bad = collections.OrderedDict(vsd)
        del bad["features.7.bias"]
        torch.save(bad, p("vgg_missing.pth"))
        expect_failure(["vgg19", p("vgg_missing.pth"), p("vgg_missing.ckpt")], ["missing", "features.7.bias"],
                       "vgg19 missing key")
        bad = collections.OrderedDict(vsd)
        bad["features.1.running_mean"] = torch.zeros(64)  # e.g. a vgg19_bn file
        torch.save(bad, p("vgg_extra.pth"))
        expect_failure(["vgg19", p("vgg_extra.pth"), p("vgg_extra.ckpt")], ["unexpected", "features.1.running_mean"],
                       "vgg19 unexpected key")

        # 5. reader rejects a corrupted file
        with open(p("basic.ckpt"), "rb") as f:
            data = bytearray(f.read())
        with open(p("trunc.ckpt"), "wb") as f:
            f.write(data[:-10])
        rc, out, err = run("--check", p("trunc.ckpt"))
        check(rc == 1 and "beyond the end" in err, "--check rejects a truncated file")
        rc, out, err = run_subprocess("dcsr", p("basic.pt"))
        check(rc == 2, "usage error exits 2")

        # 6. the output may not be the input (same name, another spelling, a link to it, a hard link)
        with open(p("basic.pt"), "rb") as f:
            basic_pt = f.read()
        with open(p("same.pt"), "wb") as f:  # a copy: the old converter destroyed its input
            f.write(basic_pt)
        os.symlink("same.pt", p("link.pt"))
        os.link(p("same.pt"), p("hard.pt"))
        for dst in (p("same.pt"), os.path.join(d, ".", "same.pt"), p("link.pt"), p("hard.pt")):
            rc, out, err = run("dcsr", p("same.pt"), dst)
            kept = file_bytes(p("same.pt")) == basic_pt
            check(rc == 1 and err.startswith("error: ") and err.count("\n") == 1 and "input" in err and kept,
                  "output %s = the input is refused, the input kept (rc %d) %s"
                  % (dst[len(d) + 1:], rc, err.strip()))
        check(not temp_files(d), "refused same-file conversions leave no temporary file")

        # 7. the temporary file has a unique name: a user's OUTPUT.tmp survives; the output gets the umask's mode
        with open(p("keep.ckpt.tmp"), "wb") as f:
            f.write(b"precious")
        rc, out, err = run("dcsr", p("basic.pt"), p("keep.ckpt"))
        check(rc == 0 and file_bytes(p("keep.ckpt.tmp")) == b"precious",
              "a file named OUTPUT.tmp is left alone (rc %d)" % rc)
        check(not temp_files(d), "no temporary file left after a conversion")
        umask = os.umask(0)
        os.umask(umask)
        mode = os.stat(p("keep.ckpt")).st_mode & 0o777 if os.path.exists(p("keep.ckpt")) else None
        check(mode == 0o666 & ~umask, "the output's mode follows the umask (%s)" % (mode and oct(mode)))
        os.mkdir(p("adir.ckpt"))
        rc, out, err = run("dcsr", p("basic.pt"), p("adir.ckpt"))
        check(rc == 1 and err.startswith("error: ") and os.path.isdir(p("adir.ckpt")) and not temp_files(d),
              "a failed write (the output is a folder) removes its temporary file only (rc %d)" % rc)

        # 8. NaN / Inf weights are refused naming the tensor (the C++ reader refuses such a file)
        bad = collections.OrderedDict(sd)
        bad["res2.RBs.1.conv2.weight"] = sd["res2.RBs.1.conv2.weight"].clone()
        bad["res2.RBs.1.conv2.weight"][0, 0, 1, 1] = float("nan")
        torch.save(bad, p("nan.pt"))
        expect_failure(["dcsr", p("nan.pt"), p("nan.ckpt")], ["nan.pt", "res2.RBs.1.conv2.weight", "non-finite"],
                       "a NaN weight")
        bad = collections.OrderedDict(vsd)
        bad["features.5.bias"] = vsd["features.5.bias"].clone()
        bad["features.5.bias"][3] = -float("inf")
        torch.save(bad, p("vgg_inf.pth"))
        expect_failure(["vgg19", p("vgg_inf.pth"), p("vgg_inf.ckpt")], ["features.5.bias", "-inf"],
                       "an infinite weight")
        bad = collections.OrderedDict((k, v.half()) for k, v in sd.items())
        bad["fusion1.0.0.bias"][0] = float("inf")
        torch.save(bad, p("half_inf.pt"))
        expect_failure(["dcsr", p("half_inf.pt"), p("half_inf.ckpt")], ["fusion1.0.0.bias", "inf"],
                       "an infinite float16 weight")

        # 9. --check: malformed headers and what the C++ reader refuses, one line naming the file each
        def t(i, key, value):
            return lambda h: h["tensors"][i].__setitem__(key, value)

        def overlap(h):
            h["tensors"][3]["offset"] = h["tensors"][2]["offset"]

        refused = [  # (label, file name, rewrite_checkpoint arguments, a part of the message)
            ("no \"tensors\" key", "no_tensors", dict(edit=lambda h: h.pop("tensors")), '"tensors"'),
            ("a tensor entry without a name", "no_name", dict(edit=lambda h: h["tensors"][1].pop("name")), '"name"'),
            ("a tensor entry that is not an object", "entry_str",
             dict(edit=lambda h: h["tensors"].__setitem__(3, "x")), "entry 3"),
            ("\"config\": [1]", "config_list", dict(edit=lambda h: h.__setitem__("config", [1])), '"config"'),
            ("a header that is a JSON array", "header_list", dict(raw_header=b"[1]"), "not a dcsr checkpoint"),
            ("a header that is not JSON", "header_bad", dict(raw_header=b'{"format":'), "corrupt"),
            ("n_feats \"x\"", "nfeats_str", dict(edit=lambda h: h["config"].__setitem__("n_feats", "x")), "n_feats"),
            ("no n_feats", "nfeats_none", dict(edit=lambda h: h["config"].pop("n_feats")), "n_feats"),
            ("a negative shape", "shape_neg", dict(edit=t(2, "shape", [-64, 3, 3, 3])), "non-negative integer"),
            ("a string in a shape", "shape_str", dict(edit=t(2, "shape", ["a", 3, 3, 3])), "non-negative integer"),
            ("a float in a shape", "shape_float", dict(edit=t(2, "shape", [64.0, 3, 3, 3])), "got 64.0"),
            ("a bool in a shape", "shape_bool", dict(edit=t(2, "shape", [True, 3, 3, 3])), "got true"),
            ("a shape that is not a list", "shape_int", dict(edit=t(2, "shape", 64)), "shape"),
            ("a shape of 2**64 bytes", "shape_huge", dict(edit=t(2, "shape", [2 ** 62, 4])), "more than"),
            ("a negative offset", "offset_neg", dict(edit=t(3, "offset", -64)), "offset"),
            ("a float offset", "offset_float", dict(edit=t(3, "offset", 7040.0)), "offset"),
            ("an offset past the data", "offset_far", dict(edit=t(3, "offset", 2 ** 40)), "beyond the end"),
            ("overlapping tensors", "overlap", dict(edit=overlap), "overlap"),
            ("a wrong nbytes", "nbytes", dict(edit=t(2, "nbytes", 64)), "nbytes"),
            ("an unknown dtype", "dtype", dict(edit=t(2, "dtype", "float16")), "dtype"),
            ("a duplicate name", "dup",
             dict(edit=lambda h: h["tensors"][1].__setitem__("name", h["tensors"][0]["name"])), "duplicate"),
            ("a NaN weight", "nan_weight", dict(data_edit=set_nan(2)), "non-finite"),
            ("\"version\": true", "version_true", dict(edit=lambda h: h.__setitem__("version", True)), "version"),
            ("\"version\": \"1\"", "version_str", dict(edit=lambda h: h.__setitem__("version", "1")), "version"),
            ("NaN in the header", "nan_header", dict(edit=lambda h: h["extra"].__setitem__("x", math.nan)), "NaN"),
            ("JSON nested 65 levels deep", "deep",
             dict(edit=lambda h: h["extra"].__setitem__("d", json.loads("[" * 64 + "]" * 64))), "nested"),
        ]
        for label, name, kwargs, needle in refused:
            rewrite_checkpoint(p("basic.ckpt"), p(name + ".ckpt"), **kwargs)
            expect_check_refuses(p(name + ".ckpt"), needle, label)
        rc, out, err = run_subprocess("--check", p("no_tensors.ckpt"))
        check(rc == 1 and err.count("\n") == 1 and "Traceback" not in err,
              "--check as a script: one line, no traceback (rc %d) %s" % (rc, err.strip()[:300]))
        rewrite_checkpoint(p("basic.ckpt"), p("version_float.ckpt"), edit=lambda h: h.__setitem__("version", 1.0))
        rc, out, err = run("--check", p("version_float.ckpt"))
        check(rc == 0 and "architecture check: ok" in out,
              "--check takes \"version\": 1.0 as the C++ reader does (nlohmann::json: 1.0 == 1)")
        rewrite_checkpoint(p("basic.ckpt"), p("deep64.ckpt"),
                           edit=lambda h: h["extra"].__setitem__("d", json.loads("[" * 62 + "1" + "]" * 62)))
        rc, out, err = run("--check", p("deep64.ckpt"))
        check(rc == 0, "--check takes JSON nested 64 levels deep (rc %d) %s" % (rc, err.strip()))

    n_pass = sum(RESULTS)
    n_fail = len(RESULTS) - n_pass
    print("%d passed, %d failed" % (n_pass, n_fail))
    return 0 if n_fail == 0 else 1


if __name__ == "__main__":
    np.seterr(all="raise")
    sys.exit(main())
