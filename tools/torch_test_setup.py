"""The common start of the Python tests in tools/ (test_convert_weights.py, test_sr_peer.py).

`import torch_test_setup` puts tools/ and tests/reference/ on the import path and exits with 77
(ctest's skip code) when torch is not importable. HERE and REPO are the two folders the tests use.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "reference"))

try:
    import torch  # noqa: F401
except ImportError:
    print("torch is not importable: skipping (run with a python that has torch)")
    sys.exit(77)
