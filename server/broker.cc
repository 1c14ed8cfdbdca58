// File: server/broker.cc
#include "server/broker.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "indexer/jsonl_reader.h"
#include "query/collector.h"
#include "query/search_request.h"
#include "scry/v1/index.grpc.pb.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/convert.h"
#include "server/http_api.h"
#include "server/http_server.h"
#include "server/index_service.h"
#include "server/metrics.h"
#include "server/search_service.h"
#include "server/server.h"
#include "storage/doc_values.h"
#include "storage/hash.h"

namespace scry::server {
namespace {

// Whether a failed call may succeed on another replica: the backend is gone,
// overloaded, or was cut off (a client-side CANCELLED is never ours before a
// group is answered: the broker cancels only the losers).
bool IsRetriable(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return true;
    default:
      return false;
  }
}

// "1, 2" for {1, 2}.
std::string ShardList(const std::set<uint32_t>& shards) { return absl::StrJoin(shards, ", "); }

// Ranks before: higher score, then smaller id (the engine's order).
bool RanksBefore(const v1::Hit& a, const v1::Hit& b) {
  if (a.score() != b.score()) return a.score() > b.score();
  return a.id() < b.id();
}

void Log(const std::string& line) { std::fprintf(stderr, "scry broker: %s\n", line.c_str()); }

// Runs `call`, counting and timing it as `method` in `metrics`.
template <class Call>
grpc::Status Metered(Metrics* metrics, Metrics::Method method, const Call& call) {
  const auto start = std::chrono::steady_clock::now();
  grpc::Status status;
  try {
    status = call();
  } catch (const std::exception& e) {
    status = grpc::Status(grpc::StatusCode::INTERNAL, e.what());
  }
  metrics->Record(method, status.error_code(),
                  static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::steady_clock::now() - start)
                                            .count()));
  return status;
}

// Sums the groups' facets (each answered every value's count of a keyword
// facet): a keyword facet's top `size` values of the sums (most first, ties
// by value) and the distinct values; a range facet's counts per range.
void MergeFacets(const v1::SearchRequest& request, std::vector<v1::SearchResponse>* answers,
                 v1::SearchResponse* response) {
  for (int f = 0; f < request.facets_size(); ++f) {
    const v1::FacetRequest& facet = request.facets(f);
    v1::FacetResult* merged = response->add_facets();
    merged->set_field(facet.field());
    if (facet.ranges_size() > 0) {
      for (const std::string& range : facet.ranges()) merged->add_counts()->set_value(range);
    }
    absl::flat_hash_map<std::string, uint64_t> sums;
    for (v1::SearchResponse& answer : *answers) {
      if (f >= answer.facets_size()) continue;
      v1::FacetResult& part = *answer.mutable_facets(f);
      for (int c = 0; c < part.counts_size(); ++c) {
        if (facet.ranges_size() > 0) {
          if (c < merged->counts_size()) {
            merged->mutable_counts(c)->set_count(merged->counts(c).count() +
                                                 part.counts(c).count());
          }
        } else {
          sums[part.counts(c).value()] += part.counts(c).count();
        }
      }
    }
    if (facet.ranges_size() > 0) continue;
    merged->set_values(sums.size());
    std::vector<query::FacetCount> counts;
    counts.reserve(sums.size());
    for (auto& [value, count] : sums) counts.push_back({value, count});
    query::KeepTopFacetCounts(facet.size() == 0 ? query::kDefaultFacetSize : facet.size(), &counts);
    for (query::FacetCount& kept : counts) {
      v1::FacetCount* c = merged->add_counts();
      c->set_value(std::move(kept.value));
      c->set_count(kept.count);
    }
  }
}

// Orders hits of a sorted search as one server would (query::SortOrder: the
// sort fields' values, read back from Hit.sort_values by the fields' types
// in `index`, missing last; then score, then id).
grpc::Status SortHits(const v1::SearchRequest& request, const v1::DescribeResponse& index,
                      std::vector<v1::Hit>* hits) {
  query::SortOrder order;
  std::vector<storage::FieldType> types;
  for (const v1::SortField& f : request.sort()) {
    order.descending.push_back(f.descending());
    const auto typed = std::find_if(index.typed_fields().begin(), index.typed_fields().end(),
                                    [&](const v1::TypedField& t) { return t.name() == f.field(); });
    if (typed == index.typed_fields().end()) {
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          absl::StrCat("sort field '", f.field(), "' is unknown to the broker"));
    }
    absl::StatusOr<storage::FieldType> type = storage::ParseFieldType(typed->type());
    if (!type.ok())
      return grpc::Status(grpc::StatusCode::INTERNAL, std::string(type.status().message()));
    types.push_back(*type);
  }
  using Keys = std::vector<std::optional<int64_t>>;
  std::vector<std::pair<Keys, v1::Hit>> keyed;
  for (v1::Hit& hit : *hits) {
    if (hit.sort_values_size() != static_cast<int>(types.size())) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "a backend's hit lacks its sort values");
    }
    Keys keys;
    for (size_t k = 0; k < types.size(); ++k) {
      const std::string& text = hit.sort_values(static_cast<int>(k));
      if (text.empty()) {
        keys.push_back(std::nullopt);
        continue;
      }
      absl::StatusOr<int64_t> key = storage::ParseSortKey(types[k], text);
      if (!key.ok())
        return grpc::Status(grpc::StatusCode::INTERNAL, std::string(key.status().message()));
      keys.push_back(*key);
    }
    keyed.emplace_back(std::move(keys), std::move(hit));
  }
  std::sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    return order.Before(a.first, a.second.score(), a.second.id(), b.first, b.second.score(),
                        b.second.id());
  });
  hits->clear();
  for (auto& [keys, hit] : keyed) hits->push_back(std::move(hit));
  return grpc::Status::OK;
}

// A dns:NAME:PORT backend.
struct DnsTarget {
  std::string spec, name, port;
  std::set<std::string> addresses;  // HOST:PORT, as last resolved
};

// Every address `name` resolves to, with `port`, as gRPC targets.
absl::StatusOr<std::set<std::string>> Resolve(const std::string& name, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(name.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) return absl::UnavailableError(absl::StrCat(name, ": ", gai_strerror(rc)));
  std::set<std::string> out;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char host[NI_MAXHOST];
    if (getnameinfo(a->ai_addr, a->ai_addrlen, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) !=
        0) {
      continue;
    }
    out.insert(a->ai_family == AF_INET6 ? absl::StrCat("[", host, "]:", port)
                                        : absl::StrCat(host, ":", port));
  }
  freeaddrinfo(found);
  return out;
}

}  // namespace

// One shard server. `outstanding` counts this broker's calls in flight to
// it; `described` and `describe` are guarded by Impl::mu.
struct Backend {
  std::string address;
  // "Bearer TOKEN" sent with every call (BrokerOptions::backend_token_file);
  // empty: none.
  std::string authorization;
  std::unique_ptr<v1::SearchService::Stub> stub;
  std::unique_ptr<v1::IndexService::Stub> writer;  // on the same channel
  std::atomic<int> outstanding{0};
  std::atomic<uint64_t> last_pick{0};  // Impl::turn when last picked
  bool described = false;              // a Describe (or TermStatistics) ever answered
  // describe.writable(), readable without mu.
  std::atomic<bool> writable{false};
  // The last Describe answered, and no call failed since (read without mu
  // when picking a replica).
  std::atomic<bool> healthy{false};
  v1::DescribeResponse describe;
  // The sequence of the last write it logged: its Describe's write_seq, then
  // raised by the writes it takes through this broker.
  std::atomic<uint64_t> write_seq{0};
  // Writes through this broker sent to it, and those whose answer (and
  // write_seq raise) is done: unequal while one is in flight. A Describe
  // that overlapped a write may predate it, and only raises write_seq.
  std::atomic<uint64_t> writes_begun{0};
  std::atomic<uint64_t> writes_ended{0};
  // Its last write call failed: whether it logged the write is unknown
  // until a Describe that no write overlapped, or the next write's answer,
  // says. The next write is sent to it whatever its write_seq: its answer
  // tells (leaving it out would make it miss that write for real).
  std::atomic<bool> seq_unknown{false};
  // Below the highest write_seq of its group: it missed writes, and is
  // neither searched nor written to (guarded by Impl::mu; for the log).
  bool lagging = false;
};

namespace {

// The replicas of one shard group, and the one the first round used (the
// second round prefers it: the same replica's data for both).
struct Group {
  std::set<uint32_t> shards;
  std::vector<std::shared_ptr<Backend>> replicas;  // healthy first
  std::shared_ptr<Backend> preferred;
};

// What backends of one index share: build id, generation name (only for a
// build without an id: an index or a server from before build ids, where
// the name is all there is; the name of a build with an id is left out, as
// copies of one build may be named differently), settings digest, shards.
using Key = std::tuple<std::string, std::string, std::string, uint32_t>;
Key KeyOf(const v1::DescribeResponse& d) {
  return {d.build_id(), d.build_id().empty() ? d.generation() : std::string(), d.settings_digest(),
          d.num_shards()};
}

// The shards a backend's Describe says it serves.
std::set<uint32_t> ShardsOf(const v1::DescribeResponse& d) {
  return std::set<uint32_t>(d.shards().begin(), d.shards().end());
}

// Raises `seq` to `to` if it is below (writes and health rounds race).
void RaiseTo(std::atomic<uint64_t>& seq, uint64_t to) {
  uint64_t current = seq.load();
  while (current < to && !seq.compare_exchange_weak(current, to)) {
  }
}

// The groups a search uses, of one index, and the shards none covers.
struct Plan {
  Key key;
  // build_id, settings_digest, num_shards, and a generation name of the
  // build for messages (the greatest its backends reported)
  v1::DescribeResponse index;
  std::vector<Group> groups;
  std::set<uint32_t> missing;
};

}  // namespace

