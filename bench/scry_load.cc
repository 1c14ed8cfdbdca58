// File: bench/scry_load.cc
//
// A closed-loop gRPC load generator for scry's server (as ghz does it): at
// each concurrency level C, C client threads, each with its own connection
// (a channel argument unique to the thread keeps gRPC from sharing one), call
// back to back for --seconds after --warmup-seconds, one call in flight per
// thread. Each level has two phases in the same run:
//   1. the floor: grpc.health.v1.Health/Check (an empty HealthCheckRequest,
//      or --health-service NAME), what any call to the server costs;
//   2. Search: the harness's queries (TYPE<TAB>WORDS, TYPE and/or/phrase,
//      bench/peer_query.h), round robin from a different start per thread.
// It reports per level and per type (health, and, or, phrase, and search =
// every Search call): calls, QPS, mean/p50/p99/max latency of the successful
// ones, the mean response size, the mean took_micros of the Search responses
// (the server's own time inside SearchService::Search; for the in-process
// phase, the same span measured here), the status codes of the rest
// (RESOURCE_EXHAUSTED past the server's --max-concurrent-searches,
// DEADLINE_EXCEEDED past --deadline-ms) and the CPU time this process spent
// per call (with --server, the client's own cost), and with --server-pid the
// server process's CPU time per call (from /proc/PID/stat).
//
// The client is meant to cost less than the server it measures: each request
// is serialized once, before the run, into a grpc::ByteBuffer, and calls send
// those bytes as they are; a response is not parsed (only its status and
// size are kept). --client picks how a thread calls:
//   async     (default) a completion queue per thread, polled by the thread
//             that started the call: no thread hand-off, no protobuf;
//   callback  grpc::GenericStub's callback UnaryCall, the thread waits on a
//             condition variable for gRPC's callback thread;
//   sync      the blocking call of generated stubs, on raw bytes;
//   proto     the generated stub with SearchRequest/SearchResponse messages
//             (protobuf serialization and parsing per call: the old client).
//
//   scry-load (--server HOST:PORT | --index DIR) --queries FILE
//             [--concurrency 1,4,16,64] [--seconds 10] [--warmup-seconds 2]
//             [--floor-seconds S] [--health-service NAME]
//             [--client async|callback|sync|proto] [--top-k 10]
//             [--deadline-ms 10000] [--server-pid PID]
//             [--max-concurrent-searches N] [--search-threads N]
//             [--in-process-index DIR]
//             [--request-json JSON]
//   scry-load --write-json-body FILE --query WORDS [--query-type ...] [--top-k 10]
//   scry-load --write-request-body FILE (--query WORDS [--query-type and|or|phrase]
//             [--top-k 10] | --health [--health-service NAME])
//
// --in-process-index DIR adds a first phase at each level: the same
// requests answered by the engine in this process, without gRPC (client
// "inproc"): the request parsed from the same bytes, server/convert.h's
// FromProto, query::Searcher::Search with the server's default deadline,
// ToProto and the response serialized: what a server does for a call besides
// gRPC, so that "through gRPC" minus "in process" is the server's own cost.
// (DIR is opened on its own; give the server's index.)
// --floor-seconds defaults to --seconds; 0 skips the floor. With --index it
// starts a server on 127.0.0.1 (a free port) in this process, so its
// resident memory (VmRSS) before and after each level is reported too (and
// the CPU per call is then the server's and the client's together).
// --write-request-body writes one gRPC message frame (flag byte 0, 4-byte
// big-endian length, the serialized request) to FILE and exits: the body for
// h2load -d (bench/grpc_h2load.sh); --write-json-body the same search as
// JSON, for POST /v1/search on the HTTP/JSON listener.
// Output: one JSON line per level and type on stdout; a table on stderr.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_split.h"
#include "bench/peer_query.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/client_unary_call.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/convert.h"
#include "server/server.h"

namespace scry::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kSearchMethod[] = "/scry.v1.SearchService/Search";
constexpr char kHealthMethod[] = "/grpc.health.v1.Health/Check";

