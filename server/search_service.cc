// File: server/search_service.cc
#include "server/search_service.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/impl/rpc_service_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/method_handler.h"
#include "server/server.h"

namespace scry::server {
namespace {

// Parses `bytes` into *out. Anything protobuf refuses (bad wire format, or a
// proto3 string field that is not valid UTF-8) is the client's fault.
template <class Message>
grpc::Status ParseRequest(const grpc::ByteBuffer& bytes, Message* out) {
  grpc::ByteBuffer copy(bytes);  // Deserialize consumes its input
  if (grpc::SerializationTraits<Message>::Deserialize(&copy, out).ok()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "malformed " + Message::descriptor()->full_name() +
                          ": not a valid protobuf message, or a string field is not valid UTF-8");
}

}  // namespace

template <class Request, class Response>
void SearchService::AddUnaryMethod(const char* path, Metrics::Method metric,
                                   grpc::Status (SearchService::*method)(grpc::ServerContext*,
                                                                         const Request&, Response*)
                                       const) {
  const bool is_search = std::string_view(path) == "/scry.v1.SearchService/Search";
  auto call = [method, is_search](SearchService* service, grpc::ServerContext* context,
                                  const grpc::ByteBuffer* in,
                                  grpc::ByteBuffer* out) -> grpc::Status {
    // gRPC would turn an escaping exception into UNKNOWN; the API promises
    // never to answer UNKNOWN.
    try {
      grpc::Status auth = service->Authenticate(context, is_search);
      if (!auth.ok()) return auth;
      Request request;
      grpc::Status status = ParseRequest(*in, &request);
      if (!status.ok()) return status;
      Response response;
      status = (service->*method)(context, request, &response);
      if (!status.ok()) return status;
      bool own_buffer = false;
      return grpc::SerializationTraits<Response>::Serialize(response, out, &own_buffer);
    } catch (const std::bad_alloc&) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "out of memory");
    } catch (const std::exception& e) {
      return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
    }
  };
  // Every call is counted by status code and timed.
  auto handler = [call, metric](SearchService* service, grpc::ServerContext* context,
                                const grpc::ByteBuffer* in, grpc::ByteBuffer* out) {
    const auto start = std::chrono::steady_clock::now();
    grpc::Status status = call(service, context, in, out);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count();
    service->metrics_.Record(metric, status.error_code(), static_cast<uint64_t>(micros));
    if (service->options_.access_log) {
      // One write per line, so that concurrent calls do not interleave.
      const std::string line = absl::StrCat(
          "{\"time\":\"",
          absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()),
          "\",\"method\":\"", Metrics::kMethodNames[metric], "\",\"code\":\"",
          absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
          "\",\"micros\":", micros, ",\"request_bytes\":", in->Length(), ",\"peer\":\"",
          context != nullptr ? absl::CEscape(context->peer()) : "", "\"}\n");
      std::fwrite(line.data(), 1, line.size(), stderr);
    }
    return status;
  };
  AddMethod(new grpc::internal::RpcServiceMethod(
      path, grpc::internal::RpcMethod::NORMAL_RPC,
      new grpc::internal::RpcMethodHandler<SearchService, grpc::ByteBuffer, grpc::ByteBuffer>(
          std::move(handler), this)));
}

SearchService::SearchService(const query::Searcher* searcher, const SearchServiceOptions& options)
    : searcher_(searcher), options_(options) {
  // Paths as in proto/scry/v1/search.proto; gRPC keeps the pointers, so they
  // must be literals.
  AddUnaryMethod("/scry.v1.SearchService/Search", Metrics::kSearch, &SearchService::Search);
  AddUnaryMethod("/scry.v1.SearchService/GetDocument", Metrics::kGetDocument,
                 &SearchService::GetDocument);
  AddUnaryMethod("/scry.v1.SearchService/Stats", Metrics::kStats, &SearchService::Stats);
}

namespace {

// Equality in time that depends on the lengths only, not on where the
// strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

grpc::Status Loading() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the index is still loading; retry");
}

}  // namespace

