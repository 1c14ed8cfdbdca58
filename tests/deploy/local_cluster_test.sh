#!/usr/bin/env bash
# deploy/local/run.sh end to end: a 4-shard sample index served by 3 shard
# server processes and a broker on 127.0.0.1 answers the first 12 sample queries as
# `scry search --index` does (the printed ranks, scores, ids and titles);
# then the script stops every process on SIGTERM.
#   local_cluster_test.sh SCRY_BINARY SOURCE_DIR
set -euo pipefail
SCRY=$1 SRC=$2
WORK=$(mktemp -d /tmp/scry-cluster-test.XXXXXX)
RUN_PID=""
cleanup() { [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
"$SCRY" index --input "$SRC/tests/data/sample.jsonl" --index "$WORK/idx" --shards 4 --reorder none >/dev/null 2>&1
"$SRC/deploy/local/run.sh" --index "$WORK/idx" --servers 3 --listen 127.0.0.1:0 --scry "$SCRY" \
  >"$WORK/run.log" 2>&1 &
RUN_PID=$!
for _ in $(seq 1 600); do grep -q '^ready' "$WORK/run.log" && break; sleep 0.1; done
grep -q '^ready' "$WORK/run.log" || { cat "$WORK/run.log"; exit 1; }
BROKER=$(sed -n 's/^broker: \([^ ]*\) .*/\1/p' "$WORK/run.log")
n=0
while IFS=$'\t' read -r kind words; do
  query=$words
  [ "$kind" = phrase ] && query="\"$words\""
  flags=(--top-k 10)
  [ "$kind" = and ] && flags+=(--and)
  # The hit lines only (the last line differs: where total_hits and the time come from).
  want=$("$SCRY" search --index "$WORK/idx" "${flags[@]}" -- "$query" | sed '/^total hits/d')
  got=$("$SCRY" search --server "$BROKER" "${flags[@]}" -- "$query" | sed '/^total hits/d')
  if [ "$want" != "$got" ]; then
    echo "query [$query] differs:"; diff <(echo "$want") <(echo "$got") || true; exit 1
  fi
  n=$((n + 1))
done < <(head -12 "$SRC/tests/data/sample.queries.tsv")
echo "$n queries: the broker answers as one process"
kill "$RUN_PID"
wait "$RUN_PID" || true
RUN_PID=""
if pgrep -f "$WORK/idx" >/dev/null; then echo "processes left running"; exit 1; fi
echo ok