// What a call is, for the report.
enum Kind { kAnd, kOr, kPhrase, kHealth, kKinds };
constexpr const char* kKindNames[kKinds] = {"and", "or", "phrase", "health"};

enum class ClientMode { kAsync, kCallback, kSync, kProto, kInProcess };

// Resident set size of this process in KiB (0 if unknown).
long RssKib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// User + system CPU seconds of process `pid` (0 if unknown).
double ProcessCpuSeconds(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  // After "pid (comm)": state is field 3; utime and stime are fields 14, 15.
  std::vector<std::string> fields = absl::StrSplit(stat.substr(paren + 2), ' ');
  if (fields.size() < 13) return 0;
  return static_cast<double>(std::stoull(fields[11]) + std::stoull(fields[12])) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

// User + system CPU seconds of this process (every thread).
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

// One request, serialized once.
struct Call {
  Kind kind = kAnd;
  grpc::ByteBuffer body;
  std::string bytes;                         // the body's bytes
  const v1::SearchRequest* proto = nullptr;  // for --client proto (Search only)
};

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string HealthRequestBytes(const std::string& service) {
  // HealthCheckRequest { string service = 1; }: empty when service is empty.
  std::string out;
  if (!service.empty()) {
    out.push_back(0x0a);
    size_t n = service.size();
    while (n >= 0x80) {
      out.push_back(static_cast<char>((n & 0x7f) | 0x80));
      n >>= 7;
    }
    out.push_back(static_cast<char>(n));
    out += service;
  }
  return out;
}

// The --request-json members every request carries (filter, facets, sort...).
v1::SearchRequest& RequestBase() {
  static v1::SearchRequest base;
  return base;
}

v1::SearchRequest MakeSearchRequest(const PeerQuery& q, uint32_t top_k) {
  v1::SearchRequest r = RequestBase();
  r.set_query(ToScryQuery(q));
  r.set_top_k(top_k);
  r.set_default_operator(q.type == "or" ? v1::DEFAULT_OPERATOR_OR : v1::DEFAULT_OPERATOR_AND);
  return r;
}

Kind KindOf(const std::string& type) {
  if (type == "or") return kOr;
  if (type == "phrase") return kPhrase;
  return kAnd;
}

struct KindStats {
  std::vector<uint32_t> latencies_ns;  // successful calls (capped at ~4.29 s)
  uint64_t took_micros = 0;            // sum of the responses' took_micros (Search)
  uint64_t response_bytes = 0;         // of the successful calls
  std::map<int, uint64_t> errors;      // gRPC code -> count
};

struct PhaseResult {
  double seconds = 0;
  double cpu_seconds = 0;         // this process, over the measured window
  double server_cpu_seconds = 0;  // --server-pid's, over the measured window
  KindStats kinds[kKinds];
};

// One client thread's connection and the way it calls.
class Caller {
 public:
  Caller(const std::string& target, int worker, ClientMode mode,
         const query::Searcher* searcher = nullptr)
      : mode_(mode), searcher_(searcher) {
    if (mode_ == ClientMode::kInProcess) return;
    grpc::ChannelArguments args;
    args.SetInt("scry.load.worker", worker);
    args.SetMaxReceiveMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    // Registered methods, as generated stubs have them: the path is interned
    // once per channel instead of once per call.
    search_ = std::make_unique<grpc::internal::RpcMethod>(
        kSearchMethod, grpc::internal::RpcMethod::NORMAL_RPC, channel_);
    health_ = std::make_unique<grpc::internal::RpcMethod>(
        kHealthMethod, grpc::internal::RpcMethod::NORMAL_RPC, channel_);
    if (mode_ == ClientMode::kCallback) generic_ = std::make_unique<grpc::GenericStub>(channel_);
    if (mode_ == ClientMode::kProto) proto_stub_ = v1::SearchService::NewStub(channel_);
  }

  // Makes one call; *response_bytes is the response's size when OK, and
  // *took_micros the server's own time for a Search (SearchResponse.took_micros).
  grpc::Status Do(const Call& call, int deadline_ms, size_t* response_bytes,
                  uint64_t* took_micros) {
    *took_micros = 0;
    return DoCall(call, deadline_ms, response_bytes, took_micros);
  }

 private:
  grpc::Status DoCall(const Call& call, int deadline_ms, size_t* response_bytes,
                      uint64_t* took_micros) {
    if (mode_ == ClientMode::kInProcess) {
      return InProcess(call, deadline_ms, response_bytes, took_micros);
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
    const grpc::internal::RpcMethod& method = call.kind == kHealth ? *health_ : *search_;
    grpc::ByteBuffer response;
    grpc::Status status;
    switch (mode_) {
      case ClientMode::kAsync: {
        std::unique_ptr<grpc::ClientAsyncResponseReader<grpc::ByteBuffer>> rpc(
            grpc::internal::ClientAsyncResponseReaderHelper::Create<grpc::ByteBuffer>(
                channel_.get(), &cq_, method, &context, call.body));
        rpc->StartCall();
        rpc->Finish(&response, &status, this);
        void* tag = nullptr;
        bool ok = false;
        cq_.Next(&tag, &ok);
        break;
      }
      case ClientMode::kCallback: {
        bool done = false;
        generic_->UnaryCall(&context, method.name(), grpc::StubOptions(), &call.body, &response,
                            [&](grpc::Status s) {
                              std::lock_guard<std::mutex> l(mu_);
                              status = std::move(s);
                              done = true;
                              cv_.notify_one();
                            });
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return done; });
        break;
      }
      case ClientMode::kSync:
        status = grpc::internal::BlockingUnaryCall(channel_.get(), method, &context, call.body,
                                                   &response);
        break;
      case ClientMode::kInProcess:  // answered above
        break;
      case ClientMode::kProto:
        if (call.proto != nullptr) {
          v1::SearchResponse parsed;
          status = proto_stub_->Search(&context, *call.proto, &parsed);
          if (status.ok()) {
            *response_bytes = parsed.ByteSizeLong();
            *took_micros = parsed.took_micros();
          }
          return status;
        }
        status = grpc::internal::BlockingUnaryCall(channel_.get(), method, &context, call.body,
                                                   &response);
        break;
    }
    if (status.ok()) {
      *response_bytes = response.Length();
      if (call.kind != kHealth) *took_micros = TookMicros(response);
    }
    return status;
  }

  // took_micros (field 3, varint) of a serialized SearchResponse, read
  // without parsing the hits: the response is walked field by field.
  static uint64_t TookMicros(const grpc::ByteBuffer& response) {
    grpc::Slice slice;
    if (!response.TrySingleSlice(&slice).ok()) {
      grpc::ByteBuffer copy(response);
      if (!copy.DumpToSingleSlice(&slice).ok()) return 0;
    }
    google::protobuf::io::CodedInputStream in(slice.begin(), static_cast<int>(slice.size()));
    for (uint32_t tag; (tag = in.ReadTag()) != 0;) {
      if (tag == ((3 << 3) | 0)) {
        uint64_t v = 0;
        return in.ReadVarint64(&v) ? v : 0;
      }
      if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) return 0;
    }
    return 0;
  }

  // What SearchService::Search does for the call, without gRPC.
  grpc::Status InProcess(const Call& call, int deadline_ms, size_t* response_bytes,
                         uint64_t* took_micros) {
    const auto start = Clock::now();
    v1::SearchRequest request;
    if (!request.ParseFromString(call.bytes)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed request");
    }
    absl::StatusOr<query::SearchRequest> q = server::FromProto(request);
    if (!q.ok()) return server::ToGrpc(q.status());
    q->deadline = absl::Now() + absl::Milliseconds(deadline_ms);
    absl::StatusOr<query::SearchResult> result = searcher_->Search(*q);
    if (!result.ok()) return server::ToGrpc(result.status());
    v1::SearchResponse response;
    server::ToProto(std::move(*result), q->explain, &response);
    *response_bytes = response.SerializeAsString().size();
    *took_micros = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
    return grpc::Status::OK;
  }

  ClientMode mode_;
  const query::Searcher* searcher_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::internal::RpcMethod> search_, health_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::GenericStub> generic_;
  std::unique_ptr<v1::SearchService::Stub> proto_stub_;
  std::mutex mu_;
  std::condition_variable cv_;
};

