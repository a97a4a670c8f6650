#!/usr/bin/env bash
# Set-up, release build, and `vigil track` on the bundled sample (vtest.avi: pedestrians on a plaza).
#   scripts/demo.sh [extra vigil track options]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh
cargo build --release --quiet
mkdir -p out
./target/release/vigil track .deps/data/vtest.avi \
  -o out/vtest.mp4 --mot out/vtest.txt --json out/vtest.jsonl "$@"
cat <<MSG

Outputs:
  annotated video  $root/out/vtest.mp4
  MOT tracks       $root/out/vtest.txt
  JSON Lines       $root/out/vtest.jsonl
MSG
