#!/usr/bin/env bash
# Regenerates tests/golden/detections.json with the independent Python reference.
#   scripts/golden/make_golden.sh    (needs $VIGIL_SHARED or ../shared; makes its own venv)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
shared=${VIGIL_SHARED:-$root/../shared}
venv=${GOLDEN_VENV:-/tmp/vigil-golden-venv}
if [[ ! -f $venv/.ok ]]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q -r "$here/requirements.txt" && touch "$venv/.ok"
fi
"$venv/bin/python" "$here/detections_reference.py" "$shared" "$shared/models/yolox_nano.onnx" "$root/tests/golden/detections.json"
