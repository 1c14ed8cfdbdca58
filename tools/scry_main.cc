// File: tools/scry_main.cc
//
// The `scry` command-line program. Subcommands:
//   scry index  --input FILE.jsonl [--input ...] --index DIR [--shards N] ...
//   scry serve  --index DIR [--listen HOST:PORT] ...
//   scry search (--index DIR | --server HOST:PORT) [--top-k K] QUERY
//   scry stats  --index DIR
// README.md documents every flag. Exit status: 0 on success, 1 on a runtime
// error (the message says which), 2 on a usage error.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "analysis/analyzer.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/credentials.h"
#include "indexer/assemble.h"
#include "indexer/builder.h"
#include "query/searcher.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/convert.h"
#include "server/search_service.h"
#include "server/server.h"
#include "storage/block_codec.h"

namespace {

using scry::query::DefaultOperator;

int Fail(const absl::Status& status) {
  std::cerr << "scry: " << absl::StatusCodeToString(status.code()) << ": " << status.message()
            << "\n";
  return 1;
}

// ---- scry index ------------------------------------------------------------

int RunIndex(scry::indexer::BuildOptions options, bool quiet) {
  const bool tty = isatty(STDERR_FILENO) != 0 && !quiet;
  bool progress_shown = false;
  if (tty) {
    options.progress = [&](const std::string& line) {
      std::fprintf(stderr, "\r%s\033[K", line.c_str());
      progress_shown = true;
    };
  }
  options.warn = [&](const std::string& line) {
    if (progress_shown) std::fputs("\r\033[K", stderr);
    std::fprintf(stderr, "%s\n", line.c_str());
  };
  absl::StatusOr<scry::indexer::BuildSummary> summary = scry::indexer::BuildIndex(options);
  if (progress_shown) std::fputs("\r\033[K", stderr);
  if (!summary.ok()) {
    // Bad input lines are reported as FILE:LINE: reason, nothing else.
    if (absl::IsInvalidArgument(summary.status())) {
      std::cerr << summary.status().message() << "\n";
      std::cerr << "scry: build failed; the index at " << options.index_dir
                << " (if any) is unchanged\n";
      return 1;
    }
    Fail(summary.status());
    std::cerr << "scry: build failed; the index at " << options.index_dir
              << " (if any) is unchanged\n";
    return 1;
  }
  if (!quiet) {
    std::fprintf(stderr,
                 "indexed %llu documents (%llu invalid lines skipped) from %.1f MB in %.2f s "
                 "(%.0f docs/s, %.1f MB/s; %.2f s reading and inverting, %.2f s merging and "
                 "writing)\n"
                 "%llu terms, %llu postings, %llu sorted runs, index %.1f MB in %s\n",
                 static_cast<unsigned long long>(summary->docs),
                 static_cast<unsigned long long>(summary->skipped), summary->input_bytes / 1e6,
                 summary->seconds, summary->docs / std::max(summary->seconds, 1e-9),
                 summary->input_bytes / 1e6 / std::max(summary->seconds, 1e-9),
                 summary->invert_seconds, summary->seconds - summary->invert_seconds,
                 static_cast<unsigned long long>(summary->terms),
                 static_cast<unsigned long long>(summary->postings),
                 static_cast<unsigned long long>(summary->runs), summary->index_bytes / 1e6,
                 summary->generation_path.c_str());
    if (options.only_shard >= 0) {
      std::fprintf(stderr,
                   "part: shard %d of %u (%llu documents of other shards left out); put the "
                   "parts together with `scry assemble`\n",
                   options.only_shard, options.num_shards,
                   static_cast<unsigned long long>(summary->other_shards));
    }
  }
  return 0;
}

// ---- scry serve ------------------------------------------------------------

// Writes `port` and a newline to `path` atomically (through a rename).
bool WritePortFile(const std::string& path, int port) {
  std::ofstream out(path + ".tmp");
  out << port << "\n";
  out.close();
  if (!out || std::rename((path + ".tmp").c_str(), path.c_str()) != 0) {
    std::cerr << "scry: cannot write " << path << "\n";
    return false;
  }
  return true;
}

int RunServe(const scry::server::ServerOptions& options, const std::string& port_file,
             const std::string& metrics_port_file) {
  // Block the stop signals (and SIGHUP, reload) in every thread; one thread
  // waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<scry::server::Server>> server =
      scry::server::Server::Start(options);
  if (!server.ok()) return Fail(server.status());
  // The metrics port first: once the --port-file exists, both are there.
  if (!metrics_port_file.empty() && !WritePortFile(metrics_port_file, (*server)->metrics_port())) {
    return 1;
  }
  if (!port_file.empty() && !WritePortFile(port_file, (*server)->port())) return 1;
  std::thread waiter([&] {
    int sig = 0;
    while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
      std::cerr << "scry: SIGHUP, looking for a new generation\n";
      (*server)->ReloadSoon();
    }
    std::cerr << "scry: signal " << sig << ", shutting down\n";
    (*server)->Shutdown();
  });
  (*server)->Wait();
  waiter.join();
  return 0;
}

