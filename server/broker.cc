// File: server/broker.cc
#include "server/broker.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <set>
#include <utility>

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

// Whether a backend's failure means it is gone (its shards uncovered) rather
// than the request being at fault (answered with the backend's status).
bool IsUnreachable(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE;
}

// "1, 2" for {1, 2}.
std::string ShardList(const std::set<uint32_t>& shards) { return absl::StrJoin(shards, ", "); }

// Ranks before: higher score, then smaller id (the engine's order).
bool RanksBefore(const v1::Hit& a, const v1::Hit& b) {
  if (a.score() != b.score()) return a.score() > b.score();
  return a.id() < b.id();
}

}  // namespace

struct Broker::Impl final : public v1::SearchService::Service {
  BrokerOptions options;
  std::vector<std::unique_ptr<v1::SearchService::Stub>> stubs;  // by backend
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  const Broker* broker = nullptr;
  absl::Mutex mu;
  bool shut_down = false;

  grpc::Status Search(grpc::ServerContext* context, const v1::SearchRequest* request,
                      v1::SearchResponse* response) override {
    absl::Time deadline = absl::Now() + absl::Milliseconds(options.default_deadline_ms);
    if (context->deadline() != std::chrono::system_clock::time_point::max()) {
      deadline = absl::FromChrono(context->deadline());
    }
    return broker->Search(*request, deadline, response);
  }

  // Calls `method` on each backend of `which` at once with `request`, by
  // `deadline`; their answers and statuses by position in `which`.
  template <class Request, class Response, class Method>
  void FanOut(const std::vector<size_t>& which, const Request& request, absl::Time deadline,
              Method method, std::vector<Response>* responses,
              std::vector<grpc::Status>* statuses) const {
    responses->assign(which.size(), Response());
    statuses->assign(which.size(), grpc::Status());
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts(which.size());
    absl::Mutex done_mu;
    size_t left = which.size();
    for (size_t i = 0; i < which.size(); ++i) {
      contexts[i] = std::make_unique<grpc::ClientContext>();
      contexts[i]->set_deadline(absl::ToChronoTime(deadline));
      method(stubs[which[i]]->async(), contexts[i].get(), &request, &(*responses)[i],
             [&, i](grpc::Status status) {
               absl::MutexLock lock(&done_mu);
               (*statuses)[i] = std::move(status);
               --left;
             });
    }
    absl::MutexLock lock(&done_mu);
    done_mu.Await(absl::Condition(
        +[](size_t* n) { return *n == 0; }, &left));
  }
};

Broker::Broker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) { impl_->broker = this; }

Broker::~Broker() { Shutdown(); }

int Broker::port() const { return impl_->port; }

absl::StatusOr<std::unique_ptr<Broker>> Broker::Start(const BrokerOptions& options) {
  if (options.backends.empty()) return absl::InvalidArgumentError("a broker needs --backends");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // the backends' answers are bounded by them
  for (const std::string& backend : options.backends) {
    impl->stubs.push_back(v1::SearchService::NewStub(
        grpc::CreateCustomChannel(backend, grpc::InsecureChannelCredentials(), args)));
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &impl->port);
  builder.RegisterService(impl.get());
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || impl->port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  return std::unique_ptr<Broker>(new Broker(std::move(impl)));
}

grpc::Status Broker::Search(const v1::SearchRequest& request, absl::Time deadline,
                            v1::SearchResponse* response) const {
  const auto start = std::chrono::steady_clock::now();
  const Impl& impl = *impl_;
  const size_t n = impl.stubs.size();
  // Phase 1: every backend's statistics, and which shards it serves.
  std::vector<size_t> all(n);
  for (size_t b = 0; b < n; ++b) all[b] = b;
  v1::TermStatisticsRequest stats_request;
  *stats_request.mutable_request() = request;
  std::vector<v1::TermStatisticsResponse> parts;
  std::vector<grpc::Status> statuses;
  impl.FanOut(
      all, stats_request, deadline,
      [](auto* async, auto* context, auto* in, auto* out, std::function<void(grpc::Status)> done) {
        async->TermStatistics(context, in, out, std::move(done));
      },
      &parts, &statuses);
  // Pick backends that cover each shard once, all of the first answer's
  // generation and settings.
  const v1::DescribeResponse* index = nullptr;
  std::vector<size_t> picked;
  std::set<uint32_t> covered;
  std::vector<std::string> gone;
  for (size_t b = 0; b < n; ++b) {
    if (!statuses[b].ok()) {
      if (!IsUnreachable(statuses[b])) return statuses[b];
      gone.push_back(absl::StrCat(impl.options.backends[b], ": ", statuses[b].error_message()));
      continue;
    }
    const v1::DescribeResponse& server = parts[b].server();
    if (index == nullptr) index = &server;
    if (server.generation() != index->generation() ||
        server.settings_digest() != index->settings_digest() ||
        server.num_shards() != index->num_shards()) {
      return grpc::Status(
          grpc::StatusCode::FAILED_PRECONDITION,
          absl::StrCat("backend ", impl.options.backends[b], " serves ", server.generation(),
                       " (settings ", server.settings_digest(), "), another ", index->generation(),
                       " (settings ", index->settings_digest(),
                       "): every backend must serve the same generation"));
    }
    const bool overlaps = std::any_of(server.shards().begin(), server.shards().end(),
                                      [&](uint32_t s) { return covered.count(s) > 0; });
    if (overlaps || server.shards().empty()) continue;  // a replica: later (issue 20)
    covered.insert(server.shards().begin(), server.shards().end());
    picked.push_back(b);
  }
  std::set<uint32_t> missing;
  const uint32_t num_shards = index == nullptr ? 0 : index->num_shards();
  for (uint32_t s = 0; s < num_shards; ++s) {
    if (covered.count(s) == 0) missing.insert(s);
  }
  if (index == nullptr || !missing.empty()) {
    return grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        absl::StrCat(index == nullptr ? "no backend answered"
                                      : absl::StrCat("shards ", ShardList(missing), " of ",
                                                     num_shards, " are served by no backend"),
                     gone.empty() ? "" : absl::StrCat(" (", absl::StrJoin(gone, "; "), ")")));
  }
  query::PlanStatistics stats;
  for (const size_t b : picked) stats.Merge(FromProto(parts[b].statistics()));

  // Phase 2: each picked backend's best offset + top_k after search_after,
  // scored with the sums.
  const uint32_t top_k = request.top_k() == 0 ? query::kDefaultTopK : request.top_k();
  v1::SearchRequest search = request;
  search.set_offset(0);
  search.set_top_k(request.offset() + top_k);
  ToProto(stats, search.mutable_statistics());
  std::vector<v1::SearchResponse> answers;
  impl.FanOut(
      picked, search, deadline,
      [](auto* async, auto* context, auto* in, auto* out, std::function<void(grpc::Status)> done) {
        async->Search(context, in, out, std::move(done));
      },
      &answers, &statuses);
  std::vector<v1::Hit> hits;
  for (size_t i = 0; i < picked.size(); ++i) {
    if (!statuses[i].ok()) {
      if (!IsUnreachable(statuses[i])) return statuses[i];
      const auto& shards = parts[picked[i]].server().shards();
      return grpc::Status(
          grpc::StatusCode::UNAVAILABLE,
          absl::StrCat("shards ", ShardList(std::set<uint32_t>(shards.begin(), shards.end())),
                       " of ", num_shards, " are served by no backend (",
                       impl.options.backends[picked[i]], ": ", statuses[i].error_message(), ")"));
    }
    v1::SearchResponse& answer = answers[i];
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
  }
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
}

}  // namespace scry::server