struct Broker::Impl final : public v1::SearchService::Service {
  BrokerOptions options;
  grpc::ChannelArguments channel_args;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::unique_ptr<HttpServer> http;  // with http_listen; stopped first
  Metrics metrics;                   // the broker's own calls
  const Broker* broker = nullptr;
  std::atomic<uint64_t> turn{1};  // breaks ties between replicas: in turn

  absl::Mutex mu;
  bool shut_down = false;
  bool stopping = false;           // the background threads end
  bool resolved_once = false;      // dns targets resolved at least once
  bool checked_once = false;       // a health round has completed
  bool all_covered = false;        // as of the last health round
  std::vector<std::string> fixed;  // HOST:PORT backends
  std::vector<DnsTarget> dns;
  std::map<std::string, std::shared_ptr<Backend>> backends;  // by address
  std::thread health_thread, resolve_thread;
  // BrokerOptions::auth_token_file's tokens (all, and those that may
  // write), and "Bearer " + the backend token (or empty).
  std::vector<std::string> tokens, write_tokens;
  std::string backend_authorization;

  // The "authorization" metadata of a gRPC call, or empty.
  static std::string_view AuthorizationOf(const grpc::ServerContext& context) {
    const auto& metadata = context.client_metadata();
    const auto it = metadata.find("authorization");
    return it == metadata.end() ? std::string_view()
                                : std::string_view(it->second.data(), it->second.size());
  }

  // The live writes (scry.v1.IndexService), on the broker's port too.
  struct WriteService final : public v1::IndexService::Service {
    Impl* impl = nullptr;
    grpc::Status Write(grpc::ServerContext* context, const v1::WriteRequest* request,
                       v1::WriteResponse* response) override {
      grpc::Status allowed = impl->broker->Authorize(AuthorizationOf(*context), /*write=*/true);
      if (!allowed.ok()) return allowed;
      return impl->broker->Write(*request, impl->DeadlineOf(*context), response);
    }
    grpc::Status WriteStream(grpc::ServerContext* context,
                             grpc::ServerReader<v1::WriteRequest>* reader,
                             v1::WriteStreamResponse* response) override;
    grpc::Status WriteStreamUnmetered(grpc::ServerContext* context,
                                      grpc::ServerReader<v1::WriteRequest>* reader,
                                      v1::WriteStreamResponse* response);
    grpc::Status Refresh(grpc::ServerContext* context, const v1::RefreshRequest* /*request*/,
                         v1::RefreshResponse* response) override {
      grpc::Status allowed = impl->broker->Authorize(AuthorizationOf(*context), /*write=*/true);
      if (!allowed.ok()) return allowed;
      return impl->broker->Refresh(impl->DeadlineOf(*context), response);
    }
    grpc::Status Commit(grpc::ServerContext* context, const v1::CommitRequest* /*request*/,
                        v1::CommitResponse* response) override {
      grpc::Status allowed = impl->broker->Authorize(AuthorizationOf(*context), /*write=*/true);
      if (!allowed.ok()) return allowed;
      return impl->broker->Commit(impl->DeadlineOf(*context), response);
    }
  };
  WriteService write_service;

  // One write at a time per shard group (by its shards), so that every
  // replica of a group logs this broker's writes in the same order.
  absl::Mutex write_groups_mu;
  std::map<std::set<uint32_t>, std::unique_ptr<absl::Mutex>> write_mus
      ABSL_GUARDED_BY(write_groups_mu);

  absl::Mutex* WriteMutex(const std::set<uint32_t>& shards) {
    absl::MutexLock lock(&write_groups_mu);
    std::unique_ptr<absl::Mutex>& m = write_mus[shards];
    if (m == nullptr) m = std::make_unique<absl::Mutex>();
    return m.get();
  }

  // The replicas of `shards` of the index `key` that ever answered, up or
  // down, now (a write asks under its groups' locks: a plan made before may
  // have seen one replica's answer to the last write and not its peer's).
  std::vector<std::shared_ptr<Backend>> GroupReplicas(const Key& key,
                                                      const std::set<uint32_t>& shards) {
    absl::MutexLock lock(&mu);
    std::vector<std::shared_ptr<Backend>> group;
    for (const auto& [address, b] : backends) {
      if (b->described && KeyOf(b->describe) == key && ShardsOf(b->describe) == shards) {
        group.push_back(b);
      }
    }
    return group;
  }

  // `deadline`, brought in to now + max_deadline_ms if that is set
  // (*capped says whether it was).
  absl::Time Capped(absl::Time deadline, bool* capped) const {
    *capped = false;
    if (options.max_deadline_ms <= 0) return deadline;
    const absl::Time cap = absl::Now() + absl::Milliseconds(options.max_deadline_ms);
    if (cap >= deadline) return deadline;
    *capped = true;
    return cap;
  }

  // `call(deadline)` metered as `method`, its deadline brought in to
  // max_deadline_ms (Capped), and a DEADLINE_EXCEEDED that caused named.
  template <class Call>
  grpc::Status MeteredWithin(Metrics::Method method, absl::Time deadline, const Call& call) {
    bool capped;
    deadline = Capped(deadline, &capped);
    return NameCap(capped, Metered(&metrics, method, [&] { return call(deadline); }));
  }

  // `status`, saying why if it is a deadline brought in by max_deadline_ms.
  grpc::Status NameCap(bool capped, grpc::Status status) const {
    if (!capped || status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) return status;
    return grpc::Status(
        grpc::StatusCode::DEADLINE_EXCEEDED,
        absl::StrCat(status.error_message(), " (the broker's --max-deadline-ms is ",
                     options.max_deadline_ms, ", whatever deadline the client set)"));
  }

  // The client's deadline, or default_deadline_ms from now.
  absl::Time DeadlineOf(const grpc::ServerContext& context) const {
    if (context.deadline() != std::chrono::system_clock::time_point::max()) {
      return absl::FromChrono(context.deadline());
    }
    return absl::Now() + absl::Milliseconds(options.default_deadline_ms);
  }

  // The plan of a call, once the first health round is done (or by
  // `deadline`).
  Plan CurrentPlan(absl::Time deadline) {
    absl::MutexLock lock(&mu);
    mu.AwaitWithDeadline(absl::Condition(&checked_once), deadline);
    return MakePlan(/*healthy_only=*/false);
  }

  grpc::Status Search(grpc::ServerContext* context, const v1::SearchRequest* request,
                      v1::SearchResponse* response) override {
    grpc::Status allowed = broker->Authorize(AuthorizationOf(*context), /*write=*/false);
    if (!allowed.ok()) return allowed;
    return broker->Search(*request, DeadlineOf(*context), response);
  }
  grpc::Status GetDocument(grpc::ServerContext* context, const v1::GetDocumentRequest* request,
                           v1::GetDocumentResponse* response) override {
    grpc::Status allowed = broker->Authorize(AuthorizationOf(*context), /*write=*/false);
    if (!allowed.ok()) return allowed;
    return broker->GetDocument(*request, DeadlineOf(*context), response);
  }
  grpc::Status Stats(grpc::ServerContext* context, const v1::StatsRequest* /*request*/,
                     v1::StatsResponse* response) override {
    grpc::Status allowed = broker->Authorize(AuthorizationOf(*context), /*write=*/false);
    if (!allowed.ok()) return allowed;
    return broker->Stats(DeadlineOf(*context), response);
  }