// ---- scry search -----------------------------------------------------------

// Prints a response of either mode.
void PrintResponse(const scry::v1::SearchResponse& response, size_t offset, bool remote) {
  size_t rank = offset;
  for (const auto& hit : response.hits()) {
    std::printf("%4zu  %10.4f  %s  %s\n", ++rank, hit.score(), hit.id().c_str(),
                hit.title().c_str());
    // Sorted, so that the output is stable (a proto map has no order).
    std::map<std::string, std::string> fields(hit.fields().begin(), hit.fields().end());
    for (const auto& [name, value] : fields) {
      std::printf("      %s: %s\n", name.c_str(), value.c_str());
    }
    for (const auto& snippet : hit.snippets()) {
      for (const auto& fragment : snippet.fragments()) {
        std::printf("      [%s] %s\n", snippet.field().c_str(), fragment.c_str());
      }
    }
    if (hit.has_explanation()) {
      for (const auto& t : hit.explanation().terms()) {
        std::printf(
            "      %10.4f  %s%s%s  weight %g  tf %g  df %llu  docs %llu  idf %.4f  dl %u  "
            "avgdl %.2f\n",
            t.score(), t.field().c_str(), t.field().empty() ? "" : ":", t.term().c_str(),
            t.weight(), t.tf(), static_cast<unsigned long long>(t.df()),
            static_cast<unsigned long long>(t.docs()), t.idf(), t.doc_length(), t.avg_doc_length());
      }
    }
  }
  std::printf("total hits: %s%llu%s", response.total_hits_is_lower_bound() ? ">= " : "",
              static_cast<unsigned long long>(response.total_hits()),
              response.expansions_truncated() ? " (prefix/fuzzy expansions truncated)" : "");
  if (remote) std::printf(" (server took %.2f ms)", response.took_micros() / 1e3);
  std::printf("\n");
}

// Searches `index` in this process, with the server's mapping of requests and
// responses (server/convert.h) and its default deadline.
int RunSearchLocal(const std::string& index, const scry::v1::SearchRequest& request) {
  auto searcher = scry::query::Searcher::Open(index, scry::query::SearcherOptions());
  if (!searcher.ok()) return Fail(searcher.status());
  absl::StatusOr<scry::query::SearchRequest> q = scry::server::FromProto(request);
  if (!q.ok()) return Fail(q.status());
  q->deadline =
      absl::Now() + absl::Milliseconds(scry::server::SearchServiceOptions().default_deadline_ms);
  absl::StatusOr<scry::query::SearchResult> result = (*searcher)->Search(*q);
  if (!result.ok()) return Fail(result.status());
  scry::v1::SearchResponse response;
  scry::server::ToProto(std::move(*result), q->explain, &response);
  PrintResponse(response, request.offset(), false);
  return 0;
}

