#!/usr/bin/env python3
"""Tests of golden_io.compare_goldens, what `make_goldens.py --check` uses (numpy only; ctest runs it
with tools/with_torch_python.sh, whose python has numpy, and skips it without one)."""
import collections
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_io  # noqa: E402


def tensors(**changes):
    rng = np.random.default_rng(5)
    t = collections.OrderedDict()
    t["x"] = rng.uniform(-3, 3, size=(4, 5))
    t["y32"] = rng.uniform(-1, 1, size=(7,)).astype(np.float32)
    t["index"] = np.arange(6, dtype=np.int64)
    t["empty"] = np.zeros((0, 3))
    t["nan"] = np.array([1.0, np.nan, 2.0])
    for name, value in changes.items():
        if value is None:
            del t[name]
        else:
            t[name] = value
    return t


def check(expect_ok, expect_text, **changes):
    base = tensors()
    ok, text = golden_io.compare_goldens(golden_io.encode_tensors(base), golden_io.encode_tensors(tensors(**changes)))
    assert ok == expect_ok and expect_text in text, (changes.keys(), ok, text)


def main():
    x = tensors()["x"]
    check(True, "same bytes")
    # float64 rounding of another torch version: accepted, and the largest difference is named.
    check(True, "largest relative difference", x=x * (1 + 1e-15))
    check(True, "x", x=x + 2e-13)
    # Beyond 1e-12 relative (to 1 + max|old|): refused, naming the tensor.
    check(False, "DIFFERS: x by", x=x + 1e-9)
    check(False, "DIFFERS: y32 by", y32=tensors()["y32"] + np.float32(1e-6))
    check(False, "DIFFERS: index (int64 values)", index=np.arange(1, 7, dtype=np.int64))
    check(False, "DIFFERS: x is", x=x.reshape(5, 4))
    check(False, "DIFFERS: x is", x=x.astype(np.float32))
    check(False, "DIFFERS: tensor names (x)", x=None)
    check(False, "DIFFERS: nan (NaN positions)", nan=np.array([1.0, 2.0, np.nan]))
    check(True, "same within", nan=np.array([1.0 + 1e-15, np.nan, 2.0]))
    print("test_golden_io: 11 checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