grpc::Status SearchService::Authenticate(grpc::ServerContext* context, bool is_search) const {
  if (options_.auth_tokens.empty() || context == nullptr) return grpc::Status::OK;
  if (is_search && options_.anonymous_search) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  const auto it = metadata.find("authorization");
  const char* reason = "no authorization metadata";
  if (it != metadata.end()) {
    const std::string_view value(it->second.data(), it->second.size());
    constexpr std::string_view kBearer = "Bearer ";
    reason = "not a bearer token";
    if (value.size() > kBearer.size() && value.substr(0, kBearer.size()) == kBearer) {
      const std::string_view token = value.substr(kBearer.size());
      bool accepted = false;
      for (const std::string& t : options_.auth_tokens) accepted |= ConstantTimeEquals(token, t);
      if (accepted) return grpc::Status::OK;
      reason = "unknown token";
    }
  }
  // Logged without the token.
  std::fprintf(stderr, "scry: unauthenticated call from %s: %s\n", context->peer().c_str(), reason);
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      std::string(reason) + ": send metadata 'authorization: Bearer <token>'");
}

grpc::Status SearchService::Search(grpc::ServerContext* context, const v1::SearchRequest& request,
                                   v1::SearchResponse* response) const {
  const auto start = std::chrono::steady_clock::now();
  // At most max_concurrent_searches at once; the rest are refused at once.
  struct InFlight {
    std::atomic<int>& count;
    explicit InFlight(std::atomic<int>& c) : count(c) { count.fetch_add(1); }
    ~InFlight() { count.fetch_sub(1); }
  } in_flight(searches_in_flight_);
  if (options_.max_concurrent_searches > 0 &&
      in_flight.count.load() > options_.max_concurrent_searches) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "too many concurrent searches (the server's limit is " +
                            std::to_string(options_.max_concurrent_searches) + "); retry later");
  }
  const query::Searcher* searcher = searcher_.load(std::memory_order_acquire);
  if (searcher == nullptr) return Loading();
  query::SearchRequest q;
  // The client's deadline, else the server's default, reaches the
  // evaluation loops; so does a cancellation.
  if (context != nullptr && context->deadline() != std::chrono::system_clock::time_point::max()) {
    q.deadline = absl::FromChrono(context->deadline());
  } else if (options_.default_deadline_ms > 0) {
    q.deadline = absl::Now() + absl::Milliseconds(options_.default_deadline_ms);
  }
  if (context != nullptr) q.cancelled = [context] { return context->IsCancelled(); };
  q.query = request.query();
  q.top_k = request.top_k();  // 0: query::kDefaultTopK
  q.offset = request.offset();
  switch (request.default_operator()) {
    case v1::DEFAULT_OPERATOR_UNSPECIFIED:
    case v1::DEFAULT_OPERATOR_OR:
      q.default_operator = query::DefaultOperator::kOr;
      break;
    case v1::DEFAULT_OPERATOR_AND:
      q.default_operator = query::DefaultOperator::kAnd;
      break;
    default:  // an enum value this server does not know (proto3 keeps it)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "unknown default_operator " +
                              std::to_string(static_cast<int>(request.default_operator())));
  }
  q.fields.assign(request.fields().begin(), request.fields().end());
  q.exact_total_hits = request.exact_total_hits();
  switch (request.pruning()) {
    case v1::PRUNING_AUTO:
      q.pruning = query::Pruning::kAuto;
      break;
    case v1::PRUNING_NONE:
      q.pruning = query::Pruning::kNone;
      break;
    case v1::PRUNING_MAXSCORE:
      q.pruning = query::Pruning::kMaxScore;
      break;
    case v1::PRUNING_BLOCK_MAX_WAND:
      q.pruning = query::Pruning::kBlockMaxWand;
      break;
    default:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "unknown pruning " + std::to_string(static_cast<int>(request.pruning())));
  }

  for (const v1::FieldWeight& f : request.search_fields()) {
    q.default_fields.push_back({f.field(), f.weight() == 0 ? 1.0 : f.weight()});
  }
  if (request.has_search_after()) {
    q.search_after =
        query::SearchRequest::After{request.search_after().score(), request.search_after().id()};
  }
  q.explain = request.explain();
  if (request.has_highlight()) {
    const v1::HighlightRequest& h = request.highlight();
    if (h.fragment_chars() > query::kMaxFragmentChars || h.max_fragments() > 20) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "highlight: fragment_chars must be at most " +
                              std::to_string(query::kMaxFragmentChars) +
                              " and max_fragments at most 20");
    }
    q.highlight_fields.assign(h.fields().begin(), h.fields().end());
    if (q.highlight_fields.empty()) q.highlight_fields.push_back("body");
    if (!h.pre_tag().empty() || !h.post_tag().empty()) {
      q.highlight.pre_tag = h.pre_tag();
      q.highlight.post_tag = h.post_tag();
    }
    if (h.fragment_chars() != 0) q.highlight.fragment_chars = h.fragment_chars();
    if (h.max_fragments() != 0) q.highlight.max_fragments = h.max_fragments();
  }

  absl::StatusOr<query::SearchResult> result = searcher->Search(q);
  if (!result.ok()) return ToGrpc(result.status());

  response->mutable_hits()->Reserve(static_cast<int>(result->hits.size()));
  for (query::SearchHit& hit : result->hits) {
    v1::Hit* out = response->add_hits();
    out->set_id(std::move(hit.id));
    out->set_score(hit.score);
    out->set_title(std::move(hit.title));
    auto& fields = *out->mutable_fields();
    for (auto& [name, value] : hit.fields) fields[name] = std::move(value);
    for (auto& [name, fragments] : hit.snippets) {
      v1::Snippet* snippet = out->add_snippets();
      snippet->set_field(name);
      for (auto& f : fragments) snippet->add_fragments(std::move(f));
    }
    if (q.explain) {
      v1::Explanation* explanation = out->mutable_explanation();
      explanation->set_score(hit.score);
      for (const query::TermExplanation& e : hit.explanation) {
        v1::TermExplanation* t = explanation->add_terms();
        t->set_field(e.field);
        t->set_term(e.term);
        t->set_weight(e.weight);
        t->set_tf(e.tf);
        t->set_df(e.df);
        t->set_docs(e.docs);
        t->set_idf(e.idf);
        t->set_doc_length(e.doc_length);
        t->set_avg_doc_length(e.avg_doc_length);
        t->set_score(e.score);
      }
    }
  }
  response->set_total_hits(result->total_hits);
  response->set_expansions_truncated(result->expansions_truncated);
  response->set_total_hits_is_lower_bound(result->total_hits_is_lower_bound);
  const auto took = std::chrono::steady_clock::now() - start;
  response->set_took_micros(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
  return grpc::Status::OK;
}

