// File: server/http_api.cc
#include "server/http_api.h"

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "server/broker.h"
#include "server/prometheus.h"
#include "server/search_page.h"

namespace scry::server {

int HttpStatusOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    default:
      return 500;  // UNKNOWN, INTERNAL, DATA_LOSS
  }
}

namespace {

// `text` as a JSON string literal: quotes, backslashes and control
// characters escaped; bytes that are not UTF-8 become U+FFFD, so that the
// answer stays valid JSON whatever a message quotes.
std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20) {
        static const char kHex[] = "0123456789abcdef";
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // A well-formed multi-byte sequence is copied; anything else is U+FFFD.
    const int length = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    bool ok = length > 0 && i + static_cast<size_t>(length) <= text.size();
    for (int k = 1; ok && k < length; ++k) {
      ok = (static_cast<unsigned char>(text[i + static_cast<size_t>(k)]) & 0xC0) == 0x80;
    }
    if (ok && length == 3) {
      const unsigned char d = static_cast<unsigned char>(text[i + 1]);
      ok = !(c == 0xE0 && d < 0xA0) && !(c == 0xED && d >= 0xA0);  // overlong, surrogates
    } else if (ok && length == 4) {
      const unsigned char d = static_cast<unsigned char>(text[i + 1]);
      ok = !(c == 0xF0 && d < 0x90) && !(c == 0xF4 && d >= 0x90);
    }
    if (ok) {
      out.append(text, i, static_cast<size_t>(length));
      i += static_cast<size_t>(length);
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  out += '"';
  return out;
}

HttpResponse JsonAnswer(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = std::move(body);
  response.body += '\n';
  return response;
}

HttpResponse ErrorAnswer(const grpc::Status& status) {
  HttpResponse response = JsonAnswer(HttpStatusOf(status.error_code()), JsonError(status));
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
  }
  return response;
}

// The value of `name` in a query string ("a=1&b=2"), undecoded; false if
// absent.
bool QueryParameter(const std::string& query, absl::string_view name, std::string* value) {
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      *value = eq == absl::string_view::npos ? "" : std::string(pair.substr(eq + 1));
      return true;
    }
  }
  return false;
}

// The request and response types of a broker call's lambda
// (const Request&, absl::Time, Response*).
template <class F>
struct BrokerCallTraits;
template <class C, class Req, class Resp>
struct BrokerCallTraits<grpc::Status (C::*)(const Req&, absl::Time, Resp*) const> {
  using Request = Req;
  using Response = Resp;
};

// A JSON route: `call(context, json_in, json_out)` runs the method.
using JsonCall = std::function<grpc::Status(const CallContext&, const std::string&, std::string*)>;
HttpHandler JsonRoute(JsonCall call);

HttpHandler JsonMethod(const SearchService* service, SearchService::Method method) {
  return JsonRoute(
      [service, method](const CallContext& context, const std::string& in, std::string* out) {
        return service->CallJson(method, context, in, out);
      });
}

HttpHandler JsonMethod(const IndexService* service, IndexService::Method method) {
  return JsonRoute(
      [service, method](const CallContext& context, const std::string& in, std::string* out) {
        return service->CallJson(method, context, in, out);
      });
}

HttpHandler JsonRoute(JsonCall call) {
  return [call = std::move(call)](const HttpRequest& request) {
    if (!request.body.empty()) {
      const std::string type = absl::AsciiStrToLower(request.Header("content-type"));
      if (type != "application/json" && !absl::StartsWith(type, "application/json;")) {
        return JsonAnswer(
            415, JsonError(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                        "send the request as Content-Type: application/json")));
      }
    }
    CallContext context;
    context.authorization = request.Header("authorization");
    context.peer = request.peer;
    context.received = request.received == absl::InfinitePast() ? absl::Now() : request.received;
    std::string timeout;
    if (QueryParameter(request.query, "timeout_ms", &timeout)) {
      int64_t ms = 0;
      if (!absl::SimpleAtoi(timeout, &ms) || ms <= 0) {
        return ErrorAnswer(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                        "timeout_ms must be a positive number of milliseconds"));
      }
      context.deadline = context.received + absl::Milliseconds(ms);  // the queue's wait counts
    }
    std::string json;
    const grpc::Status status = call(context, request.body, &json);
    if (!status.ok()) return ErrorAnswer(status);
    return JsonAnswer(200, std::move(json));
  };
}

// A broker method: `call(request, deadline, response)`, with the client's
// deadline or `default_deadline_ms` from when the request was read, once
// the broker's tokens allow it (a write if `write`).
template <class Call>
HttpHandler BrokerMethod(const Broker* broker, bool write, Call call, int default_deadline_ms) {
  return JsonRoute([broker, write, call = std::move(call), default_deadline_ms](
                       const CallContext& context, const std::string& in,
                       std::string* out) -> grpc::Status {
    const grpc::Status allowed = broker->Authorize(context.authorization, write);
    if (!allowed.ok()) return allowed;
    using Traits = BrokerCallTraits<decltype(&Call::operator())>;
    typename Traits::Request request;
    const grpc::Status parsed = ParseJson(in.empty() ? "{}" : in, &request);
    if (!parsed.ok()) return parsed;
    const absl::Time deadline = context.deadline != absl::InfiniteFuture()
                                    ? context.deadline
                                    : context.received + absl::Milliseconds(default_deadline_ms);
    typename Traits::Response response;
    const grpc::Status done = call(request, deadline, &response);
    if (!done.ok()) return done;
    return WriteJson(response, out);
  });
}

