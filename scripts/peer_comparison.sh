#!/usr/bin/env bash
# vigil against its peers on the same detections, online, one table: the MOT17 val half
# (ByteTrack's YOLOX-X detections; the camera's motion given as BoT-SORT's GMC files to vigil,
# BoT-SORT and McByte) and MOT15 (the SORT paper's Faster R-CNN detections, no motion files).
# Peers: Roboflow `trackers` 2.6.1 (SORT, ByteTrack, OC-SORT, BoT-SORT, C-BIoU, McByte; default
# parameters, scripts/peer_trackers.py) and PyPI `ocsort` 0.0.2 (min score 0.4). vigil: the shipped
# configs/mot17.toml (tuned on all ten sequences: in sample) and, when scripts/tracker_cv.py has
# run, its leave-one-sequence-out results (each sequence tracked with the settings tuned without
# it). Scored by `vigil eval` and cross-checked by TrackEval 1.3.0 from PyPI
# (scripts/trackeval_crosscheck.py). Then, on MOT17, both given the same fixed lag (vigil's --lag;
# scripts/fixed_lag.py, its offline definition, on OC-SORT's output).
#   scripts/peer_comparison.sh     (needs PyPI for two venvs, $VIGIL_SHARED or ../shared; ~6 min)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${VIGIL_SHARED:-$root/../shared}
vigil=$root/target/release/vigil
work=$root/out/peers
venv=$root/out/peers-venv
trackers_venv=$root/out/trackers-venv
(cd "$root" && cargo build --release --quiet)
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  # The package pins torch and an old scipy it does not need; it needs NumPy 1 (float(array)).
  "$venv/bin/pip" install -q "numpy<2" "scipy<1.14" filterpy lap
  "$venv/bin/pip" install -q --no-deps ocsort==0.0.2 trackeval==1.3.0
fi
if ! "$trackers_venv/bin/python" -c "import trackers" 2>/dev/null; then
  python3 -m venv "$trackers_venv"
  "$trackers_venv/bin/pip" install -q "trackers==2.6.1"
fi
rm -rf "$work" && mkdir -p "$work"
python3 "$shared/tools/mot_valhalf.py" "$work/val" >/dev/null
mot17=$work/val mot15=$shared/mot/MOT15

figures() { # GT RESULTS → "HOTA / IDF1 / IDSW (TrackEval HOTA)", or "—"
  [ -d "$2" ] || { printf "—"; return; }
  local te
  te=$("$venv/bin/python" "$root/scripts/trackeval_crosscheck.py" "$1" "$2" | awk '{print $1}')
  "$vigil" eval --gt "$1" --res "$2" | awk -v te="$te" '/^COMBINED/ {printf "%s / %s / %s (%s)", $2, $8, $9, te}'
}

"$trackers_venv/bin/python" "$root/scripts/peer_trackers.py" "$mot17" "$work/mot17" 2>/dev/null
"$trackers_venv/bin/python" "$root/scripts/peer_trackers.py" "$mot15" "$work/mot15" --detections det/frcnn.txt 2>/dev/null
"$venv/bin/python" "$root/scripts/peer_ocsort.py" "$mot17" "$work/mot17/ocsort"
"$venv/bin/python" "$root/scripts/peer_ocsort.py" "$mot15" "$work/mot15/ocsort" det/frcnn.txt
"$vigil" -q track "$mot17" --detections det/det.txt --config "$root/configs/mot17.toml" \
  --camera-motion gmc/botsort.txt --mot "$work/mot17/vigil" >/dev/null
"$vigil" -q track "$mot15" --detections det/frcnn.txt --config "$root/configs/mot17.toml" \
  --mot "$work/mot15/vigil" >/dev/null
held_out=$root/out/tracker_cv/held_out
if [ -d "$held_out/MOT17" ]; then
  cp -r "$held_out/MOT17" "$work/mot17/vigil-loso" && cp -r "$held_out/MOT15" "$work/mot15/vigil-loso"
fi

echo "| tracker (online, same detections) | MOT17 val half: HOTA / IDF1 / IDSW (TrackEval HOTA) | MOT15: HOTA / IDF1 / IDSW (TrackEval HOTA) |"
echo "|---|---|---|"
for t in vigil-loso vigil ocsort SORTTracker ByteTrackTracker OCSORTTracker CBIoUTracker \
  BoTSORTTracker+gmc BoTSORTTracker McByteTracker+gmc McByteTracker; do
  case $t in
    vigil-loso) label="vigil, leave one sequence out (scripts/tracker_cv.py), camera motion on MOT17" ;;
    vigil) label="vigil, configs/mot17.toml (in sample), camera motion on MOT17" ;;
    ocsort) label="OC-SORT (PyPI ocsort 0.0.2, min score 0.4)" ;;
    *+gmc) label="trackers ${t%+gmc}, given the GMC files on MOT17" ;;
    *) label="trackers $t, no camera motion" ;;
  esac
  m15=$work/mot15/$t
  [[ $t == *+gmc ]] && m15=$work/mot15/${t%+gmc}
  echo "| $label | $(figures "$mot17" "$work/mot17/$t") | $(figures "$mot15" "$m15") |"
done

echo
echo "MOT17 val half, the same fixed lag for both (neither given the camera's motion):"
echo "| tracker | HOTA / IDF1 / IDSW (TrackEval HOTA) |"
echo "|---|---|"
for lag in 0.33 0.5 1.0; do
  python3 "$root/scripts/fixed_lag.py" "$mot17" "$work/mot17/ocsort" "$work/ocsort-lag$lag" "$lag"
  echo "| OC-SORT + lag $lag s | $(figures "$mot17" "$work/ocsort-lag$lag") |"
  "$vigil" -q track "$mot17" --detections det/det.txt --config "$root/configs/mot17.toml" \
    --lag "$lag" --mot "$work/vigil-lag$lag" >/dev/null
  echo "| vigil --lag $lag | $(figures "$mot17" "$work/vigil-lag$lag") |"
done
