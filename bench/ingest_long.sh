#!/usr/bin/env bash
# File: bench/ingest_long.sh
#
# A long live-write run (issue 19): the same documents written again and
# again to one running `scry serve` (every pass after the first replaces
# them all), to see whether disk use and the segment count stay bounded by
# the live documents or grow with the history of writes.
#
#   bench/ingest_long.sh [CORPUS.jsonl]
#
# CORPUS defaults as bench/ingest.sh's. Its first BASE_DOCS documents
# (default 2000) are bulk-built into the base index, the next DOCS (default
# 5000) are written PASSES times (default 10) with `scry write --batch BATCH
# --refresh` (BATCH 100), the server refreshing every REFRESH_MS (1000) and
# merging in the background with its defaults. After each pass and SETTLE_S
# seconds (default 5, for the merge thread): the number of segment
# directories, the bytes of the write log (INDEX/live), of the segments
# (INDEX/live-segments) and of the whole index directory, and the pass's
# docs/s. Then the server is restarted and timed until a Refresh returns
# (OUT/restart.jsonl): the log replayed, every live document searchable. One JSON line per pass, then a
# Markdown table. OUT (default bench/out/ingest_long), BUILD_DIR (build).
set -euo pipefail
source "$(dirname "$0")/common.sh"
bench_setup "${1:-}" ""
BASE_DOCS=${BASE_DOCS:-2000}
DOCS=${DOCS:-5000}
PASSES=${PASSES:-10}
BATCH=${BATCH:-100}
REFRESH_MS=${REFRESH_MS:-1000}
SETTLE_S=${SETTLE_S:-5}
OUT=$(realpath -m "${OUT:-$ROOT/bench/out/ingest_long}")
WORK=$OUT/work
log() { echo "[ingest_long $(date +%H:%M:%S)] $*" >&2; }
bytes() { if [ -e "$1" ]; then du -sb "$1" | cut -f1; else echo 0; fi; }

rm -rf "$WORK"; mkdir -p "$WORK"
head -n "$BASE_DOCS" "$CORPUS" > "$WORK/base.jsonl"
sed -n "$((BASE_DOCS + 1)),$((BASE_DOCS + DOCS))p" "$CORPUS" > "$WORK/live.jsonl"
docs=$(wc -l < "$WORK/live.jsonl")
log "corpus $CORPUS: base $BASE_DOCS docs, $docs written $PASSES times"
"$SCRY" index --input "$WORK/base.jsonl" --index "$WORK/index" >/dev/null 2>&1
base_bytes=$(bytes "$WORK/index")
"$SCRY" serve --index "$WORK/index" --listen 127.0.0.1:0 --port-file "$WORK/port" \
  --refresh-interval-ms "$REFRESH_MS" 2>"$OUT/serve.log" &
serve_pid=$!
trap 'kill -TERM $serve_pid 2>/dev/null || true' EXIT
for _ in $(seq 300); do [ -s "$WORK/port" ] && break; sleep 0.05; done
addr=127.0.0.1:$(cat "$WORK/port")
: > "$OUT/passes.jsonl"
for pass in $(seq "$PASSES"); do
  t0=$(date +%s.%N)
  "$SCRY" write --server "$addr" --batch "$BATCH" --refresh "$WORK/live.jsonl" >/dev/null 2>&1
  t1=$(date +%s.%N)
  sleep "$SETTLE_S"
  segs=$( (find "$WORK/index/live-segments" -mindepth 1 -maxdepth 1 -type d 2>/dev/null || true) | wc -l)
  line="{\"pass\":$pass,\"docs_per_s\":$(echo "scale=1; $docs / ($t1 - $t0)" | bc),\"segments\":$segs,\"log_bytes\":$(bytes "$WORK/index/live"),\"segment_bytes\":$(bytes "$WORK/index/live-segments"),\"index_bytes\":$(bytes "$WORK/index"),\"base_bytes\":$base_bytes}"
  echo "$line" | tee -a "$OUT/passes.jsonl"
done
kill -TERM "$serve_pid"; wait "$serve_pid" || true
# A restart: the time from the process's start until a Refresh returns
# (the log replayed and every live document searchable again).
rm -f "$WORK/port"
t0=$(date +%s.%N)
"$SCRY" serve --index "$WORK/index" --listen 127.0.0.1:0 --port-file "$WORK/port" \
  --refresh-interval-ms "$REFRESH_MS" 2>>"$OUT/serve.log" &
serve_pid=$!
for _ in $(seq 3000); do [ -s "$WORK/port" ] && break; sleep 0.01; done
"$SCRY" refresh --server 127.0.0.1:$(cat "$WORK/port") >/dev/null 2>&1
t1=$(date +%s.%N)
echo "{\"restart_to_searchable_s\":$(echo "$t1 - $t0" | bc | awk '{printf "%.3f", $1}'),\"live_docs\":$docs}" | tee "$OUT/restart.jsonl"
kill -TERM "$serve_pid"; wait "$serve_pid" || true
trap - EXIT
/usr/bin/python3 - "$OUT/passes.jsonl" "$OUT/restart.jsonl" <<'PY' | tee "$OUT/report.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
restart = json.loads(open(sys.argv[2]).read())
mb = lambda b: f"{b / 1e6:.1f}"
print("| pass | docs/s | segments | log MB | segments MB | index dir MB (base %s) |" % mb(rows[0]["base_bytes"]))
print("|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r['pass']} | {r['docs_per_s']:,.0f} | {r['segments']} | {mb(r['log_bytes'])} | "
          f"{mb(r['segment_bytes'])} | {mb(r['index_bytes'])} |")
print(f"\nrestart to searchable ({restart['live_docs']} live documents): "
      f"{restart['restart_to_searchable_s']:.2f} s")
PY