  // Adds a backend for each address not yet known, drops those no longer
  // named (their calls in flight keep them alive until done).
  void SyncBackends() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::set<std::string> wanted(fixed.begin(), fixed.end());
    for (const DnsTarget& t : dns) wanted.insert(t.addresses.begin(), t.addresses.end());
    for (auto it = backends.begin(); it != backends.end();) {
      if (wanted.count(it->first) == 0) {
        Log(absl::StrCat("backend ", it->first, " dropped (no longer resolved)"));
        it = backends.erase(it);
      } else {
        ++it;
      }
    }
    for (const std::string& address : wanted) {
      if (backends.count(address) > 0) continue;
      auto b = std::make_shared<Backend>();
      b->address = address;
      b->authorization = backend_authorization;
      const std::shared_ptr<grpc::Channel> channel =
          grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), channel_args);
      b->stub = v1::SearchService::NewStub(channel);
      b->writer = v1::IndexService::NewStub(channel);
      backends.emplace(address, std::move(b));
    }
  }

  // Waits up to `d` or until stopping; false when stopping.
  bool Sleep(absl::Duration d) {
    absl::MutexLock lock(&mu);
    mu.AwaitWithTimeout(absl::Condition(&stopping), d);
    return !stopping;
  }

  void ResolveLoop() {
    do {
      std::vector<std::pair<std::string, std::string>> names;
      {
        absl::MutexLock lock(&mu);
        for (const DnsTarget& t : dns) names.emplace_back(t.name, t.port);
      }
      std::vector<absl::StatusOr<std::set<std::string>>> found;
      for (const auto& [name, p] : names) {
        found.push_back(options.resolve ? options.resolve(name, p) : Resolve(name, p));
      }
      absl::MutexLock lock(&mu);
      for (size_t i = 0; i < found.size(); ++i) {
        DnsTarget& t = dns[i];
        if (!found[i].ok()) {  // keep what it resolved to before: DNS hiccups pass
          Log(absl::StrCat("cannot resolve ", t.spec, ": ", found[i].status().message()));
          continue;
        }
        if (*found[i] != t.addresses) {
          Log(absl::StrCat(t.spec, " resolves to ", absl::StrJoin(*found[i], ", ")));
          t.addresses = std::move(*found[i]);
        }
      }
      SyncBackends();
      resolved_once = true;
    } while (Sleep(absl::Seconds(options.resolve_interval_s)));
  }

  // Records what a backend said it serves (or that it failed), logging
  // changes.
  // `begun`: b.writes_begun before the Describe was sent, `idle`: no write
  // was under way then. A Describe that no write through this broker
  // overlapped gives b its write_seq, lower or not (a restarted server may
  // have lost writes); else it may predate a write and only raises it.
  void Update(Backend& b, const grpc::Status& status, const v1::DescribeResponse* describe,
              uint64_t begun, bool idle) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!status.ok()) {
      if (b.healthy) Log(absl::StrCat("backend ", b.address, " down: ", status.error_message()));
      b.healthy = false;
      return;
    }
    if (!b.healthy || !b.described || describe->generation() != b.describe.generation() ||
        describe->build_id() != b.describe.build_id() ||
        describe->shards_size() != b.describe.shards_size()) {
      Log(absl::StrCat("backend ", b.address, " up: ", describe->generation(), " (build ",
                       describe->build_id().empty() ? "unknown" : describe->build_id(), ") shards ",
                       absl::StrJoin(describe->shards(), ","), " of ", describe->num_shards()));
    }
    b.described = true;
    b.healthy = true;
    b.writable = describe->writable();
    b.describe = *describe;
    // Read before the check: a write that begins after it and raises
    // write_seq makes the exchange fail.
    uint64_t current = b.write_seq.load();
    if (idle && b.writes_begun.load() == begun &&
        b.write_seq.compare_exchange_strong(current, describe->write_seq())) {
      b.seq_unknown = false;
    } else {
      RaiseTo(b.write_seq, describe->write_seq());
    }
  }

  // One round of Describe calls to every backend, in parallel.
  void CheckHealth() {
    std::vector<std::shared_ptr<Backend>> all;
    {
      absl::MutexLock lock(&mu);
      for (const auto& [address, b] : backends) all.push_back(b);
    }
    const size_t n = all.size();
    const v1::DescribeRequest request;
    std::vector<v1::DescribeResponse> answers;
    std::vector<grpc::Status> statuses;
    // Begun before ended: equal counts mean every write begun had ended.
    std::vector<uint64_t> begun(n);
    std::vector<bool> idle(n);
    for (size_t i = 0; i < n; ++i) {
      begun[i] = all[i]->writes_begun.load();
      idle[i] = all[i]->writes_ended.load() == begun[i];
    }
    CallEach(
        all, std::vector<const v1::DescribeRequest*>(n, &request),
        absl::Now() + absl::Milliseconds(std::max(options.health_interval_ms, 1000)),
        [](Backend& b, grpc::ClientContext* context, const v1::DescribeRequest* in,
           v1::DescribeResponse* out, std::function<void(grpc::Status)> done) {
          b.stub->async()->Describe(context, in, out, std::move(done));
        },
        &answers, &statuses);
    absl::MutexLock lock(&mu);
    for (size_t i = 0; i < n; ++i) Update(*all[i], statuses[i], &answers[i], begun[i], idle[i]);
    checked_once = true;
    const Plan plan = MakePlan(/*healthy_only=*/true);
    const bool covered = plan.index.num_shards() > 0 && plan.missing.empty();
    if (covered != all_covered) {
      Log(covered ? "every shard is covered"
                  : absl::StrCat("shards ", ShardList(plan.missing), " are not covered"));
    }
    all_covered = covered;
    grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
    if (health != nullptr) {
      health->SetServingStatus("", covered);
      health->SetServingStatus(v1::SearchService::service_full_name(), covered);
    }
  }

  void HealthLoop() {
    {
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(
          +[](Impl* impl) { return impl->resolved_once || impl->stopping; }, this));
    }
    do {
      CheckHealth();
    } while (Sleep(absl::Milliseconds(options.health_interval_ms)));
  }

  // Calls `method` on every backend of `targets` (targets[i] with
  // *requests[i]) in parallel, by `deadline`, and waits for every answer:
  // (*responses)[i] and (*statuses)[i].
  template <class Request, class Response, class Method>
  static void CallEach(const std::vector<std::shared_ptr<Backend>>& targets,
                       const std::vector<const Request*>& requests, absl::Time deadline,
                       Method method, std::vector<Response>* responses,
                       std::vector<grpc::Status>* statuses) {
    const size_t n = targets.size();
    std::vector<grpc::ClientContext> contexts(n);
    responses->assign(n, Response());
    statuses->assign(n, grpc::Status::OK);
    absl::Mutex done_mu;
    size_t left = n;
    for (size_t i = 0; i < n; ++i) {
      contexts[i].set_deadline(absl::ToChronoTime(deadline));
      Backend& b = *targets[i];
      if (!b.authorization.empty()) contexts[i].AddMetadata("authorization", b.authorization);
      b.outstanding.fetch_add(1);
      method(b, &contexts[i], requests[i], &(*responses)[i], [&, i](grpc::Status status) {
        targets[i]->outstanding.fetch_sub(1);
        absl::MutexLock lock(&done_mu);
        (*statuses)[i] = std::move(status);
        --left;
      });
    }
    absl::MutexLock lock(&done_mu);
    done_mu.Await(absl::Condition(
        +[](size_t* k) { return *k == 0; }, &left));
  }

  // Calls `method` (an IndexService method, an empty request) on every
  // writable replica of the current plan that is up, in parallel: their
  // answers, and the first failure naming its backend (UNAVAILABLE if none
  // is up).
  template <class Request, class Response, class Method>
  grpc::Status CallWritable(absl::Time deadline, Method method, std::vector<Response>* answers) {
    const Plan plan = CurrentPlan(deadline);
    std::vector<std::shared_ptr<Backend>> targets;
    for (const Group& g : plan.groups) {
      for (const auto& b : g.replicas) {
        if (b->writable && b->healthy) targets.push_back(b);
      }
    }
    if (targets.empty()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no writable backend is up");
    }
    const Request request;
    std::vector<grpc::Status> statuses;
    CallEach(
        targets, std::vector<const Request*>(targets.size(), &request), deadline,
        [&method](Backend& b, grpc::ClientContext* context, const Request* in, Response* out,
                  std::function<void(grpc::Status)> done) {
          method(b.writer->async(), context, in, out, std::move(done));
        },
        answers, &statuses);
    for (size_t i = 0; i < statuses.size(); ++i) {
      if (!statuses[i].ok()) {
        return grpc::Status(statuses[i].error_code(),
                            absl::StrCat(targets[i]->address, ": ", statuses[i].error_message()));
      }
    }
    return grpc::Status::OK;
  }

  // The groups to search: of the index (build, KeyOf) that covers the most
  // shards with healthy backends (then with any that ever answered, then
  // the greatest generation name among its backends: in one directory the
  // newest; then the greatest build id, only so that the choice is the same
  // every time), groups taken greedily, those with a healthy replica first,
  // each shard once. `healthy_only` leaves out backends down now.
  Plan MakePlan(bool healthy_only) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::map<Key, std::map<std::set<uint32_t>, Group>> by_key;
    for (const auto& [address, b] : backends) {
      if (!b->described || (healthy_only && !b->healthy) || b->describe.shards().empty()) continue;
      Group& g = by_key[KeyOf(b->describe)][ShardsOf(b->describe)];
      g.shards = ShardsOf(b->describe);
      g.replicas.push_back(b);
    }
    // A replica behind the others of its group in writes (write_seq) lacks
    // acknowledged writes: left out, down or not, until it has them (a copy
    // of an up-to-date replica's index directory, with its live/ log).
    LeaveOutLagging(&by_key);
    Plan best;
    std::tuple<size_t, size_t, std::string, std::string> best_rank;
    for (auto& [key, groups] : by_key) {
      Plan plan;
      if (groups.empty()) continue;  // every replica lagging among those considered
      plan.key = key;
      plan.index.set_build_id(std::get<0>(key));
      plan.index.set_generation(std::get<1>(key));
      plan.index.set_settings_digest(std::get<2>(key));
      plan.index.set_num_shards(std::get<3>(key));
      // Equal settings digests: equal typed fields on every backend.
      *plan.index.mutable_typed_fields() =
          groups.begin()->second.replicas.front()->describe.typed_fields();
      std::vector<Group> ordered;
      for (auto& [shards, g] : groups) {
        for (const std::shared_ptr<Backend>& b : g.replicas) {
          if (b->describe.generation() > plan.index.generation()) {
            plan.index.set_generation(b->describe.generation());
          }
        }
        std::stable_partition(g.replicas.begin(), g.replicas.end(),
                              [](const std::shared_ptr<Backend>& b) { return b->healthy.load(); });
        ordered.push_back(std::move(g));
      }
      std::stable_partition(ordered.begin(), ordered.end(),
                            [](const Group& g) { return g.replicas.front()->healthy.load(); });
      std::set<uint32_t> covered, healthy;
      for (Group& g : ordered) {
        const bool overlaps = std::any_of(g.shards.begin(), g.shards.end(),
                                          [&](uint32_t s) { return covered.count(s) > 0; });
        if (overlaps) continue;
        covered.insert(g.shards.begin(), g.shards.end());
        if (g.replicas.front()->healthy) healthy.insert(g.shards.begin(), g.shards.end());
        plan.groups.push_back(std::move(g));
      }
      for (uint32_t s = 0; s < plan.index.num_shards(); ++s) {
        if (covered.count(s) == 0) plan.missing.insert(s);
      }
      const auto rank = std::make_tuple(healthy.size(), covered.size(), plan.index.generation(),
                                        plan.index.build_id());
      if (best.groups.empty() || rank > best_rank) {
        best = std::move(plan);
        best_rank = rank;
      }
    }
    return best;
  }

  // The fetch round of query-then-fetch: the stored fields, snippets and
  // explanations of the page's hits from the groups that hold them (the
  // replica that answered the query round by preference), in place of the
  // page's ids-only hits; scores and sort_values stay the query round's.
  grpc::Status FetchPage(const v1::SearchRequest& search,
                         const absl::flat_hash_map<std::string, size_t>& group_of,
                         absl::Time deadline, std::vector<Group>* groups,
                         v1::SearchResponse* response) {
    std::vector<Group> fetch_groups;
    std::vector<v1::SearchRequest> requests;
    std::vector<size_t> slot_of(groups->size(), SIZE_MAX);  // group -> position in fetch_groups
    std::vector<std::vector<int>> positions;                // page positions per fetch group
    for (int i = 0; i < response->hits_size(); ++i) {
      const v1::Hit& hit = response->hits(i);
      const auto it = group_of.find(hit.id());
      if (it == group_of.end())
        return grpc::Status(grpc::StatusCode::INTERNAL, "a hit without its group");
      size_t& slot = slot_of[it->second];
      if (slot == SIZE_MAX) {
        slot = fetch_groups.size();
        fetch_groups.push_back((*groups)[it->second]);
        v1::SearchRequest& r = requests.emplace_back(search);
        r.clear_ids_only();
        r.clear_facets();
        r.clear_facet_all_values();
        r.clear_search_after();
        r.set_offset(0);
        positions.emplace_back();
      }
      v1::FetchHit* f = requests[slot].add_fetch();
      f->set_id(hit.id());
      f->set_score(hit.score());
      positions[slot].push_back(i);
    }
    std::vector<const v1::SearchRequest*> request_of;
    for (v1::SearchRequest& r : requests) {
      r.set_top_k(static_cast<uint32_t>(r.fetch_size()));
      request_of.push_back(&r);
    }
    std::vector<v1::SearchResponse> answers;
    std::vector<grpc::Status> statuses;
    CallGroups(
        fetch_groups, request_of, deadline,
        [](auto* async, auto* context, auto* in, auto* out,
           std::function<void(grpc::Status)> done) {
          async->Search(context, in, out, std::move(done));
        },
        std::function<grpc::Status(Backend&, const v1::SearchResponse&)>(), &answers, &statuses);
    for (size_t g = 0; g < fetch_groups.size(); ++g) {
      if (!statuses[g].ok()) return statuses[g];
      // In the order asked; an id deleted since the query round is missing:
      // its hit keeps the id and score alone.
      int next = 0;
      for (const int i : positions[g]) {
        v1::Hit* hit = response->mutable_hits(i);
        if (next < answers[g].hits_size() && answers[g].hits(next).id() == hit->id()) {
          v1::Hit fetched = std::move(*answers[g].mutable_hits(next++));
          *fetched.mutable_sort_values() = std::move(*hit->mutable_sort_values());
          fetched.set_score(hit->score());
          *hit = std::move(fetched);
        }
      }
    }
    return grpc::Status::OK;
  }

  // Drops from each group the replicas whose write_seq is below the
  // group's highest (of every replica that ever answered), logging changes.
  void LeaveOutLagging(std::map<Key, std::map<std::set<uint32_t>, Group>>* by_key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::map<std::pair<Key, std::set<uint32_t>>, uint64_t> highest;
    for (const auto& [address, b] : backends) {
      if (!b->described || b->describe.shards().empty()) continue;
      uint64_t& h = highest[{KeyOf(b->describe), ShardsOf(b->describe)}];
      h = std::max(h, b->write_seq.load());
    }
    for (auto& [key, groups] : *by_key) {
      for (auto& [shards, g] : groups) {
        const uint64_t h = highest[{key, shards}];
        auto lags = [&](const std::shared_ptr<Backend>& b) {
          // A write under way to it raises its write_seq once answered:
          // not judged until then (its peer may have answered first).
          if (b->writes_begun.load() != b->writes_ended.load()) return false;
          const bool lagging = b->write_seq.load() < h;
          if (lagging != b->lagging) {
            Log(!lagging ? absl::StrCat("backend ", b->address, " has every write again")
                : b->seq_unknown
                    ? absl::StrCat("backend ", b->address, " did not answer a write (write_seq ",
                                   b->write_seq.load(), " < ", h,
                                   " as far as known): not searched until it says it has it")
                    : absl::StrCat("backend ", b->address, " missed writes (write_seq ",
                                   b->write_seq.load(), " < ", h, "): not used until it has them"));
            b->lagging = lagging;
          }
          return lagging;
        };
        g.replicas.erase(std::remove_if(g.replicas.begin(), g.replicas.end(), lags),
                         g.replicas.end());
      }
      for (auto it = groups.begin(); it != groups.end();) {
        it = it->second.replicas.empty() ? groups.erase(it) : std::next(it);
      }
    }
  }

  // One call to one replica for a group, alive until its callback ran.
  template <class Response>
  struct Attempt {
    size_t group;
    std::shared_ptr<Backend> backend;
    grpc::ClientContext context;
    Response response;
    grpc::Status status;
  };

  // Calls `method` once per group of `groups` with `request`, in parallel,
  // by `deadline`: on the preferred replica, else the healthy one with the
  // fewest outstanding calls (ties in turn); a retriable failure is tried
  // on the next untried replica, and with hedging an unanswered call gets a
  // second one after hedge_after_ms. `check` may refuse an answer (as a
  // retriable failure). Fills each group's answer (by position), its
  // status (OK, or the last failure) and the replica that answered.
  template <class Request, class Response, class Method>
  void CallGroups(std::vector<Group>& groups, const Request& request, absl::Time deadline,
                  Method method,
                  const std::function<grpc::Status(Backend&, const Response&)>& check,
                  std::vector<Response>* responses, std::vector<grpc::Status>* statuses,
                  const std::function<const Request*(size_t)>& refine = {}) {
    CallGroups(groups, std::vector<const Request*>(groups.size(), &request), deadline, method,
               check, responses, statuses, refine);
  }
  // The same with a request per group (requests[g] for groups[g]).
  template <class Request, class Response, class Method>
  // `refine`, if given, may replace a group's request for a retry or a
  // hedge (sent once other groups may have answered: *responses holds
  // their answers); null keeps it.
  void CallGroups(std::vector<Group>& groups, const std::vector<const Request*>& requests,
                  absl::Time deadline, Method method,
                  const std::function<grpc::Status(Backend&, const Response&)>& check,
                  std::vector<Response>* responses, std::vector<grpc::Status>* statuses,
                  const std::function<const Request*(size_t)>& refine = {}) {
    using A = Attempt<Response>;
    const size_t n = groups.size();
    responses->assign(n, Response());
    statuses->assign(n, grpc::Status(grpc::StatusCode::UNAVAILABLE, "no replica"));
    struct State {
      std::set<const Backend*> tried;
      std::vector<A*> in_flight;
      bool done = false;
      absl::Time hedge_at = absl::InfiniteFuture();
      std::vector<std::string> errors;
    };
    std::vector<State> state(n);
    std::deque<A> attempts;  // stable addresses for the callbacks
    absl::Mutex done_mu;
    std::vector<A*> finished;  // guarded by done_mu
    const absl::Duration hedge = options.hedge_after_ms > 0
                                     ? absl::Milliseconds(options.hedge_after_ms)
                                     : absl::InfiniteDuration();
    // Starts one more call for group g; false if no replica is left.
    auto issue = [&](size_t g) {
      State& s = state[g];
      std::shared_ptr<Backend> pick;
      Group& group = groups[g];
      if (group.preferred != nullptr && s.tried.count(group.preferred.get()) == 0) {
        pick = group.preferred;
      } else {
        // Healthy before down, then fewer outstanding calls, then the one
        // picked longest ago.
        auto rank = [](const Backend& b) {
          return std::make_tuple(!b.healthy, b.outstanding.load(), b.last_pick.load());
        };
        for (const std::shared_ptr<Backend>& b : group.replicas) {
          if (s.tried.count(b.get()) > 0) continue;
          if (pick == nullptr || rank(*b) < rank(*pick)) pick = b;
        }
      }
      if (pick == nullptr) return false;
      const bool again = !s.tried.empty();  // a retry or a hedge
      s.tried.insert(pick.get());
      A& a = attempts.emplace_back();
      a.group = g;
      a.backend = pick;
      a.context.set_deadline(absl::ToChronoTime(deadline));
      if (!pick->authorization.empty()) a.context.AddMetadata("authorization", pick->authorization);
      s.in_flight.push_back(&a);
      s.hedge_at = absl::Now() + hedge;
      pick->outstanding.fetch_add(1);
      pick->last_pick.store(turn.fetch_add(1));
      A* ap = &a;
      const Request* request = requests[g];
      if (again && refine) {
        if (const Request* refined = refine(g)) request = refined;
      }
      method(pick->stub->async(), &a.context, request, &a.response, [&, ap](grpc::Status status) {
        ap->backend->outstanding.fetch_sub(1);
        absl::MutexLock lock(&done_mu);
        ap->status = std::move(status);
        finished.push_back(ap);
      });
      return true;
    };
    size_t open = n;
    for (size_t g = 0; g < n; ++g) {
      if (!issue(g)) {
        state[g].done = true;
        --open;
      }
    }
    while (open > 0) {
      absl::Time wake = deadline + absl::Seconds(1);  // calls end by the deadline anyway
      for (const State& s : state) {
        if (!s.done) wake = std::min(wake, s.hedge_at);
      }
      std::vector<A*> batch;
      {
        absl::MutexLock lock(&done_mu);
        done_mu.AwaitWithDeadline(absl::Condition(
                                      +[](std::vector<A*>* f) { return !f->empty(); }, &finished),
                                  wake);
        batch.swap(finished);
      }
      for (A* a : batch) {
        State& s = state[a->group];
        s.in_flight.erase(std::find(s.in_flight.begin(), s.in_flight.end(), a));
        if (s.done) continue;  // a loser
        grpc::Status status = a->status;
        if (status.ok() && check) status = check(*a->backend, a->response);
        if (status.ok()) {
          s.done = true;
          --open;
          (*responses)[a->group] = std::move(a->response);
          (*statuses)[a->group] = grpc::Status::OK;
          groups[a->group].preferred = a->backend;
          for (A* other : s.in_flight) other->context.TryCancel();
          continue;
        }
        s.errors.push_back(absl::StrCat(a->backend->address, ": ", status.error_message()));
        if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
          absl::MutexLock lock(&mu);
          Update(*a->backend, status, nullptr, 0, false);
        }
        const bool retry = IsRetriable(status) && absl::Now() < deadline;
        if (retry && issue(a->group)) continue;
        if (retry && !s.in_flight.empty()) continue;  // a hedge may still answer
        s.done = true;
        --open;
        (*statuses)[a->group] =
            IsRetriable(status) && status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED
                ? grpc::Status(grpc::StatusCode::UNAVAILABLE, absl::StrJoin(s.errors, "; "))
                : status;
        for (A* other : s.in_flight) other->context.TryCancel();
      }
      const absl::Time now = absl::Now();
      for (size_t g = 0; g < n; ++g) {
        State& s = state[g];
        if (s.done || now < s.hedge_at) continue;
        if (!issue(g)) s.hedge_at = absl::InfiniteFuture();  // no replica left to hedge on
      }
    }
    // The losers' callbacks still refer to `attempts`: wait for them.
    absl::MutexLock lock(&done_mu);
    size_t ended = 0;
    for (const State& s : state) ended += s.in_flight.size();
    auto all_in = [&] { return finished.size() >= ended; };
    done_mu.Await(absl::Condition(&all_in));
  }
};

