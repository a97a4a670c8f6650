#!/usr/bin/env bash
# The camera-motion estimate's trade-off (docs/TRACKER.md, "The estimate's cost"; README's
# 0.25 px against BoT-SORT's way's 0.48 px), for five settings: corners followed, their spacing,
# and whether the corners that fit are carried into the next frame or searched afresh each frame
# (BoT-SORT's way, first; the defaults, last):
#   accuracy  tests/motion.rs `carried_corners_measure_a_known_shake_better_than_botsorts_way`:
#             error against a 1080p window shaken across vtest.avi by a known shift (mean /
#             worst over 99 frame pairs), and MOT17-05's disagreement with BoT-SORT's maps
#   cost      `cargo bench --bench motion`: one estimate on the consecutive 1080p frames of
#             MOT17-mini/MOT17-04 (gt pedestrians masked), criterion's [low median high] time
#   scripts/motion_cost.sh     (builds in release; $VIGIL_SHARED or ../shared; about 2 minutes)
# The times are one in-process run on a shared machine: compare the rows of one run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export VIGIL_SHARED=${VIGIL_SHARED:-$root/../shared}
echo "motion_cost: $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
echo "accuracy (cargo test --release --test motion carried_corners -- --nocapture):"
cargo test --release --quiet --test motion carried_corners -- --nocapture 2>&1 |
  grep -E '^[0-9]+ corners|FAILED|panicked'
echo "cost (cargo bench --bench motion):"
cargo bench --quiet --bench motion -- --noplot 2>&1 |
  awk '/^motion\// {name = $0; sub(/ +time:.*/, "", name)}
       /time:/ {t = $0; sub(/.*time: */, "", t); print "  " name ": " t}'
