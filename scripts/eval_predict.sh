#!/usr/bin/env bash
# The evidence behind docs/PREDICTION.md: look-ahead models and baselines on the MOT17 val half,
# on gt trajectories and on vigil's own tracks (ByteTrack's YOLOX-X ablation detections).
#   scripts/eval_predict.sh          (needs $VIGIL_SHARED or ../shared; builds vigil in release)
# Writes out/eval_predict/predict.json and prints the table; then the same scoring on gt only
# with visibility >= 0.5 ("Against the issue's figures") and on MOT15 (the held-out check).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${VIGIL_SHARED:-$root/../shared}
work=$root/out/eval_predict
rm -rf "$work" && mkdir -p "$work"
(cd "$root" && cargo build --release --quiet)
python3 "$shared/tools/mot_valhalf.py" "$work/val" >/dev/null
"$root/target/release/vigil" -q eval-predict --gt "$work/val" --horizons 0.5,1,2 \
  --detections det/det.txt --json "$work/predict.json"
echo
echo "per sequence, on vigil's tracks, at 1 s (static and moving cameras apart):"
python3 "$root/scripts/predict_by_sequence.py" "$work/predict.json"
echo
echo "the same, the camera's motion given (BoT-SORT's GMC files; the tracker and the forecasts follow it):"
"$root/target/release/vigil" -q eval-predict --gt "$work/val" --horizons 0.5,1,2 \
  --detections det/det.txt --camera-motion gmc/botsort.txt --json "$work/predict_cm.json" >/dev/null
for h in 0.5 1 2; do
  echo "at $h s:"
  python3 "$root/scripts/predict_by_sequence.py" "$work/predict_cm.json" --horizon "$h"
done
echo
echo "val half, gt boxes of visibility >= 0.5 only:"
"$root/target/release/vigil" -q eval-predict --gt "$work/val" --horizons 0.5,1,2 --min-visibility 0.5
echo
echo "MOT15 (held out):"
"$root/target/release/vigil" -q eval-predict --gt "$shared/mot/MOT15" --horizons 1,2