PhaseResult RunPhase(const std::string& target, const std::vector<Call>& calls, int concurrency,
                     double warmup_s, double seconds, int deadline_ms, ClientMode mode,
                     long server_pid, const query::Searcher* searcher = nullptr) {
  std::atomic<bool> measuring{false}, stop{false};
  std::vector<PhaseResult> results(concurrency);
  std::vector<std::thread> threads;
  for (int w = 0; w < concurrency; ++w) {
    threads.emplace_back([&, w] {
      Caller caller(target, w, mode, searcher);
      size_t next = (calls.size() * static_cast<size_t>(w)) / static_cast<size_t>(concurrency);
      PhaseResult& out = results[w];
      for (auto& k : out.kinds) k.latencies_ns.reserve(1 << 16);
      while (!stop.load(std::memory_order_relaxed)) {
        const Call& call = calls[next];
        if (++next == calls.size()) next = 0;
        size_t bytes = 0;
        uint64_t took = 0;
        const auto start = Clock::now();
        const grpc::Status status = caller.Do(call, deadline_ms, &bytes, &took);
        const auto ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
        if (!measuring.load(std::memory_order_relaxed)) continue;
        KindStats& k = out.kinds[call.kind];
        if (status.ok()) {
          k.latencies_ns.push_back(static_cast<uint32_t>(std::min<int64_t>(ns, UINT32_MAX)));
          k.response_bytes += bytes;
          k.took_micros += took;
        } else {
          ++k.errors[status.error_code()];
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup_s));
  const double cpu0 = CpuSeconds();
  const double server_cpu0 = server_pid > 0 ? ProcessCpuSeconds(server_pid) : 0;
  measuring = true;
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  measuring = false;
  PhaseResult phase;
  phase.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  phase.cpu_seconds = CpuSeconds() - cpu0;
  if (server_pid > 0) phase.server_cpu_seconds = ProcessCpuSeconds(server_pid) - server_cpu0;
  stop = true;
  for (auto& t : threads) t.join();
  for (const PhaseResult& r : results) {
    for (int k = 0; k < kKinds; ++k) {
      KindStats& to = phase.kinds[k];
      const KindStats& from = r.kinds[k];
      to.latencies_ns.insert(to.latencies_ns.end(), from.latencies_ns.begin(),
                             from.latencies_ns.end());
      to.response_bytes += from.response_bytes;
      to.took_micros += from.took_micros;
      for (const auto& [code, n] : from.errors) to.errors[code] += n;
    }
  }
  return phase;
}

struct Row {
  std::string type;
  uint64_t ok = 0, failed = 0;
  double qps = 0, mean_us = 0, p50_us = 0, p99_us = 0, max_us = 0, response_bytes = 0;
  double took_us = 0;                  // mean took_micros of the Search responses
  double cpu_us_per_call = 0;          // of the phase, over all its types
  double server_cpu_us_per_call = -1;  // with --server-pid
  std::map<int, uint64_t> errors;
};

Row Summarize(const std::string& type, std::vector<const KindStats*> parts,
              const PhaseResult& phase) {
  Row row;
  row.type = type;
  std::vector<uint32_t> all;
  uint64_t bytes = 0, took = 0;
  for (const KindStats* k : parts) {
    all.insert(all.end(), k->latencies_ns.begin(), k->latencies_ns.end());
    bytes += k->response_bytes;
    took += k->took_micros;
    for (const auto& [code, n] : k->errors) {
      row.errors[code] += n;
      row.failed += n;
    }
  }
  uint64_t phase_calls = 0;
  for (const KindStats& k : phase.kinds) {
    phase_calls += k.latencies_ns.size();
    for (const auto& [code, n] : k.errors) phase_calls += n;
  }
  row.ok = all.size();
  row.qps = static_cast<double>(row.ok) / phase.seconds;
  if (phase_calls > 0) row.cpu_us_per_call = phase.cpu_seconds * 1e6 / phase_calls;
  if (phase_calls > 0 && phase.server_cpu_seconds > 0) {
    row.server_cpu_us_per_call = phase.server_cpu_seconds * 1e6 / phase_calls;
  }
  if (!all.empty()) {
    double sum = 0;
    for (uint32_t ns : all) sum += ns;
    row.mean_us = sum / all.size() / 1e3;
    std::sort(all.begin(), all.end());
    row.p50_us = all[all.size() / 2] / 1e3;
    row.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)] / 1e3;
    row.max_us = all.back() / 1e3;
    row.response_bytes = static_cast<double>(bytes) / all.size();
    row.took_us = static_cast<double>(took) / all.size();
  }
  return row;
}

void PrintRow(int concurrency, const char* client, const Row& r, long rss0, long rss1) {
  std::string errors, errors_json;
  for (const auto& [code, n] : r.errors) {
    errors += (errors.empty() ? "" : " ") + std::to_string(code) + ":" + std::to_string(n);
    errors_json +=
        (errors_json.empty() ? "\"" : ",\"") + std::to_string(code) + "\":" + std::to_string(n);
  }
  std::fprintf(
      stderr, "%11d %-7s %9llu %9.0f %9.1f %9.1f %9.1f %9.1f %8.0f %8.1f %8.1f %9.1f %9.1f  %s\n",
      concurrency, r.type.c_str(), static_cast<unsigned long long>(r.ok), r.qps, r.mean_us,
      r.p50_us, r.p99_us, r.max_us, r.response_bytes, r.cpu_us_per_call, r.server_cpu_us_per_call,
      rss0 / 1024.0, rss1 / 1024.0, errors.empty() ? "-" : errors.c_str());
  std::printf(
      "{\"concurrency\":%d,\"client\":\"%s\",\"type\":\"%s\",\"ok\":%llu,\"failed\":%llu,"
      "\"qps\":%.1f,\"mean_us\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
      "\"response_bytes_mean\":%.0f,\"took_us_mean\":%.1f,\"cpu_us_per_call\":%.2f,\"server_cpu_us_"
      "per_call\":%.2f,"
      "\"rss_kib_before\":%ld,"
      "\"rss_kib_after\":%ld,\"errors_by_grpc_code\":{%s}}\n",
      concurrency, client, r.type.c_str(), static_cast<unsigned long long>(r.ok),
      static_cast<unsigned long long>(r.failed), r.qps, r.mean_us, r.p50_us, r.p99_us, r.max_us,
      r.response_bytes, r.took_us, r.cpu_us_per_call, r.server_cpu_us_per_call, rss0, rss1,
      errors_json.c_str());
  std::fflush(stdout);
}

// Writes `bytes` to `path` as they are; 0 or 1 (exit codes).
int WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush()) {
    std::perror(path.c_str());
    return 1;
  }
  return 0;
}

