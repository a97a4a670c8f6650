#!/usr/bin/env bash
# vigil's tracker against OC-SORT (PyPI `ocsort`, the best peer in issue 3's yardstick) on the
# MOT17 val half, online and with the same fixed-lag post-processing for both (vigil's `--lag`,
# and scripts/fixed_lag.py — its offline definition — on OC-SORT's output). Markdown rows, scored by
# `vigil eval` and cross-checked by TrackEval from PyPI (scripts/trackeval_crosscheck.py).
#   scripts/peer_comparison.sh     (needs PyPI for the venv, $VIGIL_SHARED or ../shared, a release build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${VIGIL_SHARED:-$root/../shared}
vigil=$root/target/release/vigil
work=$root/out/peers
venv=$root/out/peers-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  # The package pins torch and an old scipy it does not need; it needs NumPy 1 (float(array)).
  "$venv/bin/pip" install -q "numpy<2" "scipy<1.14" filterpy lap
  "$venv/bin/pip" install -q --no-deps ocsort==0.0.2 trackeval==1.3.0
fi
rm -rf "$work" && mkdir -p "$work"
python3 "$shared/tools/mot_valhalf.py" "$work/val" >/dev/null

score() { # LABEL RESULTS_DIR
  local trackeval
  trackeval=$("$venv/bin/python" "$root/scripts/trackeval_crosscheck.py" "$work/val" "$2")
  "$vigil" eval --gt "$work/val" --res "$2" |
    awk -v n="$1" -v t="$trackeval" \
      '/^COMBINED/ {printf "| %s | %s | %s | %s | %s | %s |\n", n, $2, $6, $8, $9, t}'
}
track() { # RESULTS_DIR [vigil options]
  local res=$1; shift
  "$vigil" -q track "$work/val" --detections det/det.txt --mot "$res" \
    --config "$root/configs/mot17.toml" "$@" >/dev/null
}

echo "| tracker (MOT17 val half) | HOTA | MOTA | IDF1 | IDSW | TrackEval 1.3.0: HOTA / MOTA / IDF1 / IDSW |"
echo "|---|---|---|---|---|---|"
"$venv/bin/python" "$root/scripts/peer_ocsort.py" "$work/val" "$work/ocsort"
score "OC-SORT (ocsort 0.0.2, min score 0.4), online" "$work/ocsort"
track "$work/vigil"
score "vigil, configs/mot17.toml, online" "$work/vigil"
for lag in 0.33 0.5 1.0; do
  python3 "$root/scripts/fixed_lag.py" "$work/val" "$work/ocsort" "$work/ocsort-lag$lag" "$lag"
  score "OC-SORT + the same lag, $lag s" "$work/ocsort-lag$lag"
  track "$work/vigil-lag$lag" --lag "$lag"
  score "vigil --lag $lag" "$work/vigil-lag$lag"
done
