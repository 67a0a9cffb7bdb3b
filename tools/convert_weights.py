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

The output is written to a temporary file of a unique name in its folder (.OUTPUT.XXXXXXXX.tmp) and
renamed onto OUTPUT; an output that is the input (by name, link or hard link) is refused, and so are NaN
or infinite weights, which the C++ reader refuses. --check applies the rules of the C++ reader
(parse_checkpoint in nn/checkpoint.cpp): the header's JSON shape, names, dtypes, shapes, nbytes,
offsets (non-negative, multiples of 64, inside the data, not overlapping) and finite values; then it
compares the tensors with the model the config names.

Exit status: 0 success, 1 invalid input (one line naming the file, or for a model whose tensors do not
match: every missing / unexpected / mis-shaped key), 2 usage error.
"""
import argparse
import collections
import contextlib
import json
import math
import os
import struct
import sys
import tempfile

import numpy as np

MAGIC = b"DCSRCKPT"
FORMAT_NAME = "dcsr-checkpoint"
FORMAT_VERSION = 1
ALIGN = 64
MAX_DIMS = 16
MAX_JSON_DEPTH = 64
INT64_MAX = 2 ** 63 - 1
UINT64_MAX = 2 ** 64 - 1
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


def _printable(name):
    """A tensor name for a one-line message: control characters escaped, at most 200 characters."""
    text = json.dumps(name, ensure_ascii=False)[1:-1]
    return text if len(text) <= 200 else text[:200] + "..."


def _clip_json(value):
    """A JSON value for a one-line message, at most 200 characters."""
    text = json.dumps(value)
    return text if len(text) <= 200 else text[:200] + "..."


def check_finite(values, what):
    """Fail naming `what` and the element when a floating-point array holds a NaN or an infinity."""
    if values.dtype.kind != "f":
        return
    bad = np.flatnonzero(~np.isfinite(values.reshape(-1)))
    if bad.size:
        raise ConvertError("%s holds a non-finite value (%s at element %d)"
                           % (what, values.reshape(-1)[bad[0]], bad[0]))


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
# Writing checkpoints
# ---------------------------------------------------------------------------------------------

def _align(x, a=ALIGN):
    return (x + a - 1) // a * a


def _new_file_mode():
    """The permissions open() would give a new file (mkstemp makes its file 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _write_blobs(f, hbytes, data_start, blobs):
    f.write(MAGIC)
    f.write(struct.pack("<Q", len(hbytes)))
    f.write(hbytes)
    f.write(b"\0" * (data_start - 16 - len(hbytes)))
    pos = 0
    for off, raw in blobs:
        f.write(b"\0" * (off - pos))
        f.write(raw)
        pos = off + len(raw)


def write_checkpoint(path, tensors, config, extra=None):
    """tensors: ordered mapping name -> numpy array (float32/float64/int64). Atomic: written to a
    temporary file of a unique name beside `path`, then renamed onto it; a failure removes only that
    temporary file."""
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
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                               prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), _new_file_mode())
            _write_blobs(f, hbytes, data_start, blobs)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return data_start + offset


# ---------------------------------------------------------------------------------------------
# Reading checkpoints: the rules of the C++ parse_checkpoint (nn/checkpoint.cpp)
# ---------------------------------------------------------------------------------------------

Entry = collections.namedtuple("Entry", "name dtype shape offset nbytes")


def _json_float(text):
    value = float(text)
    if math.isinf(value):  # nlohmann::json refuses what overflows a double
        raise ValueError("number overflow parsing %s" % text[:50])
    return value


def _json_int(text):
    """nlohmann::json keeps an integer outside the 64-bit ranges as a double."""
    value = int(text)
    return value if -2 ** 63 <= value <= UINT64_MAX else _json_float(text)


def _json_constant(text):
    raise ValueError("%s is not JSON" % text)


