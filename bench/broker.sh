#!/usr/bin/env bash
# File: bench/broker.sh
#
# The broker's cost (issue 20): the same queries through one process serving
# every shard, and through `scry broker` over 1, 2 and 4 shard servers on
# 127.0.0.1, all from one index of SHARDS (4) shards.
#
#   bench/broker.sh [CORPUS.jsonl [QUERIES.tsv]]
#
# CORPUS defaults as bench/ingest.sh's; QUERIES to CORPUS with .queries.tsv
# for .jsonl. Every process is started once: `one` (scry serve --index),
# `b1` (a broker over one server of every shard), `b2` (over servers of
# shards 0,1 and 2,3), `b4` (over one server per shard). Each round (ROUNDS,
# 3) measures every setup in an order rotated round by round (nothing
# pinned): scry-load, CONCURRENCY (4) clients, SECONDS (5) of every query
# of QUERIES, then h2load (an independent client: bench/grpc_h2load.sh, N
# 3000 requests, 1 and 16 clients) on one AND query (H2_QUERY). Prints
# JSON lines and a Markdown summary: medians over rounds with the spread,
# and each setup's QPS and p50 over `one`'s. OUT (bench/out/broker),
# BUILD_DIR (build).
set -euo pipefail
source "$(dirname "$0")/common.sh"
bench_setup "${1:-}" "${2:-}"
ROUNDS=${ROUNDS:-3}
SECONDS_PER=${SECONDS:-5}
CONCURRENCY=${CONCURRENCY:-4}
N=${N:-3000}
H2_QUERY=${H2_QUERY:-$(awk -F'\t' '$1=="and" {print $2; exit}' "$QUERIES")}
OUT=$(realpath -m "${OUT:-$ROOT/bench/out/broker}")
WORK=$OUT/work
log() { echo "[broker $(date +%H:%M:%S)] $*" >&2; }

rm -rf "$WORK"; mkdir -p "$WORK"
log "indexing $CORPUS into 4 shards"
"$SCRY" index -q --input "$CORPUS" --index "$WORK/index" --shards 4
trap bench_stop_all EXIT
one=$(bench_start one serve --read-only --index "$WORK/index")
all=$(bench_start all serve --read-only --index "$WORK/index" --shards 0,1,2,3)
h01=$(bench_start h01 serve --read-only --index "$WORK/index" --shards 0,1)
h23=$(bench_start h23 serve --read-only --index "$WORK/index" --shards 2,3)
s0=$(bench_start s0 serve --read-only --index "$WORK/index" --shards 0)
s1=$(bench_start s1 serve --read-only --index "$WORK/index" --shards 1)
s2=$(bench_start s2 serve --read-only --index "$WORK/index" --shards 2)
s3=$(bench_start s3 serve --read-only --index "$WORK/index" --shards 3)
b1=$(bench_start b1 broker --backends "$all")
b2=$(bench_start b2 broker --backends "$h01,$h23")
b4=$(bench_start b4 broker --backends "$s0,$s1,$s2,$s3")
sleep 2  # the brokers' first health round
declare -A addr=([one]=$one [b1]=$b1 [b2]=$b2 [b4]=$b4)
setups=(one b1 b2 b4)
: > "$OUT/rounds.jsonl"
for round in $(seq "$ROUNDS"); do
  for i in 0 1 2 3; do
    name=${setups[$(( (i + round - 1) % 4 ))]}
    row=$("$SCRY_LOAD" --server "${addr[$name]}" --queries "$QUERIES" --concurrency "$CONCURRENCY" \
      --seconds "$SECONDS_PER" --warmup-seconds 1 --floor-seconds 0 2>/dev/null |
      python3 -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l)
    if r.get("type") == "search": print(r["p50_us"], r["p99_us"], r["qps"])')
    read -r p50 p99 qps <<< "$row"
    h2=$(N=$N CLIENTS="1 16" SCRY_LOAD=$SCRY_LOAD "$ROOT/bench/grpc_h2load.sh" "${addr[$name]}" \
      "and:$H2_QUERY" 2>/dev/null | python3 -c 'import re,sys
out = []
for l in sys.stdin:
    m = re.search(r"^Search.*clients\s+(\d+).*mean\s+([\d.]+) us.*?([\d.]+) req/s\s+failed (\d+)", l)
    if m and m.group(4) == "0": out += [m.group(1), m.group(2), m.group(3)]
print(" ".join(out))')
    echo "{\"round\":$round,\"setup\":\"$name\",\"p50_us\":$p50,\"p99_us\":$p99,\"qps\":$qps,\"h2load\":\"$h2\"}" |
      tee -a "$OUT/rounds.jsonl"
  done
done
python3 - "$OUT/rounds.jsonl" <<'PY' | tee "$OUT/report.md"
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
setups = ["one", "b1", "b2", "b4"]
names = {"one": "one process", "b1": "broker, 1 server", "b2": "broker, 2 servers", "b4": "broker, 4 servers"}
def med(xs): return f"{st.median(xs):,.0f} ({min(xs):,.0f}-{max(xs):,.0f})"
rounds = sorted({r["round"] for r in rows})
by = {(r["round"], r["setup"]): r for r in rows}
print("| setup | QPS | p50 µs | p99 µs | QPS / one | p50 / one | h2load 1 client mean µs | h2load 16 clients req/s |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for s in setups:
    rs = [by[(k, s)] for k in rounds if (k, s) in by]
    ratio_q = [by[(k, s)]["qps"] / by[(k, "one")]["qps"] for k in rounds]
    ratio_p = [by[(k, s)]["p50_us"] / by[(k, "one")]["p50_us"] for k in rounds]
    h1, h16 = [], []
    for r in rs:
        f = r["h2load"].split()
        # triples: clients mean_us req/s
        for j in range(0, len(f) - 2, 3):
            if f[j] == "1": h1.append(float(f[j + 1]))
            if f[j] == "16": h16.append(float(f[j + 2]))
    print(f"| {names[s]} | {med([r['qps'] for r in rs])} | {med([r['p50_us'] for r in rs])} | "
          f"{med([r['p99_us'] for r in rs])} | {st.median(ratio_q):.2f} ({min(ratio_q):.2f}-{max(ratio_q):.2f}) | "
          f"{st.median(ratio_p):.2f} ({min(ratio_p):.2f}-{max(ratio_p):.2f}) | "
          f"{med(h1) if h1 else '-'} | {med(h16) if h16 else '-'} |")
PY
