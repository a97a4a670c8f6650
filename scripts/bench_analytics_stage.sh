#!/usr/bin/env bash
# What forecasts and analytics cost against a whole frame (docs/PREDICTION.md, "Cost"):
# `vigil bench vtest.avi --frames 200 --runs 0 --config C`, C being a counting line, a zone and a
# homography on vtest.avi's plaza (written here), RUNS runs; per run the per-stage medians of
# `tracking` (the tracker with its forecasts and the analytics) and `inference`, and the sum of
# the stages' medians (one frame at a time); then the medians over the runs.
#   scripts/bench_analytics_stage.sh [RUNS]     (default 3; needs a release build)
source "$(dirname "$0")/figures_env.sh" analytics_stage
runs=${1:-3}
cat >"$work/scene.toml" <<'TOML'
[[analytics.lines]]
name = "middle"
points = [[0, 400], [768, 400]]

[[analytics.zones]]
name = "left"
points = [[100, 300], [400, 300], [400, 500], [100, 500]]

[analytics.homography]
image = [[100, 550], [700, 550], [550, 250], [250, 250]]
world = [[0, 0], [20, 0], [20, 30], [0, 30]]
TOML
echo "bench_analytics_stage: $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg)"
: >"$work/runs.txt"
for ((i = 1; i <= runs; i++)); do
  "$vigil" --quiet bench "$shared/videos/vtest.avi" --frames 200 --runs 0 --config "$work/scene.toml" |
    awk '$1 == "tracking" {t = $2} $1 == "inference" {n = $2} $1 == "sum" {s = $2}
         END {print t, n, s}' | tee -a "$work/runs.txt" |
    awk -v i="$i" '{printf "run %d: tracking %s ms, inference %s ms, all stages %s ms (tracking %.2f %% of a frame)\n", i, $1, $2, $3, 100 * $1 / $3}'
done
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
printf 'median: tracking %s ms, inference %s ms, all stages %s ms\n' "$(awk '{print $1}' "$work/runs.txt" | median)" \
  "$(awk '{print $2}' "$work/runs.txt" | median)" "$(awk '{print $3}' "$work/runs.txt" | median)"