def _check_json_tree(root, path):
    """Refuse what nlohmann::json refuses and Python's json takes: nesting deeper than
    MAX_JSON_DEPTH levels, a \\u escape that is a lone surrogate."""
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ConvertError("%s: corrupt checkpoint header (JSON nested deeper than %d levels)"
                               % (path, MAX_JSON_DEPTH))
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for item in node.items() for child in item)
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
        elif isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise ConvertError("%s: corrupt checkpoint header (a string holds a lone surrogate)" % path)


def _parse_header_json(raw, path):
    try:
        header = json.loads(raw.decode("utf-8-sig"), parse_int=_json_int, parse_float=_json_float,
                            parse_constant=_json_constant)
    except RecursionError:
        raise ConvertError("%s: corrupt checkpoint header (JSON nested deeper than %d levels)"
                           % (path, MAX_JSON_DEPTH))
    except ValueError as e:  # also UnicodeDecodeError
        raise ConvertError("%s: corrupt checkpoint header (%s)" % (path, " ".join(str(e).split())[:200]))
    _check_json_tree(header, path)
    return header


def _check_header(header, path):
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ConvertError("%s: not a dcsr checkpoint (format is not '%s')" % (path, FORMAT_NAME))
    version = header.get("version")  # 1.0 equals 1 for nlohmann::json too; true does not
    if isinstance(version, bool) or not isinstance(version, (int, float)) or version != FORMAT_VERSION:
        raise ConvertError("%s: checkpoint version %s, this tool reads version %d"
                           % (path, _clip_json(version), FORMAT_VERSION))
    for key in ("config", "extra"):
        if key in header and not isinstance(header[key], dict):
            raise ConvertError('%s: corrupt checkpoint header ("%s" is not an object)' % (path, key))
    if not isinstance(header.get("tensors"), list):
        raise ConvertError('%s: corrupt checkpoint header (no "tensors" array)' % path)


def _field(entry, key, what):
    if key not in entry:
        raise ConvertError('%s has no "%s"' % (what, key))
    return entry[key]


