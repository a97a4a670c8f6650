#!/usr/bin/env bash
# End to end against the Python reference (README, "Performance"): `vigil track VIDEO -o OUT.mp4`
# and `../shared/tools/pyref/run.sh VIDEO yolox_nano.onnx OUT.mp4 --threads 2` (OpenCV +
# onnxruntime + supervision ByteTrack, sequential), alternated, RUNS runs each in one sitting.
# Per run: each pipeline's own frames per second (from its first frame to its last, model load
# excluded: vigil's summary line, the reference's JSON line) and the whole process's wall time
# (/usr/bin/time). Prints the runs, the medians, and the median of the per-pair ratios.
#   scripts/bench_e2e_pyref.sh [RUNS] [VIDEO]     (default 3, vtest.avi; needs a release build,
#                                                  $VIGIL_SHARED or ../shared; run.sh makes its venv)
# The machine is shared: quote the ratio, not the fps alone.
source "$(dirname "$0")/figures_env.sh" e2e
runs=${1:-3}
video=${2:-$shared/videos/vtest.avi}
model=$shared/models/yolox_nano.onnx
"$shared/tools/pyref/run.sh" "$video" "$model" "$work/warmup.mp4" --max-frames 5 >/dev/null  # venv, caches

echo "load average at the start: $(cut -d" " -f1-3 /proc/loadavg)"
: >"$work/runs.txt"
for ((i = 1; i <= runs; i++)); do
  /usr/bin/time -f '%e' -o "$work/t.txt" "$vigil" --quiet track "$video" -o "$work/vigil.mp4" >"$work/vigil.log"
  vfps=$(sed -n 's/.*(\([0-9.]*\) fps).*/\1/p' "$work/vigil.log") vwall=$(cat "$work/t.txt")
  /usr/bin/time -f '%e' -o "$work/t.txt" "$shared/tools/pyref/run.sh" "$video" "$model" "$work/pyref.mp4" \
    --threads 2 >"$work/pyref.log"
  pfps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fps"])' "$work/pyref.log")
  pwall=$(cat "$work/t.txt")
  echo "$vfps $pfps $vwall $pwall" >>"$work/runs.txt"
  printf 'run %d: vigil %s fps (%s s wall), reference %s fps (%s s wall)\n' "$i" "$vfps" "$vwall" "$pfps" "$pwall"
done
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
col() { awk -v c="$1" '{print $c}' "$work/runs.txt" | median; }
echo "bench_e2e_pyref: $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average at the end $(cut -d" " -f1-3 /proc/loadavg), $(basename "$video"), $runs runs each"
printf 'median fps: vigil %s, reference %s; vigil/reference per pair, median: %s\n' "$(col 1)" "$(col 2)" \
  "$(awk '{printf "%.2f\n", $1 / $2}' "$work/runs.txt" | median)"
printf 'median wall s: vigil %s, reference %s; reference/vigil per pair, median: %s\n' "$(col 3)" "$(col 4)" \
  "$(awk '{printf "%.2f\n", $4 / $3}' "$work/runs.txt" | median)"
