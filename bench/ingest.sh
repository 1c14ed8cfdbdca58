#!/usr/bin/env bash
# File: bench/ingest.sh
#
# Live ingest (issue 19): documents written to a running `scry serve`
# through gRPC while searches run, against the bulk builder and SQLite FTS5
# incremental inserts of the same documents.
#
#   bench/ingest.sh [CORPUS.jsonl [QUERIES.tsv]]
#
# CORPUS defaults to ../shared/corpora/out/all.jsonl (beside the main repo)
# if present, else /tmp/untuned2/docs.jsonl, else tests/data/sample.jsonl;
# QUERIES to CORPUS with .queries.tsv for .jsonl. The first BASE_PCT % of
# the documents (default 1) are bulk-built into a base index; the rest is
# what every engine ingests. Each round, in an order rotated round by round
# (nothing pinned):
#   live  `scry serve` on a copy of the base index (--refresh-interval-ms
#         REFRESH_MS, default 1000; --wal-sync always, the default): search
#         p50/p99 idle (scry-load, CONCURRENCY clients, SEARCH_SECONDS); then
#         `scry write --batch BATCH --refresh` of the rest (one WriteStream,
#         the rate counts until the final Refresh returned: docs searchable)
#         while scry-load runs back to back windows of 2 s (during-ingest
#         p50/p99: the median over windows, and the worst window's p99);
#         the segment count (directories under INDEX/live-segments) and
#         `du` of the index every second; then refresh-to-visible
#         (bench/ingest_probe.py visible: a document with a token of its own,
#         searched every 2 ms from its acknowledgement; SAMPLES samples);
#   bulk  `scry index` of the rest (docs/s of the whole build);
#   fts5  python3's sqlite3, fts5(porter unicode61) as
#         ../shared/peers/src/fts5_bench.c, one commit per BATCH documents.
# Prints one JSON line per round and measure, then a Markdown summary:
# medians over ROUNDS (default 3) with the spread (min-max) and the ratios.
# Environment: ROUNDS, BATCH (100), BASE_PCT (1), REFRESH_MS (1000),
# CONCURRENCY (2), SEARCH_SECONDS (5), SAMPLES (30), H2LOAD=1 also runs
# bench/grpc_h2load.sh on one query idle and during a second ingest of the
# same documents (OUT/h2load-idle-R.txt, OUT/h2load-during-R.txt),
# OUT (default bench/out/ingest), BUILD_DIR (build), PYTHON3 (/usr/bin/python3).
set -euo pipefail
source "$(dirname "$0")/common.sh"
bench_setup "${1:-}" "${2:-}"
ROUNDS=${ROUNDS:-3}
BATCH=${BATCH:-100}
BASE_PCT=${BASE_PCT:-1}
REFRESH_MS=${REFRESH_MS:-1000}
CONCURRENCY=${CONCURRENCY:-2}
SEARCH_SECONDS=${SEARCH_SECONDS:-5}
SAMPLES=${SAMPLES:-30}
PY=${PYTHON3:-/usr/bin/python3}  # Debian's: python3-grpcio, sqlite3 with FTS5
OUT=$(realpath -m "${OUT:-$ROOT/bench/out/ingest}")
WORK=$OUT/work
log() { echo "[ingest $(date +%H:%M:%S)] $*" >&2; }
now() { date +%s.%N; }
mkdir -p "$WORK"
: >"$OUT/rounds.jsonl"
emit() { echo "$1" | tee -a "$OUT/rounds.jsonl"; }

# --- corpus split --------------------------------------------------------
total=$(grep -c . "$CORPUS")
base=$(( total * BASE_PCT / 100 ))
[ "$base" -ge 1 ] || base=1
rest=$(( total - base ))
awk -v b="$base" 'NF && ++n <= b' "$CORPUS" >"$WORK/base.jsonl"
awk -v b="$base" 'NF && ++n > b' "$CORPUS" >"$WORK/rest.jsonl"
log "corpus $CORPUS: $total documents, base $base, ingested $rest; queries $QUERIES"
rm -rf "$WORK/base-index"
"$SCRY" index -q --input "$WORK/base.jsonl" --index "$WORK/base-index"

