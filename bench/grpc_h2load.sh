#!/usr/bin/env bash
# File: bench/grpc_h2load.sh
#
# scry's server measured by an independent gRPC client: h2load (Debian's
# nghttp2-client) sends a raw gRPC body, the 5-byte message frame (flag 0,
# big-endian length) and the serialized request, written by
# `scry-load --write-request-body`. It runs the floor
# (grpc.health.v1.Health/Check) and a Search of each given query, at each
# client count, and prints one line per run: what, clients, mean and max
# latency in µs, req/s, and how many of the HTTP/2 requests failed.
#
#   bench/grpc_h2load.sh HOST:PORT [TYPE:WORDS ...]
#
# TYPE is and, or or phrase (a query without TYPE: is `and`); default query:
# `and:zzyzxqq` (matches nothing). Environment: N (requests per run, 20000),
# CLIENTS ("1 16"), STREAMS (concurrent streams per client, h2load -m, 1),
# TOP_K (10), SCRY_LOAD (build/bench/scry-load), H2LOAD (h2load), KEEP=1
# keeps h2load's full output in $TMPDIR. HTTP=HOST:PORT (the server's
# --http-listen) also runs each Search as POST /v1/search with the request's
# JSON form over HTTP/1.1 (h2load --h1; one request at a time per connection,
# STREAMS is not used there), right after its gRPC run: the same search
# through both front ends, interleaved.
#
# h2load counts HTTP statuses, not gRPC ones: a gRPC error is an HTTP 200 with
# grpc-status in the trailers, so check a query with scry-load first.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//;$d' >&2
  exit 2
fi
target=$1
shift
queries=("$@")
[[ ${#queries[@]} -gt 0 ]] || queries=("and:zzyzxqq")

root=$(cd "$(dirname "$0")/.." && pwd)
scry_load=${SCRY_LOAD:-$root/build/bench/scry-load}
h2load=${H2LOAD:-h2load}
n=${N:-20000}
clients=${CLIENTS:-1 16}
streams=${STREAMS:-1}
top_k=${TOP_K:-10}
command -v "$h2load" >/dev/null || {
  echo "grpc_h2load.sh: no $h2load (apt-get install nghttp2-client)" >&2
  exit 1
}

work=$(mktemp -d)
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$work"' EXIT

# run LABEL BODY PATH CLIENTS [http]
run() {
  local label=$1 body=$2 path=$3 c=$4 out="$work/h2load.$RANDOM.txt" m=$streams
  local args=(-H 'content-type: application/grpc' -H 'te: trailers' "http://$target$path")
  if [[ ${5:-} == http ]]; then
    m=1
    args=(--h1 -H 'content-type: application/json' "http://$HTTP$path")
  fi
  "$h2load" -n "$n" -c "$c" -m "$m" -d "$body" "${args[@]}" >"$out" 2>&1 || {
    cat "$out" >&2
    return 1
  }
  # "time for request:  MIN  MAX  MEAN  SD  +/-SD", units us/ms/s.
  awk -v label="$label" -v c="$c" -v m="$m" '
    function us(v) {
      if (v ~ /us$/) return v + 0
      if (v ~ /ms$/) return v * 1000
      if (v ~ /s$/) return v * 1000000
      return v
    }
    /^finished in/ { rps = $4 }
    /^requests:/ { failed = $10 + $12 }
    /^time for request:/ { mean = us($6); max = us($5) }
    END { printf "%-40s clients %3d x%-2d  mean %8.1f us  max %9.1f us  %9.1f req/s  failed %d\n",
                 label, c, m, mean, max, rps, failed }' "$out"
}

"$scry_load" --write-request-body "$work/health.bin" --health
bodies=()
labels=()
for q in "${queries[@]}"; do
  type=and
  words=$q
  if [[ $q =~ ^(and|or|phrase):(.*)$ ]]; then
    type=${BASH_REMATCH[1]}
    words=${BASH_REMATCH[2]}
  fi
  body="$work/search.${#bodies[@]}.bin"
  "$scry_load" --write-request-body "$body" --query "$words" --query-type "$type" --top-k "$top_k"
  bodies+=("$body")
  labels+=("Search $type '$words'")
  [[ -z ${HTTP:-} ]] ||
    "$scry_load" --write-json-body "$work/search.${#labels[@]}.json" --query "$words" \
      --query-type "$type" --top-k "$top_k"
done

for c in $clients; do
  run "Health/Check" "$work/health.bin" /grpc.health.v1.Health/Check "$c"
  for i in "${!bodies[@]}"; do
    run "${labels[$i]}" "${bodies[$i]}" /scry.v1.SearchService/Search "$c"
    [[ -z ${HTTP:-} ]] ||
      run "HTTP ${labels[$i]}" "$work/search.$((i + 1)).json" /v1/search "$c" http
  done
done