Broker::Broker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) { impl_->broker = this; }

Broker::~Broker() { Shutdown(); }

int Broker::port() const { return impl_->port; }

grpc::Status Broker::Authorize(std::string_view authorization, bool write) const {
  if (impl_->tokens.empty()) return grpc::Status::OK;
  if (const char* problem = BearerTokenProblem(authorization, impl_->tokens)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        absl::StrCat(problem,
                                     ": send \"authorization: Bearer TOKEN\" with a token "
                                     "of the broker's --auth-token-file"));
  }
  if (write && BearerTokenProblem(authorization, impl_->write_tokens) != nullptr) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "this token may not write: writes need a token with the write scope "
                        "(a line \"TOKEN write\" in the broker's --auth-token-file)");
  }
  return grpc::Status::OK;
}

int Broker::http_port() const { return impl_->http != nullptr ? impl_->http->port() : 0; }

absl::StatusOr<std::unique_ptr<Broker>> Broker::Start(const BrokerOptions& options) {
  if (options.backends.empty()) return absl::InvalidArgumentError("a broker needs --backends");
  if (options.max_deadline_ms < 0 || options.default_deadline_ms <= 0 ||
      (options.max_deadline_ms > 0 && options.default_deadline_ms > options.max_deadline_ms)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--default-deadline-ms ", options.default_deadline_ms, " must be positive and at most ",
        "--max-deadline-ms ", options.max_deadline_ms, " (0: no maximum)"));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (!options.auth_token_file.empty()) {
    absl::StatusOr<std::vector<ScopedToken>> tokens = ReadScopedTokenFile(options.auth_token_file);
    if (!tokens.ok()) return tokens.status();
    for (ScopedToken& t : *tokens) {
      if (t.write) impl->write_tokens.push_back(t.token);
      impl->tokens.push_back(std::move(t.token));
    }
  }
  if (!options.backend_token_file.empty()) {
    absl::StatusOr<std::vector<ScopedToken>> tokens =
        ReadScopedTokenFile(options.backend_token_file);
    if (!tokens.ok()) return tokens.status();
    const std::string& token = tokens->front().token;
    // gRPC aborts on metadata outside printable ASCII: refused here.
    if (!std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
      return absl::InvalidArgumentError(absl::StrCat(
          options.backend_token_file, ": the token must be printable ASCII without spaces"));
    }
    impl->backend_authorization = "Bearer " + token;
  }
  if (!impl->tokens.empty() && !IsLoopbackListen(options.listen)) {
    std::fprintf(stderr,
                 "scry broker: warning: bearer tokens travel in plaintext to %s: anyone on the "
                 "network path can read and reuse them\n",
                 options.listen.c_str());
  }
  impl->channel_args.SetMaxReceiveMessageSize(-1);  // the backends' answers are bounded by them
  // A backend that comes back is reconnected within a second (gRPC's
  // default backoff grows to two minutes).
  impl->channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  impl->channel_args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  impl->channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  for (const std::string& backend : options.backends) {
    if (!absl::StartsWith(backend, "dns:")) {
      impl->fixed.push_back(backend);
      continue;
    }
    DnsTarget t;
    t.spec = backend;
    const std::string rest = backend.substr(4);
    const size_t colon = rest.rfind(':');
    uint32_t port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port == 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("backend ", backend, ": expected dns:NAME:PORT"));
    }
    t.name = rest.substr(0, colon);
    t.port = rest.substr(colon + 1);
    impl->dns.push_back(std::move(t));
  }
  {
    absl::MutexLock lock(&impl->mu);
    impl->SyncBackends();
  }
  // The Broker first: a call may come as soon as the server starts, and
  // the service reaches the broker through impl->broker.
  Impl* p = impl.get();
  std::unique_ptr<Broker> broker(new Broker(std::move(impl)));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  // No schema for a client without a token (reflection is registered for
  // every server of the process).
  if (!p->tokens.empty()) builder.SetOption(NoReflectionOption());
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &p->port);
  builder.RegisterService(p);
  p->write_service.impl = p;
  builder.RegisterService(&p->write_service);
  p->server = builder.BuildAndStart();
  if (p->server == nullptr || p->port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  if (grpc::HealthCheckServiceInterface* health = p->server->GetHealthCheckService()) {
    health->SetServingStatus("", false);  // until every shard is covered
    health->SetServingStatus(v1::SearchService::service_full_name(), false);
  }
  p->resolve_thread = std::thread([p] { p->ResolveLoop(); });
  p->health_thread = std::thread([p] { p->HealthLoop(); });
  if (!options.http_listen.empty()) {
    // Each call holds a listener worker while it waits on the backends
    // (most of its time: the work is theirs), so there are many more workers
    // than cores: with one per core, 16 HTTP clients got half the gRPC
    // throughput (bench/RESULTS.md run 26).
    HttpServerOptions http;
    http.worker_threads = std::max(32, 8 * static_cast<int>(std::thread::hardware_concurrency()));
    absl::StatusOr<std::unique_ptr<HttpServer>> started = HttpServer::Start(
        options.http_listen, BrokerJsonApiRoutes(broker.get(), options.default_deadline_ms), http);
    if (!started.ok()) {
      return absl::Status(started.status().code(),
                          absl::StrCat(started.status().message(), " (--http-listen)"));
    }
    p->http = std::move(*started);
    Log(absl::StrCat("HTTP/JSON API and search page on port ", p->http->port(), " (",
                     options.http_listen, ")"));
  }
  return broker;
}

