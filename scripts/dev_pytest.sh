#!/usr/bin/env bash
# Builds the library, the C++ tests and the Python extension in BUILD_DIR, then
# runs pytest against that build without installing it (so several working
# copies can be tested side by side with the one .venv).
#   scripts/dev_pytest.sh build/mine tests/python/test_regression.py -q
set -euo pipefail
cd "$(dirname "$0")/.."
b=$1
shift
# Families being written in this tree by other engineers are left out of the
# build named after one's own work (LOSSLAB_SOURCE_EXCLUDE overrides).
case "$(basename "$b")" in
  emb) ex='segmentation|generative|class_weights|metrics_classification|linear_cross_entropy' ;;
  seg) ex='embedding|class_weights|metrics_classification|linear_cross_entropy' ;;
  cls2) ex='embedding|segmentation|generative|class_weights|metrics_classification|linear_cross_entropy' ;;
  metrics) ex='embedding|segmentation|generative|linear_cross_entropy' ;;
  lead) ex='' ;;
  train) ex='softmax_focal' ;;
  cls3) ex='src/train/|python/src/train|tests/cpp/train/' ;;
  rel) ex='src/train/|python/src/train|tests/cpp/train/|softmax_focal' ;;
  perf) ex='src/train/|python/src/train|tests/cpp/train/|softmax_focal' ;;
  *) ex='' ;;
esac
ex=${LOSSLAB_SOURCE_EXCLUDE-$ex}
cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DLOSSLAB_BUILD_PYTHON=ON -DLOSSLAB_BUILD_TESTS=ON \
  -DLOSSLAB_SOURCE_EXCLUDE="$ex" \
  -DPython_EXECUTABLE="$PWD/.venv/bin/python" >/dev/null
cmake --build "$b" -j "$(nproc)"
pkg="$b/pkg/losslab"
rm -rf "$pkg"
mkdir -p "$pkg"
cp -r python/losslab/. "$pkg/"
cp "$b"/python/_core*.so "$pkg/"
PYTHONPATH="$PWD/$b/pkg" .venv/bin/python -m pytest "$@"
