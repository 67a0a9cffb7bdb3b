#!/usr/bin/env python3
"""Convert PyTorch weights to the dcsr checkpoint format (read by the C++ library).

Run with a python that has torch for the conversions (e.g. Debian's /usr/bin/python3); --check
needs only numpy.

    convert_weights.py dcsr  model_basic.pt        out.ckpt   # DCSR state_dict (194 keys), maybe wrapped
    convert_weights.py vgg19 vgg19-dcbb9e9d.pth    out.ckpt   # torchvision VGG19, kept up to relu3_4
    convert_weights.py --check out.ckpt                        # read back, validate, list tensors

Checkpoint format (little-endian):

    8 bytes  magic b"DCSRCKPT"
    u64      header_len (bytes of the UTF-8 JSON header that follows)
    header   {"format": "dcsr-checkpoint", "version": 1, "config": {...},
              "tensors": [{"name", "dtype" ("float32"|"float64"|"int64"), "shape", "offset", "nbytes"}, ...],
              "extra": {...}}
    padding  zero bytes up to data_start = the next multiple of 64 after 16 + header_len
    data     tensor i at data_start + offset_i (offsets are multiples of 64, zero padding between),
             raw little-endian, row-major

Exit status: 0 success, 1 invalid input (the message names every missing / unexpected / mis-shaped
key), 2 usage error.
"""
import argparse
import collections
import json
import os
import struct
import sys

import numpy as np

MAGIC = b"DCSRCKPT"
FORMAT_NAME = "dcsr-checkpoint"
FORMAT_VERSION = 1
ALIGN = 64
_NP_DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8"), "int64": np.dtype("<i8")}


class ConvertError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Expected architectures
# ---------------------------------------------------------------------------------------------

def dcsr_expected_shapes(n):
    """Reference state-dict names and shapes of DCSR at n_feats = n (spec §3, §13.7): 194 tensors."""
    s = collections.OrderedDict()

    def conv(name, cin, cout, k):
        s[name + ".weight"] = (cout, cin, k, k)
        s[name + ".bias"] = (cout,)

    def resblock(name, c):
        conv(name + ".conv1", c, c, 3)
        conv(name + ".conv2", c, c, 3)

    def reslist(name, nb, c):
        for i in range(nb):
            resblock("%s.RBs.%d" % (name, i), c)
        conv(name + ".conv_tail", c, c, 3)

    conv("feature_match.sub_mean", 3, 3, 1)
    conv("feature_match.feature_extract.0", 3, 64, 3)
    conv("feature_match.feature_extract.2", 64, 64, 3)
    conv("feature_match.feature_extract.5", 64, 128, 3)
    conv("feature_match.feature_extract.map.0", 128, 16, 1)
    conv("ref_encoder1.0.0", 3, n, 3)
    conv("ref_encoder1.1.0", n, n, 3)
    reslist("res1", 4, n)
    conv("ref_encoder2.0.0", n, n, 3)
    conv("ref_encoder2.1.0", n, n, 3)
    reslist("res2", 4, n)
    conv("input_encoder.conv_head", 3, n, 3)
    for i in range(8):
        resblock("input_encoder.RBs.%d" % i, n)
    conv("input_encoder.conv_tail", n, n, 3)
    conv("fusion1.0.0", 2 * n, n, 5)
    conv("fusion1.1.0", n, n, 3)
    reslist("decoder1", 8, n)
    conv("fusion2.0.0", 2 * n, n, 5)
    conv("fusion2.1.0", n, n, 3)
    reslist("decoder2", 4, n)
    conv("decoder_tail.0", n, n // 2, 3)
    conv("decoder_tail.2", n // 2, 3, 3)
    for a in ("alpha1", "alpha2"):
        conv(a + ".0.0", 1, 16, 7)
        conv(a + ".1.0", 16, n, 3)
    conv("alpha3.0.0", 4, 32, 7)
    conv("alpha3.1.0", 32, 3, 3)
    for aa in ("aa1", "aa3"):
        conv(aa + ".align.conv1.0", 3, 32, 5)
        resblock(aa + ".align.conv1.2", 32)
        conv(aa + ".align.p_conv.0", 64, 32, 5)
        resblock(aa + ".align.p_conv.2", 32)
        conv(aa + ".align.p_conv.4", 32, 3, 1)
    return s


VGG19_KEPT = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128),
              (10, 128, 256), (12, 256, 256), (14, 256, 256), (16, 256, 256)]  # up to relu3_4
