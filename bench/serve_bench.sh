#!/usr/bin/env bash
# File: bench/serve_bench.sh
#
# The server's own cost, per query type: one `scry serve` on INDEX
# (127.0.0.1, a free port), then ROUNDS rounds of
#   1. scry-load on every query of QUERIES at 1/4/16/64 clients, each level
#      with three phases in the same run: the same requests answered in
#      process (client "inproc": server/convert.h + Searcher::Search +
#      serialization, no gRPC), the floor (grpc.health.v1.Health/Check) and
#      Search through gRPC;
#   2. the phrases alone at 1 and 16 clients (saturation: phrases of common
#      words cost more than the floor);
#   3. h2load, the independent client, on the floor and one query per type
#      (H2_QUERIES) at 1 client and at 16 streams (4 connections x 4).
# Nothing is pinned. Output: every JSON line of scry-load (with "round" and
# "run" added) in OUT/serve_bench.jsonl, h2load's lines in OUT/h2load.txt,
# and a per-type table of medians over the rounds, with the spread, on stdout.
#
#   bench/serve_bench.sh INDEX QUERIES [OUT]
#
# Environment: ROUNDS (3), SECONDS_PER_PHASE (3, per phase and level), LEVELS
# ("1,4,16,64"), SERVE_FLAGS (extra `scry serve` flags), BUILD (build),
# H2_QUERIES (default: the issue's three queries), H2_N (5000 at 1 client;
# 4x at 16).
set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//;$d' >&2
  exit 2
fi
index=$1
queries=$2
out=${3:-$(mktemp -d)}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
rounds=${ROUNDS:-3}
seconds=${SECONDS_PER_PHASE:-3}
levels=${LEVELS:-1,4,16,64}
h2_n=${H2_N:-5000}
if [[ -z ${H2_QUERIES:-} ]]; then
  h2_queries=("and:engine memory" "or:moscow security cooperation treaty" "phrase:or pertaining to")
else
  read -r -a h2_queries <<<"$H2_QUERIES"
fi
mkdir -p "$out"
: >"$out/serve_bench.jsonl"
: >"$out/h2load.txt"

phrases="$out/phrases.tsv"
grep -P '^phrase\t' "$queries" >"$phrases" || true

port_file="$out/port"
rm -f "$port_file"
# shellcheck disable=SC2086
"$build/tools/scry" serve --index "$index" --listen 127.0.0.1:0 --port-file "$port_file" \
  ${SERVE_FLAGS:-} 2>"$out/serve.log" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  [[ -s $port_file ]] && break
  sleep 0.1
done
port=$(cat "$port_file")
target=127.0.0.1:$port

# load ROUND RUN QUERIES LEVELS [scry-load flags...]: scry-load, tagged lines.
load() {
  local round=$1 run=$2 q=$3 lv=$4
  shift 4
  "$build/bench/scry-load" --server "$target" --server-pid "$server_pid" --queries "$q" \
    --concurrency "$lv" --seconds "$seconds" --floor-seconds "$seconds" --warmup-seconds 1 \
    --in-process-index "$index" "$@" 2>/dev/null |
    sed "s/^{/{\"round\":$round,\"run\":\"$run\",/" >>"$out/serve_bench.jsonl"
}

