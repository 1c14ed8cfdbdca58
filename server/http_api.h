// File: server/http_api.h
//
// The HTTP/JSON form of scry.v1.SearchService and scry.v1.IndexService, served by the HTTP listener
// (server/http_server.h) of `scry serve --http-listen`. Each RPC has a path;
// requests and responses are the RPC's messages in protobuf's JSON mapping
// (lowerCamelCase or the proto names accepted on input, proto names on output;
// unknown members refused), and every call goes through
// SearchService::CallJson (IndexService::CallJson): the same token check, limits, deadlines,
// metrics and access log as over gRPC.
//
//   POST /v1/search        SearchRequest       -> SearchResponse
//   POST /v1/document      GetDocumentRequest  -> GetDocumentResponse
//   GET|POST /v1/stats     StatsRequest        -> StatsResponse
//   POST /v1/reload        ReloadRequest       -> ReloadResponse
//   POST /v1/write         WriteRequest        -> WriteResponse    (IndexService:
//   POST /v1/refresh       RefreshRequest      -> RefreshResponse   a write-scoped
//   POST /v1/commit        CommitRequest       -> CommitResponse    token)
//   GET  /metrics          the Prometheus text (server/prometheus.h)
//   GET  /                 the search page (server/search_page.h)
//
// A POST body must be `Content-Type: application/json` (415 otherwise; an
// empty body is the empty message). The token goes in `Authorization:
// Bearer <token>`, as gRPC metadata does. `?timeout_ms=N` is the client's
// deadline (gRPC's deadline; the server's --default-deadline-ms and
// --max-deadline-ms apply alike). An error is answered with the HTTP status
// of its gRPC code (as grpc-gateway maps them: INVALID_ARGUMENT 400,
// UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404,
// RESOURCE_EXHAUSTED 429, DEADLINE_EXCEEDED 504, UNAVAILABLE 503, ...) and
// the body {"error": {"code": N, "status": "NAME", "message": "..."}}.
#ifndef SCRY_SERVER_HTTP_API_H_
#define SCRY_SERVER_HTTP_API_H_

#include <string>
#include <vector>

#include "grpcpp/support/status.h"
#include "server/http_server.h"
#include "server/index_service.h"
#include "server/search_service.h"

namespace scry::server {

// The routes above; the services must outlive the server that serves them.
std::vector<HttpRoute> JsonApiRoutes(const SearchService* service,
                                     const IndexService* index_service);

class Broker;
// The broker's (`scry broker --http-listen`): the routes above that a
// broker answers, with the same requests, answers, error mapping and
// ?timeout_ms (else `default_deadline_ms`): /v1/search, /v1/document,
// /v1/stats, /v1/write, /v1/refresh, /v1/commit and the search page, and
// GET /metrics: the broker's own (RenderBrokerPrometheus: its calls and its
// backends' health). Not /v1/reload (each server reloads its own index).
// No token is checked, as over the broker's gRPC: keep it on a private
// network. `broker` must outlive the server that serves them.
std::vector<HttpRoute> BrokerJsonApiRoutes(const Broker* broker, int default_deadline_ms);

// GET /metrics: the Stats of `service` in the Prometheus text format (503
// while the index loads). Scrapes are not counted as RPCs.
HttpRoute MetricsRoute(const SearchService* service);

// The HTTP status of a gRPC status code (grpc-gateway's mapping).
int HttpStatusOf(grpc::StatusCode code);

// The JSON error body of `status`.
std::string JsonError(const grpc::Status& status);

}  // namespace scry::server

#endif  // SCRY_SERVER_HTTP_API_H_
