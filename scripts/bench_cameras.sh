#!/usr/bin/env bash
# Several cameras through one shared detector pool (README, "Scale"): N paced copies of VIDEO
# (`vigil bench VIDEO --cameras 1,2,4 --realtime 2.5 --runs RUNS`: vtest.avi is 10 fps, so each
# camera sends 25 fps), then the pool overloaded about 2× (`--cameras 4 --realtime 5.5`: 220 fps
# offered). Prints the bench's tables, then per camera count the range over the runs of the
# processed fps (all cameras together), drops, p50, p99 and max latency, and per run the
# fewest..most frames one camera got processed (the pool serves the cameras in turn).
#   scripts/bench_cameras.sh [RUNS] [VIDEO]    (default 2, vtest.avi; needs a release build)
# Each run lasts as long as the video at its paced rate (vtest.avi at 2.5×: 32 s).
source "$(dirname "$0")/figures_env.sh" cameras
runs=${1:-2}
video=${2:-$shared/videos/vtest.avi}
echo "bench_cameras: $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg)"
summary() { # summary BENCH_OUTPUT: one line per camera count, min–max over its runs
  awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ {gsub("ms", ""); print}' "$1" |
    awk '{n = $1; k[n]++; c[n] = $3
          if (!(n in seen)) {seen[n] = 1; order[++m] = n; for (i = 5; i <= 9; i++) {lo[n, i] = $i; hi[n, i] = $i}}
          for (i = 5; i <= 9; i++) {if ($i < lo[n, i]) lo[n, i] = $i; if ($i > hi[n, i]) hi[n, i] = $i}
          per[n] = per[n] " " $13}
         END {for (j = 1; j <= m; j++) {n = order[j]
           printf "%s camera(s), %d runs: fps(all) %s-%s, dropped %s-%s of %s, p50 %s-%s ms, p99 %s-%s ms, max %s-%s ms; per camera:%s\n",
             n, k[n], lo[n, 6], hi[n, 6], lo[n, 5], hi[n, 5], c[n], lo[n, 7], hi[n, 7], lo[n, 8], hi[n, 8], lo[n, 9], hi[n, 9], per[n]}}'
}
"$vigil" --quiet bench "$video" --cameras 1,2,4 --realtime 2.5 --runs "$runs" | tee "$work/scale.txt"
"$vigil" --quiet bench "$video" --cameras 4 --realtime 5.5 --runs "$runs" | tee "$work/overload.txt"
echo "at 25 fps a camera:"
summary "$work/scale.txt"
echo "overloaded (4 cameras at 55 fps each):"
summary "$work/overload.txt"
echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg)"
