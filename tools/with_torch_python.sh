#!/bin/sh
# Runs a Python script with the first python that imports torch, in the order
# dcsr_bench uses for its PyTorch peers: $DCSR_PYTHON, python3 on PATH,
# /usr/bin/python3 (Debian's python3-torch).
#
#   tools/with_torch_python.sh SCRIPT.py [ARGS...]
#
# Without such a python it prints "SKIPPED: no torch" and exits 77, the code
# ctest's SKIP_RETURN_CODE (CMakeLists.txt) and tests/test_interop.cpp read as
# "skipped".
for python in "${DCSR_PYTHON:-}" python3 /usr/bin/python3; do
  [ -n "$python" ] || continue
  if "$python" -c 'import torch' >/dev/null 2>&1; then
    exec "$python" "$@"
  fi
done
echo "SKIPPED: no torch (none of \$DCSR_PYTHON, python3, /usr/bin/python3 imports torch)"
exit 77
