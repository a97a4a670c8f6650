#!/usr/bin/env bash
# Leave-one-sequence-out for the look-ahead (docs/PREDICTION.md): for each of the four shared
# MOT17 sequences, the learned weights are fitted on the first halves of the OTHER three
# (scripts/fit_look_ahead.py --sequences … --json) and the forecasts are scored on the left-out
# sequence's val half, on gt trajectories and on vigil's own tracks (with and without the camera's
# motion), next to the same figures with the shipped weights (fitted on all four first halves).
#   scripts/eval_predict_loso.sh        (numpy from the venv scripts/test.sh makes; ~20 min on 2
#                                        cores, the four fits two at a time; KEEP=1 reuses fits)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${VIGIL_SHARED:-$root/../shared}
work=$root/out/loso
python=${PYTHON:-$root/.deps/layout-venv/bin/python}
seqs=(MOT17-02 MOT17-04 MOT17-05 MOT17-09)
mkdir -p "$work"
(cd "$root" && cargo build --release --quiet)
python3 "$shared/tools/mot_valhalf.py" "$work/val" >/dev/null
fit() {
  local left=$1 rest
  rest=$(printf '%s\n' "${seqs[@]}" | grep -v "$left" | paste -sd,)
  [[ ${KEEP:-} == 1 && -s $work/without-$left.json ]] && return
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$python" "$root/scripts/fit_look_ahead.py" "$shared" \
    --sequences "$rest" --json "$work/without-$left.json" 2>"$work/without-$left.log"
}
(fit MOT17-02; fit MOT17-04) & (fit MOT17-05; fit MOT17-09) & wait
vigil=$root/target/release/vigil
for seq in "${seqs[@]}"; do
  for weights in shipped loso; do
    extra=()
    [[ $weights == loso ]] && extra=(--look-ahead-weights "$work/without-$seq.json")
    "$vigil" -q eval-predict --gt "$work/val/$seq" --horizons 0.5,1,2 --detections det/det.txt \
      "${extra[@]}" --json "$work/$seq-$weights.json" >/dev/null
    "$vigil" -q eval-predict --gt "$work/val/$seq" --horizons 0.5,1,2 --detections det/det.txt \
      --camera-motion gmc/botsort.txt "${extra[@]}" --json "$work/$seq-$weights-cm.json" >/dev/null
  done
done
python3 - "$work" "${seqs[@]}" <<'PY'
import json, sys
work, seqs = sys.argv[1], sys.argv[2:]
moving = {"MOT17-05"}
def row(path, section, model, h=1.0):
    r = json.load(open(path))["combined"][section]
    m = next(m for m in r if m["model"] == model)
    return next(x for x in m["horizons"] if abs(x["horizon_s"] - h) < 1e-9)
print("at 1 s, median FDE px / share inside the 90 % ellipse; in-sample = shipped weights (fitted on the four first halves), LOSO = fitted on the other three sequences")
print()
print("| sequence | camera | camera motion | vigil in-sample | vigil LOSO | Kalman | constant position |")
print("|---|---|---|---|---|---|---|")
for seq in sorted(seqs, key=lambda s: (s in moving, s)):
    for cm in ["", "-cm"]:
        ins = row(f"{work}/{seq}-shipped{cm}.json", "vigil_tracks", "vigil tracker forecasts")
        loso = row(f"{work}/{seq}-loso{cm}.json", "vigil_tracks", "vigil tracker forecasts")
        kal = row(f"{work}/{seq}-loso{cm}.json", "vigil_tracks", "ByteTrack Kalman filter")
        still = row(f"{work}/{seq}-loso{cm}.json", "vigil_tracks", "constant position")
        best = min(kal["fde_median_px"], still["fde_median_px"])
        mark = "**" if loso["fde_median_px"] < best else ""
        print(f"| {seq} | {'moving' if seq in moving else 'static'} | {'given' if cm else 'no'} | "
              f"{ins['fde_median_px']:.1f} / {ins['inside_90']:.3f} | {mark}{loso['fde_median_px']:.1f}{mark} / {loso['inside_90']:.3f} | "
              f"{kal['fde_median_px']:.1f} | {still['fde_median_px']:.1f} |")
print()
print("on gt trajectories (the default model fed gt boxes):")
print()
print("| sequence | in-sample | LOSO | Kalman | constant position |")
print("|---|---|---|---|---|")
model = "vigil default (learned velocity, window spread)"
for seq in sorted(seqs, key=lambda s: (s in moving, s)):
    ins = row(f"{work}/{seq}-shipped.json", "ground_truth", model)
    loso = row(f"{work}/{seq}-loso.json", "ground_truth", model)
    kal = row(f"{work}/{seq}-loso.json", "ground_truth", "ByteTrack Kalman filter")
    still = row(f"{work}/{seq}-loso.json", "ground_truth", "constant position")
    print(f"| {seq} | {ins['fde_median_px']:.1f} / {ins['inside_90']:.3f} | {loso['fde_median_px']:.1f} / {loso['inside_90']:.3f} | "
          f"{kal['fde_median_px']:.1f} | {still['fde_median_px']:.1f} |")
PY