// How `scry search --server` connects: TLS if a CA file is given (with a
// client certificate for mutual TLS), and a bearer token if a token file is.
struct ClientSecurity {
  std::string tls_ca_file, tls_cert_file, tls_key_file, tls_server_name, auth_token_file;
};

bool ReadFileOrComplain(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "scry: cannot read " << path << "\n";
    return false;
  }
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

int RunSearchRemote(const std::string& address, const scry::v1::SearchRequest& request,
                    int timeout_ms, const ClientSecurity& security) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!security.tls_ca_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    if (!ReadFileOrComplain(security.tls_ca_file, &ssl.pem_root_certs)) return 1;
    if (!security.tls_cert_file.empty() &&
        (!ReadFileOrComplain(security.tls_cert_file, &ssl.pem_cert_chain) ||
         !ReadFileOrComplain(security.tls_key_file, &ssl.pem_private_key))) {
      return 1;
    }
    credentials = grpc::SslCredentials(ssl);
  }
  std::string token;
  if (!security.auth_token_file.empty()) {
    std::string text;
    if (!ReadFileOrComplain(security.auth_token_file, &text)) return 1;
    const std::vector<std::string> tokens = scry::server::ParseTokenFile(text);
    if (!tokens.empty()) token = tokens[0];
  }
  grpc::ChannelArguments args;
  if (!security.tls_server_name.empty()) args.SetSslTargetNameOverride(security.tls_server_name);
  auto channel = grpc::CreateCustomChannel(address, credentials, args);
  auto stub = scry::v1::SearchService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  scry::v1::SearchResponse response;
  grpc::Status status = stub->Search(&context, request, &response);
  if (!status.ok()) {
    std::cerr << "scry: "
              << absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()))
              << ": " << status.error_message() << "\n";
    return 1;
  }
  PrintResponse(response, request.offset(), true);
  return 0;
}

// "title^2,body" -> search_fields; false on a bad weight.
bool ParseSearchFields(const std::string& text, scry::v1::SearchRequest* request) {
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    scry::v1::FieldWeight* f = request->add_search_fields();
    const size_t caret = item.find('^');
    f->set_field(std::string(item.substr(0, caret)));
    if (caret != absl::string_view::npos) {
      double weight = 0;
      if (!absl::SimpleAtod(item.substr(caret + 1), &weight) || !(weight > 0)) return false;
      f->set_weight(weight);
    }
  }
  return true;
}

// ---- scry stats ------------------------------------------------------------

