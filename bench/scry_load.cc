// File: bench/scry_load.cc
//
// A closed-loop gRPC load generator for scry's server (as ghz does it): at
// each concurrency level C, C client threads, each with its own connection,
// send Search requests back to back (the harness's queries, round robin from
// a different start per thread) for --seconds after --warmup-seconds, and
// report per level: requests, QPS, p50/p99/max latency of the successful
// ones, and the status codes of the rest (RESOURCE_EXHAUSTED past the
// server's --max-concurrent-searches, DEADLINE_EXCEEDED past --deadline-ms).
//
//   scry-load (--server HOST:PORT | --index DIR) --queries FILE
//             [--concurrency 1,4,16,64] [--seconds 10] [--warmup-seconds 2]
//             [--top-k 10] [--deadline-ms 10000]
//             [--max-concurrent-searches N] [--search-threads N]
//
// With --index it starts a server on 127.0.0.1 (a free port) in this process,
// so its resident memory (VmRSS) before and after each level is reported too.
// Output: one JSON line per level on stdout; a table on stderr.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_split.h"
#include "bench/peer_query.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/server.h"

namespace scry::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Resident set size of this process in KiB (0 if unknown).
long RssKib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

struct WorkerResult {
  std::vector<uint32_t> latencies_us;  // successful requests
  std::map<int, uint64_t> errors;      // gRPC code -> count
};

struct Level {
  int concurrency = 0;
  uint64_t ok = 0;
  std::map<int, uint64_t> errors;
  double seconds = 0;
  uint32_t p50 = 0, p99 = 0, max = 0;
};

Level RunLevel(const std::string& target, const std::vector<v1::SearchRequest>& requests,
               int concurrency, double warmup_s, double seconds, int deadline_ms) {
  std::atomic<bool> measuring{false}, stop{false};
  std::vector<WorkerResult> results(concurrency);
  std::vector<std::thread> threads;
  for (int w = 0; w < concurrency; ++w) {
    threads.emplace_back([&, w] {
      // A channel argument unique to the worker keeps gRPC from sharing one
      // connection between the workers' channels.
      grpc::ChannelArguments args;
      args.SetInt("scry.load.worker", w);
      args.SetMaxReceiveMessageSize(64 << 20);
      auto stub = v1::SearchService::NewStub(
          grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
      size_t next = (requests.size() * static_cast<size_t>(w)) / static_cast<size_t>(concurrency);
      WorkerResult& out = results[w];
      while (!stop.load(std::memory_order_relaxed)) {
        const v1::SearchRequest& request = requests[next];
        next = (next + 1) % requests.size();
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(deadline_ms));
        v1::SearchResponse response;
        const auto start = Clock::now();
        const grpc::Status status = stub->Search(&context, request, &response);
        const auto us =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
        if (!measuring.load(std::memory_order_relaxed)) continue;
        if (status.ok()) {
          out.latencies_us.push_back(static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX)));
        } else {
          ++out.errors[status.error_code()];
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup_s));
  measuring = true;
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  measuring = false;
  Level level;
  level.concurrency = concurrency;
  level.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  for (auto& t : threads) t.join();
  std::vector<uint32_t> all;
  for (const WorkerResult& r : results) {
    all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
    for (const auto& [code, n] : r.errors) level.errors[code] += n;
  }
  level.ok = all.size();
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    level.p50 = all[all.size() / 2];
    level.p99 = all[std::min(all.size() - 1, all.size() * 99 / 100)];
    level.max = all.back();
  }
  return level;
}

