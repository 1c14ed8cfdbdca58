// File: server/broker.h
//
// The broker (`scry broker`, issue 20): answers scry.v1.SearchService.Search
// over several shard servers (`scry serve --shards ...`), each searching
// some shards of one index, as one process serving every shard would: the
// same hits, bit-equal scores, total_hits, pages and search_after.
//
// A search is two rounds of calls, one call per shard group in each, all
// groups in parallel:
//
//   1. TermStatistics (as Elasticsearch's DFS phase): each group's part of
//      the query's statistics (documents, field lengths, each term's df),
//      with which shards of which build the answering backend serves.
//      The broker sums the parts: the index-wide statistics.
//   2. Search on each group, with those statistics (SearchRequest.statistics)
//      and offset 0, top_k offset + top_k (each group's best hits after
//      search_after): merged by (score desc, id asc), the page cut out,
//      total_hits summed.
//
// Why a round of statistics per query rather than totals cached per
// generation: it stays exact with live writes and with backends of any
// generation mix it can detect, and it costs one more round trip of a few
// hundred bytes (docs/ARCHITECTURE.md "Broker").
//
// Replicas: backends whose Describe names the same shards of the same
// build (DescribeResponse.build_id, with the same settings digest and shard
// count) are replicas of one shard group, whatever their generations are
// named (a per-directory counter: copies of one build may differ in it, and
// two builds may share it); backends of an index built before build ids, or
// servers too old to send one, are told apart by the generation name. A
// search uses one build, the one covering the most shards. A background
// thread calls Describe on every backend every health_interval_ms (a
// backend that comes back, or serves a new build, is used again at the next
// check) and sets the broker's own grpc.health.v1 status: SERVING when every
// shard is covered by a backend that answered. Each call goes to the
// replica with the fewest calls outstanding from this broker (ties in
// turn); a failed call (UNAVAILABLE, connection loss, RESOURCE_EXHAUSTED,
// ...) is tried again on another replica while the deadline lasts; with
// hedge_after_ms, a call unanswered for that long is sent to another replica
// too, the first answer taken and the other cancelled. When every replica
// of a shard is gone the search is UNAVAILABLE naming the shards, or, with
// SearchRequest.allow_partial_results, the others' hits flagged with
// SearchResponse.missing_shards.
//
// Backends: HOST:PORT, or dns:NAME:PORT for every address NAME resolves to
// (getaddrinfo on a worker thread, again every resolve_interval_s: new
// addresses are added, vanished ones dropped once their calls are done).
//
// Facets: every value's count of a keyword facet from each group
// (SearchRequest.facet_all_values), summed, the top kept; ranges summed.
// Sort: hits merged by their sort_values, read back by the typed fields'
// types (DescribeResponse.typed_fields).
//
// GetDocument goes to the group of the document's shard, Stats to every
// group (summed). Live writes (IndexService) are routed by id to every
// writable replica of the document's group that is up and in sync (equal
// DescribeResponse.write_seq: a replica behind its group is left out of
// searches and writes); docs/ARCHITECTURE.md "Broker".
//
// Query then fetch: when a search asks for stored fields, snippets or
// explanations, the groups answer ids and scores (SearchRequest.ids_only)
// and a third round fetches the final page from the groups that hold it
// (SearchRequest.fetch), so that offset + top_k documents are read in all
// rather than per group.
//
// Not yet: tokens to the backends, the HTTP API.
//
// Thread safety: Search may be called concurrently; Start/Wait/Shutdown
// from one controlling thread.
#ifndef SCRY_SERVER_BROKER_H_
#define SCRY_SERVER_BROKER_H_

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "scry/v1/index.pb.h"
#include "scry/v1/search.pb.h"

