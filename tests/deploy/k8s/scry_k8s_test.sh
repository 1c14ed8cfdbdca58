#!/usr/bin/env bash
# ctest scry_k8s: the roles of deploy/k8s/scry-k8s.sh (what the Kubernetes
# pods run) as processes on 127.0.0.1, with the real scry, the way the
# manifests chain them: 4 shards in 2 groups, two copies of each (pods
# scry-shard-0..3).
#  1. `assemble` of pod 0 started before any part exists waits for them;
#  2. the Indexed Job's `index`, once per completion index, builds the parts;
#  3. every pod assembles run 1 and `serve`s its group; a broker over the
#     pods answers the sample queries as `scry search` on a whole index of the
#     same input does;
#  4. a new run (other documents) assembled into the pods while they serve
#     (the rollout of README "Running on Kubernetes") is served without a
#     restart, again equal to a whole index; assembling the same run twice
#     does nothing; a pod name without an ordinal is refused.
#   scry_k8s_test.sh SCRY_BINARY SOURCE_DIR
set -euo pipefail
SCRY=$1 SRC=$2
K8S="$SRC/deploy/k8s/scry-k8s.sh"
WORK=$(mktemp -d /tmp/scry-k8s-test.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "scry_k8s: FAILED: $*" >&2; for f in "$WORK"/*.log; do echo "--- $f"; cat "$f"; done >&2; exit 1; }
export SCRY SCRY_SHARDS=4 SCRY_GROUPS=2 SCRY_PARTS="$WORK/build/parts" SCRY_POLL_S=1
CORPUS1="$WORK/build/corpus1.jsonl" CORPUS2="$WORK/build/corpus2.jsonl"
mkdir -p "$WORK/build"
head -150 "$SRC/tests/data/sample.jsonl" >"$CORPUS1"
tail -n +100 "$SRC/tests/data/sample.jsonl" >"$CORPUS2"

wait_for() {  # FILE: written once the process serves
  for _ in $(seq 1 600); do [ -s "$1" ] && return 0; sleep 0.1; done
  fail "$1 never appeared"
}
build_run() {  # RUN CORPUS: the Indexed Job's completions, one after the other
  local i
  for ((i = 0; i < SCRY_SHARDS; i++)); do
    JOB_COMPLETION_INDEX=$i SCRY_RUN=$1 SCRY_CORPUS=$2 "$K8S" index --quiet --reorder none ||
      fail "index $1 part $i"
  done
}
# The hit lines of each of the first 12 sample queries through SERVER, or
# through a whole index of the same input (--index DIR).
answers() {
  local kind words query flags
  while IFS=$'\t' read -r kind words; do
    query=$words
    [ "$kind" = phrase ] && query="\"$words\""
    flags=(--top-k 10)
    [ "$kind" = and ] && flags+=(--and)
    "$SCRY" search "$@" "${flags[@]}" -- "$query" | sed '/^total hits/d' || echo "ERROR [$query]"
  done < <(head -12 "$SRC/tests/data/sample.queries.tsv")
}

# 1. A pod's init container starts before the Job has written its parts.
SCRY_RUN=run1 SCRY_INDEX="$WORK/pod0/index" "$K8S" assemble >"$WORK/assemble0.log" 2>&1 &
early=$!
sleep 2
kill -0 "$early" 2>/dev/null || fail "assemble did not wait for the parts"
grep -q "waiting for $SCRY_PARTS/run1/part-0" "$WORK/assemble0.log" || fail "assemble does not say what it waits for"

# 2. The Job.
build_run run1 "$CORPUS1"
wait "$early" || fail "assemble of pod 0"

# 3. Every pod assembles and serves its group.
for k in 1 2 3; do
  SCRY_RUN=run1 SCRY_INDEX="$WORK/pod$k/index" "$K8S" assemble >"$WORK/assemble$k.log" 2>&1 ||
    fail "assemble of pod $k"
done
BACKENDS=""
for k in 0 1 2 3; do
  SCRY_POD_NAME=scry-shard-$k SCRY_INDEX="$WORK/pod$k/index" SCRY_LISTEN=127.0.0.1:0 SCRY_WRITABLE=1 \
    "$K8S" serve --port-file "$WORK/pod$k.port" --reload-poll-ms 100 >"$WORK/pod$k.log" 2>&1 &
  PIDS+=($!)
done
for k in 0 1 2 3; do
  wait_for "$WORK/pod$k.port"
  BACKENDS+="${BACKENDS:+,}127.0.0.1:$(cat "$WORK/pod$k.port")"
done
grep -q "scry-shard-0 serves shards 0,2 of 4" "$WORK/pod0.log" || fail "pod 0 does not serve shards 0,2"
grep -q "scry-shard-3 serves shards 1,3 of 4" "$WORK/pod3.log" || fail "pod 3 does not serve shards 1,3"
"$SCRY" broker --listen 127.0.0.1:0 --backends "$BACKENDS" --port-file "$WORK/broker.port" \
  >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/broker.port"
BROKER=127.0.0.1:$(cat "$WORK/broker.port")

"$SCRY" index --input "$CORPUS1" --index "$WORK/whole1" --shards 4 --reorder none --quiet
want=$(answers --index "$WORK/whole1")
got=$(answers --server "$BROKER")
[ "$want" = "$got" ] || fail "run 1 through the broker differs: $(diff <(echo "$want") <(echo "$got"))"

# 4. A new run, assembled into the serving pods.
build_run run2 "$CORPUS2"
for k in 0 1 2 3; do
  SCRY_RUN=run2 SCRY_INDEX="$WORK/pod$k/index" "$K8S" assemble >>"$WORK/assemble$k.log" 2>&1 ||
    fail "assemble of run 2 in pod $k"
done
"$SCRY" index --input "$CORPUS2" --index "$WORK/whole2" --shards 4 --reorder none --quiet
want=$(answers --index "$WORK/whole2")
[ "$want" != "$(answers --index "$WORK/whole1")" ] || fail "the two runs answer alike: no test"
for _ in $(seq 1 100); do
  got=$(answers --server "$BROKER" 2>/dev/null) || true
  [ "$want" = "$got" ] && break
  sleep 0.1
done
[ "$want" = "$got" ] || fail "run 2 through the broker differs: $(diff <(echo "$want") <(echo "$got"))"
for k in 0 1 2 3; do kill -0 "${PIDS[$k]}" 2>/dev/null || fail "pod $k's server stopped"; done

out=$(SCRY_RUN=run2 SCRY_INDEX="$WORK/pod0/index" "$K8S" assemble)
[ "$out" = "scry-k8s: $WORK/pod0/index already holds run run2" ] || fail "assembled run 2 again: $out"

# 5. SCRY_WRITABLE=1: live writes through the broker reach every replica of
# each document's group (each pod its own log).
for i in 1 2 3 4 5 6; do echo "{\"id\": \"k8s-live-$i\", \"body\": \"xylophonist$i wombat\"}"; done \
  >"$WORK/live.jsonl"
"$SCRY" write --server "$BROKER" --refresh "$WORK/live.jsonl" >"$WORK/write.log" 2>&1 ||
  fail "writes through the broker: $(cat "$WORK/write.log")"
hits=$("$SCRY" search --server "$BROKER" --top-k 20 -- wombat | grep -c 'k8s-live-' || true)
[ "$hits" = 6 ] || fail "6 written documents expected through the broker, found $hits"
if SCRY_POD_NAME=scry-shard SCRY_INDEX="$WORK/pod0/index" "$K8S" serve 2>"$WORK/noordinal.log"; then
  fail "served under a pod name without an ordinal"
fi
grep -q 'does not end in -ORDINAL' "$WORK/noordinal.log" || fail "no reason for the refused pod name"
echo "scry_k8s: 4 pods in 2 groups served run 1 and then run 2 through a broker as whole indexes do"