VGG19_DEEPER_CONVS = [19, 21, 23, 25, 28, 30, 32, 34]
VGG19_CLASSIFIER = [0, 3, 6]


def vgg19_expected_shapes():
    s = collections.OrderedDict()
    for idx, cin, cout in VGG19_KEPT:
        s["features.%d.weight" % idx] = (cout, cin, 3, 3)
        s["features.%d.bias" % idx] = (cout,)
    return s


def vgg19_droppable_keys():
    keys = set()
    for idx in VGG19_DEEPER_CONVS:
        keys |= {"features.%d.weight" % idx, "features.%d.bias" % idx}
    for idx in VGG19_CLASSIFIER:
        keys |= {"classifier.%d.weight" % idx, "classifier.%d.bias" % idx}
    return keys


# ---------------------------------------------------------------------------------------------
# Checking
# ---------------------------------------------------------------------------------------------

def _fmt(shape):
    return "(" + ", ".join(str(d) for d in shape) + ")"


def check_tensors(shapes, expected, allowed_extra=(), what="model"):
    """Compare {name: shape} with the expected {name: shape}; raise ConvertError listing all problems."""
    missing = [k for k in expected if k not in shapes]
    unexpected = [k for k in shapes if k not in expected and k not in allowed_extra]
    wrong = [(k, shapes[k], expected[k]) for k in expected if k in shapes and tuple(shapes[k]) != tuple(expected[k])]
    if not (missing or unexpected or wrong):
        return
    lines = ["the %s state dict does not match the expected architecture:" % what]
    if missing:
        lines.append("  missing key(s) (%d): %s" % (len(missing), ", ".join(missing)))
    if unexpected:
        lines.append("  unexpected key(s) (%d): %s" % (len(unexpected), ", ".join(unexpected)))
    for k, got, exp in wrong:
        lines.append("  wrong shape for %s: got %s, expected %s" % (k, _fmt(got), _fmt(exp)))
    raise ConvertError("\n".join(lines))


def infer_dcsr_n_feats(shapes):
    key = "input_encoder.conv_head.weight"
    if key not in shapes or len(shapes[key]) != 4:
        raise ConvertError("cannot infer n_feats: key %s is missing or not 4-D" % key)
    return int(shapes[key][0])


# ---------------------------------------------------------------------------------------------
# Writing / reading checkpoints
# ---------------------------------------------------------------------------------------------

def _align(x, a=ALIGN):
    return (x + a - 1) // a * a