int Main(int argc, char** argv) {
  CLI::App app{"Closed-loop gRPC load generator for scry's server"};
  std::string server_address, index_dir, queries_path, levels = "1,4,16,64";
  double seconds = 10, warmup = 2;
  uint32_t top_k = 10;
  int deadline_ms = 10000;
  server::ServerOptions options;
  auto* server_opt = app.add_option("--server", server_address, "HOST:PORT of a running server");
  auto* index_opt =
      app.add_option("--index", index_dir, "Start a server on this index in this process");
  server_opt->excludes(index_opt);
  app.add_option("--queries", queries_path, "TYPE<TAB>WORDS lines (the peers' query file)")
      ->required();
  app.add_option("--concurrency", levels, "Comma-separated client counts")->capture_default_str();
  app.add_option("--seconds", seconds, "Measured seconds per level")->capture_default_str();
  app.add_option("--warmup-seconds", warmup, "Unmeasured seconds before each level")
      ->capture_default_str();
  app.add_option("--top-k", top_k, "Hits per request")->capture_default_str();
  app.add_option("--deadline-ms", deadline_ms, "Deadline of each request")->capture_default_str();
  app.add_option("--max-concurrent-searches", options.service.max_concurrent_searches,
                 "With --index: the server's limit")
      ->capture_default_str();
  app.add_option("--search-threads", options.searcher.search_threads,
                 "With --index: threads per query over the shards (0 = one per core)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (server_address.empty() == index_dir.empty()) {
    std::cerr << "scry-load: give exactly one of --server or --index\n";
    return 2;
  }

  std::vector<PeerQuery> queries;
  if (!ReadQueries(queries_path, &queries)) return 1;
  if (queries.empty()) {
    std::cerr << "scry-load: no queries in " << queries_path << "\n";
    return 1;
  }
  std::vector<v1::SearchRequest> requests;
  for (const PeerQuery& q : queries) {
    v1::SearchRequest r;
    r.set_query(ToScryQuery(q));
    r.set_top_k(top_k);
    r.set_default_operator(q.type == "or" ? v1::DEFAULT_OPERATOR_OR : v1::DEFAULT_OPERATOR_AND);
    requests.push_back(std::move(r));
  }

  std::unique_ptr<server::Server> server;
  if (!index_dir.empty()) {
    options.index_dir = index_dir;
    options.listen = "127.0.0.1:0";
    auto started = server::Server::Start(options);
    if (!started.ok()) {
      std::cerr << "scry-load: " << started.status() << "\n";
      return 1;
    }
    server = std::move(*started);
    server_address = "127.0.0.1:" + std::to_string(server->port());
  }

  std::fprintf(stderr, "%11s %10s %9s %9s %9s %9s %10s %10s  %s\n", "concurrency", "requests",
               "QPS", "p50 µs", "p99 µs", "max µs", "RSS0 MiB", "RSS1 MiB", "errors");
  for (absl::string_view part : absl::StrSplit(levels, ',', absl::SkipEmpty())) {
    const int concurrency = std::stoi(std::string(part));
    if (concurrency <= 0) {
      std::cerr << "scry-load: bad concurrency " << part << "\n";
      return 2;
    }
    const long rss0 = server ? RssKib() : 0;
    const Level l = RunLevel(server_address, requests, concurrency, warmup, seconds, deadline_ms);
    const long rss1 = server ? RssKib() : 0;
    std::string errors, errors_json;
    for (const auto& [code, n] : l.errors) {
      errors += (errors.empty() ? "" : " ") + std::to_string(code) + ":" + std::to_string(n);
      errors_json +=
          (errors_json.empty() ? "\"" : ",\"") + std::to_string(code) + "\":" + std::to_string(n);
    }
    const double qps = static_cast<double>(l.ok) / l.seconds;
    std::fprintf(stderr, "%11d %10llu %9.0f %9u %9u %9u %10.1f %10.1f  %s\n", concurrency,
                 static_cast<unsigned long long>(l.ok), qps, l.p50, l.p99, l.max, rss0 / 1024.0,
                 rss1 / 1024.0, errors.empty() ? "-" : errors.c_str());
    std::printf(
        "{\"concurrency\":%d,\"ok\":%llu,\"seconds\":%.3f,\"qps\":%.1f,\"p50_us\":%u,"
        "\"p99_us\":%u,\"max_us\":%u,\"rss_kib_before\":%ld,\"rss_kib_after\":%ld,"
        "\"errors_by_grpc_code\":{%s}}\n",
        concurrency, static_cast<unsigned long long>(l.ok), l.seconds, qps, l.p50, l.p99, l.max,
        rss0, rss1, errors_json.c_str());
    std::fflush(stdout);
  }
  if (server) server->Shutdown(1000);
  return 0;
}

}  // namespace
}  // namespace scry::bench

int main(int argc, char** argv) { return scry::bench::Main(argc, argv); }
