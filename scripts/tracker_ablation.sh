#!/usr/bin/env bash
# The evidence behind docs/TRACKER.md: each tracker variant on the MOT17 val half (ByteTrack's
# YOLOX-X ablation detections), scored by `vigil eval`, printed as Markdown table rows.
#   scripts/tracker_ablation.sh          (needs $VIGIL_SHARED or ../shared, and a release build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${VIGIL_SHARED:-$root/../shared}
vigil=$root/target/release/vigil
work=$root/out/ablation
rm -rf "$work" && mkdir -p "$work"
python3 "$shared/tools/mot_valhalf.py" "$work/val" >/dev/null

# variant NAME "OPTIONS" "TOML LINES" — one row
n=0
variant() {
  local label=$1 options=$2 toml=$3 run=$work/v$((++n))
  printf '[tracker]\n%b' "$toml" > "$run.toml"
  # shellcheck disable=SC2086
  "$vigil" -q track "$work/val" --detections det/det.txt --mot "$run" --config "$run.toml" $options >/dev/null
  "$vigil" eval --gt "$work/val" --res "$run" |
    awk -v n="$label" '/^COMBINED/ {printf "| %s | %s | %s | %s | %s |\n", n, $2, $6, $8, $9}'
}

plain='reupdate_after_occlusion = false\nfreeze_size_while_lost = false\ncoast_s = 0.0\n'
echo "| variant (MOT17 val half) | HOTA | MOTA | IDF1 | IDSW |"
echo "|---|---|---|---|---|"
variant "ByteTrack rounds, time-stepped xywh Kalman (baseline)" "" "$plain"
variant "+ observation-centric re-update" "" "${plain/reupdate_after_occlusion = false/reupdate_after_occlusion = true}"
variant "+ frozen size while lost" "" "${plain/freeze_size_while_lost = false/freeze_size_while_lost = true}"
variant "+ coasting 0.1 s" "" "${plain/coast_s = 0.0/coast_s = 0.1}"
variant "defaults (all three)" "" ""
variant "configs/mot17.toml (thresholds +0.1)" "" "high_score = 0.6\nnew_track_score = 0.7\n"
mot17='high_score = 0.6\nnew_track_score = 0.7\n'
variant "configs/mot17.toml + fill gaps only, --lag 0.5 (smoothing_s = 0)" "--lag 0.5" "${mot17}smoothing_s = 0.0\n"
for lag in 0.1 0.2 0.33 0.5 1.0; do
  variant "configs/mot17.toml + --lag $lag (fill gaps, smooth 0.067 s)" "--lag $lag" "$mot17"
done
