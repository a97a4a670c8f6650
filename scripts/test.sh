#!/usr/bin/env bash
# Set-up, then the whole test suite: formatting, lints, unit and integration tests.
# Test data comes from $VIGIL_SHARED, else ../shared beside the checkout.
# One failure never hides the rest: every step runs, every test binary runs (--no-fail-fast),
# and the end says what failed; the exit status is non-zero if anything did.
#   scripts/test.sh [extra cargo test arguments, e.g. a test name filter]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf 'test.sh: %s\n' "$*" >&2; }
bash scripts/bootstrap.sh --test
export VIGIL_SHARED=${VIGIL_SHARED:-$root/../shared}
if [[ ! -d $VIGIL_SHARED/mot ]]; then
  say "test data not found at $VIGIL_SHARED (set VIGIL_SHARED)"
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

failed=()
# check WHAT COMMAND...: runs COMMAND, says how long it took, and remembers WHAT if it failed.
check() {
  local what=$1 start=$SECONDS; shift
  say "$what"
  if "$@"; then
    say "$what: passed ($((SECONDS - start)) s)"
  else
    say "$what: FAILED ($((SECONDS - start)) s)"
    failed+=("$what")
  fi
}
check "cargo fmt" cargo fmt --all -- --check
check "cargo fmt (fuzz)" bash -c 'cd fuzz && cargo fmt -- --check' # their own package (scripts/fuzz.sh)
check "cargo clippy" cargo clippy --release --all-targets --quiet -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
check "cargo test" bash -c 'set -o pipefail; cargo test --release --no-fail-fast "$@" 2>&1 | tee "$0"' "$log" "$@"

echo
if ((${#failed[@]} == 0)); then
  say "all passed: $(grep -c '^test .* ok$' "$log" || true) tests"
  exit 0
fi
say "FAILED: ${failed[*]}"
# Each failed test under the binary that ran it (cargo prints "Running tests/x.rs (...)"
# before a binary's tests), then cargo's own list of the binaries that failed.
awk '
  /^ *Running / { binary = ($2 == "unittests") ? $3 : $2 }
  /^ *Doc-tests / { binary = "doc-tests " $2 }
  /^test .* \.\.\. FAILED$/ { sub(/^test /, ""); sub(/ \.\.\. FAILED$/, ""); print "  " binary ": " $0 }
' "$log" >&2
sed -n '/^error: [0-9]* targets\? failed:/,$p' "$log" >&2
exit 1