grpc::Status Broker::Search(const v1::SearchRequest& request, absl::Time deadline,
                            v1::SearchResponse* response) const {
  return impl_->MeteredWithin(Metrics::kSearch, deadline,
                              [&](absl::Time d) { return RunSearch(request, d, response); });
}

grpc::Status Broker::Write(const v1::WriteRequest& request, absl::Time deadline,
                           v1::WriteResponse* response) const {
  return impl_->MeteredWithin(Metrics::kWrite, deadline,
                              [&](absl::Time d) { return RunWrite(request, d, response); });
}

grpc::Status Broker::Refresh(absl::Time deadline, v1::RefreshResponse* response) const {
  return impl_->MeteredWithin(Metrics::kRefresh, deadline,
                              [&](absl::Time d) { return RunRefresh(d, response); });
}

grpc::Status Broker::Commit(absl::Time deadline, v1::CommitResponse* response) const {
  return impl_->MeteredWithin(Metrics::kCommit, deadline,
                              [&](absl::Time d) { return RunCommit(d, response); });
}

grpc::Status Broker::GetDocument(const v1::GetDocumentRequest& request, absl::Time deadline,
                                 v1::GetDocumentResponse* response) const {
  return impl_->MeteredWithin(Metrics::kGetDocument, deadline,
                              [&](absl::Time d) { return RunGetDocument(request, d, response); });
}

