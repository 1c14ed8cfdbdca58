# File: bench/common.sh
#
# Sourced by the live-write and broker benchmarks (ingest.sh, ingest_long.sh,
# broker.sh, broker_fetch.sh): the paths of the build's binaries and the
# default corpus, and scry processes started in the background.
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

# bench_start NAME ARGS...: runs `scry ARGS` on a free port of 127.0.0.1 in the
# background (pid in $WORK/NAME.pid, stderr in $OUT/NAME.log) and echoes
# HOST:PORT once it serves. bench_stop_all: SIGTERM to every one, then waits.
bench_start() {
  local name=$1; shift
  "$SCRY" "$@" --listen 127.0.0.1:0 --port-file "$WORK/$name.port" >/dev/null 2>"$OUT/$name.log" &
  echo $! >"$WORK/$name.pid"
  for _ in $(seq 600); do [ -s "$WORK/$name.port" ] && break; sleep 0.05; done
  echo "127.0.0.1:$(cat "$WORK/$name.port")"
}
bench_stop_all() {
  for f in "$WORK"/*.pid; do [ -e "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