int WriteBody(const std::string& path, const std::string& message) {
  std::string frame(5, '\0');
  const uint32_t n = static_cast<uint32_t>(message.size());
  frame[1] = static_cast<char>(n >> 24);
  frame[2] = static_cast<char>(n >> 16);
  frame[3] = static_cast<char>(n >> 8);
  frame[4] = static_cast<char>(n);
  frame += message;
  return WriteFile(path, frame);
}

// The JSON form of `request` (protobuf's JSON mapping), what POST /v1/search
// takes: the body for h2load --h1 -d.
int WriteJsonBody(const std::string& path, const scry::v1::SearchRequest& request) {
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(request, &json);
  if (!status.ok()) {
    std::cerr << "scry-load: " << status.ToString() << "\n";
    return 1;
  }
  return WriteFile(path, json);
}

int Main(int argc, char** argv) {
  CLI::App app{"Closed-loop gRPC load generator for scry's server"};
  std::string server_address, index_dir, queries_path, levels = "1,4,16,64";
  std::string health_service, client = "async", body_path, json_body_path, query_text,
                              query_type = "and";
  std::string in_process_index;
  bool health_body = false;
  double seconds = 10, warmup = 2, floor_seconds = -1;
  uint32_t top_k = 10;
  int deadline_ms = 10000;
  long server_pid = 0;
  server::ServerOptions options;
  auto* server_opt = app.add_option("--server", server_address, "HOST:PORT of a running server");
  auto* index_opt =
      app.add_option("--index", index_dir, "Start a server on this index in this process");
  server_opt->excludes(index_opt);
  app.add_option("--queries", queries_path, "TYPE<TAB>WORDS lines (the peers' query file)");
  app.add_option("--concurrency", levels, "Comma-separated client counts")->capture_default_str();
  app.add_option("--seconds", seconds, "Measured seconds of Search per level")
      ->capture_default_str();
  app.add_option("--floor-seconds", floor_seconds,
                 "Measured seconds of Health/Check per level (default: --seconds; 0: none)");
  app.add_option("--warmup-seconds", warmup, "Unmeasured seconds before each phase")
      ->capture_default_str();
  app.add_option("--health-service", health_service,
                 "HealthCheckRequest.service of the floor calls (default empty: the server)");
  app.add_option("--client", client, "How threads call: async, callback, sync, proto")
      ->check(CLI::IsMember({"async", "callback", "sync", "proto"}))
      ->capture_default_str();
  app.add_option("--server-pid", server_pid,
                 "With --server: the server's process id, to report its CPU time per call");
  app.add_option("--top-k", top_k, "Hits per request")->capture_default_str();
  app.add_option("--deadline-ms", deadline_ms, "Deadline of each request")->capture_default_str();
  app.add_option("--max-concurrent-searches", options.service.max_concurrent_searches,
                 "With --index: the server's limit")
      ->capture_default_str();
  app.add_option("--search-threads", options.searcher.search_threads,
                 "With --index: threads per query over the shards (0 = one per core)")
      ->capture_default_str();
  app.add_option("--in-process-index", in_process_index,
                 "Also answer the requests in this process from this index (phase 'inproc')");
  app.add_option("--write-request-body", body_path,
                 "Write one framed request (for h2load -d) to this file and exit");
  app.add_option("--write-json-body", json_body_path,
                 "Write the search request's JSON form (for POST /v1/search) to this file and "
                 "exit");
  app.add_option("--query", query_text,
                 "With --write-request-body or --write-json-body: the query's words");
  app.add_option("--query-type", query_type, "With --query: and, or or phrase")
      ->check(CLI::IsMember({"and", "or", "phrase"}))
      ->capture_default_str();
  app.add_flag("--health", health_body,
               "With --write-request-body: a HealthCheckRequest (--health-service)");
  std::string request_json;
  app.add_option("--request-json", request_json,
                 "A SearchRequest in JSON whose members every search carries (e.g. "
                 "'{\"filter\": \"lang:en\", \"facets\": [{\"field\": \"lang\"}]}'); query "
                 "and top_k come from the queries");
  CLI11_PARSE(app, argc, argv);
  if (!request_json.empty() &&
      !google::protobuf::util::JsonStringToMessage(request_json, &RequestBase()).ok()) {
    std::cerr << "scry-load: --request-json is not a SearchRequest in JSON\n";
    return 2;
  }

  if (!json_body_path.empty()) {
    if (query_text.empty()) {
      std::cerr << "scry-load: --write-json-body needs --query\n";
      return 2;
    }
    return WriteJsonBody(json_body_path, MakeSearchRequest({query_type, query_text}, top_k));
  }
  if (!body_path.empty()) {
    if (health_body == !query_text.empty()) {
      std::cerr << "scry-load: --write-request-body needs exactly one of --query or --health\n";
      return 2;
    }
    if (health_body) return WriteBody(body_path, HealthRequestBytes(health_service));
    return WriteBody(body_path,
                     MakeSearchRequest({query_type, query_text}, top_k).SerializeAsString());
  }
  if (server_address.empty() == index_dir.empty()) {
    std::cerr << "scry-load: give exactly one of --server or --index\n";
    return 2;
  }
  if (queries_path.empty()) {
    std::cerr << "scry-load: --queries is required\n";
    return 2;
  }
  if (floor_seconds < 0) floor_seconds = seconds;
  const ClientMode mode = client == "callback" ? ClientMode::kCallback
                          : client == "sync"   ? ClientMode::kSync
                          : client == "proto"  ? ClientMode::kProto
                                               : ClientMode::kAsync;

  std::vector<PeerQuery> queries;
  if (!ReadQueries(queries_path, &queries)) return 1;
  if (queries.empty()) {
    std::cerr << "scry-load: no queries in " << queries_path << "\n";
    return 1;
  }
  std::vector<v1::SearchRequest> protos;
  protos.reserve(queries.size());
  std::vector<Call> search_calls;
  for (const PeerQuery& q : queries) {
    protos.push_back(MakeSearchRequest(q, top_k));
    Call c;
    c.kind = KindOf(q.type);
    c.bytes = protos.back().SerializeAsString();
    c.body = ToByteBuffer(c.bytes);
    c.proto = &protos.back();
    search_calls.push_back(std::move(c));
  }
  std::vector<Call> health_calls(1);
  health_calls[0].kind = kHealth;
  health_calls[0].body = ToByteBuffer(HealthRequestBytes(health_service));

  std::unique_ptr<query::Searcher> searcher;
  if (!in_process_index.empty()) {
    absl::StatusOr<std::unique_ptr<query::Searcher>> opened =
        query::Searcher::Open(in_process_index, options.searcher);
    if (!opened.ok()) {
      std::cerr << "scry-load: " << opened.status() << "\n";
      return 1;
    }
    searcher = std::move(*opened);
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

  std::fprintf(stderr, "client: %s\n", client.c_str());
  std::fprintf(stderr, "%11s %-7s %9s %9s %9s %9s %9s %9s %8s %8s %8s %9s %9s  %s\n", "concurrency",
               "type", "ok", "QPS", "mean µs", "p50 µs", "p99 µs", "max µs", "resp B", "cpu µs",
               "srv cpu", "RSS0 MiB", "RSS1 MiB", "errors");
  for (absl::string_view part : absl::StrSplit(levels, ',', absl::SkipEmpty())) {
    const int concurrency = std::stoi(std::string(part));
    if (concurrency <= 0) {
      std::cerr << "scry-load: bad concurrency " << part << "\n";
      return 2;
    }
    const long rss0 = server ? RssKib() : 0;
    if (searcher != nullptr) {
      const PhaseResult in_process =
          RunPhase(server_address, search_calls, concurrency, warmup, seconds, deadline_ms,
                   ClientMode::kInProcess, /*server_pid=*/0, searcher.get());
      for (int k = kAnd; k <= kPhrase; ++k) {
        const KindStats& ks = in_process.kinds[k];
        if (ks.latencies_ns.empty() && ks.errors.empty()) continue;
        PrintRow(concurrency, "inproc", Summarize(kKindNames[k], {&ks}, in_process), 0, 0);
      }
    }
    if (floor_seconds > 0) {
      const PhaseResult floor = RunPhase(server_address, health_calls, concurrency, warmup,
                                         floor_seconds, deadline_ms, mode, server_pid);
      PrintRow(concurrency, client.c_str(), Summarize("health", {&floor.kinds[kHealth]}, floor),
               rss0, server ? RssKib() : 0);
    }
    const PhaseResult search = RunPhase(server_address, search_calls, concurrency, warmup, seconds,
                                        deadline_ms, mode, server_pid);
    const long rss1 = server ? RssKib() : 0;
    for (int k = kAnd; k <= kPhrase; ++k) {
      const KindStats& ks = search.kinds[k];
      if (ks.latencies_ns.empty() && ks.errors.empty()) continue;
      PrintRow(concurrency, client.c_str(), Summarize(kKindNames[k], {&ks}, search), rss0, rss1);
    }
    PrintRow(concurrency, client.c_str(),
             Summarize("search", {&search.kinds[kAnd], &search.kinds[kOr], &search.kinds[kPhrase]},
                       search),
             rss0, rss1);
  }
  if (server) server->Shutdown(1000);
  return 0;
}

}  // namespace
}  // namespace scry::bench

int main(int argc, char** argv) { return scry::bench::Main(argc, argv); }