grpc::Status Broker::Stats(absl::Time deadline, v1::StatsResponse* response) const {
  // The broker's own figures first, so that this call is not among the
  // calls they report (as a server's Stats does not count itself).
  ProcessStats(response);
  v1::StatsResponse index;
  const grpc::Status status = impl_->MeteredWithin(
      Metrics::kStats, deadline, [&](absl::Time d) { return RunStats(d, &index); });
  if (!status.ok()) return status;
  index.MergeFrom(*response);
  *response = std::move(index);
  return status;
}

void Broker::ProcessStats(v1::StatsResponse* response) const {
  impl_->metrics.Fill(response);
  Impl& impl = *impl_;
  absl::MutexLock lock(&impl.mu);
  for (const auto& [address, b] : impl.backends) {
    v1::BackendStatus* status = response->add_backends();
    status->set_address(address);
    status->set_up(b->healthy.load());
    if (b->described) {
      *status->mutable_shards() = b->describe.shards();
      status->set_build_id(b->describe.build_id());
      status->set_generation(b->describe.generation());
      status->set_writable(b->writable.load());
    }
    status->set_write_seq(b->write_seq.load());
    status->set_lagging(b->lagging);
    status->set_calls_in_flight(static_cast<uint32_t>(std::max(0, b->outstanding.load())));
  }
}

grpc::Status Broker::RunSearch(const v1::SearchRequest& request, absl::Time deadline,
                               v1::SearchResponse* response) const {
  const auto start = std::chrono::steady_clock::now();
  Impl& impl = *impl_;
  Plan plan = impl.CurrentPlan(deadline);
  if (plan.groups.empty()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no backend answered");
  }
  const uint32_t num_shards = plan.index.num_shards();
  std::set<uint32_t> missing = plan.missing;
  std::vector<std::string> gone;
  // A group whose every replica failed: its shards are missing.
  auto drop = [&](std::vector<Group>* groups, std::vector<grpc::Status>* statuses,
                  auto* answers) -> grpc::Status {
    std::vector<Group> kept_groups;
    std::remove_reference_t<decltype(*answers)> kept_answers;
    for (size_t i = 0; i < groups->size(); ++i) {
      const grpc::Status& s = (*statuses)[i];
      if (s.ok()) {
        kept_groups.push_back(std::move((*groups)[i]));
        kept_answers.push_back(std::move((*answers)[i]));
        continue;
      }
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE) return s;
      missing.insert((*groups)[i].shards.begin(), (*groups)[i].shards.end());
      gone.push_back(s.error_message());
    }
    *groups = std::move(kept_groups);
    *answers = std::move(kept_answers);
    if (missing.empty() || (request.allow_partial_results() && !groups->empty())) {
      return grpc::Status::OK;
    }
    return grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        absl::StrCat("shards ", ShardList(missing), " of ", num_shards, " are served by no backend",
                     gone.empty() ? "" : absl::StrCat(" (", absl::StrJoin(gone, "; "), ")")));
  };

  // One group holding every shard: its own statistics are the global ones,
  // so the search goes out alone (one hop instead of two; bench/RESULTS.md
  // run 19 measured ~1.2 ms per query for the broker's hops).
  const bool one_group = plan.groups.size() == 1 && plan.groups[0].shards.size() == num_shards;
  query::PlanStatistics stats;
  if (!one_group) {
    // Phase 1: each group's statistics, from a replica serving what the plan
    // says (a generation changed since the last health check is retried).
    v1::TermStatisticsRequest stats_request;
    *stats_request.mutable_request() = request;
    std::vector<v1::TermStatisticsResponse> parts;
    std::vector<grpc::Status> statuses;
    std::map<const Backend*, std::set<uint32_t>> expected;
    for (const Group& g : plan.groups) {
      for (const auto& b : g.replicas) expected[b.get()] = g.shards;
    }
    std::function<grpc::Status(Backend&, const v1::TermStatisticsResponse&)> check =
        [&](Backend& b, const v1::TermStatisticsResponse& part) {
          const v1::DescribeResponse& d = part.server();
          if (KeyOf(d) == KeyOf(plan.index) && ShardsOf(d) == expected[&b]) {
            return grpc::Status::OK;
          }
          {
            absl::MutexLock lock(&impl.mu);
            impl.Update(b, grpc::Status::OK, &d, 0, /*idle=*/false);  // raises only
          }
          return grpc::Status(grpc::StatusCode::ABORTED,
                              absl::StrCat("now serves ", d.generation(), " (build ", d.build_id(),
                                           ") shards ", absl::StrJoin(d.shards(), ",")));
        };
    impl.CallGroups(
        plan.groups, stats_request, deadline,
        [](auto* async, auto* context, auto* in, auto* out,
           std::function<void(grpc::Status)> done) {
          async->TermStatistics(context, in, out, std::move(done));
        },
        check, &parts, &statuses);
    if (grpc::Status s = drop(&plan.groups, &statuses, &parts); !s.ok()) return s;
    for (const auto& part : parts) stats.Merge(FromProto(part.statistics()));
  }

  // Phase 2: each group's best offset + top_k after search_after, scored
  // with the sums.
  const uint32_t top_k = request.top_k() == 0 ? query::kDefaultTopK : request.top_k();
  v1::SearchRequest search = request;
  search.set_offset(0);
  search.set_top_k(request.offset() + top_k);
  search.clear_allow_partial_results();
  if (!one_group) ToProto(stats, search.mutable_statistics());
  // Every value's count of a keyword facet from each group: the top values
  // of the sums are not the sums of each group's top values.
  if (request.facets_size() > 0 && !one_group) search.set_facet_all_values(true);
  // Query then fetch (as Elasticsearch's): when the page's hits cost more
  // than their ids (stored fields, snippets, explanations), each group
  // answers ids and scores only, and the final page alone is fetched, from
  // the groups that hold it: offset + top_k fetched in all rather than as
  // many per group, for one more (parallel) round trip. Titles alone come
  // with the query round: a title is a small read, cheaper than the trip.
  const bool fetch_page =
      impl.options.query_then_fetch && !one_group &&
      (request.fields_size() > 0 || request.has_highlight() || request.explain());
  if (fetch_page) search.set_ids_only(true);
  std::vector<v1::SearchResponse> answers;
  std::vector<grpc::Status> statuses;
  // A retry or a hedge goes out after other groups may have answered: the
  // (offset + top_k)-th best score among their hits bounds the page, so the
  // late call prunes from there (SearchRequest.min_competitive_score).
  std::deque<v1::SearchRequest> refined;
  const size_t keep = size_t{request.offset()} + top_k;
  auto refine = [&](size_t /*group*/) -> const v1::SearchRequest* {
    if (request.sort_size() > 0 || request.exact_total_hits()) return nullptr;
    std::vector<double> scores;
    for (const v1::SearchResponse& a : answers) {
      for (const v1::Hit& hit : a.hits()) scores.push_back(hit.score());
    }
    if (scores.size() < keep) return nullptr;
    std::nth_element(scores.begin(), scores.begin() + static_cast<std::ptrdiff_t>(keep - 1),
                     scores.end(), std::greater<double>());
    if (scores[keep - 1] <= 0) return nullptr;
    v1::SearchRequest& r = refined.emplace_back(search);
    r.set_min_competitive_score(scores[keep - 1]);
    return &r;
  };
  impl.CallGroups(
      plan.groups, search, deadline,
      [](auto* async, auto* context, auto* in, auto* out, std::function<void(grpc::Status)> done) {
        async->Search(context, in, out, std::move(done));
      },
      std::function<grpc::Status(Backend&, const v1::SearchResponse&)>(), &answers, &statuses,
      std::function<const v1::SearchRequest*(size_t)>(refine));
  if (grpc::Status s = drop(&plan.groups, &statuses, &answers); !s.ok()) return s;
  std::vector<v1::Hit> hits;
  absl::flat_hash_map<std::string, size_t> group_of;  // a hit's group (fetch_page)
  if (!one_group) MergeFacets(request, &answers, response);
  for (size_t g = 0; g < answers.size(); ++g) {
    v1::SearchResponse& answer = answers[g];
    if (fetch_page) {
      for (const v1::Hit& hit : answer.hits()) group_of[hit.id()] = g;
    }
    if (one_group) *response->mutable_facets() = std::move(*answer.mutable_facets());
    response->set_total_hits(response->total_hits() + answer.total_hits());
    response->set_total_hits_is_lower_bound(response->total_hits_is_lower_bound() ||
                                            answer.total_hits_is_lower_bound());
    response->set_expansions_truncated(response->expansions_truncated() ||
                                       answer.expansions_truncated());
    for (v1::Hit& hit : *answer.mutable_hits()) hits.push_back(std::move(hit));
  }
  if (request.sort_size() == 0) {
    std::sort(hits.begin(), hits.end(), RanksBefore);
  } else if (grpc::Status s = SortHits(request, plan.index, &hits); !s.ok()) {
    return s;
  }
  const size_t end = std::min<size_t>(hits.size(), size_t{request.offset()} + top_k);
  for (size_t i = request.offset(); i < end; ++i) *response->add_hits() = std::move(hits[i]);
  if (fetch_page && response->hits_size() > 0) {
    if (grpc::Status s = impl.FetchPage(search, group_of, deadline, &plan.groups, response);
        !s.ok()) {
      return s;
    }
  }
  for (const uint32_t s : missing) response->add_missing_shards(s);
  response->set_took_micros(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::steady_clock::now() - start)
                                .count()));
  return grpc::Status::OK;
}

