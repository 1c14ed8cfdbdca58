# File: bench/common.sh
#
# Sourced by the live-write and broker benchmarks (ingest.sh, ingest_long.sh,
# broker.sh): the paths of the build's binaries and the default corpus.
#
#   source "$(dirname "$0")/common.sh"; bench_setup "${1:-}" "${2:-}"
#
# Sets ROOT, BUILD_DIR (env BUILD_DIR, default ROOT/build), SCRY, SCRY_LOAD,
# CORPUS (the given one, else ../shared/corpora/out/all.jsonl beside the
# repository, else /work/shared/corpora/out/all.jsonl, else
# /tmp/untuned2/docs.jsonl, else tests/data/sample.jsonl) and QUERIES (the
# given one, else CORPUS with .queries.tsv for .jsonl).
bench_setup() {
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  BUILD_DIR=$(realpath -m "${BUILD_DIR:-$ROOT/build}")
  SCRY=$BUILD_DIR/tools/scry
  SCRY_LOAD=$BUILD_DIR/bench/scry-load
  CORPUS=$1
  if [ -z "$CORPUS" ]; then
    for c in "$ROOT/../shared/corpora/out/all.jsonl" /work/shared/corpora/out/all.jsonl \
             /tmp/untuned2/docs.jsonl "$ROOT/tests/data/sample.jsonl"; do
      if [ -s "$c" ]; then CORPUS=$c; break; fi
    done
  fi
  CORPUS=$(realpath "$CORPUS")
  QUERIES=$(realpath -m "${2:-${CORPUS%.jsonl}.queries.tsv}")
}
