#!/usr/bin/env python3
"""PyTorch peer for dcsr_bench: runs one op described by a JSON spec and prints
one JSON line {"op": ..., "ms": median, ...}.

    torch_peer.py '{"op": "matmul", "n": 1024, "threads": 2}'

The ops live in tools/bench/peers/*.py, each module exporting OPS = {name:
fn(spec) -> dict}. The thread count is set from the spec (and dcsr_bench also
sets OMP_NUM_THREADS) so both sides use the same number of cores.
"""
import importlib
import json
import os
import pkgutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def load_ops():
    ops = {}
    import peers
    for info in pkgutil.iter_modules(peers.__path__):
        module = importlib.import_module("peers." + info.name)
        ops.update(getattr(module, "OPS", {}))
    return ops


def main():
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(int(spec.get("threads", 1)))
    ops = load_ops()
    name = spec["op"]
    if name not in ops:
        print(json.dumps({"op": name, "error": "unknown op; known: " + ", ".join(sorted(ops))}))
        return 2
    result = ops[name](spec)
    result.setdefault("op", name)
    result["torch"] = torch.__version__
    result["torch_threads"] = torch.get_num_threads()
    result["malloc_tuned"] = "MALLOC_MMAP_THRESHOLD_" in os.environ
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