int RunStats(const std::string& index) {
  auto searcher = scry::query::Searcher::Open(index, scry::query::SearcherOptions());
  if (!searcher.ok()) return Fail(searcher.status());
  auto stats = (*searcher)->Stats();
  if (!stats.ok()) return Fail(stats.status());
  const scry::query::IndexInfo& info = (*searcher)->info();
  std::printf("index       %s\n", info.generation_path.c_str());
  std::printf("language    %s (stopwords %s)\nshards      %zu\ndocs        %llu\n",
              info.language.c_str(), info.stopwords ? "on" : "off",
              static_cast<size_t>(info.num_shards), static_cast<unsigned long long>(info.docs));
  std::printf("fields      %s\n", (*searcher)->fields().empty()
                                      ? "(catch-all only)"
                                      : absl::StrJoin((*searcher)->fields(), ", ").c_str());
  uint64_t terms = 0, postings = 0, bytes = 0;
  for (const auto& s : *stats) {
    terms += s.terms;
    postings += s.postings;
    for (const auto& [cf, b] : s.bytes_per_column_family) bytes += b;
  }
  std::printf("terms       %llu (summed over shards)\npostings    %llu\nbytes       %llu\n\n",
              static_cast<unsigned long long>(terms), static_cast<unsigned long long>(postings),
              static_cast<unsigned long long>(bytes));
  std::printf("%-6s %10s %10s %12s", "shard", "docs", "terms", "postings");
  const char* cfs[] = {"meta", "terms", "postings", "positions", "docs", "ids"};
  for (const char* cf : cfs) std::printf(" %11s", cf);
  std::printf("\n");
  for (const auto& s : *stats) {
    std::printf("%-6u %10llu %10llu %12llu", s.shard, static_cast<unsigned long long>(s.docs),
                static_cast<unsigned long long>(s.terms),
                static_cast<unsigned long long>(s.postings));
    for (const char* cf : cfs) {
      auto it = s.bytes_per_column_family.find(cf);
      std::printf(" %11llu", static_cast<unsigned long long>(
                                 it == s.bytes_per_column_family.end() ? 0 : it->second));
    }
    std::printf("\n");
  }
  std::printf("(column family sizes are bytes of SST files on disk)\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"scry: full-text search engine (sharded RocksDB index, gRPC BM25 search)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "scry 0.1.0");

  // index
  scry::indexer::BuildOptions build;
  bool quiet = false;
  CLI::App* index = app.add_subcommand("index", "Build an index from JSON Lines and text files");
  index
      ->add_option("--input,-i", build.inputs,
                   "Input: a JSON Lines file, a .txt file (one document) or a directory of "
                   "*.jsonl/*.txt; any may be gzip or zstd compressed (repeatable; - for stdin)")
      ->required();
  index->add_option("--index", build.index_dir, "Index directory (created or replaced)")
      ->required();
  index->add_option("--shards", build.num_shards, "Number of shards")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  index
      ->add_option("--language", build.language,
                   "Snowball stemmer language, or none (see `scry languages`)")
      ->capture_default_str();
  index->add_flag("--skip-invalid", build.skip_invalid,
                  "Report and skip bad input lines instead of stopping at the first");
  index->add_option("--threads", build.threads, "Analysis threads (0 = all cores)")
      ->capture_default_str();
  index
      ->add_option("--memory-mb", build.memory_mb,
                   "Cap on the in-memory inverted index, in MiB; past it sorted runs are written "
                   "to disk and merged at the end")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))
      ->capture_default_str();
  index
      ->add_option("--shard", build.only_shard,
                   "Build only this shard of --shards (0-based): a part of an index, put together "
                   "with the other parts by `scry assemble`")
      ->check(CLI::Range(0, 1023));
  index
      ->add_option("--max-doc-bytes", build.max_document_bytes,
                   "Largest accepted input line, in bytes")
      ->capture_default_str();
  index->add_option("--docid-codec", build.docid_codec, "Block codec for docid gaps")
      ->capture_default_str();
  index->add_option("--freq-codec", build.freq_codec, "Block codec for term frequencies")
      ->capture_default_str();
  index->add_option("--positions-codec", build.positions_codec, "Block codec for positions")
      ->capture_default_str();
  std::string store = "*";
  index
      ->add_option("--store", store,
                   "Comma-separated members to store besides the id (* = all, none = id only)")
      ->capture_default_str();
  std::string index_fields = "*";
  index
      ->add_option("--index-fields", index_fields,
                   "Comma-separated members that also get postings of their own, for field:term "
                   "and --search-fields (* = every member, none = catch-all only)")
      ->capture_default_str();
  index->add_flag("--stopwords", build.stopwords,
                  "Drop the language's stopwords (see `scry languages`), keeping their positions");
  index->add_flag("--quiet,-q", quiet, "No progress and no summary");

  // assemble
  std::vector<std::string> assemble_parts;
  std::string assemble_index;
  CLI::App* assemble =
      app.add_subcommand("assemble", "Put an index together from parts built with --shard");
  assemble->add_option("--part", assemble_parts, "A part's index directory (repeatable)")
      ->required();
  assemble->add_option("--index", assemble_index, "Output index directory (created or replaced)")
      ->required();

  // serve
  scry::server::ServerOptions serve;
  std::string port_file, metrics_port_file;
  uint32_t cache_mb = 256;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Serve an index over gRPC");
  serve_cmd->add_option("--index", serve.index_dir, "Index directory")->required();
  serve_cmd->add_option("--listen", serve.listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  serve_cmd->add_option("--port-file", port_file, "Write the bound port to this file once serving");
  serve_cmd->add_option("--max-top-k", serve.searcher.max_top_k, "Largest offset + top_k")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-query-bytes", serve.searcher.parse.max_query_bytes,
                   "Longest query text, in bytes")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-clauses", serve.searcher.parse.max_clauses,
                   "Most terms and phrases in one query")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-expansions", serve.searcher.expansion.max_expansions,
                   "Most dictionary terms one prefix query (secur*) expands to")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-fuzzy-expansions", serve.searcher.expansion.max_fuzzy_expansions,
                   "Most dictionary terms one fuzzy query (word~2) expands to")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve_cmd
      ->add_option("--search-threads", serve.searcher.search_threads,
                   "Threads that search the shards of one query (0 = one per core)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-message-bytes", serve.max_message_bytes,
                   "Largest request accepted, in bytes (larger: RESOURCE_EXHAUSTED)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve_cmd
      ->add_option("--parallel-min-postings", serve.searcher.parallel_min_postings,
                   "Queries with fewer postings (sum of their terms' df) search the shards "
                   "one after the other")
      ->capture_default_str();
  serve_cmd->add_option("--cache-mb", cache_mb, "RocksDB block cache, in MiB")
      ->capture_default_str();
  serve_cmd
      ->add_option("--grpc-api", serve.service.api,
                   "How calls are served: 'callback' (gRPC's callback API: each call runs on the "
                   "gRPC thread that read it) or 'sync' (a pool of threads, --grpc-max-threads)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, scry::server::GrpcApi>{
          {"callback", scry::server::GrpcApi::kCallback}, {"sync", scry::server::GrpcApi::kSync}}))
      ->default_str("callback");
  serve_cmd
      ->add_option("--reload-poll-ms", serve.reload_poll_ms,
                   "How often to look for a new build of the index (its CURRENT) and switch to "
                   "it; 0 = only on SIGHUP or the Reload RPC")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve_cmd->add_option("--tls-cert", serve.tls_cert_file,
                        "Serve TLS with this certificate chain (PEM; needs --tls-key)");
  serve_cmd->add_option("--tls-key", serve.tls_key_file, "Private key of --tls-cert (PEM)");
  serve_cmd->add_option("--tls-client-ca", serve.tls_client_ca_file,
                        "Require client certificates signed by this CA (mutual TLS)");
  serve_cmd->add_option("--auth-token-file", serve.auth_token_file,
                        "Require 'authorization: Bearer <token>' with a token of this file "
                        "(one per line) on every RPC but health; turns reflection off");
  serve_cmd->add_flag("--auth-anonymous-search", serve.service.anonymous_search,
                      "With --auth-token-file: let Search through without a token");
  serve_cmd->add_flag("--access-log", serve.service.access_log,
                      "One JSON line per call on stderr (time, method, code, micros, peer)");
  serve_cmd
      ->add_option("--default-deadline-ms", serve.service.default_deadline_ms,
                   "Deadline of a search whose client set none (0 = none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-concurrent-searches", serve.service.max_concurrent_searches,
                   "Searches running at once; more get RESOURCE_EXHAUSTED (0 = no limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve_cmd
      ->add_option("--grpc-max-threads", serve.grpc_max_threads,
                   "Most gRPC server threads; at most N - 1 calls run at once, more get "
                   "RESOURCE_EXHAUSTED (0 = no limit; default: 4 x --max-concurrent-searches, "
                   "at least 64)")
      ->check(CLI::Validator(
          [](std::string& value) {
            int n = 0;
            return absl::SimpleAtoi(value, &n) && (n == 0 || n >= 3)
                       ? std::string()
                       : std::string("must be 0 or at least 3");
          },
          "0|N>=3"));
  CLI::Option* metrics_listen_opt = serve_cmd->add_option(
      "--metrics-listen", serve.metrics_listen,
      "Serve Prometheus metrics at http://HOST:PORT/metrics (port 0: any free port; default: off)");
  serve_cmd
      ->add_option("--metrics-port-file", metrics_port_file,
                   "Write the bound metrics port to this file once serving")
      ->needs(metrics_listen_opt);

  // search
  std::string search_index, search_server, fields, search_fields, highlight, after_id;
  scry::v1::SearchRequest request;
  uint32_t top_k = 10, offset = 0;
  double after_score = 0;
  bool use_and = false, exact_total_hits = false, explain = false;
  std::string pruning_name = "auto";
  int timeout_ms = 10000;
  scry::v1::HighlightRequest highlight_options;
  CLI::App* search = app.add_subcommand("search", "Run one query, locally or through a server");
  auto* idx_opt = search->add_option("--index", search_index, "Search this index directly");
  auto* srv_opt = search->add_option("--server", search_server, "Search through this gRPC server");
  idx_opt->excludes(srv_opt);
  search->add_option("--top-k,-k", top_k, "Hits to print")->capture_default_str();
  search->add_option("--offset", offset, "Hits to skip first")->capture_default_str();
  search->add_flag("--and", use_and, "Join bare clauses with AND instead of OR");
  search->add_flag("--exact-total-hits", exact_total_hits,
                   "Count every match (turns off pruning; else OR counts may be a lower bound)");
  search
      ->add_option("--pruning", pruning_name,
                   "Evaluation of queries of plain terms: auto, none (exhaustive), maxscore, bmw")
      ->check(CLI::IsMember({"auto", "none", "maxscore", "bmw"}))
      ->capture_default_str();
  search->add_option("--fields", fields, "Comma-separated stored fields to print (* = all)");
  search->add_option("--search-fields", search_fields,
                     "Named fields that bare words search, with weights: title^2,body "
                     "(default: the catch-all field)");
  auto* after_score_opt = search->add_option(
      "--after-score", after_score, "Deep paging: only hits after this score (with --after-id)");
  auto* after_id_opt = search->add_option(
      "--after-id", after_id, "Deep paging: the id of the last hit of the previous page");
  after_score_opt->needs(after_id_opt);
  after_id_opt->needs(after_score_opt);
  search->add_flag("--explain", explain, "Print each hit's BM25 breakdown per term");
  search->add_option("--highlight", highlight,
                     "Comma-separated stored fields to print snippets of (e.g. body)");
  std::string pre_tag = "<em>", post_tag = "</em>";
  uint32_t fragment_chars = 160, fragments = 1;
  search->add_option("--pre-tag", pre_tag, "With --highlight: before each match")
      ->capture_default_str();
  search->add_option("--post-tag", post_tag, "With --highlight: after each match")
      ->capture_default_str();
  search->add_option("--fragment-chars", fragment_chars, "With --highlight: fragment length")
      ->capture_default_str();
  search->add_option("--fragments", fragments, "With --highlight: fragments per field")
      ->capture_default_str();
  search->add_option("--timeout-ms", timeout_ms, "RPC deadline with --server")
      ->capture_default_str();
  ClientSecurity security;
  search->add_option("--tls-ca", security.tls_ca_file,
                     "With --server: connect with TLS, trusting this CA (PEM)");
  search->add_option("--tls-cert", security.tls_cert_file,
                     "With --tls-ca: client certificate (PEM) for mutual TLS");
  search->add_option("--tls-key", security.tls_key_file, "With --tls-cert: its private key (PEM)");
  search->add_option("--tls-server-name", security.tls_server_name,
                     "With --tls-ca: the name the server's certificate must hold (default: the "
                     "host of --server)");
  search->add_option("--auth-token-file", security.auth_token_file,
                     "With --server: send the first token of this file as a bearer token");
  std::string query_text;
  search->add_option("query", query_text, "The query (see README: query language)")->required();

  // stats
  std::string stats_index;
  CLI::App* stats = app.add_subcommand("stats", "Print index statistics per shard");
  stats->add_option("--index", stats_index, "Index directory")->required();

  // languages
  CLI::App* languages = app.add_subcommand("languages", "List the stemmer languages");

  CLI11_PARSE(app, argc, argv);

  if (*index) {
    build.stored_fields.clear();
    if (store != "none") {
      for (auto f : absl::StrSplit(store, ',', absl::SkipEmpty()))
        build.stored_fields.emplace_back(f);
    }
    build.index_fields.clear();
    if (index_fields != "none") {
      for (auto f : absl::StrSplit(index_fields, ',', absl::SkipEmpty())) {
        build.index_fields.emplace_back(f);
      }
    }
    return RunIndex(build, quiet);
  }
  if (*assemble) {
    absl::StatusOr<scry::indexer::AssembleSummary> summary =
        scry::indexer::AssembleIndex(assemble_parts, assemble_index);
    if (!summary.ok()) {
      Fail(summary.status());
      std::cerr << "scry: assembly failed; the index at " << assemble_index
                << " (if any) is unchanged\n";
      return 1;
    }
    std::fprintf(stderr,
                 "assembled %u shards, %llu documents (%llu files linked, %llu copied), index "
                 "%.1f MB in %s\n",
                 summary->shards, static_cast<unsigned long long>(summary->docs),
                 static_cast<unsigned long long>(summary->files_linked),
                 static_cast<unsigned long long>(summary->files_copied), summary->index_bytes / 1e6,
                 summary->generation_path.c_str());
    return 0;
  }
  if (*serve_cmd) {
    serve.searcher.block_cache_bytes = size_t{cache_mb} << 20;
    return RunServe(serve, port_file, metrics_port_file);
  }
  if (*search) {
    if (search_index.empty() == search_server.empty()) {
      std::cerr << "scry search: give exactly one of --index or --server\n";
      return 2;
    }
    request.set_query(query_text);
    request.set_top_k(top_k);
    request.set_offset(offset);
    request.set_default_operator(use_and ? scry::v1::DEFAULT_OPERATOR_AND
                                         : scry::v1::DEFAULT_OPERATOR_OR);
    const std::map<std::string, scry::v1::Pruning> prunings = {
        {"auto", scry::v1::PRUNING_AUTO},
        {"none", scry::v1::PRUNING_NONE},
        {"maxscore", scry::v1::PRUNING_MAXSCORE},
        {"bmw", scry::v1::PRUNING_BLOCK_MAX_WAND}};
    request.set_pruning(prunings.at(pruning_name));  // checked by CLI11
    request.set_exact_total_hits(exact_total_hits);
    for (auto f : absl::StrSplit(fields, ',', absl::SkipEmpty()))
      request.add_fields(std::string(f));
    if (!ParseSearchFields(search_fields, &request)) {
      std::cerr << "scry search: --search-fields takes NAME or NAME^WEIGHT (weight > 0), "
                   "comma-separated\n";
      return 2;
    }
    if (!after_id.empty()) {
      request.mutable_search_after()->set_score(after_score);
      request.mutable_search_after()->set_id(after_id);
    }
    request.set_explain(explain);
    if (!highlight.empty()) {
      scry::v1::HighlightRequest* h = request.mutable_highlight();
      for (auto f : absl::StrSplit(highlight, ',', absl::SkipEmpty()))
        h->add_fields(std::string(f));
      h->set_pre_tag(pre_tag);
      h->set_post_tag(post_tag);
      h->set_fragment_chars(fragment_chars);
      h->set_max_fragments(fragments);
    }
    return search_index.empty() ? RunSearchRemote(search_server, request, timeout_ms, security)
                                : RunSearchLocal(search_index, request);
  }
  if (*stats) return RunStats(stats_index);
  if (*languages) {
    const std::vector<std::string> with_stopwords = scry::analysis::Analyzer::StopwordLanguages();
    for (const auto& l : scry::analysis::Analyzer::Languages()) {
      const bool stop =
          std::find(with_stopwords.begin(), with_stopwords.end(), l) != with_stopwords.end();
      std::printf("%s%s\n", l.c_str(), stop ? "  (stopwords)" : "");
    }
    return 0;
  }
  return 2;
}