namespace {

// The group of `plan` holding `shard`, or -1.
int GroupOf(const Plan& plan, uint32_t shard) {
  for (size_t g = 0; g < plan.groups.size(); ++g) {
    if (plan.groups[g].shards.count(shard) > 0) return static_cast<int>(g);
  }
  return -1;
}

void SetResult(v1::OperationResult* result, grpc::StatusCode code, const std::string& message) {
  result->set_code(absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
  result->set_message(message);
}

}  // namespace

grpc::Status Broker::RunWrite(const v1::WriteRequest& request, absl::Time deadline,
                              v1::WriteResponse* response) const {
  Impl& impl = *impl_;
  const Plan plan = impl.CurrentPlan(deadline);
  const uint32_t num_shards = plan.index.num_shards();
  if (num_shards == 0) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no backend answered");
  for (int i = 0; i < request.ops_size(); ++i) response->add_results();
  // Route each operation by its id to its shard's group (a document that
  // has no usable id is refused here, in the servers' words).
  thread_local indexer::DocumentParser parser;
  std::map<int, std::vector<int>> routed;  // group -> operations, in request order
  for (int i = 0; i < request.ops_size(); ++i) {
    v1::OperationResult* result = response->mutable_results(i);
    absl::StatusOr<WriteOp> op = ToWriteOp(request.ops(i));
    if (!op.ok()) {
      SetResult(result, grpc::StatusCode::INVALID_ARGUMENT, std::string(op.status().message()));
      continue;
    }
    std::string id = std::move(op->id);
    if (op->kind == OpKind::kUpsert) {
      absl::StatusOr<std::string> parsed = parser.ParseId(&op->document);
      if (!parsed.ok()) {
        SetResult(result, grpc::StatusCode::INVALID_ARGUMENT,
                  std::string(parsed.status().message()));
        continue;
      }
      id = *std::move(parsed);
    }
    const uint32_t shard = storage::ShardForId(id, num_shards);
    const int g = GroupOf(plan, shard);
    if (g < 0) {
      SetResult(result, grpc::StatusCode::UNAVAILABLE,
                absl::StrCat("shard ", shard, " of ", num_shards, " is served by no backend"));
      continue;
    }
    routed[g].push_back(i);
  }
  // Each group's operations to each of its writable replicas that is up and
  // in sync, one write per group at a time: the groups are locked in the
  // order of their shards, whatever order the plan has them in (two writes
  // never wait on each other's next lock), and their replicas chosen under
  // the locks.
  struct GroupWrite {
    int group;
    v1::WriteRequest request;
    std::vector<size_t> targets;  // positions in `targets` below
    size_t needed = 0;
  };
  std::vector<GroupWrite> writes;
  std::vector<std::shared_ptr<Backend>> targets;
  std::vector<const v1::WriteRequest*> requests;
  std::vector<std::pair<std::set<uint32_t>, absl::Mutex*>> locks;  // by the groups' shards
  for (const auto& [g, ops] : routed) {
    locks.emplace_back(plan.groups[g].shards, impl.WriteMutex(plan.groups[g].shards));
  }
  std::sort(locks.begin(), locks.end());
  for (const auto& [shards, m] : locks) m->Lock();
  for (const auto& [g, ops] : routed) {
    const Group& group = plan.groups[g];
    const std::vector<std::shared_ptr<Backend>> replicas =
        impl.GroupReplicas(plan.key, group.shards);
    // In sync: the group's highest write_seq (settled: none of this
    // broker's writes to them is under way); or unknown since a failed
    // call, and sent the write so that its answer tells.
    uint64_t highest = 0;
    for (const auto& b : replicas) highest = std::max(highest, b->write_seq.load());
    std::vector<std::shared_ptr<Backend>> writable, up;
    for (const auto& b : replicas) {
      if (!b->writable || (b->write_seq.load() < highest && !b->seq_unknown)) continue;
      writable.push_back(b);
      if (b->healthy) up.push_back(b);
    }
    const size_t needed = impl.options.write_acks == 0
                              ? writable.size()
                              : static_cast<size_t>(impl.options.write_acks);
    std::string refusal;
    grpc::StatusCode code = grpc::StatusCode::UNAVAILABLE;
    if (replicas.empty()) {  // they moved to another build since the plan
      refusal = absl::StrCat("shards ", ShardList(group.shards), ": no server serves them from ",
                             plan.index.generation(), " now (a new build is being loaded?)");
    } else if (writable.empty()) {
      code = grpc::StatusCode::FAILED_PRECONDITION;
      refusal = absl::StrCat("the servers of shards ", ShardList(group.shards),
                             " take no writes (--read-only)");
    } else if (up.size() < needed || up.empty()) {
      refusal =
          absl::StrCat("shards ", ShardList(group.shards), ": ", up.size(), " of ", writable.size(),
                       " replicas are up, --write-acks needs ", std::max<size_t>(needed, 1));
    }
    if (!refusal.empty()) {
      for (const int i : ops) SetResult(response->mutable_results(i), code, refusal);
      continue;
    }
    GroupWrite& w = writes.emplace_back();
    w.group = g;
    w.needed = std::max<size_t>(needed, 1);
    w.request.set_sync(request.sync());
    for (const int i : ops) *w.request.add_ops() = request.ops(i);
    for (const auto& b : up) {
      w.targets.push_back(targets.size());
      targets.push_back(b);
    }
  }
  for (const GroupWrite& w : writes) {
    for (size_t k = 0; k < w.targets.size(); ++k) requests.push_back(&w.request);
  }
  for (const auto& b : targets) b->writes_begun.fetch_add(1);
  std::vector<v1::WriteResponse> answers;
  std::vector<grpc::Status> statuses;
  Impl::CallEach(
      targets, requests, deadline,
      [](Backend& b, grpc::ClientContext* context, const v1::WriteRequest* in,
         v1::WriteResponse* out, std::function<void(grpc::Status)> done) {
        b.writer->async()->Write(context, in, out, std::move(done));
      },
      &answers, &statuses);
  // A replica's write_seq is what it logged last: this write's, lower or
  // not (a server restarted since the last write may have lost some). One
  // that failed the call may have logged it or not: the next write is sent
  // to it and its answer tells (searches leave it out meanwhile if its
  // peers logged it); one that is gone (UNAVAILABLE) is down until a
  // health round finds it.
  for (size_t t = 0; t < targets.size(); ++t) {
    Backend& b = *targets[t];
    if (!statuses[t].ok()) {
      b.seq_unknown = true;
      if (statuses[t].error_code() == grpc::StatusCode::UNAVAILABLE) {
        absl::MutexLock lock(&impl.mu);
        impl.Update(b, statuses[t], nullptr, 0, false);
      }
      continue;
    }
    uint64_t seq = 0;
    for (const v1::OperationResult& r : answers[t].results()) {
      if (r.code() == "OK") seq = std::max<uint64_t>(seq, r.seq());
    }
    if (seq > 0) {  // 0: it logged nothing, and says nothing of its sequence
      b.write_seq = seq;
      b.seq_unknown = false;
    }
  }
  for (const auto& b : targets) b->writes_ended.fetch_add(1);
  for (auto it = locks.rbegin(); it != locks.rend(); ++it) it->second->Unlock();
  // Each operation: OK once `needed` replicas logged it; a refusal all
  // replicas agree on as they said it; else UNAVAILABLE with their errors.
  for (const GroupWrite& w : writes) {
    const std::vector<int>& ops = routed[w.group];
    for (size_t j = 0; j < ops.size(); ++j) {
      size_t acks = 0;
      uint64_t seq = 0;
      const v1::OperationResult* refused = nullptr;
      std::vector<std::string> errors;
      for (const size_t t : w.targets) {
        if (!statuses[t].ok()) {
          errors.push_back(absl::StrCat(targets[t]->address, ": ", statuses[t].error_message()));
          continue;
        }
        if (answers[t].results_size() != static_cast<int>(ops.size())) {
          errors.push_back(absl::StrCat(targets[t]->address, ": ", answers[t].results_size(),
                                        " results for ", ops.size(), " operations"));
          continue;
        }
        const v1::OperationResult& r = answers[t].results(static_cast<int>(j));
        if (r.code() == "OK") {
          if (acks++ == 0) seq = r.seq();
        } else {
          refused = &r;
          errors.push_back(absl::StrCat(targets[t]->address, ": ", r.code(), ": ", r.message()));
        }
      }
      v1::OperationResult* result = response->mutable_results(ops[j]);
      if (acks >= w.needed) {
        result->set_code("OK");
        result->set_seq(seq);
      } else if (acks == 0 && refused != nullptr && errors.size() == w.targets.size()) {
        *result = *refused;  // every replica refused it (the document's fault)
      } else {
        SetResult(result, grpc::StatusCode::UNAVAILABLE,
                  absl::StrCat("logged by ", acks, " of the ", w.needed, " replicas of shards ",
                               ShardList(plan.groups[w.group].shards),
                               " required: ", absl::StrJoin(errors, "; ")));
      }
    }
  }
  return grpc::Status::OK;
}

grpc::Status Broker::Impl::WriteService::WriteStream(grpc::ServerContext* context,
                                                     grpc::ServerReader<v1::WriteRequest>* reader,
                                                     v1::WriteStreamResponse* response) {
  grpc::Status allowed = impl->broker->Authorize(AuthorizationOf(*context), /*write=*/true);
  if (!allowed.ok()) return allowed;
  return Metered(&impl->metrics, Metrics::kWriteStream,
                 [&] { return WriteStreamUnmetered(context, reader, response); });
}

grpc::Status Broker::Impl::WriteService::WriteStreamUnmetered(
    grpc::ServerContext* context, grpc::ServerReader<v1::WriteRequest>* reader,
    v1::WriteStreamResponse* response) {
  v1::WriteRequest batch;
  uint64_t index = 0;
  while (reader->Read(&batch)) {
    v1::WriteResponse answer;
    // Each batch's calls at most --max-deadline-ms (the stream may last
    // longer: its own deadline is the client's).
    bool capped;
    const absl::Time deadline = impl->Capped(impl->DeadlineOf(*context), &capped);
    grpc::Status status = impl->NameCap(capped, impl->broker->RunWrite(batch, deadline, &answer));
    if (!status.ok()) return status;
    for (const v1::OperationResult& r : answer.results()) {
      if (r.code() == "OK") {
        response->set_accepted(response->accepted() + 1);
      } else {
        response->set_refused(response->refused() + 1);
        if (response->failures_size() < IndexService::kMaxListedFailures) {
          v1::OperationFailure* f = response->add_failures();
          f->set_index(index);
          f->set_code(r.code());
          f->set_message(r.message());
        }
      }
      ++index;
    }
  }
  return grpc::Status::OK;
}

grpc::Status Broker::RunRefresh(absl::Time deadline, v1::RefreshResponse* response) const {
  std::vector<v1::RefreshResponse> answers;
  const grpc::Status status = impl_->CallWritable<v1::RefreshRequest>(
      deadline,
      [](v1::IndexService::Stub::async_interface* async, grpc::ClientContext* context,
         const v1::RefreshRequest* in, v1::RefreshResponse* out,
         std::function<void(grpc::Status)> done) {
        async->Refresh(context, in, out, std::move(done));
      },
      &answers);
  for (const v1::RefreshResponse& a : answers) {
    response->set_applied(response->applied() + a.applied());
  }
  return status;
}

grpc::Status Broker::RunCommit(absl::Time deadline, v1::CommitResponse* response) const {
  std::vector<v1::CommitResponse> answers;
  response->set_last_seq(0);  // each server's log has its own sequence
  return impl_->CallWritable<v1::CommitRequest>(
      deadline,
      [](v1::IndexService::Stub::async_interface* async, grpc::ClientContext* context,
         const v1::CommitRequest* in, v1::CommitResponse* out,
         std::function<void(grpc::Status)> done) {
        async->Commit(context, in, out, std::move(done));
      },
      &answers);
}

grpc::Status Broker::RunGetDocument(const v1::GetDocumentRequest& request, absl::Time deadline,
                                    v1::GetDocumentResponse* response) const {
  Impl& impl = *impl_;
  Plan plan = impl.CurrentPlan(deadline);
  const uint32_t num_shards = plan.index.num_shards();
  if (num_shards == 0) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no backend answered");
  const uint32_t shard = storage::ShardForId(request.id(), num_shards);
  const int g = GroupOf(plan, shard);
  if (g < 0) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        absl::StrCat("shard ", shard, " of ", num_shards,
                                     " (the document's) is served by no backend"));
  }
  std::vector<Group> one = {std::move(plan.groups[g])};
  std::vector<v1::GetDocumentResponse> answers;
  std::vector<grpc::Status> statuses;
  impl.CallGroups(
      one, request, deadline,
      [](auto* async, auto* context, auto* in, auto* out, std::function<void(grpc::Status)> done) {
        async->GetDocument(context, in, out, std::move(done));
      },
      std::function<grpc::Status(Backend&, const v1::GetDocumentResponse&)>(), &answers, &statuses);
  if (statuses[0].ok()) *response = std::move(answers[0]);
  return statuses[0];
}

