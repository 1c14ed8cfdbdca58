// File: server/metrics.h
//
// Request metrics of the server: per RPC method, the number of calls by
// final status code and a latency histogram with fixed bucket bounds (the
// shape of a Prometheus histogram), updated with relaxed atomics on every
// call and read by the Stats RPC.
//
// Thread safety: Record and Fill may be called concurrently.
#ifndef SCRY_SERVER_METRICS_H_
#define SCRY_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "grpcpp/support/status.h"
#include "scry/v1/search.pb.h"

namespace scry::server {

class Metrics {
 public:
  // SearchService's methods, then IndexService's (server/index_service.h).
  enum Method {
    kSearch,
    kGetDocument,
    kStats,
    kReload,
    kWrite,
    kWriteStream,
    kRefresh,
    kCommit,
    kDescribe,  // SearchService's, added later
    kTermStatistics,
    kNumMethods
  };
  // Upper bounds of the latency buckets, in microseconds; one more bucket
  // counts the calls above the last bound.
  static constexpr std::array<uint64_t, 16> kBucketUpperMicros = {
      50,    100,   250,    500,    1000,   2500,    5000,    10000,
      25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000};

  static constexpr const char* kMethodNames[kNumMethods] = {
      "Search",      "GetDocument", "Stats",  "Reload",   "Write",
      "WriteStream", "Refresh",     "Commit", "Describe", "TermStatistics"};

  void Record(Method method, grpc::StatusCode code, uint64_t micros);
  // Appends one MethodMetrics per method to `response`.
  void Fill(v1::StatsResponse* response) const;

 private:
  static constexpr int kNumCodes = 17;  // grpc::StatusCode 0..16
  struct PerMethod {
    std::array<std::atomic<uint64_t>, kNumCodes> calls{};
    std::array<std::atomic<uint64_t>, kBucketUpperMicros.size() + 1> buckets{};
    std::atomic<uint64_t> sum_micros{0};
  };
  std::array<PerMethod, kNumMethods> methods_;
};

}  // namespace scry::server

#endif  // SCRY_SERVER_METRICS_H_
