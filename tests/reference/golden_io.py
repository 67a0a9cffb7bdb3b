#!/usr/bin/env python3
# ---------------------------------------------------------------------------------------------------
# Golden tensor file format, version header (C++ tests compare their expected version with this one).
#
#   GOLDEN_VERSION = 1
#
# When a C++ test finds a different version in a file it should say:
#   "regenerate with: /usr/bin/python3 tests/reference/make_goldens.py"
# ---------------------------------------------------------------------------------------------------
"""Read and write the DCSR golden tensor files ("DCSRTNS1").

Run with a python that has numpy (torch only if you pass torch tensors), e.g. /usr/bin/python3.

Layout (all integers little-endian):

    8 bytes  magic  b"DCSRTNS1"
    u32      version            (GOLDEN_VERSION, currently 1)
    u32      n_tensors
    repeat n_tensors:
      u32    name_len, then name bytes (utf-8, no NUL)
      u8     dtype  (0 = float32, 1 = float64, 2 = int64)
      u8     ndim
      u16    reserved (0)
      i64    dims[ndim]
      data   numel * itemsize bytes, row-major (C order), little-endian

There is no padding or alignment anywhere. Tensors keep the order in which they were given.
"""
import collections
import os
import struct

import numpy as np

GOLDEN_VERSION = 1
MAGIC = b"DCSRTNS1"
REGENERATE_HINT = "regenerate with: /usr/bin/python3 tests/reference/make_goldens.py"

# dtype code -> numpy little-endian dtype
_CODE_TO_DTYPE = {0: np.dtype("<f4"), 1: np.dtype("<f8"), 2: np.dtype("<i8")}
_KIND_TO_CODE = {np.dtype("float32"): 0, np.dtype("float64"): 1, np.dtype("int64"): 2}


