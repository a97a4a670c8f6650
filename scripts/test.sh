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
cargo fmt --all -- --check
(cd fuzz && cargo fmt -- --check)  # the fuzz targets are their own package (scripts/fuzz.sh)
cargo clippy --release --all-targets --quiet -- -D warnings
cargo test --release
