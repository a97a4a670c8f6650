#!/usr/bin/env bash
# Set-up, release build, and `vigil track` on the bundled sample (vtest.avi: pedestrians on a plaza).
# Installs only what the demo needs (no test servers or venvs: those are scripts/test.sh's), and
# prints each step with the time it took.
#   scripts/demo.sh [extra vigil track options]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf 'demo.sh: %s\n' "$*" >&2; }
start=$SECONDS
bash scripts/bootstrap.sh
say "set-up: $((SECONDS - start)) s"
step=$SECONDS
cargo build --release --quiet --bin vigil
say "release build: $((SECONDS - step)) s"
mkdir -p out
step=$SECONDS
./target/release/vigil track .deps/data/vtest.avi \
  -o out/vtest.mp4 --mot out/vtest.txt --json out/vtest.jsonl "$@"
say "tracking: $((SECONDS - step)) s; all: $((SECONDS - start)) s"
cat <<MSG

Outputs:
  annotated video  $root/out/vtest.mp4
  MOT tracks       $root/out/vtest.txt
  JSON Lines       $root/out/vtest.jsonl
MSG