// GET /: the search page.
HttpRoute SearchPageRoute() {
  return {"GET", "/", [](const HttpRequest&) {
            HttpResponse page;
            page.content_type = "text/html; charset=utf-8";
            page.body = kSearchPageHtml;
            // Its own inline script and style, and calls to this origin only.
            page.headers = {{"Content-Security-Policy",
                             "default-src 'none'; script-src 'unsafe-inline'; style-src "
                             "'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action "
                             "'self'; frame-ancestors 'none'"},
                            {"X-Content-Type-Options", "nosniff"},
                            {"Referrer-Policy", "no-referrer"}};
            return page;
          }};
}

}  // namespace

std::string JsonError(const grpc::Status& status) {
  return absl::StrCat("{\"error\":{\"code\":", static_cast<int>(status.error_code()),
                      ",\"status\":\"",
                      absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
                      "\",\"message\":", JsonString(status.error_message()), "}}");
}

std::vector<HttpRoute> JsonApiRoutes(const SearchService* service,
                                     const IndexService* index_service) {
  using M = SearchService::Method;
  using W = IndexService::Method;
  return {
      {"POST", "/v1/write", JsonMethod(index_service, W::kWrite)},
      {"POST", "/v1/refresh", JsonMethod(index_service, W::kRefresh)},
      {"POST", "/v1/commit", JsonMethod(index_service, W::kCommit)},
      {"POST", "/v1/search", JsonMethod(service, M::kSearch)},
      {"POST", "/v1/document", JsonMethod(service, M::kGetDocument)},
      {"GET", "/v1/stats", JsonMethod(service, M::kStats)},
      {"POST", "/v1/stats", JsonMethod(service, M::kStats)},
      {"POST", "/v1/reload", JsonMethod(service, M::kReload)},
      MetricsRoute(service),
      SearchPageRoute(),
  };
}

std::vector<HttpRoute> BrokerJsonApiRoutes(const Broker* broker, int default_deadline_ms) {
  using Search = v1::SearchRequest;
  using Document = v1::GetDocumentRequest;
  using Stats = v1::StatsRequest;
  using Write = v1::WriteRequest;
  using Refresh = v1::RefreshRequest;
  using Commit = v1::CommitRequest;
  const auto route = [broker, default_deadline_ms](auto call, bool write = false) {
    return BrokerMethod(broker, write, std::move(call), default_deadline_ms);
  };
  const HttpHandler stats =
      route([broker](const Stats&, absl::Time deadline, v1::StatsResponse* response) {
        return broker->Stats(deadline, response);
      });
  return {
      {"POST", "/v1/write",
       route(
           [broker](const Write& request, absl::Time deadline, v1::WriteResponse* response) {
             return broker->Write(request, deadline, response);
           },
           true)},
      {"POST", "/v1/refresh",
       route(
           [broker](const Refresh&, absl::Time deadline, v1::RefreshResponse* response) {
             return broker->Refresh(deadline, response);
           },
           true)},
      {"POST", "/v1/commit",
       route([broker](const Commit&, absl::Time deadline,
                      v1::CommitResponse* response) { return broker->Commit(deadline, response); },
             true)},
      {"POST", "/v1/search",
       route([broker](const Search& request, absl::Time deadline, v1::SearchResponse* response) {
         return broker->Search(request, deadline, response);
       })},
      {"POST", "/v1/document",
       route([broker](const Document& request, absl::Time deadline,
                      v1::GetDocumentResponse* response) {
         return broker->GetDocument(request, deadline, response);
       })},
      {"GET", "/v1/stats", stats},
      {"POST", "/v1/stats", stats},
      {"GET", "/metrics",
       [broker](const HttpRequest&) {
         v1::StatsResponse stats;
         broker->ProcessStats(&stats);
         HttpResponse response;
         response.content_type = kPrometheusContentType;
         response.body = RenderBrokerPrometheus(stats);
         return response;
       }},
      SearchPageRoute(),
  };
}

HttpRoute MetricsRoute(const SearchService* service) {
  return {"GET", "/metrics", [service](const HttpRequest&) {
            v1::StatsResponse stats;
            const grpc::Status status = service->Stats(nullptr, v1::StatsRequest(), &stats);
            HttpResponse response;
            if (!status.ok()) {
              response.status = 503;
              response.body = status.error_message() + "\n";
              return response;
            }
            response.content_type = kPrometheusContentType;
            response.body = RenderPrometheus(stats);
            return response;
          }};
}

}  // namespace scry::server
