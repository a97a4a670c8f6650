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
# The tiny ONNX graphs of the detector layouts no shared model covers (tests/detector_layouts.rs),
# built by their script with the `onnx` package: models stay out of the repository.
if [[ ! -f .deps/layouts/expected.json ]]; then
  python3 -m venv .deps/layout-venv
  .deps/layout-venv/bin/pip install -q numpy==1.26.4 onnx==1.17.0
  .deps/layout-venv/bin/python scripts/golden/make_layout_models.py .deps/layouts
fi
cargo fmt --all -- --check
(cd fuzz && cargo fmt -- --check)  # the fuzz targets are their own package (scripts/fuzz.sh)
cargo clippy --release --all-targets --quiet -- -D warnings
cargo test --release
