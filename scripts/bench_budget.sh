#!/usr/bin/env bash
# What the detection budget saves: CPU time (user + sys, /usr/bin/time) of `vigil track --json`
# with and without each saving, the two runs alternated, RUNS pairs, medians and the median of
# the per-pair ratios (README: --detect-every, --motion-gate).
#   1. vtest.avi (always moving): every frame against --detect-every 2 and --detect-every 3
#   2. vtest.avi with a 10 s freeze made by ffmpeg (frames 101-200 are frame 100 again, as in
#      tests/track_cli.rs): ungated against --motion-gate, and how many still / moving frames the
#      detector saw (JSON frames not marked "unchanged")
#   3. vtest.avi: ungated against --motion-gate (a scene that always moves: the gate's own cost)
#   4. the adaptive budget: `vigil bench vtest.avi --cameras 2 --realtime 4 --cpu-target 0.3
#      --runs 1`, its `detection budget` log lines (each step: camera, detect_every, load) and the
#      bench's row (the share of frames the detector saw)
#
#   scripts/bench_budget.sh [RUNS]      (default 3; needs a release build, $VIGIL_SHARED or ../shared)
# The machine is shared: quote the ratios, not the seconds alone.
source "$(dirname "$0")/figures_env.sh" budget
runs=${1:-3}
freeze=$work/freeze.mp4
[[ -f $freeze ]] || ffmpeg -v error -y -i "$vtest" -filter_complex \
  "[0:v]trim=end_frame=100,tpad=stop_mode=clone:stop_duration=10[a];[0:v]trim=start_frame=100:end_frame=200,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1[v]" \
  -map '[v]' -c:v libx264 -preset veryfast "$freeze"

cpu() { # cpu OUT.jsonl ARGS...: user+sys seconds of one `vigil track ARGS --json OUT`
  local json=$1; shift
  /usr/bin/time -f '%U %S' -o "$work/time.txt" "$vigil" --quiet track "$@" --json "$json" >/dev/null
  awk '{printf "%.2f\n", $1 + $2}' "$work/time.txt"
}
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

pair() { # pair LABEL "ARGS A" "ARGS B": RUNS alternated pairs, A first
  local label=$1 a=$2 b=$3 ta tb
  : >"$work/pairs.txt"
  for ((i = 0; i < runs; i++)); do
    # shellcheck disable=SC2086
    ta=$(cpu "$work/a.jsonl" $a)
    # shellcheck disable=SC2086
    tb=$(cpu "$work/b.jsonl" $b)
    echo "$ta $tb" >>"$work/pairs.txt"
  done
  printf '%s\n  A: vigil track %s\n  B: vigil track %s\n' "$label" "$a" "$b"
  printf '  A runs (s): %s\n  B runs (s): %s\n' "$(cut -d' ' -f1 "$work/pairs.txt" | xargs)" \
    "$(cut -d' ' -f2 "$work/pairs.txt" | xargs)"
  printf '  median user+sys: A %s s, B %s s; B/A per pair, median: %s\n' \
    "$(cut -d' ' -f1 "$work/pairs.txt" | median)" "$(cut -d' ' -f2 "$work/pairs.txt" | median)" \
    "$(awk '{printf "%.3f\n", $2 / $1}' "$work/pairs.txt" | median)"
}

echo "bench_budget: $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg), $runs pairs"
pair "detect every 2nd frame (vtest.avi)" "$vtest" "$vtest --detect-every 2"
pair "detect every 3rd frame (vtest.avi)" "$vtest" "$vtest --detect-every 3"
pair "motion gate, 10 s freeze (frames 101-200 still)" "$freeze" "$freeze --motion-gate"
python3 - "$work/b.jsonl" <<'PY'
import json, sys
frames = [json.loads(l) for l in open(sys.argv[1]) if '"frame"' in l[:10]]
seen = lambda f: not f.get("unchanged", False)
still = [f for f in frames if 101 <= f["frame"] <= 200]
moving = [f for f in frames if not 101 <= f["frame"] <= 200]
print(f"  detector ran on {sum(map(seen, still))} of {len(still)} still frames, "
      f"{sum(map(seen, moving))} of {len(moving)} moving ones")
PY
pair "motion gate on a scene that always moves (vtest.avi)" "$vtest" "$vtest --motion-gate"
echo "adaptive budget: vigil bench vtest.avi --cameras 2 --realtime 4 --cpu-target 0.3 --runs 1"
"$vigil" bench "$vtest" --cameras 2 --realtime 4 --cpu-target 0.3 --runs 1 2>&1 |
  sed -n 's/.*INFO detection budget /  /p; s/^ *2 *1 .*/  &/p'
echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg)"
