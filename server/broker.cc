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
#include "scry/v1/search.grpc.pb.h"
#include "server/convert.h"
#include "server/server.h"

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
  std::unique_ptr<v1::SearchService::Stub> stub;
  std::atomic<int> outstanding{0};
  std::atomic<uint64_t> last_pick{0};  // Impl::turn when last picked
  bool described = false;              // a Describe (or TermStatistics) ever answered
  // The last Describe answered, and no call failed since (read without mu
  // when picking a replica).
  std::atomic<bool> healthy{false};
  v1::DescribeResponse describe;
};

namespace {

// The replicas of one shard group, and the one the first round used (the
// second round prefers it: the same replica's data for both).
struct Group {
  std::set<uint32_t> shards;
  std::vector<std::shared_ptr<Backend>> replicas;  // healthy first
  std::shared_ptr<Backend> preferred;
};

// The groups a search uses, of one index, and the shards none covers.
struct Plan {
  // build_id, settings_digest, num_shards, and a generation name of the
  // build for messages (the greatest its backends reported)
  v1::DescribeResponse index;
  std::vector<Group> groups;
  std::set<uint32_t> missing;
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

}  // namespace

struct Broker::Impl final : public v1::SearchService::Service {
  BrokerOptions options;
  grpc::ChannelArguments channel_args;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
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

