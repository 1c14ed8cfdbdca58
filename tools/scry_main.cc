// File: tools/scry_main.cc
//
// The `scry` command-line program. Subcommands:
//   scry index  --input FILE.jsonl [--input ...] --index DIR [--shards N] ...
//   scry serve  --index DIR [--listen HOST:PORT] ...
//   scry broker --backends HOST:PORT|dns:NAME:PORT,... [--listen HOST:PORT] [--hedge-after-ms N]
//               [--write-acks N|all] [--http-listen HOST:PORT] [--auth-token-file F] ...
//   scry search (--index DIR | --server HOST:PORT) [--top-k K] QUERY
//   scry write  --server HOST:PORT FILE.jsonl...   (live writes)
//   scry delete --server HOST:PORT ID...
//   scry refresh --server HOST:PORT
//   scry commit --server HOST:PORT
//   scry stats  --index DIR
//   scry verify --index DIR
// README.md documents every flag. Exit status: 0 on success, 1 on a runtime
// error (the message says which), 2 on a usage error.
#include <algorithm>
#include <cctype>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "analysis/analyzer.h"
#include "indexer/assemble.h"
#include "indexer/builder.h"
#include "query/search_request.h"
#include "scry/v1/search.pb.h"
#include "server/server.h"
#include "storage/block_codec.h"
#include "tools/commands.h"

