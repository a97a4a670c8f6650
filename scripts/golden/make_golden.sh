#!/usr/bin/env bash
# Regenerates tests/golden/detections.json (YOLOX-Nano) and detections_yolov8n.json (YOLOv8n int8)
# with the independent Python reference.
#   scripts/golden/make_golden.sh    (needs $VIGIL_SHARED or ../shared; makes its own venv)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
shared=${VIGIL_SHARED:-$root/../shared}
venv=${GOLDEN_VENV:-/tmp/vigil-golden-venv}
if [[ ! -f $venv/.ok ]]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q -r "$here/requirements.txt" && touch "$venv/.ok"
fi
"$venv/bin/python" "$here/detections_reference.py" "$shared" "$shared/models/yolox_nano.onnx" "$root/tests/golden/detections.json"
"$venv/bin/python" "$here/detections_reference.py" "$shared" "$shared/models/yolov8n_int8.onnx" \
  "$root/tests/golden/detections_yolov8n.json" --family yolov8
"$venv/bin/python" "$here/make_layout_models.py" "$root/.deps/layouts"
cp "$root/.deps/layouts/expected.json" "$root/tests/golden/layouts.json"
