#!/usr/bin/env bash
# Builds the library, the C++ tests and the Python extension in BUILD_DIR, then
# runs pytest against that build without installing it (so several working
# copies can be tested side by side with the one .venv).
#   scripts/dev_pytest.sh build/mine tests/python/test_regression.py -q
set -euo pipefail
cd "$(dirname "$0")/.."
b=$1
shift
# LOSSLAB_SOURCE_EXCLUDE (a regex over source paths) leaves files out, for
# work in progress written beside this tree by other engineers.
ex=${LOSSLAB_SOURCE_EXCLUDE-}
# ccache, when present, shares objects between the build dirs.
launcher=$(command -v ccache || true)
cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DLOSSLAB_BUILD_PYTHON=ON -DLOSSLAB_BUILD_TESTS=ON \
  -DLOSSLAB_SOURCE_EXCLUDE="$ex" \
  -DPython_EXECUTABLE="$PWD/.venv/bin/python" \
  ${launcher:+-DCMAKE_CXX_COMPILER_LAUNCHER=$launcher} >/dev/null
cmake --build "$b" -j "$(nproc)"
pkg="$b/pkg/losslab"
rm -rf "$pkg"
mkdir -p "$pkg"
cp -r python/losslab/. "$pkg/"
cp "$b"/python/_core*.so "$pkg/"
PYTHONPATH="$PWD/$b/pkg" .venv/bin/python -m pytest "$@"