grpc::Status SearchService::GetDocument(grpc::ServerContext* /*context*/,
                                        const v1::GetDocumentRequest& request,
                                        v1::GetDocumentResponse* response) const {
  if (request.id().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "id must not be empty");
  }
  const query::Searcher* searcher = searcher_.load(std::memory_order_acquire);
  if (searcher == nullptr) return Loading();
  absl::StatusOr<query::Document> doc = searcher->GetDocument(request.id());
  if (!doc.ok()) return ToGrpc(doc.status());
  response->set_id(std::move(doc->id));
  auto& fields = *response->mutable_fields();
  for (auto& [name, value] : doc->fields) fields[name] = std::move(value);
  return grpc::Status::OK;
}

grpc::Status SearchService::Stats(grpc::ServerContext* /*context*/,
                                  const v1::StatsRequest& /*request*/,
                                  v1::StatsResponse* response) const {
  const query::Searcher* searcher = searcher_.load(std::memory_order_acquire);
  if (searcher == nullptr) return Loading();
  absl::StatusOr<std::vector<query::ShardInfo>> stats = searcher->Stats();
  if (!stats.ok()) return ToGrpc(stats.status());
  uint64_t docs = 0, terms = 0, postings = 0, bytes = 0;
  for (const query::ShardInfo& shard : *stats) {
    v1::ShardStats* out = response->add_shards();
    out->set_shard(shard.shard);
    out->set_docs(shard.docs);
    out->set_terms(shard.terms);
    out->set_postings(shard.postings);
    auto& per_cf = *out->mutable_bytes_per_column_family();
    for (const auto& [cf, cf_bytes] : shard.bytes_per_column_family) {
      per_cf[cf] = cf_bytes;
      bytes += cf_bytes;
    }
    docs += shard.docs;
    terms += shard.terms;
    postings += shard.postings;
  }
  response->set_docs(docs);
  response->set_terms(terms);
  response->set_postings(postings);
  response->set_bytes_on_disk(bytes);
  response->set_language(searcher->info().language);
  response->set_stopwords(searcher->info().stopwords);
  for (const std::string& f : searcher->fields()) response->add_fields(f);
  metrics_.Fill(response);
  response->set_searches_in_flight(
      static_cast<uint64_t>(std::max(0, searches_in_flight_.load(std::memory_order_relaxed))));
  return grpc::Status::OK;
}

}  // namespace scry::server
