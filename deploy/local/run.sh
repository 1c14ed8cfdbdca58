#!/usr/bin/env bash
# Runs a local cluster on 127.0.0.1: N shard groups of R replicas each
# (`scry serve --shards`), each group searching its share of the shards of
# one index, and a broker (`scry broker`) over them, as processes. Prints
# each server's pid and the broker's address, then waits; Ctrl-C (or
# SIGTERM) stops them all.
#
#   deploy/local/run.sh --index DIR [--servers N] [--replicas R] [--listen HOST:PORT]
#                       [--writable] [--scry BIN] [-- BROKER_FLAGS...]
#
# The index is a whole index (scry index --shards S); every replica of
# group i of N serves shards i, i + N, i + 2N, ... (N at most S). R defaults
# to $REPLICAS, else 1. The servers share DIR read-only (--read-only); with
# --writable each gets its own copy of DIR (a write-ahead log is one
# server's) and takes live writes, which the broker routes. Flags after --
# go to the broker (--hedge-after-ms 50, --write-acks all). The servers pick
# free ports; logs, port files and copies go to a temporary directory named
# on start.
set -euo pipefail
INDEX="" SERVERS=2 REPLICAS=${REPLICAS:-1} LISTEN=127.0.0.1:7800 BROKER_FLAGS=() WRITABLE=0
SCRY=${SCRY:-$(dirname "$0")/../../build/tools/scry}
while [ $# -gt 0 ]; do
  case "$1" in
    --index) INDEX=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --replicas) REPLICAS=$2; shift 2 ;;
    --listen) LISTEN=$2; shift 2 ;;
    --scry) SCRY=$2; shift 2 ;;
    --writable) WRITABLE=1; shift ;;
    --) shift; BROKER_FLAGS=("$@"); break ;;
    *) echo "usage: $0 --index DIR [--servers N] [--replicas R] [--listen HOST:PORT] [--writable] [--scry BIN] [-- BROKER_FLAGS...]" >&2
       exit 2 ;;
  esac
done
[ -n "$INDEX" ] || { echo "$0: --index DIR is required" >&2; exit 2; }
SHARDS=$(ls -d "$INDEX"/CURRENT >/dev/null && "$SCRY" stats --index "$INDEX" | awk '$1 == "shards" {print $2; exit}')
[ -n "$SHARDS" ] || { echo "$0: cannot read the shard count of $INDEX" >&2; exit 1; }
[ "$SERVERS" -ge 1 ] && [ "$SERVERS" -le "$SHARDS" ] || {
  echo "$0: --servers must be 1..$SHARDS (the index's shards)" >&2; exit 2; }
[ "$REPLICAS" -ge 1 ] || { echo "$0: --replicas must be at least 1" >&2; exit 2; }
WORK=$(mktemp -d /tmp/scry-local.XXXXXX)
PIDS=()
# SIGCONT too: a stopped process (a test's SIGSTOP) ends only once continued.
stop() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; kill -CONT "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 0' INT TERM

BACKENDS=()
NAMES=()
for ((i = 0; i < SERVERS; i++)); do
  list=""
  for ((s = i; s < SHARDS; s += SERVERS)); do list+="${list:+,}$s"; done
  for ((r = 0; r < REPLICAS; r++)); do
    name=server$i.$r
    if [ "$WRITABLE" = 1 ]; then
      dir=$WORK/$name.index mode=()
      cp -a "$INDEX" "$dir"
    else
      dir=$INDEX mode=(--read-only)
    fi
    "$SCRY" serve --index "$dir" --shards "$list" --listen 127.0.0.1:0 "${mode[@]}" \
      --port-file "$WORK/$name.port" --reload-poll-ms 0 >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    NAMES+=("$name")
    echo "server $i replica $r: pid $! shards $list (log $WORK/$name.log)"
  done
done
wait_for() {  # a port file, written once the process serves
  for _ in $(seq 1 600); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "$0: $1 never appeared; see the logs in $WORK" >&2; exit 1
}
for name in "${NAMES[@]}"; do
  wait_for "$WORK/$name.port"
  BACKENDS+=("127.0.0.1:$(cat "$WORK/$name.port")")
done
"$SCRY" broker --listen "$LISTEN" --backends "$(IFS=,; echo "${BACKENDS[*]}")" \
  --port-file "$WORK/broker.port" "${BROKER_FLAGS[@]}" >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/broker.port"
echo "broker: 127.0.0.1:$(cat "$WORK/broker.port") over ${BACKENDS[*]} (log $WORK/broker.log)"
echo "ready"
wait
