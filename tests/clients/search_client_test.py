#!/usr/bin/python3
"""A gRPC client in another language, built from proto/scry/v1/search.proto alone.

It checks the foundation's promises from outside the C++ code: it builds two
indexes of the same corpus (1 and 3 shards) with the `scry` binary, starts two
servers on 127.0.0.1 (free ports), and checks boolean, phrase and NOT queries,
the sharded == unsharded guarantee, error codes with columns, GetDocument,
Stats and the standard health service.

usage: search_client_test.py SCRY_BINARY PROTO_DIR
Needs Debian's python3-grpcio and python3-protobuf, and protoc.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SCRY, PROTO_DIR = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
WORK = tempfile.mkdtemp(prefix="scry_pyclient_")
subprocess.run(["protoc", f"--proto_path={PROTO_DIR}", f"--python_out={WORK}",
                os.path.join(PROTO_DIR, "scry/v1/search.proto")], check=True)
sys.path.insert(0, WORK)
import grpc  # noqa: E402
from scry.v1 import search_pb2 as pb  # noqa: E402

DOCS = [
    {"id": "d01", "title": "Apples", "body": "red apple and green apple"},
    {"id": "d02", "title": "Pears", "body": "a pear is not an apple"},
    {"id": "d03", "title": None, "body": "the quick brown fox jumps"},
    {"id": "d04", "title": "Brown", "body": "fox brown quick the"},
    {"id": "d05", "title": "Mixed", "body": "apple pear fox"},
    {"id": "d06", "title": None, "body": "the quick brown fox jumps"},
    {"id": "d07", "title": "Russian", "body": "Москва и мир"},
]


def start_server(index):
    port_file = index + ".port"
    proc = subprocess.Popen([SCRY, "serve", "--index", index, "--listen", "127.0.0.1:0",
                             "--port-file", port_file], stderr=subprocess.DEVNULL)
    for _ in range(300):
        if os.path.exists(port_file):
            break
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        time.sleep(0.05)
    with open(port_file) as f:
        port = int(f.read())
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    return proc, channel


def unary(channel, method, request, response_type):
    call = channel.unary_unary(f"/scry.v1.SearchService/{method}",
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=response_type.FromString)
    return call(request, timeout=10)


class SearchClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        corpus = os.path.join(WORK, "corpus.jsonl")
        with open(corpus, "w", encoding="utf-8") as f:
            for d in DOCS:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
        cls.servers = []
        for shards in (1, 3):
            index = os.path.join(WORK, f"idx{shards}")
            subprocess.run([SCRY, "index", "-q", "--input", corpus, "--index", index,
                            "--shards", str(shards)], check=True)
            cls.servers.append(start_server(index))
        cls.one = cls.servers[0][1]
        cls.three = cls.servers[1][1]

    @classmethod
    def tearDownClass(cls):
        for proc, channel in cls.servers:
            channel.close()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        shutil.rmtree(WORK, ignore_errors=True)

    def search(self, query, channel=None, **kw):
        return unary(channel or self.one, "Search", pb.SearchRequest(query=query, **kw),
                     pb.SearchResponse)

    def ids(self, query, **kw):
        return sorted(h.id for h in self.search(query, **kw).hits)

    def test_boolean(self):
        self.assertEqual(self.ids("apple AND pear"), ["d02", "d05"])
        self.assertEqual(self.ids("apple OR fox"), ["d01", "d02", "d03", "d04", "d05", "d06"])
        self.assertEqual(self.ids("apple NOT pear"), ["d01"])
        self.assertEqual(self.ids("+fox -apple"), ["d03", "d04", "d06"])
        self.assertEqual(self.ids("(apple OR fox) AND brown"), ["d03", "d04", "d06"])
        self.assertEqual(self.ids("apples pears",
                                  default_operator=pb.DEFAULT_OPERATOR_AND), ["d02", "d05"])
        self.assertEqual(self.ids("МОСКВА"), ["d07"])

    def test_phrase_order_matters(self):
        self.assertEqual(self.ids('"quick brown fox"'), ["d03", "d06"])
        self.assertEqual(self.ids('"fox brown quick"'), ["d04"])

    def test_ranking_and_ties(self):
        r = self.search("apple")
        self.assertEqual(r.total_hits, 3)
        self.assertEqual(r.hits[0].id, "d01")  # apple twice in a short doc
        self.assertEqual(r.hits[0].title, "Apples")
        r = self.search('"quick brown fox"')
        self.assertEqual([h.id for h in r.hits], ["d03", "d06"])  # equal scores: by id
        self.assertEqual(r.hits[0].score, r.hits[1].score)

    def test_sharded_equals_unsharded(self):
        for q in ["apple", "fox OR pear", "apple AND pear", '"brown fox"', "the -fox",
                  "quick brown", "apple pear fox the"]:
            a, b = self.search(q, top_k=100), self.search(q, channel=self.three, top_k=100)
            if a.total_hits_is_lower_bound or b.total_hits_is_lower_bound:
                exact = self.search(q, top_k=100, exact_total_hits=True)
                self.assertFalse(exact.total_hits_is_lower_bound, q)
                self.assertLessEqual(a.total_hits, exact.total_hits, q)
                self.assertLessEqual(b.total_hits, exact.total_hits, q)
            else:
                self.assertEqual(a.total_hits, b.total_hits, q)
            self.assertEqual([(h.id, h.score) for h in a.hits],
                             [(h.id, h.score) for h in b.hits], q)

    def test_errors(self):
        for query, column in [("", "column 1"), ('"open', "column 1"), ("fox AND", "column 5"),
                              ("(fox", "column 1")]:
            with self.assertRaises(grpc.RpcError) as e:
                self.search(query)
            self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, query)
            self.assertIn(column, e.exception.details(), query)
        with self.assertRaises(grpc.RpcError) as e:
            unary(self.one, "GetDocument", pb.GetDocumentRequest(id="nope"),
                  pb.GetDocumentResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_get_document_and_stats(self):
        d = unary(self.three, "GetDocument", pb.GetDocumentRequest(id="d03"),
                  pb.GetDocumentResponse)
        self.assertEqual(d.fields["body"], "the quick brown fox jumps")
        s = unary(self.three, "Stats", pb.StatsRequest(), pb.StatsResponse)
        self.assertEqual(s.docs, len(DOCS))
        self.assertEqual(len(s.shards), 3)
        self.assertEqual(s.language, "english")

    def test_health(self):
        # grpc.health.v1.Health/Check with an empty HealthCheckRequest; the
        # response's field 1 (status) is 1 = SERVING.
        check = self.one.unary_unary("/grpc.health.v1.Health/Check",
                                     request_serializer=lambda b: b,
                                     response_deserializer=lambda b: b)
        self.assertEqual(check(b"", timeout=10), b"\x08\x01")


if __name__ == "__main__":
    unittest.main(verbosity=2)