namespace scry::server {

struct BrokerOptions {
  std::string listen = "127.0.0.1:7800";  // HOST:PORT; port 0 picks a free port
  // Each shard server's HOST:PORT, or dns:NAME:PORT for every address NAME
  // resolves to (a Kubernetes headless Service).
  std::vector<std::string> backends;
  // Deadline of a search whose client set none; its calls to the backends
  // share it. At most max_deadline_ms when that is set.
  int default_deadline_ms = 10000;
  // The longest a call (all but WriteStream) may take, whatever deadline
  // its client set (gRPC or ?timeout_ms): a later one is brought in to now
  // plus this; 0: no maximum. A call given a year is not a held thread.
  int max_deadline_ms = 30000;
  // A call to a replica unanswered after this many milliseconds is sent to
  // another replica of its group as well; 0: off (see README for why off).
  int hedge_after_ms = 0;
  // Every backend's Describe, this often.
  int health_interval_ms = 1000;
  // dns: backends are resolved again this often.
  int resolve_interval_s = 10;
  // Resolves a dns: backend's NAME and PORT to HOST:PORT addresses; empty:
  // getaddrinfo (IPv4 and IPv6). Tests give a name whose answer changes.
  std::function<absl::StatusOr<std::set<std::string>>(const std::string& name,
                                                      const std::string& port)>
      resolve;
  // Replicas of a shard group that must log a write before it is
  // acknowledged (and that must be up for it to be tried); 0: every
  // writable replica of the group in sync. A write goes to every replica up
  // and in sync either way.
  int write_acks = 1;
  // Query then fetch for searches that ask for stored fields, snippets or
  // explanations (see above); false: each group fetches its own offset +
  // top_k hits whole, in one round (to compare).
  bool query_then_fetch = true;
  // HOST:PORT of the HTTP/JSON API (server/http_api.h BrokerJsonApiRoutes:
  // search, document, stats, write, refresh, commit and the search page);
  // empty: off. Port 0 picks a free port.
  std::string http_listen;
  // Tokens its clients must send ("authorization: Bearer TOKEN", gRPC
  // metadata or HTTP header), in scry serve's token file format: a line
  // "TOKEN" may search, "TOKEN write" may also write. Empty: no token
  // asked. The gRPC health service and GET /metrics need none.
  std::string auth_token_file;
  // The token the broker sends to the backends (the first of this file),
  // for servers started with --auth-token-file: a write token if writes go
  // through the broker. Empty: none.
  std::string backend_token_file;
};

class Broker {
 public:
  // InvalidArgument without backends or with a malformed one; Unavailable if
  // `listen` cannot be bound. Backends need not be up yet: searches wait
  // (within their deadline) for the first health check.
  static absl::StatusOr<std::unique_ptr<Broker>> Start(const BrokerOptions& options);
  ~Broker();  // shuts down if still running
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  int port() const;
  // The HTTP/JSON API's port; 0 without http_listen.
  int http_port() const;

  // One search through the backends, finished by `deadline` (the gRPC
  // method calls this).
  grpc::Status Search(const v1::SearchRequest& request, absl::Time deadline,
                      v1::SearchResponse* response) const;

  // Live writes (scry.v1.IndexService through the broker): each operation
  // routed by its id (storage::ShardForId) to its shard's group and logged
  // by every writable replica of it that is up and in sync; OK once
  // write_acks of them have. One write at a time per group, so that its
  // replicas log this broker's writes in one order.
  grpc::Status Write(const v1::WriteRequest& request, absl::Time deadline,
                     v1::WriteResponse* response) const;
  // Refresh / Commit on every writable replica that is up; the first
  // failure, naming its backend. applied: summed; last_seq: 0 (each server's
  // log has its own sequence).
  grpc::Status Refresh(absl::Time deadline, v1::RefreshResponse* response) const;
  grpc::Status Commit(absl::Time deadline, v1::CommitResponse* response) const;
  // The document from a replica of the group of its shard.
  grpc::Status GetDocument(const v1::GetDocumentRequest& request, absl::Time deadline,
                           v1::GetDocumentResponse* response) const;
  // The index's figures summed over a replica of each group (UNAVAILABLE
  // while a shard is not covered; the servers' per-process figures left
  // out), with ProcessStats'.
  grpc::Status Stats(absl::Time deadline, v1::StatsResponse* response) const;
  // OK if `authorization` (a call's "authorization" metadata or header)
  // may make a call (a write if `write`): always without auth_token_file;
  // else UNAUTHENTICATED, or PERMISSION_DENIED for a write with a read
  // token. The gRPC methods and the HTTP API ask before calling the above.
  grpc::Status Authorize(std::string_view authorization, bool write) const;
  // The broker's own figures, whatever the backends' state: its calls by
  // method (`methods`: those through gRPC and HTTP alike; a WriteStream is
  // one call) and its backends (`backends`) as of the last health check.
  void ProcessStats(v1::StatsResponse* response) const;

  // Blocks until Shutdown() is called from another thread.
  void Wait();
  // Stops accepting calls; in-flight ones get `grace_ms`. Idempotent.
  void Shutdown(int grace_ms = 5000);

 private:
  struct Impl;
  explicit Broker(std::unique_ptr<Impl> impl);
  // The calls above, not counted in the metrics.
  grpc::Status RunSearch(const v1::SearchRequest& request, absl::Time deadline,
                         v1::SearchResponse* response) const;
  grpc::Status RunWrite(const v1::WriteRequest& request, absl::Time deadline,
                        v1::WriteResponse* response) const;
  grpc::Status RunRefresh(absl::Time deadline, v1::RefreshResponse* response) const;
  grpc::Status RunCommit(absl::Time deadline, v1::CommitResponse* response) const;
  grpc::Status RunGetDocument(const v1::GetDocumentRequest& request, absl::Time deadline,
                              v1::GetDocumentResponse* response) const;
  grpc::Status RunStats(absl::Time deadline, v1::StatsResponse* response) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scry::server

#endif  // SCRY_SERVER_BROKER_H_
