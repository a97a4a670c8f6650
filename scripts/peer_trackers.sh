#!/usr/bin/env bash
# vigil against Roboflow `trackers` 2.6.1 (SORT, ByteTrack, OC-SORT, BoT-SORT, C-BIoU, McByte; their
# default parameters) on the same detections, online, scored by `vigil eval` (TrackEval's figures,
# tests/eval_cli.rs): the MOT17 val half (ByteTrack's YOLOX-X detections; BoT-SORT and McByte also
# given the GMC files, as vigil is with --camera-motion) and MOT15 (the SORT paper's Faster R-CNN
# detections; no camera motion file). One Markdown table.
#   scripts/peer_trackers.sh      (needs PyPI for its venv, $VIGIL_SHARED or ../shared; ~5 min)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${VIGIL_SHARED:-$root/../shared}
vigil=$root/target/release/vigil
work=$root/out/peer_trackers
venv=$root/out/trackers-venv
(cd "$root" && cargo build --release --quiet)
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import trackers" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "trackers==2.6.1"
fi
rm -rf "$work" && mkdir -p "$work"
python3 "$shared/tools/mot_valhalf.py" "$work/val" >/dev/null
mot15=$shared/mot/MOT15

"$venv/bin/python" "$root/scripts/peer_trackers.py" "$work/val" "$work/mot17" 2>/dev/null
"$venv/bin/python" "$root/scripts/peer_trackers.py" "$mot15" "$work/mot15" --detections det/frcnn.txt 2>/dev/null
"$vigil" -q track "$work/val" --detections det/det.txt --config "$root/configs/mot17.toml" --mot "$work/mot17/vigil" >/dev/null
"$vigil" -q track "$work/val" --detections det/det.txt --config "$root/configs/mot17.toml" \
  --camera-motion gmc/botsort.txt --mot "$work/mot17/vigil+gmc" >/dev/null
"$vigil" -q track "$mot15" --detections det/frcnn.txt --config "$root/configs/mot17.toml" --mot "$work/mot15/vigil" >/dev/null

figures() { # GT RESULTS → "HOTA / IDF1 / IDSW"
  if [ -d "$2" ]; then
    "$vigil" eval --gt "$1" --res "$2" | awk '/^COMBINED/ {printf "%s / %s / %s", $2, $8, $9}'
  else
    printf "—"
  fi
}
echo "| tracker (online, same detections) | MOT17 val half: HOTA / IDF1 / IDSW | MOT15: HOTA / IDF1 / IDSW |"
echo "|---|---|---|"
for t in vigil vigil+gmc SORTTracker ByteTrackTracker OCSORTTracker CBIoUTracker BoTSORTTracker BoTSORTTracker+gmc McByteTracker McByteTracker+gmc; do
  label=$t
  case $t in
    vigil) label="vigil, configs/mot17.toml" ;;
    vigil+gmc) label="vigil, configs/mot17.toml, --camera-motion gmc/botsort.txt" ;;
    *+gmc) label="trackers ${t%+gmc}, given the GMC files" ;;
    *) label="trackers $t" ;;
  esac
  m15=$work/mot15/$t
  [[ $t == *+gmc ]] && m15=none
  echo "| $label | $(figures "$work/val" "$work/mot17/$t") | $(figures "$mot15" "$m15") |"
done
