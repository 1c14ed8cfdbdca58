#!/usr/bin/env bash
# The main job on the bundled sample corpus, from a fresh Debian 12 machine:
# install the Debian packages, build, index tests/data/sample.jsonl (3 shards),
# start the gRPC server (and its HTTP/JSON API) on loopback, run a few
# searches through gRPC and one through HTTP/JSON, print the hits, and stop
# the server. KEEP=1 leaves the server running (the search page's address is
# printed) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh
SCRY=build/tools/scry
WORK=${WORK:-$(mktemp -d /tmp/scry-quickstart.XXXXXX)}
INDEX="$WORK/index"

echo "== scry index: tests/data/sample.jsonl -> $INDEX"
"$SCRY" index --input tests/data/sample.jsonl --index "$INDEX" --shards 3
"$SCRY" stats --index "$INDEX"

echo "== scry serve on 127.0.0.1 (a free port)"
rm -f "$WORK/port"
rm -f "$WORK/http_port"
"$SCRY" serve --index "$INDEX" --listen 127.0.0.1:0 --port-file "$WORK/port" \
  --http-listen 127.0.0.1:0 --http-port-file "$WORK/http_port" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  [ -s "$WORK/port" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited early" >&2; exit 1; }
  sleep 0.1
done
ADDR="127.0.0.1:$(cat "$WORK/port")"
HTTP="127.0.0.1:$(cat "$WORK/http_port")"

run() {
  echo
  echo "== scry search --server $ADDR $*"
  "$SCRY" search --server "$ADDR" "$@"
}
run --top-k 5 'moscow security cooperation'
run --top-k 5 'nato AND afghanistan'
run --top-k 5 '"regular expression"'
run --top-k 5 'file AND (copy OR move) NOT directory'
run --top-k 3 --and 'linux kernel memory'

echo
echo "== HTTP/JSON: POST http://$HTTP/v1/search"
python3 - "$HTTP" <<'PY'
import json, sys, urllib.request
body = json.dumps({"query": '"regular expression"', "top_k": 3}).encode()
request = urllib.request.Request(f"http://{sys.argv[1]}/v1/search", data=body,
                                 headers={"Content-Type": "application/json"})
answer = json.load(urllib.request.urlopen(request, timeout=10))
print(f"total_hits {answer.get('total_hits')}")
for hit in answer.get("hits", []):
    print(f"{hit['score']:.4f}  {hit['id']}  {hit.get('title', '')}")
PY
if [ "${KEEP:-0}" = "1" ]; then
  echo
  echo "== the search page: http://$HTTP/  (Ctrl-C stops the server)"
  wait "$SERVER_PID"
fi

echo
echo "== stopping the server (SIGTERM)"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
trap - EXIT
echo "quickstart: done (index kept in $INDEX)"
