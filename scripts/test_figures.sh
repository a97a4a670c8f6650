#!/usr/bin/env bash
# The figures the docs quote from tests: runs the tests that print them (release build,
# --nocapture) and shows only the printed figures, one test at a time:
#   camera_motion_cli  identities and identity switches on a shaking window of vtest.avi, and the
#                      lag's agreement there (README "A moving camera", docs/TRACKER.md)
#   analytics_cli      line counts against gt, time to crossing (docs/PREDICTION.md)
#   predict            forecast error against ByteTrack's Kalman filter at 1 s and 2 s
#   eval_det_cli       recall at 80 % precision on MOT17-mini (README "Detection quality")
#   detections_cli     --detect-every on the val half; camera motion from BoT-SORT's maps
#   motion             live camera motion against BoT-SORT's maps on MOT17-mini
#   detector_golden    the detector against the Python reference (scripts/golden/): worst corner
#   scripts/test_figures.sh      (needs $VIGIL_SHARED or ../shared; a few minutes on 2 cores)
# Each test also asserts its bound; a failing one is reported and the others still run.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export VIGIL_SHARED=${VIGIL_SHARED:-$root/../shared}
echo "test_figures: $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
status=0
run() { # run TEST FILTER
  echo "== cargo test --release --test $1 $2"
  cargo test --release --quiet --test "$1" -- --nocapture --test-threads 1 "$2" 2>&1 |
    sed 's/^\.*//' | grep -vE '^(running [0-9]+ tests?|test result.*|)$|vigil corner shift|^test .* \.\.\. ok$'
  [[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "   (FAILED)"; status=1; }
}
run camera_motion_cli a_shaking_camera_keeps_its_identities_when_its_motion_is_measured
run camera_motion_cli the_output_lag_fills_and_smooths_along_the_cameras_motion
run analytics_cli line_counts_from_tracks_match_counts_from_ground_truth
run analytics_cli time_to_cross_predicted_one_second_ahead_on_ground_truth
run predict ""
run eval_det_cli ""
run detections_cli detecting_every_second_frame
run detections_cli camera_motion_from_a_file_helps_a_moving_camera
run motion a_walking_camera_agrees_with_botsort
run motion static_cameras_come_out_near_the_identity
run detector_golden ""
exit $status
