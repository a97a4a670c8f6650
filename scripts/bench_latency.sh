#!/usr/bin/env bash
# Live latency of one camera pushed past what the machine can detect (README, "Latency"):
# `vigil bench VIDEO --cameras 1 --realtime SPEED --runs RUNS`, the file paced at SPEED × its
# frame rate (vtest.avi is 10 fps: SPEED 22 offers 220 fps, about twice what a 2-core machine
# detects), MOT output. Prints the bench's own table, then the medians over the runs of p50, p99
# and the bound the bench computes in the same run (3 frame intervals + the mean preprocess +
# inference + tracking time of a frame), and how many runs kept p99 within it.
#   scripts/bench_latency.sh [RUNS] [SPEED] [VIDEO]    (default 3, 22, vtest.avi; release build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${1:-3}
speed=${2:-22}
shared=${VIGIL_SHARED:-$root/../shared}
video=${3:-$shared/videos/vtest.avi}
vigil=${VIGIL:-$root/target/release/vigil}
work=$root/out/latency
mkdir -p "$work"
echo "bench_latency: $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg)"
"$vigil" --quiet bench "$video" --cameras 1 --realtime "$speed" --runs "$runs" | tee "$work/bench.txt"
# Rows: cameras run captured processed dropped fps p50 p99 max proc bound (times end in "ms").
awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ {gsub("ms", ""); print}' "$work/bench.txt" >"$work/rows.txt"
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
col() { awk -v c="$1" '{print $c}' "$work/rows.txt" | median; }
printf 'median of %d runs: processed %s fps, dropped %s, p50 %s ms, p99 %s ms, max %s ms, proc %s ms, bound %s ms; p99 within the bound in %d of %d runs\n' \
  "$(wc -l <"$work/rows.txt")" "$(col 6)" "$(col 5)" "$(col 7)" "$(col 8)" "$(col 9)" "$(col 10)" "$(col 11)" \
  "$(awk '$8 <= $11' "$work/rows.txt" | wc -l)" "$(wc -l <"$work/rows.txt")"
echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg)"
