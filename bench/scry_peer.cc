// File: bench/scry_peer.cc
//
// scry in the peer engines' benchmark harness (../shared/peers/README.md):
//
//   scry-peer index CORPUS.jsonl DIR
//       -> {"engine":"scry","docs":N,"seconds":S,"index_bytes":B}
//   scry-peer search DIR QUERIES.tsv K [RESULTS]
//       -> {"engine":"scry","queries":Q,"k":K,"seconds":S,"qps":X,"p50_us":P,"p99_us":P}
//
// `scry-peer` answers queries with an in-process Searcher. `scry-peer-grpc`
// (the same source built with SCRY_PEER_GRPC_DEFAULT=1) starts a Server on
// 127.0.0.1:0 inside the process and sends every query through a real gRPC
// stub over loopback, so the RPC overhead is part of each latency; its
// engine name is "scry-grpc". The environment variable SCRY_PEER_GRPC=1 or
// =0 overrides the mode of either binary. `index` is the same in both.
//
// Settings as the peers': English (Snowball) stemming, no stopwords, every
// text member (the corpus has title and body) indexed with positions, only
// the id stored. Environment:
//   WARMUP          untimed passes over all queries before the timed one (1)
//   SCRY_SHARDS     shards of the index built by `index` (1)
//   SCRY_THREADS    analysis threads of `index` (0 = all cores, the default)
//   SCRY_MEMORY_MB  --memory-mb of `index` (1024): the in-memory index cap
//   SCRY_COMMON_TERMS, SCRY_PAIR_MIN_DF, SCRY_PAIRS_NEED_BOTH (0/1)
//                   --common-terms, --pair-min-df and --pairs-need-both of
//                   `index` (pairs of words for phrases; 0 terms: none),
//                   SCRY_PAIR_SAMPLE_MB the sample that chooses the terms
//   SCRY_REORDER    --reorder of `index`: bp (the build's default) or none
//   SCRY_EXACT      1: `search` counts every match (exact_total_hits), which
//                   turns dynamic pruning off: the exhaustive reference
//   SCRY_SEARCH_THREADS  threads that search the shards of one query in
//                   parallel (0 = one per core, the default; 1 = sequential)
//   SCRY_PARALLEL_MIN_POSTINGS  queries with fewer postings search their
//                   shards sequentially (SearcherOptions; 0 = always parallel)
//   SCRY_MEMORY_LISTS_MB  per shard, posting and position lists loaded into
//                   memory at open if they fit (SearcherOptions; 0 = read
//                   through RocksDB's block cache)
//   SCRY_PRUNING    auto (default), none, maxscore or bmw: the evaluation of
//                   ranked queries of terms (query::Pruning); same hits
//   SCRY_PER_QUERY  a file: one line per query of the timed pass, its
//                   latency in µs, a tab, its TYPE<TAB>text (to find the
//                   costly ones)
//   In-process `search` reports on stderr the share of the OR queries'
//   postings that were scored (pruned evaluation; 100% when exhaustive).
//
// Query mapping (QUERIES.tsv lines are TYPE<TAB>text): `and` is the words
// with AND as the default operator, `or` with OR, `phrase` the words inside
// double quotes. A word holding query syntax characters or spelling an
// operator is quoted (a one-word phrase analyses like the bare word).
// Latency covers building the query text, parsing and analysis, the top-K
// search and fetching the K ids, on one thread. The RESULTS file (top-K ids
// per query, one line each, an empty line for no hit or an error) is written
// during the first pass, as the peers do. Failed queries are counted and
// reported on stderr at the end.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/peer_query.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "indexer/builder.h"
#include "query/searcher.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/server.h"

#ifndef SCRY_PEER_GRPC_DEFAULT
#define SCRY_PEER_GRPC_DEFAULT 0
#endif

namespace scry::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

long EnvInt(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < 0) {
    std::cerr << "scry-peer: bad " << name << "=" << v << "\n";
    std::exit(2);
  }
  return n;
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && !e.is_symlink()) total += e.file_size();
  }
  return total;
}

int CmdIndex(const std::string& corpus, const std::string& dir) {
  indexer::BuildOptions options;
  options.inputs = {corpus};
  options.index_dir = dir;
  options.num_shards = static_cast<uint32_t>(EnvInt("SCRY_SHARDS", 1));
  options.threads = static_cast<unsigned>(EnvInt("SCRY_THREADS", 0));
  options.memory_mb = static_cast<uint64_t>(EnvInt("SCRY_MEMORY_MB", 1024));
  options.common_terms = static_cast<uint32_t>(EnvInt("SCRY_COMMON_TERMS", options.common_terms));
  options.pair_min_df = static_cast<uint32_t>(EnvInt("SCRY_PAIR_MIN_DF", options.pair_min_df));
  options.pairs_need_both = EnvInt("SCRY_PAIRS_NEED_BOTH", options.pairs_need_both) != 0;
  options.pair_sample_bytes =
      static_cast<uint64_t>(EnvInt("SCRY_PAIR_SAMPLE_MB", options.pair_sample_bytes >> 20)) << 20;
  if (const char* reorder = std::getenv("SCRY_REORDER"); reorder != nullptr && *reorder != '\0') {
    options.reorder = reorder;
  }
  options.language = "english";
  options.stored_fields = {};  // only the id, like the peers
  // One searchable text per document, like the peers (which index
  // title + body as one field): no named fields.
  options.index_fields = {};
  options.warn = [](const std::string& line) { std::cerr << line << "\n"; };
  const auto t0 = Clock::now();
  absl::StatusOr<indexer::BuildSummary> summary = indexer::BuildIndex(options);
  const double seconds = SecondsSince(t0);
  if (!summary.ok()) {
    std::cerr << "scry-peer: " << summary.status() << "\n";
    return 1;
  }
  std::printf("{\"engine\":\"scry\",\"docs\":%llu,\"seconds\":%.3f,\"index_bytes\":%llu}\n",
              static_cast<unsigned long long>(summary->docs), seconds,
              static_cast<unsigned long long>(DirBytes(dir)));
  return 0;
}

