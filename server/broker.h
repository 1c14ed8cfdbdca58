// File: server/broker.h
//
// The broker (`scry broker`, issue 20): answers scry.v1.SearchService.Search
// over several shard servers (`scry serve --shards ...`), each searching
// some shards of one index, as one process serving every shard would: the
// same hits, bit-equal scores, total_hits, pages and search_after.
//
// A search is two rounds of calls to the backends, each in parallel:
//
//   1. TermStatistics (as Elasticsearch's DFS phase): every backend's part
//      of the query's statistics (documents, field lengths, each term's
//      df), with which shards of which generation it serves. The broker
//      picks backends that cover every shard once (the first listed wins a
//      shard), checks they serve the same generation and settings, and
//      sums their parts: the index-wide statistics.
//   2. Search on the picked backends, with those statistics
//      (SearchRequest.statistics) and offset 0, top_k offset + top_k (each
//      backend's best hits after search_after): merged by (score desc, id
//      asc), the page cut out, total_hits summed.
//
// Why a round of statistics per query rather than totals cached per
// generation: it stays exact with live writes and with backends of any
// generation mix it can detect, and it costs one more round trip of a few
// hundred bytes (docs/ARCHITECTURE.md "Broker").
//
// A shard no reachable backend serves makes the search UNAVAILABLE, naming
// the shards. Not yet: query-then-fetch (each backend fetches stored
// fields and snippets of its own offset + top_k best hits; the broker keeps
// the page), replicas and retries, GetDocument/Stats/writes, tokens to the
// backends, the HTTP API.
//
// Thread safety: Search may be called concurrently; Start/Wait/Shutdown
// from one controlling thread.
#ifndef SCRY_SERVER_BROKER_H_
#define SCRY_SERVER_BROKER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "scry/v1/search.pb.h"

namespace scry::server {

struct BrokerOptions {
  std::string listen = "127.0.0.1:7800";  // HOST:PORT; port 0 picks a free port
  std::vector<std::string> backends;      // HOST:PORT of each shard server
  // Deadline of a search whose client set none; its calls to the backends
  // share it.
  int default_deadline_ms = 10000;
};

class Broker {
 public:
  // InvalidArgument without backends; Unavailable if `listen` cannot be
  // bound. Backends need not be up yet: each search calls them anew.
  static absl::StatusOr<std::unique_ptr<Broker>> Start(const BrokerOptions& options);
  ~Broker();  // shuts down if still running
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  int port() const;

  // One search through the backends, finished by `deadline` (the gRPC
  // method calls this).
  grpc::Status Search(const v1::SearchRequest& request, absl::Time deadline,
                      v1::SearchResponse* response) const;

  // Blocks until Shutdown() is called from another thread.
  void Wait();
  // Stops accepting calls; in-flight ones get `grace_ms`. Idempotent.
  void Shutdown(int grace_ms = 5000);

 private:
  struct Impl;
  explicit Broker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace scry::server

#endif  // SCRY_SERVER_BROKER_H_
