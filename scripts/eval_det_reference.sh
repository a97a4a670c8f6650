#!/usr/bin/env bash
# Regenerates tests/golden/eval_det_reference.json with the independent pycocotools reference
# (scripts/eval_det_reference.py): the MOT17 val half built by tools/mot_valhalf.py, each
# sequence's det/det.txt (ByteTrack's YOLOX-X detections) as its detections.
#   scripts/eval_det_reference.sh    (needs $VIGIL_SHARED or ../shared; makes its own venv)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/.." && pwd)
shared=${VIGIL_SHARED:-$root/../shared}
venv=${EVAL_DET_VENV:-/tmp/vigil-evaldet-venv}
if [[ ! -f $venv/.ok ]]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q numpy==1.26.4 pycocotools==2.0.11 && touch "$venv/.ok"
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 "$shared/tools/mot_valhalf.py" "$work/val" >/dev/null
mkdir "$work/res"
for seq in "$work"/val/*/; do
  cp "$seq/det/det.txt" "$work/res/$(basename "$seq").txt"
done
"$venv/bin/python" "$here/eval_det_reference.py" "$work/val" "$work/res" \
  "$root/tests/golden/eval_det_reference.json" 2>/dev/null