// Runs one query; fills `ids` with the top-K ids, or returns an error text.
using RunFn = std::function<std::string(const PeerQuery&, uint32_t k, std::vector<std::string>*)>;

int RunPasses(const char* engine, const std::vector<PeerQuery>& queries, uint32_t k,
              const char* results_path, const RunFn& run) {
  const long warmup = EnvInt("WARMUP", 1);
  std::vector<double> latency(queries.size());
  std::vector<std::string> ids;
  std::vector<std::string> errors;
  double total = 0;
  for (long pass = 0; pass <= warmup; ++pass) {
    FILE* out = nullptr;
    if (pass == 0 && results_path != nullptr) {
      out = std::fopen(results_path, "w");
      if (out == nullptr) {
        std::perror(results_path);
        return 1;
      }
    }
    const auto t0 = Clock::now();
    for (size_t i = 0; i < queries.size(); ++i) {
      const auto q0 = Clock::now();
      std::string error = run(queries[i], k, &ids);
      latency[i] = SecondsSince(q0);
      if (!error.empty()) {
        ids.clear();
        if (pass == 0)
          errors.push_back("query " + std::to_string(i + 1) + " [" + queries[i].type + "\t" +
                           queries[i].text + "]: " + error);
      }
      if (out != nullptr) {
        for (size_t j = 0; j < ids.size(); ++j) {
          if (j > 0) std::fputc(' ', out);
          std::fputs(ids[j].c_str(), out);
        }
        std::fputc('\n', out);
      }
    }
    total = SecondsSince(t0);
    if (out != nullptr && std::fclose(out) != 0) {
      std::perror(results_path);
      return 1;
    }
  }
  if (const char* path = std::getenv("SCRY_PER_QUERY"); path != nullptr && *path != '\0') {
    std::ofstream per_query(path);
    for (size_t i = 0; i < queries.size(); ++i) {
      per_query << latency[i] * 1e6 << '\t' << queries[i].type << '\t' << queries[i].text << '\n';
    }
  }
  std::sort(latency.begin(), latency.end());
  const size_t n = queries.size();
  const auto pct = [&](double p) {
    return n == 0 ? 0.0 : latency[static_cast<size_t>(p * static_cast<double>(n - 1) + 0.5)] * 1e6;
  };
  std::printf(
      "{\"engine\":\"%s\",\"queries\":%zu,\"k\":%u,\"seconds\":%.6f,\"qps\":%.1f,"
      "\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
      engine, n, k, total, total > 0 ? static_cast<double>(n) / total : 0.0, pct(0.50), pct(0.99));
  if (!errors.empty()) {
    std::cerr << "scry-peer: " << errors.size() << " of " << n << " queries failed\n";
    for (const auto& e : errors) std::cerr << "  " << e << "\n";
  }
  return 0;
}