grpc::Status Broker::RunStats(absl::Time deadline, v1::StatsResponse* response) const {
  Impl& impl = *impl_;
  Plan plan = impl.CurrentPlan(deadline);
  if (plan.groups.empty()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no backend answered");
  }
  const v1::StatsRequest request;
  std::vector<v1::StatsResponse> answers;
  std::vector<grpc::Status> statuses;
  impl.CallGroups(
      plan.groups, request, deadline,
      [](auto* async, auto* context, auto* in, auto* out, std::function<void(grpc::Status)> done) {
        async->Stats(context, in, out, std::move(done));
      },
      std::function<grpc::Status(Backend&, const v1::StatsResponse&)>(), &answers, &statuses);
  std::set<uint32_t> missing = plan.missing;
  for (size_t g = 0; g < statuses.size(); ++g) {
    if (!statuses[g].ok())
      missing.insert(plan.groups[g].shards.begin(), plan.groups[g].shards.end());
  }
  if (!missing.empty()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        absl::StrCat("shards ", ShardList(missing), " of ", plan.index.num_shards(),
                                     " are served by no backend"));
  }
  // The index's figures: sums over one replica of each group; the settings
  // from the first. Per-process figures (methods, connections, reloads) are
  // each server's own and left out.
  for (v1::StatsResponse& a : answers) {
    if (response->language().empty()) {
      response->set_language(a.language());
      response->set_stopwords(a.stopwords());
      *response->mutable_fields() = a.fields();
      *response->mutable_typed_fields() = a.typed_fields();
      response->set_generation(a.generation());
    }
    response->set_docs(response->docs() + a.docs());
    response->set_terms(response->terms() + a.terms());
    response->set_postings(response->postings() + a.postings());
    response->set_bytes_on_disk(response->bytes_on_disk() + a.bytes_on_disk());
    response->set_live_segments(response->live_segments() + a.live_segments());
    response->set_deleted_docs(response->deleted_docs() + a.deleted_docs());
    response->set_merges(response->merges() + a.merges());
    response->set_searches_in_flight(response->searches_in_flight() + a.searches_in_flight());
    for (v1::ShardStats& s : *a.mutable_shards()) *response->add_shards() = std::move(s);
  }
  std::sort(response->mutable_shards()->begin(), response->mutable_shards()->end(),
            [](const v1::ShardStats& a, const v1::ShardStats& b) { return a.shard() < b.shard(); });
  return grpc::Status::OK;
}

void Broker::Wait() {
  absl::MutexLock lock(&impl_->mu);
  impl_->mu.Await(absl::Condition(&impl_->shut_down));
}

void Broker::Shutdown(int grace_ms) {
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->shut_down) return;
    impl_->shut_down = true;
    impl_->stopping = true;
  }
  if (impl_->http != nullptr) impl_->http->Shutdown();
  // The health thread sets the server's health status: it ends first.
  if (impl_->health_thread.joinable()) impl_->health_thread.join();
  if (impl_->resolve_thread.joinable()) impl_->resolve_thread.join();
  if (impl_->server != nullptr) {
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
  }
}

}  // namespace scry::server
