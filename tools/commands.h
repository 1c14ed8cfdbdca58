// File: tools/commands.h
//
// The subcommands of the `scry` program, one function each, called by
// tools/scry_main.cc once the flags are parsed. Each returns the process's
// exit status (0 success, 1 a runtime error, printed to stderr as
// "scry: CODE: message").
#ifndef SCRY_TOOLS_COMMANDS_H_
#define SCRY_TOOLS_COMMANDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/channel.h"
#include "indexer/builder.h"
#include "scry/v1/search.pb.h"
#include "server/broker.h"
#include "server/server.h"

namespace scry::tools {

// Prints `status` as "scry: CODE: message" on stderr; returns 1.
int Fail(const absl::Status& status);

// scry index: builds; progress and the summary on stderr unless `quiet`.
int RunIndex(indexer::BuildOptions options, bool quiet);

// scry serve: serves until SIGINT/SIGTERM (SIGHUP reloads); writes the bound
// ports to the files if given.
int RunServe(const server::ServerOptions& options, const std::string& port_file,
             const std::string& metrics_port_file, const std::string& http_port_file);

// scry search --index: searches in this process, with the server's mapping
// of requests and responses and its default deadline.
// `scry broker`: runs a broker (server/broker.h) until SIGINT/SIGTERM,
// writing its HTTP port (with --http-listen), then its gRPC port, to the
// files if given, once it listens.
int RunBroker(const scry::server::BrokerOptions& options, const std::string& port_file,
              const std::string& http_port_file);

int RunSearchLocal(const std::string& index, const v1::SearchRequest& request);

// How `scry search --server` connects: TLS if a CA file is given (with a
// client certificate for mutual TLS), and a bearer token if a token file is.
struct ClientSecurity {
  std::string tls_ca_file, tls_cert_file, tls_key_file, tls_server_name, auth_token_file;
};

// A channel to `address` with `security`'s TLS settings, and the token to
// send (the first of security.auth_token_file; empty if none). False (with a
// message on stderr) if a file cannot be read.
bool Connect(const std::string& address, const ClientSecurity& security,
             std::shared_ptr<grpc::Channel>* channel, std::string* token);

// scry write: streams the documents of `files` (JSON Lines, plain, gzip or
// zstd; "-" standard input) as upserts through IndexService.WriteStream,
// `batch_ops` per message. Refused documents are reported as FILE:LINE:
// reason; progress on stderr when it is a terminal. Exit 0 if every
// document went in, 1 otherwise.
struct WriteCommandOptions {
  int batch_ops = 500;
  bool sync = false;     // fsync the server's log for every batch
  bool refresh = false;  // Refresh once everything is written
  int timeout_ms = 0;    // for the whole stream; 0: none
};
int RunWrite(const std::string& address, const std::vector<std::string>& files,
             const WriteCommandOptions& options, const ClientSecurity& security);
// scry delete: one Write of deletes.
int RunDelete(const std::string& address, const std::vector<std::string>& ids, bool sync,
              int timeout_ms, const ClientSecurity& security);
// scry refresh / scry commit: one call each.
int RunRefresh(const std::string& address, int timeout_ms, const ClientSecurity& security);
int RunCommit(const std::string& address, int timeout_ms, const ClientSecurity& security);

// scry search --server: one call with a deadline of `timeout_ms`.
int RunSearchRemote(const std::string& address, const v1::SearchRequest& request, int timeout_ms,
                    const ClientSecurity& security);

// Parses --search-fields ("title^2,body") into request->search_fields;
// false (with a message) if malformed.
bool ParseSearchFields(const std::string& text, v1::SearchRequest* request);

// Parses --facet (FIELD or FIELD=SIZE) and --facet-range (FIELD=RANGE) into
// request->facets, in the order each field is first named; false (with a
// message) if malformed. The server checks the fields and ranges.
bool ParseFacets(const std::vector<std::string>& keyword_specs,
                 const std::vector<std::string>& range_specs, v1::SearchRequest* request);

// Parses --sort ("year:desc,price") into request->sort; false (with a
// message) if malformed.
bool ParseSort(const std::string& text, v1::SearchRequest* request);

// scry stats: prints the index's statistics.
int RunStats(const std::string& index);

// scry verify: checks every block checksum and posting list of the index's
// live generation (storage/verify.h); prints one line per problem found and
// a summary. Returns 0 if the index is sound, 1 if it is damaged (or cannot
// be read at all).
int RunVerify(const std::string& index);

}  // namespace scry::tools

#endif  // SCRY_TOOLS_COMMANDS_H_