int CmdSearch(const std::string& dir, const std::string& query_path, uint32_t k,
              const char* results_path, bool grpc_mode) {
  std::vector<PeerQuery> queries;
  if (!ReadQueries(query_path, &queries)) return 1;

  if (!grpc_mode) {
    query::SearcherOptions searcher_options;
    searcher_options.search_threads = EnvInt("SCRY_SEARCH_THREADS", 0);
    searcher_options.memory_lists_bytes =
        static_cast<uint64_t>(EnvInt("SCRY_MEMORY_LISTS_MB",
                                     static_cast<long>(searcher_options.memory_lists_bytes >> 20)))
        << 20;
    searcher_options.parallel_min_postings = EnvInt(
        "SCRY_PARALLEL_MIN_POSTINGS", static_cast<long>(searcher_options.parallel_min_postings));
    absl::StatusOr<std::unique_ptr<query::Searcher>> searcher =
        query::Searcher::Open(dir, searcher_options);
    if (!searcher.ok()) {
      std::cerr << "scry-peer: " << searcher.status() << "\n";
      return 1;
    }
    const query::Searcher& s = **searcher;
    const char* exact_env = std::getenv("SCRY_EXACT");
    const bool exact = exact_env != nullptr && std::string(exact_env) == "1";
    query::Pruning pruning = query::Pruning::kAuto;
    std::string name = exact ? "none (SCRY_EXACT=1)" : "auto";
    if (const char* env = std::getenv("SCRY_PRUNING"); env != nullptr && *env != '\0' && !exact) {
      name = env;
      if (name == "none") {
        pruning = query::Pruning::kNone;
      } else if (name == "maxscore") {
        pruning = query::Pruning::kMaxScore;
      } else if (name == "bmw") {
        pruning = query::Pruning::kBlockMaxWand;
      } else if (name != "auto") {
        std::cerr << "scry-peer: SCRY_PRUNING must be auto, none, maxscore or bmw\n";
        return 1;
      }
    }
    uint64_t scored = 0, total = 0;
    const int rc =
        RunPasses("scry", queries, k, results_path,
                  [&](const PeerQuery& q, uint32_t top_k, std::vector<std::string>* ids) {
                    query::SearchRequest request;
                    request.query = ToScryQuery(q);
                    request.top_k = top_k;
                    request.ids_only = true;  // the contract fetches the K ids only
                    request.default_operator =
                        q.type == "or" ? query::DefaultOperator::kOr : query::DefaultOperator::kAnd;
                    request.exact_total_hits = exact;
                    request.pruning = pruning;
                    absl::StatusOr<query::SearchResult> result = s.Search(request);
                    ids->clear();
                    if (!result.ok()) return result.status().ToString();
                    if (q.type == "or") {
                      // Exhaustive evaluation scores every posting.
                      scored += exact || pruning == query::Pruning::kNone ? result->postings_total
                                                                          : result->postings_scored;
                      total += result->postings_total;
                    }
                    for (auto& hit : result->hits) ids->push_back(std::move(hit.id));
                    return std::string();
                  });
    if (total > 0) {
      std::fprintf(stderr, "scry-peer: OR queries scored %llu of %llu postings (%.1f%%)%s\n",
                   static_cast<unsigned long long>(scored), static_cast<unsigned long long>(total),
                   100.0 * static_cast<double>(scored) / static_cast<double>(total),
                   (" [pruning " + name + "]").c_str());
    }
    return rc;
  }

  server::ServerOptions options;
  options.index_dir = dir;
  options.listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<server::Server>> srv = server::Server::Start(options);
  if (!srv.ok()) {
    std::cerr << "scry-peer: " << srv.status() << "\n";
    return 1;
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string((*srv)->port()),
                                           grpc::InsecureChannelCredentials(), args);
  std::unique_ptr<v1::SearchService::Stub> stub = v1::SearchService::NewStub(channel);
  const int rc = RunPasses(
      "scry-grpc", queries, k, results_path,
      [&](const PeerQuery& q, uint32_t top_k, std::vector<std::string>* ids) {
        v1::SearchRequest request;
        request.set_query(ToScryQuery(q));
        request.set_top_k(top_k);
        request.set_default_operator(q.type == "or" ? v1::DEFAULT_OPERATOR_OR
                                                    : v1::DEFAULT_OPERATOR_AND);
        v1::SearchResponse response;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
        const grpc::Status status = stub->Search(&context, request, &response);
        ids->clear();
        if (!status.ok()) {
          return "gRPC " + std::to_string(status.error_code()) + ": " + status.error_message();
        }
        for (auto& hit : *response.mutable_hits()) ids->push_back(std::move(*hit.mutable_id()));
        return std::string();
      });
  stub.reset();
  channel.reset();
  (*srv)->Shutdown(1000);
  return rc;
}

int Main(int argc, char** argv) {
  bool grpc_mode = SCRY_PEER_GRPC_DEFAULT != 0;
  if (const char* env = std::getenv("SCRY_PEER_GRPC"); env != nullptr && *env != '\0') {
    grpc_mode = std::string_view(env) != "0";
  }
  const std::string mode = argc > 1 ? argv[1] : "";
  if (argc == 4 && mode == "index") return CmdIndex(argv[2], argv[3]);
  if ((argc == 5 || argc == 6) && mode == "search") {
    char* end = nullptr;
    const long k = std::strtol(argv[4], &end, 10);
    if (*end != '\0' || k <= 0 || k > 10000) {
      std::cerr << "scry-peer: K must be 1..10000, got " << argv[4] << "\n";
      return 2;
    }
    return CmdSearch(argv[2], argv[3], static_cast<uint32_t>(k), argc == 6 ? argv[5] : nullptr,
                     grpc_mode);
  }
  std::cerr
      << "usage: " << argv[0] << " index CORPUS.jsonl INDEX_DIR\n"
      << "       " << argv[0] << " search INDEX_DIR QUERIES.tsv K [RESULTS]\n"
      << "env: WARMUP (1), SCRY_SHARDS (1), SCRY_THREADS (0 = all cores), SCRY_MEMORY_MB (1024),\n"
      << "     SCRY_PEER_GRPC=1|0 (search through an in-process gRPC server on loopback)\n";
  return 2;
}

}  // namespace
}  // namespace scry::bench

int main(int argc, char** argv) { return scry::bench::Main(argc, argv); }
