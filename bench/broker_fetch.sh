#!/usr/bin/env bash
# File: bench/broker_fetch.sh
#
# Query then fetch (issue 20): searches that ask for stored fields and
# snippets, through `scry broker` over one server per shard with the fetch
# round (the default) and without it (--no-query-then-fetch), and from one
# process serving every shard, on an index of 4 shards.
#
#   bench/broker_fetch.sh INDEX_DIR [QUERIES.tsv]
#
# INDEX_DIR: a 4-shard index (bench/broker.sh leaves one in OUT/work/index).
# Each round (ROUNDS, 3) runs every setup in an order rotated round by round,
# nothing pinned: scry-load (CONCURRENCY 4 clients, SECONDS 5, every query,
# top 10, REQUEST_JSON members: body and a body snippet by default), then
# h2load (1 client, N 2000 requests of the file's first OR query with the same
# members): its mean time per request. Prints JSON lines and a Markdown
# summary: medians with min-max, ratios per round over `one`. QUERIES: the
# default corpus's (bench/common.sh). OUT (bench/out/broker_fetch), BUILD_DIR
# (build).
set -euo pipefail
source "$(dirname "$0")/common.sh"
INDEX=$(realpath "${1:?usage: bench/broker_fetch.sh INDEX_DIR [QUERIES.tsv]}")
bench_setup "" "${2:-}"  # QUERIES: the default corpus's
ROUNDS=${ROUNDS:-3} SECONDS_PER=${SECONDS:-5} CONCURRENCY=${CONCURRENCY:-4} N=${N:-2000}
REQUEST_JSON=${REQUEST_JSON:-'{"fields": ["body"], "highlight": {"fields": ["body"]}}'}
OUT=$(realpath -m "${OUT:-$ROOT/bench/out/broker_fetch}")
WORK=$OUT/work
rm -rf "$WORK"; mkdir -p "$WORK"
: >"$OUT/rounds.jsonl"
trap bench_stop_all EXIT
one=$(bench_start one serve --read-only --index "$INDEX")
backends=""
for s in 0 1 2 3; do
  backends+="${backends:+,}$(bench_start "s$s" serve --read-only --index "$INDEX" --shards "$s")"
done
fetch=$(bench_start fetch broker --backends "$backends")
single=$(bench_start single broker --backends "$backends" --no-query-then-fetch)
sleep 2  # the brokers' first health round
declare -A ADDR=([one]=$one [fetch]=$fetch [single]=$single)
SETUPS=(one fetch single)
H2_QUERY=$(awk -F'\t' '$1 == "or" { print $2; exit }' "$QUERIES")
"$SCRY_LOAD" --write-request-body "$WORK/body.bin" --query "$H2_QUERY" --query-type or \
  --request-json "$REQUEST_JSON"
for round in $(seq "$ROUNDS"); do
  for i in 0 1 2; do
    setup=${SETUPS[$(((i + round) % 3))]}
    line=$("$SCRY_LOAD" --server "${ADDR[$setup]}" --queries "$QUERIES" --concurrency "$CONCURRENCY" \
      --seconds "$SECONDS_PER" --warmup-seconds 1 --floor-seconds 0 --request-json "$REQUEST_JSON" \
      2>/dev/null | grep '"type":"search"' | head -1)
    h2=$(h2load -n "$N" -c 1 -d "$WORK/body.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
      "http://${ADDR[$setup]}/scry.v1.SearchService/Search" 2>&1 |
      awk '/^time for request:/ { v = $6; if (v ~ /us$/) m = v + 0; else if (v ~ /ms$/) m = v * 1000;
                                   else m = v * 1000000 } END { print m + 0 }')
    echo "${line%\}},\"setup\":\"$setup\",\"round\":$round,\"h2load_mean_us\":$h2}" | tee -a "$OUT/rounds.jsonl"
  done
done
python3 - "$OUT/rounds.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def get(setup, key):
    return {r["round"]: r[key] for r in rows if r["setup"] == setup}
def med(xs):
    xs = sorted(xs); return statistics.median(xs), xs[0], xs[-1]
print("| setup | QPS | p50 µs | p99 µs | QPS / one | p50 / one | h2load mean µs | h2load / one |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for setup in ["one", "fetch", "single"]:
    cells = []
    for key in ["qps", "p50_us", "p99_us"]:
        m, lo, hi = med(get(setup, key).values()); cells.append(f"{m:,.0f} ({lo:,.0f}-{hi:,.0f})")
    for key in ["qps", "p50_us"]:
        a, b = get(setup, key), get("one", key)
        m, lo, hi = med([a[r] / b[r] for r in a]); cells.append(f"{m:.2f} ({lo:.2f}-{hi:.2f})")
    m, lo, hi = med(get(setup, "h2load_mean_us").values()); cells.append(f"{m:,.0f} ({lo:,.0f}-{hi:,.0f})")
    a, b = get(setup, "h2load_mean_us"), get("one", "h2load_mean_us")
    m, lo, hi = med([a[r] / b[r] for r in a]); cells.append(f"{m:.2f} ({lo:.2f}-{hi:.2f})")
    print(f"| {setup} | " + " | ".join(cells) + " |")
PY
