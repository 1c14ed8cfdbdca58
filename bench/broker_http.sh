#!/usr/bin/env bash
# File: bench/broker_http.sh
#
# The HTTP/JSON API against gRPC, for one process and through `scry broker`:
# the same searches sent by h2load (an independent client) to `one` (scry
# serve --index, every shard) and to `b2` (scry broker over servers of shards
# 0,1 and 2,3), each over gRPC and, right after, as POST /v1/search over
# HTTP/1.1 (bench/grpc_h2load.sh with HTTP=). One index of 4 shards.
#
#   bench/broker_http.sh [CORPUS.jsonl [QUERIES.tsv]]
#
# CORPUS and QUERIES default as bench/broker.sh's. Each round (ROUNDS, 3)
# measures both setups in an order rotated round by round (nothing pinned):
# N (3000) requests at 1 and 16 clients of the first AND query and the first
# OR query of QUERIES. Prints JSON lines and a Markdown summary: medians of
# req/s and mean latency over rounds with the spread, and the ratios
# HTTP/gRPC and broker/one. OUT (bench/out/broker_http), BUILD_DIR (build).
set -euo pipefail
source "$(dirname "$0")/common.sh"
bench_setup "${1:-}" "${2:-}"
ROUNDS=${ROUNDS:-3}
N=${N:-3000}
AND_QUERY=$(awk -F'\t' '$1=="and" {print $2; exit}' "$QUERIES")
OR_QUERY=$(awk -F'\t' '$1=="or" {print $2; exit}' "$QUERIES")
OUT=$(realpath -m "${OUT:-$ROOT/bench/out/broker_http}")
WORK=$OUT/work
log() { echo "[broker_http $(date +%H:%M:%S)] $*" >&2; }

rm -rf "$WORK"; mkdir -p "$WORK"
log "indexing $CORPUS into 4 shards"
"$SCRY" index -q --input "$CORPUS" --index "$WORK/index" --shards 4
trap bench_stop_all EXIT
one=$(bench_start one serve --read-only --index "$WORK/index" --http-listen 127.0.0.1:0 \
  --http-port-file "$WORK/one.http")
h01=$(bench_start h01 serve --read-only --index "$WORK/index" --shards 0,1)
h23=$(bench_start h23 serve --read-only --index "$WORK/index" --shards 2,3)
b2=$(bench_start b2 broker --backends "$h01,$h23" --http-listen 127.0.0.1:0 \
  --http-port-file "$WORK/b2.http")
sleep 2  # the broker's first health round
declare -A addr=([one]=$one [b2]=$b2)
declare -A http=([one]="127.0.0.1:$(cat "$WORK/one.http")" [b2]="127.0.0.1:$(cat "$WORK/b2.http")")
setups=(one b2)
: > "$OUT/rounds.jsonl"
for round in $(seq "$ROUNDS"); do
  for i in 0 1; do
    name=${setups[$(( (i + round - 1) % 2 ))]}
    log "round $round: $name"
    HTTP=${http[$name]} N=$N CLIENTS="1 16" SCRY_LOAD=$SCRY_LOAD "$ROOT/bench/grpc_h2load.sh" \
      "${addr[$name]}" "and:$AND_QUERY" "or:$OR_QUERY" 2>/dev/null |
      python3 -c 'import json, re, sys
for l in sys.stdin:
    m = re.search(r"^(HTTP )?Search (\w+) .*clients\s+(\d+).*mean\s+([\d.]+) us.*?([\d.]+) req/s\s+failed (\d+)", l)
    if not m: continue
    print(json.dumps({"round": int(sys.argv[1]), "setup": sys.argv[2],
                      "front": "http" if m.group(1) else "grpc", "query": m.group(2),
                      "clients": int(m.group(3)), "mean_us": float(m.group(4)),
                      "rps": float(m.group(5)), "failed": int(m.group(6))}))' "$round" "$name" |
      tee -a "$OUT/rounds.jsonl"
  done
done
python3 - "$OUT/rounds.jsonl" <<'PY' | tee "$OUT/report.md"
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
failed = sum(r["failed"] for r in rows)
def cell(xs, fmt="{:,.0f}"):
    return f"{fmt.format(st.median(xs))} ({fmt.format(min(xs))}-{fmt.format(max(xs))})"
def pick(setup, front, query, clients, key):
    return [r[key] for r in rows if (r["setup"], r["front"], r["query"], r["clients"]) ==
            (setup, front, query, clients)]
def ratio(a, b):  # per round, then the median
    return st.median([x / y for x, y in zip(a, b)])
print(f"failed requests: {failed}\n")
print("| query | clients | setup | gRPC req/s | HTTP req/s | HTTP/gRPC req/s | gRPC mean µs | HTTP mean µs |")
print("|---|---|---|---|---|---|---|---|")
for q in ("and", "or"):
    for c in (1, 16):
        for s in ("one", "b2"):
            g, h = pick(s, "grpc", q, c, "rps"), pick(s, "http", q, c, "rps")
            gl, hl = pick(s, "grpc", q, c, "mean_us"), pick(s, "http", q, c, "mean_us")
            if not g or not h: continue
            print(f"| {q} | {c} | {s} | {cell(g)} | {cell(h)} | {ratio(h, g):.2f} | {cell(gl)} | {cell(hl)} |")
print()
print("| query | clients | front | broker/one req/s |")
print("|---|---|---|---|")
for q in ("and", "or"):
    for c in (1, 16):
        for f in ("grpc", "http"):
            b, o = pick("b2", f, q, c, "rps"), pick("one", f, q, c, "rps")
            if b and o: print(f"| {q} | {c} | {f} | {ratio(b, o):.2f} |")
PY