  grpc::Status Search(grpc::ServerContext* context, const v1::SearchRequest* request,
                      v1::SearchResponse* response) override {
    absl::Time deadline = absl::Now() + absl::Milliseconds(options.default_deadline_ms);
    if (context->deadline() != std::chrono::system_clock::time_point::max()) {
      deadline = absl::FromChrono(context->deadline());
    }
    return broker->Search(*request, deadline, response);
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
      b->stub = v1::SearchService::NewStub(
          grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), channel_args));
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
      for (const auto& [name, p] : names) found.push_back(Resolve(name, p));
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
  void Update(Backend& b, const grpc::Status& status, const v1::DescribeResponse* describe)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
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
    b.describe = *describe;
  }

  // One round of Describe calls to every backend, in parallel.
  void CheckHealth() {
    std::vector<std::shared_ptr<Backend>> all;
    {
      absl::MutexLock lock(&mu);
      for (const auto& [address, b] : backends) all.push_back(b);
    }
    const size_t n = all.size();
    std::vector<grpc::ClientContext> contexts(n);
    std::vector<v1::DescribeResponse> answers(n);
    std::vector<grpc::Status> statuses(n);
    const v1::DescribeRequest request;
    absl::Mutex done_mu;
    size_t left = n;
    const auto deadline = std::chrono::system_clock::now() +
                          std::chrono::milliseconds(std::max(options.health_interval_ms, 1000));
    for (size_t i = 0; i < n; ++i) {
      contexts[i].set_deadline(deadline);
      all[i]->stub->async()->Describe(&contexts[i], &request, &answers[i],
                                      [&, i](grpc::Status status) {
                                        absl::MutexLock lock(&done_mu);
                                        statuses[i] = std::move(status);
                                        --left;
                                      });
    }
    {
      absl::MutexLock lock(&done_mu);
      done_mu.Await(absl::Condition(
          +[](size_t* k) { return *k == 0; }, &left));
    }
    absl::MutexLock lock(&mu);
    for (size_t i = 0; i < n; ++i) Update(*all[i], statuses[i], &answers[i]);
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
      Group& g = by_key[KeyOf(b->describe)][std::set<uint32_t>(b->describe.shards().begin(),
                                                               b->describe.shards().end())];
      g.shards = std::set<uint32_t>(b->describe.shards().begin(), b->describe.shards().end());
      g.replicas.push_back(b);
    }
    Plan best;
    std::tuple<size_t, size_t, std::string, std::string> best_rank;
    for (auto& [key, groups] : by_key) {
      Plan plan;
      plan.index.set_build_id(std::get<0>(key));
      plan.index.set_generation(std::get<1>(key));
      plan.index.set_settings_digest(std::get<2>(key));
      plan.index.set_num_shards(std::get<3>(key));
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
                  std::vector<Response>* responses, std::vector<grpc::Status>* statuses) {
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
      s.tried.insert(pick.get());
      A& a = attempts.emplace_back();
      a.group = g;
      a.backend = pick;
      a.context.set_deadline(absl::ToChronoTime(deadline));
      s.in_flight.push_back(&a);
      s.hedge_at = absl::Now() + hedge;
      pick->outstanding.fetch_add(1);
      pick->last_pick.store(turn.fetch_add(1));
      A* ap = &a;
      method(pick->stub->async(), &a.context, &request, &a.response, [&, ap](grpc::Status status) {
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
          Update(*a->backend, status, nullptr);
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

absl::StatusOr<std::unique_ptr<Broker>> Broker::Start(const BrokerOptions& options) {
  if (options.backends.empty()) return absl::InvalidArgumentError("a broker needs --backends");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
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
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &impl->port);
  builder.RegisterService(impl.get());
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || impl->port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  if (grpc::HealthCheckServiceInterface* health = impl->server->GetHealthCheckService()) {
    health->SetServingStatus("", false);  // until every shard is covered
    health->SetServingStatus(v1::SearchService::service_full_name(), false);
  }
  Impl* p = impl.get();
  impl->resolve_thread = std::thread([p] { p->ResolveLoop(); });
  impl->health_thread = std::thread([p] { p->HealthLoop(); });
  return std::unique_ptr<Broker>(new Broker(std::move(impl)));
}

grpc::Status Broker::Search(const v1::SearchRequest& request, absl::Time deadline,
                            v1::SearchResponse* response) const {
  const auto start = std::chrono::steady_clock::now();
  if (request.facets_size() > 0 || request.sort_size() > 0) {
    // Each backend's top values are not the index's, and hits are merged by
    // score: refused rather than answered wrong, until the broker merges
    // facet counts and sort keys.
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "facets and sort are not supported through a broker yet: ask a server of "
                        "every shard (a filter is supported)");
  }
  Impl& impl = *impl_;
  Plan plan;
  {
    absl::MutexLock lock(&impl.mu);
    impl.mu.AwaitWithDeadline(absl::Condition(&impl.checked_once), deadline);
    plan = impl.MakePlan(/*healthy_only=*/false);
  }
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
          if (KeyOf(d) == KeyOf(plan.index) &&
              std::set<uint32_t>(d.shards().begin(), d.shards().end()) == expected[&b]) {
            return grpc::Status::OK;
          }
          {
            absl::MutexLock lock(&impl.mu);
            impl.Update(b, grpc::Status::OK, &d);
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
  std::vector<v1::SearchResponse> answers;
  std::vector<grpc::Status> statuses;
  impl.CallGroups(
      plan.groups, search, deadline,
      [](auto* async, auto* context, auto* in, auto* out, std::function<void(grpc::Status)> done) {
        async->Search(context, in, out, std::move(done));
      },
      std::function<grpc::Status(Backend&, const v1::SearchResponse&)>(), &answers, &statuses);
  if (grpc::Status s = drop(&plan.groups, &statuses, &answers); !s.ok()) return s;
  std::vector<v1::Hit> hits;
  for (v1::SearchResponse& answer : answers) {
    response->set_total_hits(response->total_hits() + answer.total_hits());
    response->set_total_hits_is_lower_bound(response->total_hits_is_lower_bound() ||
                                            answer.total_hits_is_lower_bound());
    response->set_expansions_truncated(response->expansions_truncated() ||
                                       answer.expansions_truncated());
    for (v1::Hit& hit : *answer.mutable_hits()) hits.push_back(std::move(hit));
  }
  std::sort(hits.begin(), hits.end(), RanksBefore);
  const size_t end = std::min<size_t>(hits.size(), size_t{request.offset()} + top_k);
  for (size_t i = request.offset(); i < end; ++i) *response->add_hits() = std::move(hits[i]);
  for (const uint32_t s : missing) response->add_missing_shards(s);
  response->set_took_micros(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::steady_clock::now() - start)
                                .count()));
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
  // The health thread sets the server's health status: it ends first.
  impl_->health_thread.join();
  impl_->resolve_thread.join();
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
}

}  // namespace scry::server
