#!/usr/bin/env bash
# deploy/local/run.sh end to end: a 4-shard sample index served by 2 shard
# groups of 2 replica processes each and a broker (hedging after 100 ms) on
# 127.0.0.1 answers the first 12 sample queries as `scry search --index`
# does (the printed ranks, scores, ids and titles); again with one replica
# stopped (SIGSTOP) and another of the other group killed; with both
# replicas of a group killed, searches are UNAVAILABLE naming its shards.
# Then the script stops every process on SIGTERM. Then a --writable cluster
# takes writes through the broker, over gRPC and its HTTP/JSON API.
#   local_cluster_test.sh SCRY_BINARY SOURCE_DIR
set -euo pipefail
SCRY=$1 SRC=$2
WORK=$(mktemp -d /tmp/scry-cluster-test.XXXXXX)
RUN_PID=""
cleanup() { [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
"$SCRY" index --input "$SRC/tests/data/sample.jsonl" --index "$WORK/idx" --shards 4 --reorder none >/dev/null 2>&1
"$SRC/deploy/local/run.sh" --index "$WORK/idx" --servers 2 --replicas 2 --listen 127.0.0.1:0 --scry "$SCRY" \
  -- --hedge-after-ms 100 --health-interval-ms 200 >"$WORK/run.log" 2>&1 &
RUN_PID=$!
for _ in $(seq 1 600); do grep -q '^ready' "$WORK/run.log" && break; sleep 0.1; done
grep -q '^ready' "$WORK/run.log" || { cat "$WORK/run.log"; exit 1; }
BROKER=$(sed -n 's/^broker: \([^ ]*\) .*/\1/p' "$WORK/run.log")
pid_of() { sed -n "s/^server $1 replica $2: pid \([0-9]*\) .*/\1/p" "$WORK/run.log"; }
same_as_one_process() {
  n=0
  while IFS=$'\t' read -r kind words; do
    query=$words
    [ "$kind" = phrase ] && query="\"$words\""
    flags=(--top-k 10)
    [ "$kind" = and ] && flags+=(--and)
    # The hit lines only (the last line differs: where total_hits and the time come from).
    want=$("$SCRY" search --index "$WORK/idx" "${flags[@]}" -- "$query" | sed '/^total hits/d')
    got=$("$SCRY" search --server "$BROKER" --timeout-ms 5000 "${flags[@]}" -- "$query" |
      sed '/^total hits/d')
    if [ "$want" != "$got" ]; then
      echo "query [$query] differs ($1):"; diff <(echo "$want") <(echo "$got") || true; exit 1
    fi
    n=$((n + 1))
  done < <(head -12 "$SRC/tests/data/sample.queries.tsv")
  echo "$n queries: the broker answers as one process ($1)"
}
same_as_one_process "all up"
STOPPED=$(pid_of 0 1)
kill -STOP "$STOPPED"
kill -KILL "$(pid_of 1 0)"
same_as_one_process "server 0 replica 1 stopped, server 1 replica 0 killed"
kill -CONT "$STOPPED"
kill -KILL "$(pid_of 1 1)"
if out=$("$SCRY" search --server "$BROKER" --timeout-ms 5000 -- moscow 2>&1); then
  echo "a search without shards 1 and 3 answered: $out"; exit 1
fi
echo "$out" | grep -q "shards 1, 3 of 4 are served by no backend" || {
  echo "unexpected error: $out"; exit 1; }
echo "every replica of shards 1, 3 gone: UNAVAILABLE naming them"
kill "$RUN_PID"
wait "$RUN_PID" || true
RUN_PID=""
if pgrep -f "$WORK/idx" >/dev/null; then echo "processes left running"; exit 1; fi

# --writable: each server on its own copy; live writes through the broker
# (routed by id to every replica of the document's shard), searchable after
# a refresh through the broker, a delete likewise; a document routed to
# every shard's group.
"$SRC/deploy/local/run.sh" --index "$WORK/idx" --servers 2 --replicas 2 --listen 127.0.0.1:0 \
  --writable --scry "$SCRY" -- --health-interval-ms 200 --http-listen 127.0.0.1:0 \
  --http-port-file "$WORK/broker.http" >"$WORK/run2.log" 2>&1 &
RUN_PID=$!
for _ in $(seq 1 600); do grep -qs '^ready' "$WORK/run2.log" && break; sleep 0.1; done
grep -q '^ready' "$WORK/run2.log" || { cat "$WORK/run2.log"; exit 1; }
BROKER=$(sed -n 's/^broker: \([^ ]*\) .*/\1/p' "$WORK/run2.log")
for i in 1 2 3 4 5 6 7 8; do
  echo "{\"id\": \"live-$i\", \"title\": \"zyzzyva $i\", \"body\": \"quokka$i\"}"
done >"$WORK/new.jsonl"
"$SCRY" write --server "$BROKER" --refresh "$WORK/new.jsonl" >"$WORK/write.out"
hits=$("$SCRY" search --server "$BROKER" --top-k 20 -- zyzzyva | grep -c 'live-' || true)
[ "$hits" = 8 ] || { echo "8 written documents expected, found $hits"; cat "$WORK/write.out"; exit 1; }
"$SCRY" delete --server "$BROKER" live-3 >/dev/null
"$SCRY" refresh --server "$BROKER" >/dev/null
hits=$("$SCRY" search --server "$BROKER" --top-k 20 -- zyzzyva | grep -c 'live-' || true)
[ "$hits" = 7 ] || { echo "7 documents expected after the delete, found $hits"; exit 1; }
echo "writes through the broker: 8 written, 1 deleted, searchable after refresh"
# The broker's HTTP/JSON API: the same search, a write and a refresh.
HTTP="http://127.0.0.1:$(cat "$WORK/broker.http")"
post() { curl -sS -f -H 'Content-Type: application/json' -d "$2" "$HTTP$1"; }
post /v1/search '{"query": "zyzzyva", "top_k": 20}' >"$WORK/http.json"
hits=$(grep -o '"id":"live-[0-9]*"' "$WORK/http.json" | wc -l || true)
[ "$hits" = 7 ] || { echo "7 hits over HTTP expected, found $hits"; cat "$WORK/http.json"; exit 1; }
# (answers captured whole: grep -q on a pipe would close it under curl)
written=$(post /v1/write '{"ops": [{"upsert": {"document": "{\"id\": \"live-9\", \"title\": \"zyzzyva 9\"}"}}]}')
grep -q '"code":"OK"' <<<"$written" || { echo "HTTP write not OK: $written"; exit 1; }
post /v1/refresh '{}' >/dev/null
hits=$(post /v1/search '{"query": "zyzzyva", "top_k": 20}' | grep -o '"id":"live-[0-9]*"' | wc -l || true)
[ "$hits" = 8 ] || { echo "8 hits over HTTP expected after the write, found $hits"; exit 1; }
page=$(curl -sS -f "$HTTP/")
grep -q '/v1/search' <<<"$page" || { echo "no search page"; exit 1; }
metrics=$(curl -sS -f "$HTTP/metrics")
[ "$(grep -c '^scry_broker_backend_up{.*} 1$' <<<"$metrics")" = 4 ] ||
  { echo "4 backends up expected in /metrics"; echo "$metrics"; exit 1; }
echo "the broker's HTTP/JSON API: search, write, refresh, the search page and /metrics"
kill "$RUN_PID"
wait "$RUN_PID" || true
RUN_PID=""
echo ok