namespace {

using scry::query::DefaultOperator;
using scry::tools::ClientSecurity;
using scry::tools::Fail;
using scry::tools::ParseFacets;
using scry::tools::ParseSearchFields;
using scry::tools::ParseSort;
using scry::tools::RunIndex;
using scry::tools::RunSearchLocal;
using scry::tools::RunSearchRemote;
using scry::tools::RunServe;
using scry::tools::RunStats;
using scry::tools::RunVerify;

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil checks every absl::Mutex acquisition for lock-order
  // cycles (gRPC's own locks are absl::Mutex): a debugging aid that costs the
  // server on every call.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
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
  index->add_flag("--follow-symlinks", build.follow_symlinks,
                  "Follow symbolic links in input directories, also out of them (each directory "
                  "and file is still read once)");
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
      ->add_option("--build-id", build.build_id,
                   "The id the MANIFEST records (default: random): give the parts of one run the "
                   "same one (e.g. the run's name), so that servers of the parts (scry serve "
                   "--shards I) are one index behind a broker")
      ->check([](const std::string& id) -> std::string {
        const bool ok =
            !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                     c == '-';
            });
        return ok ? std::string() : "1 to 64 letters, digits, '.', '_' or '-'";
      });
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
  index
      ->add_option("--reorder", build.reorder,
                   "Document order in each shard: none (input order) or bp (recursive graph "
                   "bisection at the end of the build: documents sharing terms get near docids; "
                   "smaller lists, same results)")
      ->check(CLI::IsMember({"none", "bp"}))
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
  std::string schema_file;
  index->add_option("--schema", schema_file,
                    "JSON file of typed fields, {\"fields\": {\"lang\": \"keyword\", \"year\": "
                    "\"int64\", \"price\": \"double\", \"published\": \"date\"}}; other members "
                    "stay text");
  index->add_flag("--stopwords", build.stopwords,
                  "Drop the language's stopwords (see `scry languages`), keeping their positions");
  index
      ->add_option("--common-terms", build.common_terms,
                   "Index pairs of adjacent words where one is among this many most frequent "
                   "terms (of a sample of the input), for fast phrases; 0 = no pairs")
      ->capture_default_str();
  index
      ->add_option("--pair-min-df", build.pair_min_df,
                   "Leave out pairs found in fewer documents of a shard than this")
      ->check(CLI::Range(1, 8192))
      ->capture_default_str();
  index->add_flag("--pairs-need-both", build.pairs_need_both,
                  "Index only pairs of two --common-terms (fewer pairs, a smaller index)");
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
  std::string port_file, metrics_port_file, http_port_file;
  uint32_t cache_mb = 256;
  uint32_t memory_lists_mb = 512;
  // broker
  scry::server::BrokerOptions broker;
  std::string broker_port_file, broker_http_port_file;
  CLI::App* broker_cmd = app.add_subcommand(
      "broker", "Answer searches over shard servers (scry serve --shards) as one index");
  broker_cmd
      ->add_option("--listen", broker.listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  broker_cmd
      ->add_option("--backends", broker.backends,
                   "HOST:PORT of each shard server, or dns:NAME:PORT for every address of NAME")
      ->delimiter(',')
      ->required();
  broker_cmd->add_option("--port-file", broker_port_file,
                         "Write the bound port to this file once serving");
  broker_cmd
      ->add_option("--default-deadline-ms", broker.default_deadline_ms,
                   "Deadline of a call whose client set none (at most --max-deadline-ms)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  broker_cmd
      ->add_option("--auth-token-file", broker.auth_token_file,
                   "Require 'authorization: Bearer <token>' (gRPC or HTTP) with a token of this "
                   "file: a line TOKEN may search, TOKEN write may also write")
      ->check(CLI::ExistingFile);
  broker_cmd
      ->add_option("--backend-token-file", broker.backend_token_file,
                   "Send the first token of this file to the shard servers (their "
                   "--auth-token-file; a write token for writes)")
      ->check(CLI::ExistingFile);
  broker_cmd
      ->add_option("--max-deadline-ms", broker.max_deadline_ms,
                   "Longest a call may take whatever deadline its client sets; a later one is "
                   "brought in to this (0 = no maximum)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  broker_cmd
      ->add_option("--hedge-after-ms", broker.hedge_after_ms,
                   "Send a call unanswered this long to another replica too (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  broker_cmd
      ->add_option("--health-interval-ms", broker.health_interval_ms,
                   "Call Describe on every backend this often")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  broker_cmd
      ->add_option("--resolve-interval-s", broker.resolve_interval_s,
                   "Resolve dns: backends again this often")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  broker_cmd->add_option("--http-listen", broker.http_listen,
                         "HOST:PORT of the HTTP/JSON API and search page (off by default; port "
                         "0: any free port)");
  broker_cmd->add_option("--http-port-file", broker_http_port_file,
                         "With --http-listen: write the bound HTTP port to this file");
  broker_cmd->add_flag_function(
      "--no-query-then-fetch", [&broker](int64_t) { broker.query_then_fetch = false; },
      "Fetch stored fields and snippets in each group's answer (one round) rather than for the "
      "final page only (a third round)");
  broker_cmd
      ->add_option_function<std::string>(
          "--write-acks",
          [&broker](const std::string& value) {
            broker.write_acks = value == "all" ? 0 : std::stoi(value);
          },
          "Replicas of a shard group that must log a write before it is acknowledged: N, or "
          "all (default 1)")
      ->check(CLI::IsMember({"all"}) | CLI::Range(1, 1000));

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
      ->add_option("--max-total-expansions", serve.searcher.expansion.max_total_expansions,
                   "Most dictionary terms all prefix and fuzzy words of one query expand to "
                   "together; a query over it is refused (INVALID_ARGUMENT; 0 = no limit)")
      ->capture_default_str();
  uint32_t query_memory_mb = 128;
  serve_cmd
      ->add_option("--max-query-memory-mb", query_memory_mb,
                   "Memory one query's open posting lists may take, estimated before it runs; "
                   "a query over it is refused (RESOURCE_EXHAUSTED; 0 = no limit)")
      ->capture_default_str();
  uint32_t response_mb = 64;
  serve_cmd
      ->add_option("--max-response-mb", response_mb,
                   "Largest response, in MiB: a search whose hits would take more gets "
                   "RESOURCE_EXHAUSTED (0 = no limit)")
      ->check(CLI::Range(0, 2047))
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
      ->add_option("--memory-lists-mb", memory_lists_mb,
                   "Per shard: posting, then position lists are loaded into memory at start if "
                   "they fit in this many MiB (else read through the block cache); 0: none")
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
                        "(one per line: TOKEN [read|write]) on every RPC but health; writes "
                        "need a write token; turns reflection off");
  serve_cmd->add_flag("--auth-anonymous-search", serve.service.anonymous_search,
                      "With --auth-token-file: let Search through without a token");
  serve_cmd
      ->add_option("--anonymous-fields", serve.service.anonymous_fields,
                   "With --auth-anonymous-search: the stored members a search without a token may "
                   "see (fields, snippets, titles if 'title' is one); others are refused")
      ->delimiter(',')
      ->default_str("title");
  serve_cmd
      ->add_option("--shards", serve.searcher.shards,
                   "Search only these shards of the index, e.g. 0,3 (a shard server behind "
                   "`scry broker`; takes no writes); default: all")
      ->delimiter(',')
      ->check(CLI::NonNegativeNumber);
  serve_cmd->add_flag("--read-only", serve.read_only,
                      "Take no live writes (IndexService answers FAILED_PRECONDITION; the "
                      "write-ahead log DIR/live is not opened)");
  std::string wal_sync = "always";
  serve_cmd
      ->add_option("--wal-sync", wal_sync,
                   "When the write-ahead log reaches the disk: always (before each answer), "
                   "interval:MS (every MS ms), never (on Commit only)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--refresh-interval-ms", serve.refresh_interval_ms,
                   "Make acknowledged writes visible by themselves within this many ms (0 = only "
                   "on the Refresh RPC / scry refresh)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve_cmd
      ->add_option("--merge-segments-per-tier", serve.merge_segments_per_tier,
                   "Live segments of a shard per size tier before the smallest are merged")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve_cmd
      ->add_option("--merge-max-at-once", serve.merge_max_at_once,
                   "Live segments merged into one at most (>= 2)")
      ->check(CLI::Range(size_t{2}, size_t{1000}))
      ->capture_default_str();
  serve_cmd
      ->add_option("--merge-floor-docs", serve.merge_floor_docs,
                   "Live segments smaller than this many documents count as this size in tiers")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve_cmd->add_flag("--access-log", serve.service.access_log,
                      "One JSON line per call on stderr (time, method, code, micros, peer)");
  serve_cmd
      ->add_option("--default-deadline-ms", serve.service.default_deadline_ms,
                   "Deadline of a search whose client set none (0 = none; at most "
                   "--max-deadline-ms)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-deadline-ms", serve.service.max_deadline_ms,
                   "Longest a search may run whatever deadline its client sets; a later one is "
                   "brought in to this (0 = no maximum)")
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
  CLI::Option* http_listen_opt = serve_cmd->add_option(
      "--http-listen", serve.http_listen,
      "Serve the HTTP/JSON API (POST /v1/search, /v1/document, /v1/reload, GET /v1/stats, "
      "/metrics) at http://HOST:PORT (port 0: any free port; default: off)");
  serve_cmd
      ->add_option("--http-port-file", http_port_file,
                   "Write the bound HTTP port to this file once serving")
      ->needs(http_listen_opt);
  serve_cmd
      ->add_option("--max-connections", serve.max_connections,
                   "Most connections open at once; one more is closed at once (0 = derived from "
                   "the fd limit: min(16384, limit - descriptors open - 256), at least 16)")
      ->check(CLI::NonNegativeNumber)
      ->default_str("0");
  serve_cmd
      ->add_option("--idle-timeout-s", serve.idle_timeout_s,
                   "Close a connection without calls for this long (0 = never)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve_cmd
      ->add_option("--handshake-timeout-s", serve.handshake_timeout_s,
                   "Close a connection whose TLS/HTTP/2 handshake takes longer")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve_cmd->add_flag("--verify-on-open", serve.verify_on_open,
                      "Check every generation (as `scry verify` does) before serving it; one "
                      "with damage is refused (startup fails, a reload keeps the old one)");

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
  std::string filter, sort_spec, after_values;
  std::vector<std::string> facet_specs, facet_ranges;
  search->add_option("--filter", filter,
                     "Clauses every hit must match without scoring, e.g. 'lang:en AND "
                     "year:[2001 TO 2009]'");
  search->add_option("--facet", facet_specs,
                     "Count the matches per value of a keyword field: FIELD or FIELD=SIZE "
                     "(repeatable)");
  search->add_option("--facet-range", facet_ranges,
                     "Count the matches per range of a numeric or date field: FIELD=RANGE, e.g. "
                     "'year=[2000 TO 2009]' (repeatable; ranges of one field in order)");
  search->add_option("--sort", sort_spec,
                     "Order by numeric or date fields, then score: FIELD[:desc],... e.g. "
                     "year:desc,price");
  auto* after_values_opt = search->add_option(
      "--after-values", after_values,
      "With --sort and --after-id: the sort values of the previous page's last hit, "
      "comma-separated (- for none)");
  after_values_opt->needs(after_id_opt);
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

  // write, delete, refresh, commit: the TLS and token flags of search.
  const auto add_client_flags = [](CLI::App* cmd, std::string* server, int* timeout,
                                   ClientSecurity* sec) {
    cmd->add_option("--server", *server, "The gRPC server (HOST:PORT)")->required();
    cmd->add_option("--timeout-ms", *timeout, "RPC deadline (0 = none)")->capture_default_str();
    cmd->add_option("--tls-ca", sec->tls_ca_file, "Connect with TLS, trusting this CA (PEM)");
    cmd->add_option("--tls-cert", sec->tls_cert_file,
                    "With --tls-ca: client certificate (PEM) for mutual TLS");
    cmd->add_option("--tls-key", sec->tls_key_file, "With --tls-cert: its private key (PEM)");
    cmd->add_option("--tls-server-name", sec->tls_server_name,
                    "With --tls-ca: the name the server's certificate must hold");
    cmd->add_option("--auth-token-file", sec->auth_token_file,
                    "Send the first token of this file as a bearer token (a write token)");
  };
  std::string write_server;
  int write_timeout_ms = 0;
  ClientSecurity write_security;
  scry::tools::WriteCommandOptions write_options;
  std::vector<std::string> write_files;
  CLI::App* write_cmd =
      app.add_subcommand("write", "Upsert the documents of JSON Lines files on a running server");
  add_client_flags(write_cmd, &write_server, &write_timeout_ms, &write_security);
  write_cmd->add_option("--batch", write_options.batch_ops, "Documents per streamed message")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  write_cmd->add_flag("--sync", write_options.sync,
                      "Have the server fsync its log for every message");
  write_cmd->add_flag("--refresh", write_options.refresh, "Refresh once everything is written");
  write_cmd->add_option("files", write_files, "JSON Lines files (plain, .gz, .zst; - = stdin)")
      ->required();
  std::string delete_server;
  int delete_timeout_ms = 30000;
  ClientSecurity delete_security;
  bool delete_sync = false;
  std::vector<std::string> delete_ids;
  CLI::App* delete_cmd = app.add_subcommand("delete", "Delete documents by id on a running server");
  add_client_flags(delete_cmd, &delete_server, &delete_timeout_ms, &delete_security);
  delete_cmd->add_flag("--sync", delete_sync, "Have the server fsync its log before answering");
  delete_cmd->add_option("ids", delete_ids, "Document ids")->required();
  std::string refresh_server, commit_server;
  int refresh_timeout_ms = 30000, commit_timeout_ms = 30000;
  ClientSecurity refresh_security, commit_security;
  CLI::App* refresh_cmd =
      app.add_subcommand("refresh", "Make a running server's acknowledged writes visible now");
  add_client_flags(refresh_cmd, &refresh_server, &refresh_timeout_ms, &refresh_security);
  CLI::App* commit_cmd =
      app.add_subcommand("commit", "Make a running server's acknowledged writes durable (fsync)");
  add_client_flags(commit_cmd, &commit_server, &commit_timeout_ms, &commit_security);

  // stats
  std::string stats_index;
  CLI::App* stats = app.add_subcommand("stats", "Print index statistics per shard");
  stats->add_option("--index", stats_index, "Index directory")->required();

  // verify
  std::string verify_index;
  CLI::App* verify = app.add_subcommand(
      "verify", "Check every block checksum and posting list of an index (exit 1 if damaged)");
  verify->add_option("--index", verify_index, "Index directory")->required();

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
    if (!schema_file.empty()) {
      absl::StatusOr<scry::indexer::Schema> schema = scry::indexer::Schema::ReadFile(schema_file);
      if (!schema.ok()) Fail(schema.status());
      build.schema = *std::move(schema);
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
    if (absl::Status s =
            scry::server::ParseWalSync(wal_sync, &serve.wal_sync, &serve.wal_sync_interval_ms);
        !s.ok()) {
      std::cerr << "scry serve: " << s.message() << "\n";
      return 2;
    }
    serve.searcher.block_cache_bytes = size_t{cache_mb} << 20;
    serve.searcher.memory_lists_bytes = uint64_t{memory_lists_mb} << 20;
    serve.searcher.max_query_memory_bytes = size_t{query_memory_mb} << 20;
    serve.service.max_response_bytes = size_t{response_mb} << 20;
    return RunServe(serve, port_file, metrics_port_file, http_port_file);
  }
  if (*broker_cmd) return scry::tools::RunBroker(broker, broker_port_file, broker_http_port_file);
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
      for (auto v : absl::StrSplit(after_values, ',', absl::SkipEmpty())) {
        request.mutable_search_after()->add_sort_values(v == "-" ? "" : std::string(v));
      }
    }
    request.set_filter(filter);
    if (!ParseFacets(facet_specs, facet_ranges, &request) || !ParseSort(sort_spec, &request)) {
      return 2;
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
  if (*write_cmd) {
    write_options.timeout_ms = write_timeout_ms;
    return scry::tools::RunWrite(write_server, write_files, write_options, write_security);
  }
  if (*delete_cmd) {
    return scry::tools::RunDelete(delete_server, delete_ids, delete_sync, delete_timeout_ms,
                                  delete_security);
  }
  if (*refresh_cmd) {
    return scry::tools::RunRefresh(refresh_server, refresh_timeout_ms, refresh_security);
  }
  if (*commit_cmd) {
    return scry::tools::RunCommit(commit_server, commit_timeout_ms, commit_security);
  }
  if (*stats) return RunStats(stats_index);
  if (*verify) return RunVerify(verify_index);
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
