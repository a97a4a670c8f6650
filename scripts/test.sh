#!/usr/bin/env bash
# Set-up, then the whole test suite: formatting, lints, unit and integration tests.
# Test data comes from $VIGIL_SHARED, else ../shared beside the checkout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh
export VIGIL_SHARED=${VIGIL_SHARED:-$root/../shared}
if [[ ! -d $VIGIL_SHARED/mot ]]; then
  echo "test.sh: test data not found at $VIGIL_SHARED (set VIGIL_SHARED)" >&2
  exit 2
fi
# Models built at test time by their scripts with the `onnx` package (models stay out of the
# repository): the tiny graphs of the detector layouts no shared model covers
# (tests/detector_layouts.rs), and copies of the shared detectors with a free batch dimension
# (`vigil bench --batch`).
onnx_python() {
  if [[ ! -x .deps/layout-venv/bin/python ]]; then
    python3 -m venv .deps/layout-venv
    .deps/layout-venv/bin/pip install -q numpy==1.26.4 onnx==1.17.0
  fi
  .deps/layout-venv/bin/python "$@"
}
[[ -f .deps/layouts/expected.json ]] || onnx_python scripts/golden/make_layout_models.py .deps/layouts
[[ -f .deps/batch/yolox_nano.onnx ]] || onnx_python scripts/make_batch_models.py .deps/batch \
  "$VIGIL_SHARED/models/yolox_nano.onnx" "$VIGIL_SHARED/models/yolov8n_int8.onnx"
cargo fmt --all -- --check
(cd fuzz && cargo fmt -- --check)  # the fuzz targets are their own package (scripts/fuzz.sh)
cargo clippy --release --all-targets --quiet -- -D warnings
cargo test --release
