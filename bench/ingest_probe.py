#!/usr/bin/python3
"""Helpers of bench/ingest.sh (python3, Debian's python3-grpcio, protoc).

  ingest_probe.py fts5 DOCS.jsonl DB BATCH
      SQLite FTS5 incremental inserts: the documents into a new database
      (the table of ../shared/peers/src/fts5_bench.c: fts5(text,
      content='', tokenize='porter unicode61') and an id table), one
      transaction committed per BATCH documents. Prints
      {"engine":"fts5","docs":N,"seconds":S,"docs_per_s":R}.
  ingest_probe.py visible HOST:PORT PROTO_DIR SAMPLES
      Refresh-to-visible: writes a document with a token of its own
      (IndexService.Write), then searches for the token every 2 ms until it
      is found; SAMPLES times, a random 0-500 ms pause between samples so
      that writes fall anywhere in the refresh interval. The time is from
      the write's acknowledgement to the first search that returns it.
      Prints {"samples":N,"p50_ms":..,"p99_ms":..,"max_ms":..}.
"""
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time


def fts5(docs, db, batch):
    if os.path.exists(db):
        os.unlink(db)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("CREATE VIRTUAL TABLE docs USING fts5(text, content='', "
                "tokenize='porter unicode61')")
    con.execute("CREATE TABLE ids(rowid INTEGER PRIMARY KEY, id TEXT)")
    rows = []
    with open(docs, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                rows.append((d.get("id") or "", (d.get("title") or "") + "\n" + (d.get("body") or "")))
    # Parsing is not timed (the scry figures do not time reading the file
    # either beyond what the client does); the inserts and commits are.
    start = time.monotonic()
    n = 0
    for i in range(0, len(rows), batch):
        con.execute("BEGIN")
        for doc_id, text in rows[i:i + batch]:
            n += 1
            con.execute("INSERT INTO docs(rowid, text) VALUES(?, ?)", (n, text))
            con.execute("INSERT INTO ids(rowid, id) VALUES(?, ?)", (n, doc_id))
        con.execute("COMMIT")
    seconds = time.monotonic() - start
    con.close()
    print(json.dumps({"engine": "fts5", "docs": n, "seconds": round(seconds, 3),
                      "docs_per_s": round(n / seconds, 1)}))


def visible(target, proto_dir, samples):
    work = tempfile.mkdtemp(prefix="scry_ingest_probe_")
    for proto in ("scry/v1/search.proto", "scry/v1/index.proto"):
        subprocess.run(["protoc", f"--proto_path={proto_dir}", f"--python_out={work}",
                        os.path.join(proto_dir, proto)], check=True)
    sys.path.insert(0, work)
    import grpc
    from scry.v1 import index_pb2, search_pb2

    channel = grpc.insecure_channel(target)

    def unary(service, method, request, response_type):
        call = channel.unary_unary(f"/scry.v1.{service}/{method}",
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=response_type.FromString)
        return call(request, timeout=10)

    rng = random.Random(19)
    times = []
    for i in range(samples):
        time.sleep(rng.uniform(0, 0.5))
        token = f"zqvis{os.getpid()}x{i}"
        request = index_pb2.WriteRequest()
        request.ops.add().upsert.document = json.dumps({"id": token, "body": token})
        response = unary("IndexService", "Write", request, index_pb2.WriteResponse)
        assert response.results[0].code == "OK", response
        acked = time.monotonic()
        while True:
            found = unary("SearchService", "Search",
                          search_pb2.SearchRequest(query=token, top_k=1),
                          search_pb2.SearchResponse)
            if found.hits:
                times.append((time.monotonic() - acked) * 1e3)
                break
            if time.monotonic() - acked > 30:
                raise SystemExit(f"{token} not visible after 30 s")
            time.sleep(0.002)
    times.sort()
    print(json.dumps({"samples": len(times), "p50_ms": round(times[len(times) // 2], 1),
                      "p99_ms": round(times[min(len(times) - 1, len(times) * 99 // 100)], 1),
                      "max_ms": round(times[-1], 1)}))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "fts5":
        fts5(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 5 and sys.argv[1] == "visible":
        visible(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
