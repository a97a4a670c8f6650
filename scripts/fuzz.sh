#!/usr/bin/env bash
# Coverage-guided fuzzing of vigil's file parsers with libFuzzer (libfuzzer-sys), on the stable
# toolchain: the sanitizer-coverage instrumentation cargo-fuzz asks for is passed by hand, no
# nightly needed. Not run by CI (it takes minutes per target by design).
#
#   scripts/fuzz.sh                 every target, 600 s each
#   scripts/fuzz.sh 60 seqinfo      one target, 60 s
#
# Seeds come from the shared data (det/gt files, seqinfo.ini, coco.names) and configs/; the
# corpus grows in fuzz/corpus/TARGET, crashes land in fuzz/artifacts/TARGET, and a summary
# (executions, coverage, crashes) is appended to fuzz/report.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-600}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(mot_detections mot_eval seqinfo config_toml labels camera_motion)
shared=${VIGIL_SHARED:-$root/../shared}

bash scripts/bootstrap.sh
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# With --target, RUSTFLAGS reach only the fuzzed code, not build scripts and proc macros.
triple=$(rustc -vV | sed -n 's/^host: //p')
(cd fuzz && cargo build --release --bins --quiet --target "$triple")
bin=fuzz/target/$triple/release
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$root/.deps/onnxruntime/libonnxruntime.so}

seed() { # seed TARGET FILES...: up to 20 lines-limited copies of real files as the first corpus
  local dir=fuzz/corpus/$1; shift
  mkdir -p "$dir"
  local n=0
  for f in "$@"; do
    [[ -f $f ]] || continue
    head -c 4096 "$f" >"$dir/seed-$n"; n=$((n + 1))
  done
}
seed mot_detections $(ls "$shared"/mot/MOT17/*/det/*.txt 2>/dev/null | head -3)
seed mot_eval $(ls "$shared"/mot/MOT17/*/gt/gt.txt 2>/dev/null | head -3)
seed seqinfo $(ls "$shared"/mot/*/*/seqinfo.ini 2>/dev/null | head -5)
seed config_toml configs/*.toml
seed labels "$shared/models/coco.names"
seed camera_motion $(ls "$shared"/mot/MOT17/*/gmc/botsort.txt 2>/dev/null | head -4)

for t in "${targets[@]}"; do
  mkdir -p "fuzz/artifacts/$t"
  log=fuzz/artifacts/$t/run.log
  echo "fuzz: $t for ${seconds}s" >&2
  set +e
  "$bin/$t" "fuzz/corpus/$t" -max_total_time="$seconds" -max_len=8192 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" \
    >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
  crashes=$(find "fuzz/artifacts/$t" -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' | wc -l)
  line="$(date -u +%FT%TZ) $t seconds=$seconds executions=$execs coverage_edges=$cov features=$ft crashes=$crashes exit=$rc"
  echo "$line" | tee -a fuzz/report.txt
done
