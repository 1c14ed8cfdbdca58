#!/usr/bin/env bash
# Runs a local cluster on 127.0.0.1: N shard servers (`scry serve --shards`),
# each searching its share of the shards of one index, and a broker (`scry
# broker`) over them, as processes. Prints the broker's address, then waits;
# Ctrl-C (or SIGTERM) stops them all.
#
#   deploy/local/run.sh --index DIR [--servers N] [--listen HOST:PORT] [--scry BIN]
#
# The index is a whole index (scry index --shards S); server i of N serves
# shards i, i + N, i + 2N, ... (N at most S). The servers pick free ports;
# logs and port files go to a temporary directory named on start.
set -euo pipefail
INDEX="" SERVERS=2 LISTEN=127.0.0.1:7800
SCRY=${SCRY:-$(dirname "$0")/../../build/tools/scry}
while [ $# -gt 0 ]; do
  case "$1" in
    --index) INDEX=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --listen) LISTEN=$2; shift 2 ;;
    --scry) SCRY=$2; shift 2 ;;
    *) echo "usage: $0 --index DIR [--servers N] [--listen HOST:PORT] [--scry BIN]" >&2; exit 2 ;;
  esac
done
[ -n "$INDEX" ] || { echo "$0: --index DIR is required" >&2; exit 2; }
SHARDS=$(ls -d "$INDEX"/CURRENT >/dev/null && "$SCRY" stats --index "$INDEX" | awk '$1 == "shards" {print $2; exit}')
[ -n "$SHARDS" ] || { echo "$0: cannot read the shard count of $INDEX" >&2; exit 1; }
[ "$SERVERS" -ge 1 ] && [ "$SERVERS" -le "$SHARDS" ] || {
  echo "$0: --servers must be 1..$SHARDS (the index's shards)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/scry-local.XXXXXX)
PIDS=()
stop() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT
trap 'exit 0' INT TERM

BACKENDS=()
for ((i = 0; i < SERVERS; i++)); do
  list=""
  for ((s = i; s < SHARDS; s += SERVERS)); do list+="${list:+,}$s"; done
  "$SCRY" serve --index "$INDEX" --shards "$list" --listen 127.0.0.1:0 \
    --port-file "$WORK/server$i.port" --reload-poll-ms 0 >"$WORK/server$i.log" 2>&1 &
  PIDS+=($!)
  echo "server $i: shards $list (log $WORK/server$i.log)"
done
wait_for() {  # a port file, written once the process serves
  for _ in $(seq 1 600); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "$0: $1 never appeared; see the logs in $WORK" >&2; exit 1
}
for ((i = 0; i < SERVERS; i++)); do
  wait_for "$WORK/server$i.port"
  BACKENDS+=("127.0.0.1:$(cat "$WORK/server$i.port")")
done
"$SCRY" broker --listen "$LISTEN" --backends "$(IFS=,; echo "${BACKENDS[*]}")" \
  --port-file "$WORK/broker.port" >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/broker.port"
echo "broker: 127.0.0.1:$(cat "$WORK/broker.port") over ${BACKENDS[*]} (log $WORK/broker.log)"
echo "ready"
wait
