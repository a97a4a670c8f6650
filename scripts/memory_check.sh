#!/usr/bin/env bash
# Peak memory (max RSS, /usr/bin/time -v) of `vigil track` on vtest.avi scaled to 4K and 1080p
# (50 frames, made here with ffmpeg), with track outputs only and with annotated video too; then
# `vigil serve` with four 1080p cameras (the scaled vtest.avi, paced like cameras) recording JSON,
# video segments and snapshots, its RSS sampled for SECONDS. Prints one line per measurement.
#
#   scripts/memory_check.sh [SECONDS]      (default 60)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
shared=${VIGIL_SHARED:-$root/../shared}
vigil=${VIGIL:-$root/target/release/vigil}  # VIGIL=path measures another build
work=$root/out/memory
mkdir -p "$work"

clip() { # clip NAME WxH FRAMES
  [[ -f $work/$1.mp4 ]] || ffmpeg -v error -y -i "$shared/videos/vtest.avi" -frames:v "$3" \
    -vf "scale=$2" -c:v libx264 -preset veryfast "$work/$1.mp4"
}
clip 4k 3840:2160 50
clip 1080p 1920:1080 50
clip 1080p-long 1920:1080 795

peak() { # peak LABEL ARGS...: max RSS of one vigil run
  local label=$1; shift
  /usr/bin/time -v "$vigil" --quiet "$@" 2>"$work/time.txt" >/dev/null
  local kb
  kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
  printf '%-40s max RSS %4d MB\n' "$label" $((kb / 1024))
}
peak "vigil --version (the libraries alone)" --version
for res in 4k 1080p; do
  peak "track $res --json" track "$work/$res.mp4" --json "$work/$res.jsonl"
  peak "track $res --json -o (annotated video)" track "$work/$res.mp4" --json "$work/$res.jsonl" -o "$work/$res-out.mp4"
done

rm -rf "$work/rec"
cat >"$work/serve.toml" <<TOML
[http]
listen = "127.0.0.1:0"
[record]
dir = "$work/rec"
json = true
video = true
segment_s = 20
snapshots = true
[source]
realtime = true
TOML
for cam in a b c d; do printf '[cameras.%s]\nurl = "%s"\n' "$cam" "$work/1080p-long.mp4" >>"$work/serve.toml"; done
"$vigil" --quiet serve --config "$work/serve.toml" 2>"$work/serve.log" &
pid=$!
max=0
for ((i = 0; i < seconds; i++)); do
  sleep 1
  kill -0 "$pid" 2>/dev/null || break
  kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  ((kb > max)) && max=$kb
done
kill -TERM "$pid"; wait "$pid" || true
printf '%-40s max RSS %4d MB (sampled each second for %d s)\n' "serve: 4 cameras 1080p, recording" $((max / 1024)) "$seconds"
