#!/usr/bin/env bash
# File: bench/typed.sh
#
# What filters, facets and sort cost against the plain query (issue 21): the
# corpus gets typed members derived from a hash of each id (a keyword
# `section` of 8 values, one or two per document; an int64 `year`, 1990-2024;
# a double `price`), is indexed with that schema, and one `scry serve` answers
# scry-load (1 client, closed loop) for the corpus's queries under each
# variant of the same requests, the variants interleaved round by round (the
# order rotated by one each round):
#
#   plain        the queries as they are (dynamic pruning)
#   exact        exact_total_hits (exhaustive: what facets and sort cost at least)
#   filter_1/8   filter "section:s3" (about 1 document in 6 passes)
#   filter_6/7   filter "year:[1990 TO 2019]" (about 6 in 7 pass)
#   facets       a keyword facet (section) and a 3-range facet (year)
#   sort         sort by year descending
#
#   ROUNDS=3 SECONDS=5 OUT=/tmp/typed bench/typed.sh [CORPUS.jsonl [QUERIES.tsv]]
#
# Prints, per variant, QPS (median of the rounds, with min-max) and its QPS,
# p50 and p99 over the plain query's (each ratio taken within a round, then
# the median of the rounds with min-max); the raw scry-load JSON lines are in
# OUT/rounds.jsonl. The independent client too: h2load (nghttp2-client), 1
# connection, H2N requests (2000) of the first OR query of the file with the
# variant's members, right after scry-load in each round: its mean latency.
# Corpus default as bench/common.sh.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bench_setup "${1:-}" "${2:-}"
ROUNDS=${ROUNDS:-3}
SECONDS_PER=${SECONDS:-5}
OUT=$(realpath -m "${OUT:-/tmp/scry_typed}")
SHARDS=${SHARDS:-2}
mkdir -p "$OUT"
rm -rf "$OUT/index" "$OUT/rounds.jsonl"

python3 - "$CORPUS" "$OUT/typed.jsonl" <<'EOF'
import hashlib, json, sys
with open(sys.argv[1], encoding="utf-8") as src, open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in src:
        line = line.strip()
        if not line:
            continue
        d = json.loads(line)
        h = int(hashlib.sha256(d["id"].encode()).hexdigest(), 16)
        sections = ["s%d" % (h % 8)]
        if (h >> 3) % 4 == 0:
            sections.append("s%d" % ((h >> 6) % 8))
        d["section"] = sections
        d["year"] = 1990 + (h >> 12) % 35
        d["price"] = ((h >> 24) % 100000) / 100
        out.write(json.dumps(d, ensure_ascii=False) + "\n")
EOF
echo '{"fields": {"section": "keyword", "year": "int64", "price": "double"}}' >"$OUT/schema.json"
"$SCRY" index -q --input "$OUT/typed.jsonl" --index "$OUT/index" --shards "$SHARDS" \
  --schema "$OUT/schema.json"

"$SCRY" serve --index "$OUT/index" --listen 127.0.0.1:0 --port-file "$OUT/port" \
  2>"$OUT/serve.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$OUT/port" ] && break; sleep 0.1; done
PORT=$(cat "$OUT/port")

declare -A VARIANTS=(
  [plain]='{}'
  [exact]='{"exact_total_hits": true}'
  [filter_1/8]='{"filter": "section:s3"}'
  [filter_6/7]='{"filter": "year:[1990 TO 2019]"}'
  [facets]='{"facets": [{"field": "section"}, {"field": "year", "ranges": ["[* TO 2000}", "[2000 TO 2010}", "[2010 TO *]"]}]}'
  [sort]='{"sort": [{"field": "year", "descending": true}]}'
)
ORDER=(plain exact filter_1/8 filter_6/7 facets sort)

H2N=${H2N:-2000}
H2_QUERY=$(awk -F'\t' '$1 == "or" { print $2; exit }' "$QUERIES")
h2_mean_us() {  # h2load's mean time per request in µs, for the body $1
  h2load -n "$H2N" -c 1 -d "$1" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$PORT/scry.v1.SearchService/Search" 2>&1 |
    awk '/^time for request:/ { v = $6; if (v ~ /us$/) m = v + 0; else if (v ~ /ms$/) m = v * 1000;
                                 else m = v * 1000000 } END { print m + 0 }'
}

for round in $(seq "$ROUNDS"); do
  # The order rotated by one variant each round, so that no variant always
  # runs first (on a cold cache) or right after the same other.
  for i in "${!ORDER[@]}"; do
    v=${ORDER[$(( (i + round - 1) % ${#ORDER[@]} ))]}
    json=${VARIANTS[$v]}
    "$SCRY_LOAD" --server "127.0.0.1:$PORT" --queries "$QUERIES" --concurrency 1 \
      --seconds "$SECONDS_PER" --warmup-seconds 1 --floor-seconds 0 --request-json "$json" \
      2>/dev/null | grep '"type":"search"' |
      sed "s|^{|{\"variant\":\"$v\",\"round\":$round,|" >>"$OUT/rounds.jsonl"
    if command -v h2load >/dev/null && [ -n "$H2_QUERY" ]; then
      "$SCRY_LOAD" --write-request-body "$OUT/body.bin" --query "$H2_QUERY" --query-type or \
        --request-json "$json"
      echo "{\"variant\":\"$v\",\"round\":$round,\"type\":\"h2load\",\"mean_us\":$(h2_mean_us "$OUT/body.bin")}" \
        >>"$OUT/rounds.jsonl"
    fi
  done
done

python3 - "$OUT/rounds.jsonl" "${ORDER[@]}" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
order = sys.argv[2:]
def per_round(v, key, kind):
    return {r["round"]: r[key] for r in rows if r["variant"] == v and r["type"] == kind}
def stat(xs):
    return (statistics.median(xs), min(xs), max(xs)) if xs else (0, 0, 0)
def value(v, key, kind="search"):
    return stat(list(per_round(v, key, kind).values()))
def ratio(v, key, kind="search"):  # within each round, over the plain query's
    mine, plain = per_round(v, key, kind), per_round("plain", key, kind)
    return stat([mine[k] / plain[k] for k in mine if plain.get(k)])
print("| variant | QPS (min-max) | QPS / plain | p50 / plain | p99 / plain | h2load mean µs | h2load / plain |")
print("|---|---:|---:|---:|---:|---:|---:|")
fmt = lambda t, f: (f + " (" + f + "-" + f + ")") % t
for v in order:
    print(f"| {v} | {fmt(value(v, 'qps'), '%.0f')} | {fmt(ratio(v, 'qps'), '%.2f')} | "
          f"{fmt(ratio(v, 'p50_us'), '%.2f')} | {fmt(ratio(v, 'p99_us'), '%.2f')} | "
          f"{fmt(value(v, 'mean_us', 'h2load'), '%.0f')} | {fmt(ratio(v, 'mean_us', 'h2load'), '%.2f')} |")
EOF