# The "search" row (all queries) of a scry-load run: p50 p99 qps.
load_row() {
  "$SCRY_LOAD" --server "$1" --queries "$QUERIES" --concurrency "$CONCURRENCY" \
    --seconds "$2" --warmup-seconds "${3:-1}" --floor-seconds 0 2>/dev/null |
    "$PY" -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l)
    if r.get("type") == "search": print(r["p50_us"], r["p99_us"], r["qps"])'
}

run_live() {
  local round=$1 dir=$WORK/live port_file=$WORK/live.port
  rm -rf "$dir" "$port_file"
  cp -a "$WORK/base-index" "$dir"
  "$SCRY" serve --index "$dir" --listen 127.0.0.1:0 --port-file "$port_file" \
    --refresh-interval-ms "$REFRESH_MS" 2>"$OUT/serve-$round.log" &
  local serve_pid=$!
  for _ in $(seq 300); do [ -s "$port_file" ] && break; sleep 0.05; done
  local addr=127.0.0.1:$(cat "$port_file")
  read -r idle_p50 idle_p99 idle_qps < <(load_row "$addr" "$SEARCH_SECONDS" 2)
  emit "{\"round\":$round,\"measure\":\"idle\",\"p50_us\":$idle_p50,\"p99_us\":$idle_p99,\"qps\":$idle_qps}"

  # Segments and disk use every second while the writes go in.
  ( while :; do
      segs=$( (find "$dir/live-segments" -mindepth 1 -maxdepth 1 -type d 2>/dev/null || true) | wc -l)
      echo "$(now) $segs $(du -sb "$dir" | cut -f1)"
      sleep 1
    done ) >"$OUT/segments-$round.txt" &
  local sampler_pid=$!
  local t0; t0=$(now)
  "$SCRY" write --server "$addr" --batch "$BATCH" --refresh "$WORK/rest.jsonl" \
    >"$OUT/write-$round.log" 2>&1 &
  local write_pid=$!
  : >"$WORK/during.txt"
  while kill -0 "$write_pid" 2>/dev/null; do
    load_row "$addr" 2 0 >>"$WORK/during.txt" || true
  done
  wait "$write_pid"
  local t1; t1=$(now)
  kill "$sampler_pid"; wait "$sampler_pid" 2>/dev/null || true
  local during
  during=$("$PY" -c 'import sys,statistics as s
rows=[list(map(float,l.split())) for l in open(sys.argv[1]) if l.strip()]
print(len(rows), s.median(r[0] for r in rows), s.median(r[1] for r in rows), max(r[1] for r in rows))' \
    "$WORK/during.txt")
  read -r windows during_p50 during_p99 worst_p99 <<<"$during"
  local seg_end du_end
  seg_end=$(find "$dir/live-segments" -mindepth 1 -maxdepth 1 -type d | wc -l)
  du_end=$(du -sb "$dir" | cut -f1)
  emit "{\"round\":$round,\"measure\":\"ingest\",\"docs\":$rest,\"seconds\":$(echo "$t1 - $t0" | bc),\"docs_per_s\":$(echo "scale=1; $rest / ($t1 - $t0)" | bc),\"windows\":$windows,\"p50_us\":$during_p50,\"p99_us\":$during_p99,\"worst_window_p99_us\":$worst_p99,\"segments\":$seg_end,\"index_bytes\":$du_end,\"base_bytes\":$(du -sb "$WORK/base-index" | cut -f1)}"
  if [ "${H2LOAD:-0}" = 1 ]; then
    # The independent client on one query: idle, then during a second
    # ingest of the same documents (every one a replacement). H2LOAD here
    # is this script's switch; grpc_h2load.sh takes the binary's name.
    local q; q=$(awk -F'\t' 'NR == 1 { print $1 ":" $2 }' "$QUERIES")
    H2LOAD=h2load N=5000 CLIENTS=$CONCURRENCY "$ROOT/bench/grpc_h2load.sh" "$addr" "$q" \
      >"$OUT/h2load-idle-$round.txt" 2>&1 || true
    "$SCRY" write --server "$addr" --batch "$BATCH" --refresh "$WORK/rest.jsonl" \
      >"$OUT/write-again-$round.log" 2>&1 &
    local again=$!
    sleep 1
    H2LOAD=h2load N=5000 CLIENTS=$CONCURRENCY "$ROOT/bench/grpc_h2load.sh" "$addr" "$q" \
      >"$OUT/h2load-during-$round.txt" 2>&1 || true
    if kill -0 "$again" 2>/dev/null; then
      echo "h2load finished while the second ingest ran" >>"$OUT/h2load-during-$round.txt"
    else
      echo "WARNING: the second ingest ended before h2load did" >>"$OUT/h2load-during-$round.txt"
    fi
    wait "$again" || true
  fi
  local vis
  vis=$("$PY" "$ROOT/bench/ingest_probe.py" visible "$addr" "$ROOT/proto" "$SAMPLES")
  emit "{\"round\":$round,\"measure\":\"visible\",\"refresh_ms\":$REFRESH_MS,${vis#\{}"
  kill -TERM "$serve_pid"; wait "$serve_pid" || true
}

run_bulk() {
  rm -rf "$WORK/bulk"
  local t0 t1; t0=$(now)
  "$SCRY" index -q --input "$WORK/rest.jsonl" --index "$WORK/bulk"
  t1=$(now)
  emit "{\"round\":$1,\"measure\":\"bulk\",\"docs\":$rest,\"seconds\":$(echo "$t1 - $t0" | bc),\"docs_per_s\":$(echo "scale=1; $rest / ($t1 - $t0)" | bc)}"
}

run_fts5() {
  local r; r=$("$PY" "$ROOT/bench/ingest_probe.py" fts5 "$WORK/rest.jsonl" "$WORK/fts.db" "$BATCH")
  emit "{\"round\":$1,\"measure\":\"fts5\",${r#\{}"
}

engines=(live bulk fts5)
for round in $(seq 1 "$ROUNDS"); do
  for i in 0 1 2; do
    e=${engines[$(( (i + round - 1) % 3 ))]}
    log "round $round: $e"
    "run_$e" "$round"
  done
done

"$PY" - "$OUT/rounds.jsonl" "$OUT/segments-1.txt" <<'PY' | tee "$OUT/report.md"
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def get(measure, key):
    return [r[key] for r in rows if r["measure"] == measure]
def fmt(v, unit=""):
    return f"{st.median(v):,.1f}{unit} ({min(v):,.1f}-{max(v):,.1f})"
live, bulk, fts = get("ingest", "docs_per_s"), get("bulk", "docs_per_s"), get("fts5", "docs_per_s")
print(f"| measure | median (min-max) over {len(live)} rounds |\n|---|---|")
print(f"| live ingest through gRPC, docs/s | {fmt(live)} |")
print(f"| bulk build (`scry index`), docs/s | {fmt(bulk)} |")
print(f"| SQLite FTS5 incremental, docs/s | {fmt(fts)} |")
print(f"| live / bulk | {st.median(live) / st.median(bulk):.2f} |")
print(f"| live / FTS5 | {st.median(live) / st.median(fts):.2f} |")
ip50, ip99 = get("idle", "p50_us"), get("idle", "p99_us")
dp50, dp99 = get("ingest", "p50_us"), get("ingest", "p99_us")
print(f"| search p50 idle, µs | {fmt(ip50)} |")
print(f"| search p50 during ingest, µs | {fmt(dp50)} |")
print(f"| search p99 idle, µs | {fmt(ip99)} |")
print(f"| search p99 during ingest (median window), µs | {fmt(dp99)} |")
print(f"| search p99 during ingest, worst 2 s window, µs | {fmt(get('ingest', 'worst_window_p99_us'))} |")
print(f"| p99 during / idle | {st.median(dp99) / st.median(ip99):.2f} |")
print(f"| refresh-to-visible p50, ms | {fmt(get('visible', 'p50_ms'))} |")
print(f"| refresh-to-visible p99, ms | {fmt(get('visible', 'p99_ms'))} |")
print(f"| refresh-to-visible max, ms | {fmt(get('visible', 'max_ms'))} |")
print(f"| segments at the end of the ingest | {fmt(get('ingest', 'segments'))} |")
print(f"| index bytes at the end (base index alone) | {fmt(get('ingest', 'index_bytes'))} ({rows[0].get('base_bytes', '') or get('ingest', 'base_bytes')[0]:,}) |")
samples = [l.split() for l in open(sys.argv[2]) if l.strip()]
if samples:
    t0 = float(samples[0][0])
    print("\nRound 1 over time (s: segments, index MB): " + ", ".join(
        f"{float(t) - t0:.0f}: {s}, {int(b) / 1e6:.1f}" for t, s, b in samples))
PY
