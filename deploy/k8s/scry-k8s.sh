#!/usr/bin/env bash
# The scry image's entry point under Kubernetes (deploy/k8s/*.yaml), installed
# as /usr/local/bin/scry-k8s. One script for the three roles, so that the shard
# arithmetic and the directory layout live in one place (tests/deploy/k8s/
# scry_k8s_test.sh runs it against the real scry on 127.0.0.1):
#
#   scry-k8s index      the Indexed Job: build part $JOB_COMPLETION_INDEX of
#                       $SCRY_SHARDS into $SCRY_PARTS/$SCRY_RUN/part-I
#   scry-k8s assemble   put the parts of run $SCRY_RUN together into
#                       $SCRY_INDEX, waiting until every part is complete;
#                       nothing to do when the index already holds that run
#   scry-k8s serve      serve this pod's shard group: the pod of ordinal k (the
#                       StatefulSet's pod name ends in -k) is in group
#                       g = k % $SCRY_GROUPS and serves shards g, g + G, ...
#   scry-k8s shards K   print the shards ordinal K serves
#
# Other arguments go to `scry index` / `scry serve`. Environment (defaults):
# SCRY (scry), SCRY_SHARDS, SCRY_GROUPS, SCRY_RUN, SCRY_CORPUS (/build/corpus),
# SCRY_PARTS (/build/parts), SCRY_INDEX (/data/index), SCRY_LISTEN
# (0.0.0.0:7700), SCRY_POD_NAME ($HOSTNAME), SCRY_POLL_S (10), SCRY_WRITABLE
# (0: serve --read-only; 1: take live writes through the broker).
set -euo pipefail
SCRY=${SCRY:-scry}
PARTS=${SCRY_PARTS:-/build/parts}
INDEX=${SCRY_INDEX:-/data/index}

die() { echo "scry-k8s: $*" >&2; exit 1; }
need() { [ -n "${!1:-}" ] || die "$1 is not set${2:+ ($2)}"; }
is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }

# The shards of ordinal $1: g, g + G, ... below S, comma-separated.
shard_list() {
  need SCRY_SHARDS; need SCRY_GROUPS
  is_count "$SCRY_SHARDS" && is_count "$SCRY_GROUPS" || die "SCRY_SHARDS and SCRY_GROUPS must be counts"
  [ "$SCRY_GROUPS" -le "$SCRY_SHARDS" ] || die "SCRY_GROUPS ($SCRY_GROUPS) is more than SCRY_SHARDS ($SCRY_SHARDS)"
  [[ $1 =~ ^[0-9]+$ ]] || die "ordinal \"$1\" is not a number"
  local list="" s
  for ((s = $1 % SCRY_GROUPS; s < SCRY_SHARDS; s += SCRY_GROUPS)); do list+="${list:+,}$s"; done
  echo "$list"
}

cmd_index() {
  need SCRY_SHARDS; need SCRY_RUN; need JOB_COMPLETION_INDEX
  local i=$JOB_COMPLETION_INDEX
  # Each attempt starts from nothing: `scry index` replaces a scry index, and
  # a failed attempt leaves at most a gen-*.tmp that the next one removes.
  mkdir -p "$PARTS/$SCRY_RUN"
  exec "$SCRY" index --input "${SCRY_CORPUS:-/build/corpus}" --shards "$SCRY_SHARDS" --shard "$i" \
    --index "$PARTS/$SCRY_RUN/part-$i" "$@"
}

# A part is complete once its CURRENT exists: a build switches CURRENT only
# when every file of the generation is written.
cmd_assemble() {
  # Exiting makes Kubernetes restart the init container, which reads the
  # ConfigMap again: it goes on once `run` is set.
  need SCRY_SHARDS; need SCRY_RUN "the ConfigMap scry-run names no run yet: the index Job's name"
  if [ "$(cat "$INDEX.run" 2>/dev/null)" = "$SCRY_RUN" ]; then
    echo "scry-k8s: $INDEX already holds run $SCRY_RUN"
    return 0
  fi
  local args=() i waited=0
  for ((i = 0; i < SCRY_SHARDS; i++)); do
    until [ -e "$PARTS/$SCRY_RUN/part-$i/CURRENT" ]; do
      if ((waited % 60 == 0)); then echo "scry-k8s: waiting for $PARTS/$SCRY_RUN/part-$i"; fi
      sleep "${SCRY_POLL_S:-10}"
      waited=$((waited + ${SCRY_POLL_S:-10}))
    done
    args+=(--part "$PARTS/$SCRY_RUN/part-$i")
  done
  mkdir -p "$(dirname "$INDEX")"
  "$SCRY" assemble "${args[@]}" --index "$INDEX"
  echo "$SCRY_RUN" >"$INDEX.run.tmp" && mv "$INDEX.run.tmp" "$INDEX.run"
}

cmd_serve() {
  local pod=${SCRY_POD_NAME:-${HOSTNAME:-}}
  [[ $pod =~ -([0-9]+)$ ]] || die "pod name \"$pod\" does not end in -ORDINAL (a StatefulSet pod's)"
  local shards
  shards=$(shard_list "${BASH_REMATCH[1]}")
  echo "scry-k8s: $pod serves shards $shards of $SCRY_SHARDS"
  # SCRY_WRITABLE=1: the pod takes the live writes of its shards (each pod
  # has its own volume, so its own write-ahead log), routed by the broker.
  local mode=(--read-only)
  [ "${SCRY_WRITABLE:-0}" = 1 ] && mode=()
  exec "$SCRY" serve --index "$INDEX" --shards "$shards" "${mode[@]}" \
    --listen "${SCRY_LISTEN:-0.0.0.0:7700}" "$@"
}

case "${1:-}" in
  index) shift; cmd_index "$@" ;;
  assemble) shift; cmd_assemble ;;
  serve) shift; cmd_serve "$@" ;;
  shards) [ $# -eq 2 ] || die "usage: scry-k8s shards ORDINAL"; shard_list "$2" ;;
  *) echo "usage: scry-k8s index|assemble|serve [ARGS...] | shards ORDINAL" >&2; exit 2 ;;
esac