def _to_numpy(value):
    """Accept a numpy array, a torch tensor or a python scalar; return a C-contiguous ndarray."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor, without importing torch
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype not in _KIND_TO_CODE:
        raise TypeError("unsupported dtype %s (only float32, float64, int64)" % arr.dtype)
    return np.ascontiguousarray(arr)


def encode_tensors(tensors):
    """Return the bytes of a golden file holding `tensors` (a mapping name -> array-like), in order."""
    parts = [MAGIC, struct.pack("<II", GOLDEN_VERSION, len(tensors))]
    for name, value in tensors.items():
        arr = _to_numpy(value)
        code = _KIND_TO_CODE[arr.dtype]
        name_bytes = name.encode("utf-8")
        if b"\x00" in name_bytes:
            raise ValueError("tensor name contains NUL: %r" % name)
        parts.append(struct.pack("<I", len(name_bytes)))
        parts.append(name_bytes)
        parts.append(struct.pack("<BBH", code, arr.ndim, 0))
        parts.append(struct.pack("<%dq" % arr.ndim, *arr.shape))
        parts.append(arr.astype(_CODE_TO_DTYPE[code], copy=False).tobytes(order="C"))
    return b"".join(parts)


def write_tensors(path, tensors):
    """Write `tensors` (ordered mapping name -> torch tensor / ndarray) to `path` atomically.

    The file is first written to `path + ".tmp"` and then renamed over `path`.
    Returns the number of bytes written.
    """
    data = encode_tensors(tensors)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return len(data)


def decode_tensors(data):
    """Parse the bytes of a golden file; return (version, OrderedDict name -> ndarray)."""
    if data[:8] != MAGIC:
        raise ValueError("bad magic %r (expected %r)" % (data[:8], MAGIC))
    version, n = struct.unpack_from("<II", data, 8)
    pos = 16
    out = collections.OrderedDict()
    for _ in range(n):
        (name_len,) = struct.unpack_from("<I", data, pos)
        pos += 4
        name = data[pos:pos + name_len].decode("utf-8")
        pos += name_len
        code, ndim, reserved = struct.unpack_from("<BBH", data, pos)
        pos += 4
        if code not in _CODE_TO_DTYPE:
            raise ValueError("tensor %r: unknown dtype code %d" % (name, code))
        if reserved != 0:
            raise ValueError("tensor %r: reserved field is %d, expected 0" % (name, reserved))
        dims = struct.unpack_from("<%dq" % ndim, data, pos)
        pos += 8 * ndim
        dt = _CODE_TO_DTYPE[code]
        numel = 1
        for d in dims:
            numel *= d
        nbytes = numel * dt.itemsize
        if pos + nbytes > len(data):
            raise ValueError("tensor %r: file truncated" % name)
        arr = np.frombuffer(data, dtype=dt, count=numel, offset=pos).reshape(dims).copy()
        pos += nbytes
        if name in out:
            raise ValueError("duplicate tensor name %r" % name)
        out[name] = arr
    if pos != len(data):
        raise ValueError("%d trailing bytes after the last tensor" % (len(data) - pos))
    return version, out


def read_tensors(path, check_version=True):
    """Read a golden file; return an OrderedDict name -> numpy array (native dtype float32/float64/int64).

    Raises ValueError on a bad magic, a truncated file, or (if check_version) a version mismatch.
    """
    with open(path, "rb") as f:
        data = f.read()
    version, out = decode_tensors(data)
    if check_version and version != GOLDEN_VERSION:
        raise ValueError("%s: golden version %d, expected %d; %s"
                         % (path, version, GOLDEN_VERSION, REGENERATE_HINT))
    return out


# The largest relative difference compare_goldens accepts between a float tensor regenerated with
# another torch version and the stored one: float64 results of the same formulas differ in the last
# bits between versions (torch 1.13 against 2.15: at most 1.4e-14 over every golden file).
COMPARE_REL_TOL = 1e-12


def compare_goldens(stored, regenerated, rel_tol=COMPARE_REL_TOL):
    """Compare a stored golden file's bytes with a regenerated one's.

    Returns (ok, text): ok when the bytes are identical, or when both hold the same tensor names in the
    same order with the same dtypes and shapes, int64 tensors equal and every float tensor within
    rel_tol of the stored one: max|new - old| <= rel_tol * (1 + max|old|). text says which, with the
    largest relative difference and its tensor, or what differs first.
    """
    if stored == regenerated:
        return True, "same bytes"
    _, old = decode_tensors(stored)
    _, new = decode_tensors(regenerated)
    if list(old) != list(new):
        missing = [k for k in old if k not in new] + [k for k in new if k not in old]
        return False, "DIFFERS: tensor names (%s)" % (", ".join(missing[:3]) or "order")
    worst, worst_name = 0.0, ""
    for name, a in old.items():
        b = new[name]
        if a.dtype != b.dtype or a.shape != b.shape:
            return False, "DIFFERS: %s is %s %s, was %s %s" % (name, b.dtype, b.shape, a.dtype, a.shape)
        if a.size == 0:
            continue
        if a.dtype == np.int64:
            if not np.array_equal(a, b):
                return False, "DIFFERS: %s (int64 values)" % name
            continue
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        if not np.array_equal(np.isnan(a64), np.isnan(b64)):
            return False, "DIFFERS: %s (NaN positions)" % name
        finite = ~np.isnan(a64)
        scale = 1.0 + float(np.max(np.abs(a64[finite]), initial=0.0))
        rel = float(np.max(np.abs(b64[finite] - a64[finite]), initial=0.0)) / scale
        if not rel <= rel_tol:
            return False, "DIFFERS: %s by %.2e relative (tolerance %.0e)" % (name, rel, rel_tol)
        if rel > worst:
            worst, worst_name = rel, name
    return True, "same within %.0e (largest relative difference %.1e, %s)" % (rel_tol, worst, worst_name)


if __name__ == "__main__":
    import sys
    if len(sys.argv) < 2:
        print("usage: golden_io.py FILE.bin ...   (lists the tensors of golden files)")
        sys.exit(2)
    for p in sys.argv[1:]:
        t = read_tensors(p)
        print("%s: %d tensors" % (p, len(t)))
        for k, v in t.items():
            print("  %-40s %-8s %s" % (k, v.dtype, list(v.shape)))