for round in $(seq "$rounds"); do
  echo "round $round: $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  load "$round" all "$queries" "$levels"
  [[ -s $phrases ]] && load "$round" phrases "$phrases" 1,16
  for q in "health" "${h2_queries[@]}"; do
    for c in 1 16; do
      if [[ $c == 1 ]]; then flags=(-n "$h2_n" -c 1 -m 1); else flags=(-n $((4 * h2_n)) -c 4 -m 4); fi
      if [[ $q == health ]]; then
        "$build/bench/scry-load" --write-request-body "$out/body" --health
        path=/grpc.health.v1.Health/Check
      else
        "$build/bench/scry-load" --write-request-body "$out/body" --query "${q#*:}" \
          --query-type "${q%%:*}"
        path=/scry.v1.SearchService/Search
      fi
      line=$(h2load "${flags[@]}" -d "$out/body" -H 'content-type: application/grpc' \
        -H 'te: trailers' "http://$target$path" 2>/dev/null |
        awk '/^finished in/ {rps=$4} /^requests:/ {fail=$10} /^time for request:/ {mean=$6}
             END {print rps "\t" mean "\t" fail}')
      printf '%s\t%s\t%s\t%s\n' "$round" "$q" "$c" "$line" >>"$out/h2load.txt"
    done
  done
done
echo "done: $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$out/serve_bench.jsonl" "$out/h2load.txt" <<'EOF'
import json, statistics, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(xs):
    xs = sorted(xs)
    return statistics.median(xs), xs[0], xs[-1]
def fmt(t, unit=""):
    m, lo, hi = t
    return f"{m:,.1f}{unit} ({lo:,.1f}-{hi:,.1f})"
by = collections.defaultdict(list)
for r in rows:
    by[(r["run"], r["client"], r["concurrency"], r["type"])].append(r)
def get(run, client, c, typ, key):
    return [r[key] for r in by.get((run, client, c, typ), [])]
print("Per type, all queries, 1 client: medians over rounds (min-max)")
print("| type | in process mean | floor mean | gRPC mean | floor + 1.3 x in process | met |")
print("|---|---:|---:|---:|---:|---|")
for typ in ["and", "or", "phrase"]:
    inproc = get("all", "inproc", 1, typ, "mean_us")
    grpc = get("all", "async", 1, typ, "mean_us")
    floor = get("all", "async", 1, "health", "mean_us")
    if not inproc or not grpc or not floor:
        continue
    # the goal per round, then its median
    goals = [f + 1.3 * i for f, i in zip(floor, inproc)]
    met = sum(g <= goal for g, goal in zip(grpc, goals))
    print(f"| {typ} | {fmt(med(inproc))} µs | {fmt(med(floor))} µs | {fmt(med(grpc))} µs | "
          f"{fmt(med(goals))} µs | {met}/{len(goals)} rounds |")
print()
print("QPS by clients (all queries; gRPC per type is the type's share of the mixed run)")
levels = sorted({r["concurrency"] for r in rows if r["run"] == "all"})
print("| type | " + " | ".join(f"in process {c}" for c in levels) + " | " +
      " | ".join(f"gRPC {c}" for c in levels) + " |")
print("|---|" + "---:|" * (2 * len(levels)))
for typ in ["health", "and", "or", "phrase", "search"]:
    cells = []
    for client in ["inproc", "async"]:
        for c in levels:
            v = get("all", client, c, typ, "qps")
            cells.append(fmt(med(v)) if v else "—")
    print(f"| {typ} | " + " | ".join(cells) + " |")
print()
print("Phrases alone (saturation): QPS")
p1 = get("phrases", "inproc", 1, "phrase", "qps")
g16 = get("phrases", "async", 16, "phrase", "qps")
g1 = get("phrases", "async", 1, "phrase", "qps")
if p1 and g16:
    ratios = [g / p for g, p in zip(g16, p1)]
    print(f"in process, 1 thread: {fmt(med(p1))}; gRPC 1 client: {fmt(med(g1))}; "
          f"gRPC 16 clients: {fmt(med(g16))}; ratio 16 clients / in process 1 thread: "
          f"{fmt(med(ratios))}")
print()
print("h2load (independent client), medians over rounds (min-max); failed = HTTP failures")
print("| call | clients | req/s | mean latency per round | failed |")
print("|---|---:|---:|---|---:|")
h = collections.defaultdict(list)
for line in open(sys.argv[2]):
    f = line.rstrip("\n").split("\t")
    if len(f) >= 6 and f[3]:
        h[(f[1], int(f[2]))].append(f)
for (q, c), vals in sorted(h.items()):
    rps = [float(v[3]) for v in vals]
    print(f"| {q} | {c} | {fmt(med(rps))} | {', '.join(v[4] for v in vals)} | "
          f"{sum(int(v[5] or 0) for v in vals)} |")
EOF