def _count(value, limit, what):
    """A non-negative JSON integer at most `limit` (not a float, a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConvertError("%s must be a non-negative integer, got %s" % (what, _clip_json(value)))
    if value > limit:
        raise ConvertError("%s is %d, more than %d" % (what, value, limit))
    return value


def _shape_nbytes(shape, itemsize):
    """The bytes of a tensor of `shape`, or None when the count passes 2**64 - 1 at any step (so
    [2**40, 2**40, 0] is too big, as in the C++ checked_numel)."""
    numel, too_big = 1, False
    for size in shape:
        numel *= size
        too_big = too_big or numel > UINT64_MAX
    return None if too_big or numel * itemsize > UINT64_MAX else numel * itemsize


def _parse_entry(e, index, data_bytes, path):
    """One entry of "tensors", checked against the data_bytes after data_start."""
    if not isinstance(e, dict):
        raise ConvertError("%s: tensor entry %d is not a JSON object" % (path, index))
    name = _field(e, "name", "%s: tensor entry %d" % (path, index))
    if not isinstance(name, str) or not name:
        raise ConvertError("%s: tensor entry %d has a name that is not a non-empty string" % (path, index))
    what = "%s: tensor '%s'" % (path, _printable(name))
    dtype = _field(e, "dtype", what)
    if not isinstance(dtype, str) or dtype not in _NP_DTYPES:
        raise ConvertError("%s has unknown dtype %s (expected float32, float64 or int64)" % (what, _clip_json(dtype)))
    shape = _field(e, "shape", what)
    if not isinstance(shape, list) or len(shape) > MAX_DIMS:
        raise ConvertError("%s has a shape that is not an array of at most %d sizes: %s"
                           % (what, MAX_DIMS, _clip_json(shape)))
    shape = tuple(_count(s, INT64_MAX, what + ": a size") for s in shape)
    offset = _count(_field(e, "offset", what), UINT64_MAX, what + ": offset")
    nbytes = _count(_field(e, "nbytes", what), UINT64_MAX, what + ": nbytes")
    expected = _shape_nbytes(shape, _NP_DTYPES[dtype].itemsize)
    if expected is None:
        raise ConvertError("%s has shape %s, more than %d bytes" % (what, _fmt(shape), UINT64_MAX))
    if nbytes != expected:
        raise ConvertError("%s: nbytes %d does not match shape %s of %s (%d bytes)"
                           % (what, nbytes, _fmt(shape), dtype, expected))
    if offset % ALIGN:
        raise ConvertError("%s: offset %d is not a multiple of %d" % (what, offset, ALIGN))
    if offset > data_bytes or nbytes > data_bytes - offset:
        raise ConvertError("%s extends beyond the end of the file (offset %d, %d bytes; the data after the "
                           "header has %d)" % (what, offset, nbytes, data_bytes))
    return Entry(name, dtype, shape, offset, nbytes)


def _check_no_overlap(entries, path):
    """Fail naming the first pair of tensors whose bytes overlap (empty tensors overlap nothing)."""
    last = None  # the tensor reaching furthest so far
    for e in sorted(entries, key=lambda e: e.offset):
        if e.nbytes == 0:
            continue
        if last is not None and last.offset + last.nbytes > e.offset:
            raise ConvertError("%s: tensors '%s' and '%s' overlap (bytes %d to %d of the data)"
                               % (path, _printable(last.name), _printable(e.name), e.offset,
                                  last.offset + last.nbytes))
        if last is None or e.offset + e.nbytes > last.offset + last.nbytes:
            last = e


def _values(data, data_start, e):
    """A tensor's elements, flat (a view of data)."""
    dt = _NP_DTYPES[e.dtype]
    if e.nbytes == 0:  # data_start may lie past the end of a file of empty tensors
        return np.empty(0, dtype=dt)
    return np.frombuffer(data, dtype=dt, count=e.nbytes // dt.itemsize, offset=data_start + e.offset)


def parse_checkpoint(data, path):
    """Validate a checkpoint's bytes by the rules of the C++ parse_checkpoint; return (header dict,
    [Entry], data_start). Raises ConvertError, one line naming `path`, on what the C++ reader refuses."""
    if len(data) < 16 or data[:8] != MAGIC:
        raise ConvertError("%s: not a dcsr checkpoint (bad magic or shorter than 16 bytes)" % path)
    (hlen,) = struct.unpack_from("<Q", data, 8)
    if hlen > len(data) - 16:
        raise ConvertError("%s: header length %d beyond the end of the file (%d bytes)" % (path, hlen, len(data)))
    header = _parse_header_json(data[16:16 + hlen], path)
    _check_header(header, path)
    data_start = _align(16 + hlen)
    data_bytes = max(len(data) - data_start, 0)
    entries, names = [], set()
    for index, e in enumerate(header["tensors"]):
        entry = _parse_entry(e, index, data_bytes, path)
        if entry.name in names:
            raise ConvertError("%s: duplicate tensor '%s'" % (path, _printable(entry.name)))
        names.add(entry.name)
        entries.append(entry)
    _check_no_overlap(entries, path)
    for e in entries:
        check_finite(_values(data, data_start, e), "%s: tensor '%s'" % (path, _printable(e.name)))
    return header, entries, data_start


def _read_file(path):
    if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block, a folder fails less clearly
        raise ConvertError("%s: not a regular file" % path)
    with open(path, "rb") as f:
        return f.read()


def read_checkpoint(path):
    """Return (header dict, OrderedDict name -> numpy array). Validates as parse_checkpoint does."""
    data = _read_file(path)
    header, entries, data_start = parse_checkpoint(data, path)
    out = collections.OrderedDict()
    for e in entries:
        try:
            out[e.name] = _values(data, data_start, e).reshape(e.shape).copy()
        except ValueError as err:  # numpy's limits, e.g. shape (0, 2**63 - 1)
            raise ConvertError("%s: tensor '%s': %s" % (path, _printable(e.name), err))
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


def _to_numpy(t, what):
    t = t.detach().cpu()
    name = str(t.dtype).replace("torch.", "")
    if name in ("float16", "bfloat16"):
        t = t.float()
    elif name not in ("float32", "float64", "int64"):
        raise ConvertError("%s has unsupported dtype %s" % (what, name))
    return t.contiguous().numpy()


def _numpy_tensors(sd, keys, src):
    """The tensors `keys` of the state dict as numpy arrays; refuses NaN / Inf (the C++ reader does)."""
    out = collections.OrderedDict()
    for k in keys:
        what = "%s: tensor %s" % (src, k)
        out[k] = _to_numpy(sd[k], what)
        check_finite(out[k], what)
    return out


def refuse_same_file(src, dst):
    """Writing the output onto the input would destroy it (also through a link or another spelling)."""
    if os.path.exists(src) and os.path.exists(dst):
        same = os.path.samefile(src, dst)
    else:
        same = os.path.realpath(src) == os.path.realpath(dst)
    if same:
        raise ConvertError("the output %s is the input file %s: choose another output" % (dst, src))


def convert_dcsr(src, dst, allow_pickle=False):
    sd, notes = load_torch_state_dict(src, allow_pickle)
    shapes = collections.OrderedDict((k, tuple(v.shape)) for k, v in sd.items())
    n = infer_dcsr_n_feats(shapes)
    check_tensors(shapes, dcsr_expected_shapes(n), what="DCSR (n_feats %d)" % n)
    tensors = _numpy_tensors(sd, list(sd), src)
    size = write_checkpoint(dst, tensors, {"model": "dcsr", "n_feats": n},
                            {"converted_from": os.path.basename(src)})
    return notes + ["DCSR n_feats %d: %d tensors, %d parameters, %d bytes"
                    % (n, len(tensors), sum(a.size for a in tensors.values()), size)]


def convert_vgg19(src, dst, allow_pickle=False):
    sd, notes = load_torch_state_dict(src, allow_pickle)
    shapes = collections.OrderedDict((k, tuple(v.shape)) for k, v in sd.items())
    expected = vgg19_expected_shapes()
    check_tensors(shapes, expected, allowed_extra=vgg19_droppable_keys(), what="VGG19")
    tensors = _numpy_tensors(sd, list(expected), src)
    dropped = [k for k in sd if k not in expected]
    size = write_checkpoint(dst, tensors, {"model": "vgg19", "layers": "features", "up_to": "relu3_4"},
                            {"converted_from": os.path.basename(src)})
    return notes + ["VGG19 features up to relu3_4: %d tensors kept, %d dropped, %d bytes"
                    % (len(tensors), len(dropped), size)]


def check_architecture(config, shapes):
    """Compare the tensors with the model the config names; return what was checked (None: no known model)."""
    if config.get("model") == "dcsr":
        n = config.get("n_feats")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConvertError("config n_feats must be a positive integer, got %s" % _clip_json(n))
        check_tensors(shapes, dcsr_expected_shapes(n), what="DCSR (n_feats %d)" % n)
        return "DCSR n_feats %d" % n
    if config.get("model") == "vgg19":
        check_tensors(shapes, vgg19_expected_shapes(), what="VGG19")
        return "VGG19 features up to relu3_4"
    return None


def check_file(path):
    """--check: validate as the C++ reader does, list the tensors, compare them with the config's model."""
    header, entries, _ = parse_checkpoint(_read_file(path), path)
    config = header.get("config", {})
    numel = sum(e.nbytes // _NP_DTYPES[e.dtype].itemsize for e in entries)
    print("%s: %s v%d, config %s, %d tensors, %d elements"
          % (path, FORMAT_NAME, header["version"], json.dumps(config), len(entries), numel))
    for e in entries:
        print("  %-48s %-8s %-20s offset %d" % (_printable(e.name), e.dtype, _fmt(e.shape), e.offset))
    try:
        checked = check_architecture(config, collections.OrderedDict((e.name, e.shape) for e in entries))
    except ConvertError as err:
        raise ConvertError("%s: %s" % (path, err))
    if checked:
        print("architecture check: ok (%s)" % checked)


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
        refuse_same_file(src, dst)
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