def write_checkpoint(path, tensors, config, extra=None):
    """tensors: ordered mapping name -> numpy array (float32/float64/int64). Atomic (tmp + rename)."""
    entries, blobs, offset = [], [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        dname = {np.dtype("float32"): "float32", np.dtype("float64"): "float64",
                 np.dtype("int64"): "int64"}.get(arr.dtype)
        if dname is None:
            raise ConvertError("tensor %s has unsupported dtype %s" % (name, arr.dtype))
        raw = arr.astype(_NP_DTYPES[dname], copy=False).tobytes(order="C")
        offset = _align(offset)
        entries.append({"name": name, "dtype": dname, "shape": [int(d) for d in arr.shape],
                        "offset": offset, "nbytes": len(raw)})
        blobs.append((offset, raw))
        offset += len(raw)
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "config": config,
              "tensors": entries, "extra": extra or {}}
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    data_start = _align(16 + len(hbytes))
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC)
            f.write(struct.pack("<Q", len(hbytes)))
            f.write(hbytes)
            f.write(b"\0" * (data_start - 16 - len(hbytes)))
            pos = 0
            for off, raw in blobs:
                f.write(b"\0" * (off - pos))
                f.write(raw)
                pos = off + len(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return data_start + offset


def read_checkpoint(path):
    """Return (header dict, OrderedDict name -> numpy array). Validates the layout."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 16 or data[:8] != MAGIC:
        raise ConvertError("%s: not a dcsr checkpoint (bad magic)" % path)
    (hlen,) = struct.unpack_from("<Q", data, 8)
    if 16 + hlen > len(data):
        raise ConvertError("%s: header length %d beyond the end of the file" % (path, hlen))
    try:
        header = json.loads(data[16:16 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ConvertError("%s: bad JSON header: %s" % (path, e))
    if header.get("format") != FORMAT_NAME or header.get("version") != FORMAT_VERSION:
        raise ConvertError("%s: format %r version %r (expected %r %d)"
                           % (path, header.get("format"), header.get("version"), FORMAT_NAME, FORMAT_VERSION))
    data_start = _align(16 + hlen)
    out = collections.OrderedDict()
    for e in header["tensors"]:
        name, dt, shape, off, nb = e["name"], e["dtype"], tuple(e["shape"]), e["offset"], e["nbytes"]
        if dt not in _NP_DTYPES:
            raise ConvertError("%s: tensor %s has unknown dtype %r" % (path, name, dt))
        numel = int(np.prod(shape)) if shape else 1
        if nb != numel * _NP_DTYPES[dt].itemsize:
            raise ConvertError("%s: tensor %s: nbytes %d does not match shape %s" % (path, name, nb, _fmt(shape)))
        if off % ALIGN:
            raise ConvertError("%s: tensor %s: offset %d not a multiple of %d" % (path, name, off, ALIGN))
        if data_start + off + nb > len(data):
            raise ConvertError("%s: tensor %s extends beyond the end of the file" % (path, name))
        if name in out:
            raise ConvertError("%s: duplicate tensor %s" % (path, name))
        out[name] = np.frombuffer(data, dtype=_NP_DTYPES[dt], count=numel, offset=data_start + off).reshape(shape).copy()
    return header, out


# ---------------------------------------------------------------------------------------------
# Loading PyTorch files
# ---------------------------------------------------------------------------------------------

def _is_tensor(v):
    return hasattr(v, "detach") and hasattr(v, "shape") and hasattr(v, "dtype")


def unwrap_state_dict(obj, notes):
    """Accept a state dict, a module, or a dict wrapping one under a usual key; strip a common
    'module.' / 'model.' prefix (DataParallel / wrapper classes)."""
    if hasattr(obj, "state_dict") and callable(obj.state_dict) and not isinstance(obj, dict):
        obj = obj.state_dict()
        notes.append("took state_dict() of a pickled module")
    for _ in range(3):
        if isinstance(obj, dict) and obj and all(_is_tensor(v) for v in obj.values()):
            break
        if isinstance(obj, dict):
            for key in ("state_dict", "model_state_dict", "model", "net", "params", "weights"):
                if key in obj and isinstance(obj[key], dict):
                    notes.append("unwrapped the %r entry" % key)
                    obj = obj[key]
                    break
            else:
                break
    if not isinstance(obj, dict) or not obj:
        raise ConvertError("no state dict found in the file")
    non_tensor = [k for k, v in obj.items() if not _is_tensor(v)]
    if non_tensor:
        raise ConvertError("state dict has non-tensor entries: %s" % ", ".join(map(str, non_tensor[:10])))
    sd = collections.OrderedDict(obj)
    for prefix in ("module.", "model."):
        if all(k.startswith(prefix) for k in sd):
            sd = collections.OrderedDict((k[len(prefix):], v) for k, v in sd.items())
            notes.append("stripped the %r prefix" % prefix)
    return sd


def load_torch_state_dict(path, allow_pickle=False):
    try:
        import torch
    except ImportError:
        raise ConvertError("reading %s needs PyTorch (run with a python that has torch)" % path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except TypeError:  # torch < 1.13: no weights_only
        obj = torch.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001
        if not allow_pickle:
            raise ConvertError("cannot load %s with weights_only=True (%s); if you trust the file, "
                               "rerun with --allow-pickle" % (path, str(e).splitlines()[0] if str(e) else e))
        raise ConvertError("cannot load %s: %s" % (path, e))
    notes = []
    sd = unwrap_state_dict(obj, notes)
    return sd, notes


def _to_numpy(t):
    t = t.detach().cpu()
    name = str(t.dtype).replace("torch.", "")
    if name in ("float16", "bfloat16"):
        t = t.float()
    elif name not in ("float32", "float64", "int64"):
        raise ConvertError("unsupported tensor dtype %s" % name)
    return t.contiguous().numpy()


def convert_dcsr(src, dst, allow_pickle=False):
    sd, notes = load_torch_state_dict(src, allow_pickle)
    shapes = collections.OrderedDict((k, tuple(v.shape)) for k, v in sd.items())
    n = infer_dcsr_n_feats(shapes)
    check_tensors(shapes, dcsr_expected_shapes(n), what="DCSR (n_feats %d)" % n)
    tensors = collections.OrderedDict((k, _to_numpy(v)) for k, v in sd.items())
    size = write_checkpoint(dst, tensors, {"model": "dcsr", "n_feats": n},
                            {"converted_from": os.path.basename(src)})
    return notes + ["DCSR n_feats %d: %d tensors, %d parameters, %d bytes"
                    % (n, len(tensors), sum(a.size for a in tensors.values()), size)]


def convert_vgg19(src, dst, allow_pickle=False):
    sd, notes = load_torch_state_dict(src, allow_pickle)
    shapes = collections.OrderedDict((k, tuple(v.shape)) for k, v in sd.items())
    expected = vgg19_expected_shapes()
    check_tensors(shapes, expected, allowed_extra=vgg19_droppable_keys(), what="VGG19")
    tensors = collections.OrderedDict((k, _to_numpy(sd[k])) for k in expected)
    dropped = [k for k in sd if k not in expected]
    size = write_checkpoint(dst, tensors, {"model": "vgg19", "layers": "features", "up_to": "relu3_4"},
                            {"converted_from": os.path.basename(src)})
    return notes + ["VGG19 features up to relu3_4: %d tensors kept, %d dropped, %d bytes"
                    % (len(tensors), len(dropped), size)]


def check_file(path):
    header, tensors = read_checkpoint(path)
    cfg = header.get("config", {})
    print("%s: %s v%d, config %s, %d tensors, %d elements"
          % (path, header["format"], header["version"], json.dumps(cfg), len(tensors),
             sum(a.size for a in tensors.values())))
    for e in header["tensors"]:
        print("  %-48s %-8s %-20s offset %d" % (e["name"], e["dtype"], _fmt(e["shape"]), e["offset"]))
    shapes = collections.OrderedDict((k, a.shape) for k, a in tensors.items())
    if cfg.get("model") == "dcsr":
        check_tensors(shapes, dcsr_expected_shapes(int(cfg.get("n_feats", 0))), what="DCSR")
        print("architecture check: ok (DCSR n_feats %d)" % cfg["n_feats"])
    elif cfg.get("model") == "vgg19":
        check_tensors(shapes, vgg19_expected_shapes(), what="VGG19")
        print("architecture check: ok (VGG19 features up to relu3_4)")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Convert PyTorch DCSR / VGG19 weights to the dcsr checkpoint format.",
        usage="%(prog)s {dcsr,vgg19} INPUT.pt OUTPUT.ckpt\n       %(prog)s --check FILE.ckpt")
    ap.add_argument("--check", metavar="CKPT", help="read back a checkpoint, validate it and list its tensors")
    ap.add_argument("--allow-pickle", action="store_true",
                    help="load with full pickle (only for trusted files that weights_only loading rejects)")
    ap.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    try:
        if a.check:
            if a.args:
                ap.error("--check takes no other arguments")
            check_file(a.check)
            return 0
        if len(a.args) != 3 or a.args[0] not in ("dcsr", "vgg19"):
            ap.error("expected: {dcsr,vgg19} INPUT OUTPUT")
        kind, src, dst = a.args
        fn = convert_dcsr if kind == "dcsr" else convert_vgg19
        for line in fn(src, dst, a.allow_pickle):
            print(line)
        print("wrote %s" % dst)
        return 0
    except ConvertError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    except OSError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
