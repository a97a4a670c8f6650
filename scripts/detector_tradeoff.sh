#!/usr/bin/env bash
# The detector trade-off table: each model × tiling scored by `vigil eval-det` on MOT17-mini
# (persons; `vigil track --dets` writes the boxes), and its speed: `vigil track --mot` frames per
# second on vtest.avi (768×576) and on vtest.avi scaled to 1080p (made here), 200 frames each.
#
#   scripts/detector_tradeoff.sh [RUNS]     (median of RUNS speed runs, default 3; 0: quality only)
#   MODELS=yolox_nano TILES="2x3 3x3" scripts/detector_tradeoff.sh    (other rows: the README's
#                                            2x3 and 3x3 rows; defaults: both models, off auto 2x2)
source "$(dirname "$0")/figures_env.sh" tradeoff
runs=${1:-3}
clip=$work/vtest-1080p.mp4
[[ -f $clip ]] || ffmpeg -v error -y -i "$shared/videos/vtest.avi" -frames:v 300 \
  -vf scale=1920:1080 -c:v libx264 -preset veryfast "$clip"

fps() { # fps INPUT ARGS...: median frames per second of RUNS runs
  local input=$1; shift
  for ((i = 0; i < runs; i++)); do
    "$vigil" track "$input" "$@" --max-frames 200 --mot "$work/speed.txt" 2>&1 | tail -1 |
      sed -n 's/.*(\([0-9.]*\) fps).*/\1/p'
  done | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

printf '| model | tiles | R@P80 %% | precision %% | recall %% | AP@0.5 %% | AP@0.5:0.95 %% | fps vtest | fps 1080p |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for model in ${MODELS:-yolox_nano yolov8n_int8}; do
  for tiles in ${TILES:-off auto 2x2}; do
    res=$work/$model-$tiles
    rm -rf "$res" && mkdir -p "$res"
    for seq in "$shared"/mot/MOT17-mini/*/; do
      name=$(basename "$seq")
      "$vigil" --quiet track "$seq" --model "$shared/models/$model.onnx" --classes person \
        --tiles "$tiles" --dets "$res/$name.txt" >/dev/null
    done
    "$vigil" --quiet eval-det --gt "$shared/mot/MOT17-mini" --res "$res" --json "$res.json" >/dev/null
    figures=$(python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['COMBINED']
print(' | '.join(f'{100 * c[k]:.1f}' for k in ['recall_at_p80', 'precision', 'recall', 'ap50', 'ap50_95']))" "$res.json")
    model_args=(--model "$shared/models/$model.onnx" --tiles "$tiles")
    printf '| %s | %s | %s | %s | %s |\n' "$model" "$tiles" "$figures" \
      "$(fps "$shared/videos/vtest.avi" "${model_args[@]}")" "$(fps "$clip" "${model_args[@]}")"
  done
done
