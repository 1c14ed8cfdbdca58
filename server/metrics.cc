// File: server/metrics.cc
#include "server/metrics.h"

#include <algorithm>

#include "absl/status/status.h"

namespace scry::server {

void Metrics::Record(Method method, grpc::StatusCode code, uint64_t micros) {
  PerMethod& m = methods_[method];
  const int c = static_cast<int>(code);
  m.calls[c >= 0 && c < kNumCodes ? c : static_cast<int>(grpc::StatusCode::UNKNOWN)].fetch_add(
      1, std::memory_order_relaxed);
  const size_t bucket =
      std::lower_bound(kBucketUpperMicros.begin(), kBucketUpperMicros.end(), micros) -
      kBucketUpperMicros.begin();
  m.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  m.sum_micros.fetch_add(micros, std::memory_order_relaxed);
}

void Metrics::Fill(v1::StatsResponse* response) const {
  for (int i = 0; i < kNumMethods; ++i) {
    const PerMethod& m = methods_[i];
    v1::MethodMetrics* out = response->add_methods();
    out->set_method(kMethodNames[i]);
    for (int c = 0; c < kNumCodes; ++c) {
      const uint64_t n = m.calls[c].load(std::memory_order_relaxed);
      // Canonical code names, as absl spells them (OK, INVALID_ARGUMENT, ...).
      if (n > 0)
        (*out->mutable_calls_by_code())[absl::StatusCodeToString(
            static_cast<absl::StatusCode>(c))] = n;
    }
    for (uint64_t bound : kBucketUpperMicros) out->add_latency_bucket_upper_micros(bound);
    for (const auto& b : m.buckets)
      out->add_latency_bucket_counts(b.load(std::memory_order_relaxed));
    out->set_latency_sum_micros(m.sum_micros.load(std::memory_order_relaxed));
  }
}

}  // namespace scry::server
