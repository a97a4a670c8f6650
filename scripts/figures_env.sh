# Sourced by the scripts that measure the docs' figures (scripts/bench_*.sh, tracking_quality.sh,
# eval_det_valhalf.sh, detector_tradeoff.sh): the repository root as working folder, the shared
# data, the release binary, and out/NAME for their files.
#   source "$(dirname "$0")/figures_env.sh" NAME
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
shared=${VIGIL_SHARED:-$root/../shared}
vigil=${VIGIL:-$root/target/release/vigil}
work=$root/out/$1
mkdir -p "$work"
vtest=$shared/videos/vtest.avi
