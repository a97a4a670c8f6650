#!/usr/bin/env bash
# What measuring the camera's motion costs (README, "A moving camera"; docs/TRACKER.md):
#   1. `vigil track vtest.avi --mot` with `[tracker] camera_motion` "off", "on" and "auto"
#      (a fixed camera), the three alternated, RUNS rounds: the median fps and CPU seconds
#      (user + sys, /usr/bin/time) of each, and the median per-round ratios on/off and auto/off
#      (CPU is the steadier of the two on a shared machine);
#   2. `vigil bench CLIP --frames 200 --runs 0 --config on.toml`, the `cam motion` stage's median ms on
#      vtest.avi scaled to 1080p (fixed) and on a 1080p window shaking across it (made by ffmpeg
#      as in tests/motion.rs `cost_by_configuration`), RUNS runs each, median of their medians.
#   scripts/bench_camera_motion.sh [RUNS]     (default 3; needs a release build)
source "$(dirname "$0")/figures_env.sh" camera_motion
runs=${1:-3}
for mode in off on auto; do printf '[tracker]\ncamera_motion = "%s"\n' "$mode" >"$work/$mode.toml"; done
[[ -f $work/fixed-1080p.mp4 ]] || ffmpeg -v error -y -i "$vtest" -frames:v 300 -vf scale=1920:1080 \
  -c:v libx264 -preset veryfast "$work/fixed-1080p.mp4"
[[ -f $work/shaking-1080p.mp4 ]] || ffmpeg -v error -y -i "$vtest" -frames:v 300 -vf \
  "scale=2048:1536,crop=w=1920:h=1080:x='64+60*sin(2*PI*t/0.6)':y='228+40*sin(2*PI*t/0.5)'" \
  -c:v libx264 -crf 16 "$work/shaking-1080p.mp4"
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

echo "bench_camera_motion: $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg)"
: >"$work/fps.txt"
: >"$work/cpu.txt"
for ((i = 1; i <= runs; i++)); do
  row="" cpus=""
  for mode in off on auto; do
    fps=$(/usr/bin/time -f '%U %S' -o "$work/time.txt" "$vigil" --quiet track "$vtest" \
      --mot "$work/$mode.txt" --config "$work/$mode.toml" | sed -n 's/.*(\([0-9.]*\) fps).*/\1/p')
    row="$row $fps" cpus="$cpus $(awk '{printf "%.2f", $1 + $2}' "$work/time.txt")"
  done
  echo "$row" >>"$work/fps.txt"
  echo "$cpus" >>"$work/cpu.txt"
  echo "round $i, vigil track vtest.avi --mot, off / on / auto: fps$row; CPU s$cpus"
done
summary() { # summary FILE WHAT: medians and per-round ratios
  printf 'median %s: off %s, on %s, auto %s; per round, median: on/off %s, auto/off %s\n' "$2" \
    "$(awk '{print $1}' "$1" | median)" "$(awk '{print $2}' "$1" | median)" \
    "$(awk '{print $3}' "$1" | median)" \
    "$(awk '{printf "%.3f\n", $2 / $1}' "$1" | median)" \
    "$(awk '{printf "%.3f\n", $3 / $1}' "$1" | median)"
}
summary "$work/fps.txt" fps
summary "$work/cpu.txt" "CPU s"

for clip in fixed-1080p shaking-1080p; do
  for ((i = 1; i <= runs; i++)); do
    "$vigil" --quiet bench "$work/$clip.mp4" --frames 200 --runs 0 --config "$work/on.toml" |
      awk '$1 == "cam" && $2 == "motion" {print $3}'
  done >"$work/$clip.ms"
  printf 'vigil bench %s --frames 200, cam motion median ms per run: %s; median %s\n' "$clip" \
    "$(xargs <"$work/$clip.ms")" "$(median <"$work/$clip.ms")"
done
echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg)"
