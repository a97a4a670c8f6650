#!/usr/bin/env bash
# The tracking-quality figures of README.md and docs/TRACKER.md, each scored by `vigil eval`:
#   - `vigil eval` against TrackEval's own values on ../shared/mot/evalcheck (largest difference)
#   - MOT17 val half (ByteTrack's YOLOX-X detections, configs/mot17.toml), per sequence: online,
#     --lag 0.5, --camera-motion gmc/botsort.txt (BoT-SORT's maps) online and with --lag 0.5
#   - the detection budget simulated on the val half: --detect-every 1, 2, 3 (combined)
#   - MOT15 (SORT's Faster R-CNN detections det/frcnn.txt, default settings): online and --lag 0.5
# Deterministic: one run each.
#   scripts/tracking_quality.sh     (needs a release build and $VIGIL_SHARED or ../shared)
source "$(dirname "$0")/figures_env.sh" quality
rm -rf "$work" && mkdir -p "$work"
python3 "$shared/tools/mot_valhalf.py" "$work/val" >/dev/null

table() { # table TITLE GT RES: per-sequence rows HOTA DetA AssA MOTA IDF1 IDSW
  echo "$1"
  echo "| sequence | HOTA | DetA | AssA | MOTA | IDF1 | IDSW |"
  echo "|---|---|---|---|---|---|---|"
  "$vigil" eval --gt "$2" --res "$3" |
    awk 'NR > 1 {printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $6, $8, $9}'
  echo
}
track() { # track GT RES [options]
  local gt=$1 res=$2; shift 2
  "$vigil" -q track "$gt" --mot "$res" "$@" >/dev/null
}

echo "tracking_quality: $(date -u +%F), $("$vigil" --version)"
echo
"$vigil" -q eval --gt "$shared/mot/MOT17" --res "$shared/mot/evalcheck" --json "$work/evalcheck.json" >/dev/null
python3 - "$work/evalcheck.json" "$shared/mot/evalcheck/trackeval_reference.csv" <<'PY'
import csv, json, sys
ours = json.load(open(sys.argv[1]))
keys = {"HOTA": "hota", "DetA": "det_a", "AssA": "ass_a", "LocA": "loc_a", "MOTA": "mota",
        "MOTP": "motp", "IDF1": "idf1"}
worst, n = 0.0, 0
for row in csv.DictReader(open(sys.argv[2])):
    for col, key in keys.items():
        worst = max(worst, abs(float(row[col]) - ours[row["seq"]][key])); n += 1
print(f"vigil eval vs TrackEval (evalcheck): largest difference {worst:.1e} over {n} fractions")
PY
echo

mot17=(--detections det/det.txt --config configs/mot17.toml)
track "$work/val" "$work/online" "${mot17[@]}"
table "MOT17 val half, configs/mot17.toml, online" "$work/val" "$work/online"
track "$work/val" "$work/lag" "${mot17[@]}" --lag 0.5
table "MOT17 val half, configs/mot17.toml, --lag 0.5" "$work/val" "$work/lag"
track "$work/val" "$work/cm" "${mot17[@]}" --camera-motion gmc/botsort.txt
table "MOT17 val half, configs/mot17.toml, --camera-motion gmc/botsort.txt, online" "$work/val" "$work/cm"
track "$work/val" "$work/cm-lag" "${mot17[@]}" --camera-motion gmc/botsort.txt --lag 0.5
table "MOT17 val half, configs/mot17.toml, --camera-motion gmc/botsort.txt --lag 0.5" "$work/val" "$work/cm-lag"

echo "MOT17 val half, configs/mot17.toml, detection budget simulated (combined)"
echo "| --detect-every | HOTA | MOTA | IDF1 | IDSW |"
echo "|---|---|---|---|---|"
for n in 1 2 3; do
  track "$work/val" "$work/every$n" "${mot17[@]}" --detect-every "$n"
  "$vigil" eval --gt "$work/val" --res "$work/every$n" |
    awk -v n="$n" '/^COMBINED/ {printf "| %s | %s | %s | %s | %s |\n", n, $2, $6, $8, $9}'
done
echo

track "$shared/mot/MOT15" "$work/mot15" --detections det/frcnn.txt
table "MOT15, det/frcnn.txt, defaults, online" "$shared/mot/MOT15" "$work/mot15"
track "$shared/mot/MOT15" "$work/mot15-lag" --detections det/frcnn.txt --lag 0.5
table "MOT15, det/frcnn.txt, defaults, --lag 0.5" "$shared/mot/MOT15" "$work/mot15-lag"
