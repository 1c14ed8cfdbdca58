// File: bench/bisection_params.cc
//
// The parameters of document reordering (indexer/reorder.h) measured on a
// built index: for each combination of min_df, iterations and leaf size,
// the bisection's time and log-gap cost, and (with --write) the bytes of
// the shard rewritten in that order, column family by column family.
//
//   bisection-params INDEX_DIR [--min-df 8,64] [--iterations 20]
//                    [--leaf 16] [--threads 2] [--write]
//
// Shard 0 of the live generation is read; the rewritten copies go to a
// temporary directory beside the index and are removed.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "indexer/bisection.h"
#include "indexer/reorder.h"
#include "storage/index_dir.h"
#include "storage/shard.h"

namespace {

using scry::indexer::BisectionOptions;
using scry::indexer::BisectionOrder;
using scry::indexer::BisectionResult;
using scry::indexer::ForwardIndex;

std::vector<uint32_t> Numbers(const std::string& list) {
  std::vector<uint32_t> out;
  for (absl::string_view part : absl::StrSplit(list, ',')) {
    uint32_t n = 0;
    if (!absl::SimpleAtoi(part, &n)) {
      std::fprintf(stderr, "bisection-params: bad number %s\n", std::string(part).c_str());
      std::exit(2);
    }
    out.push_back(n);
  }
  return out;
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Rewrites `shard` in `order` to a temporary directory and prints its
// column families' bytes.
void WriteAndMeasure(const scry::storage::ShardReader& shard, const std::vector<uint32_t>& order,
                     const std::string& tmp, unsigned threads) {
  std::filesystem::remove_all(tmp);
  scry::indexer::ReorderOptions options;
  options.write_threads = threads;
  const auto t0 = std::chrono::steady_clock::now();
  absl::Status s = scry::indexer::RewriteShard(shard, order, tmp, options);
  const double seconds = Seconds(t0);
  if (!s.ok()) {
    std::fprintf(stderr, "rewrite: %s\n", std::string(s.message()).c_str());
    std::exit(1);
  }
  auto copy = scry::storage::ShardReader::Open(tmp, scry::storage::ShardReader::Options());
  auto stats = copy.ok() ? (*copy)->Stats() : copy.status();
  if (!stats.ok()) {
    std::fprintf(stderr, "stats: %s\n", std::string(stats.status().message()).c_str());
    std::exit(1);
  }
  uint64_t total = 0;
  std::string line;
  for (const auto& [cf, bytes] : stats->bytes_per_cf) {
    total += bytes;
    absl::StrAppend(&line, " ", cf, "=", bytes);
  }
  std::printf("    rewrite %.2f s, bytes %llu:%s\n", seconds,
              static_cast<unsigned long long>(total), line.c_str());
  copy->reset();
  std::filesystem::remove_all(tmp);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: bisection-params INDEX_DIR [--min-df L] [--iterations L] [--leaf L] "
                 "[--threads N] [--write]\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::vector<uint32_t> min_dfs = {8}, iterations = {20}, leaves = {16};
  unsigned threads = 2;
  bool write = false;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const std::string value = i + 1 < argc ? argv[i + 1] : "";
    if (arg == "--write") {
      write = true;
      continue;
    }
    ++i;
    if (arg == "--min-df") {
      min_dfs = Numbers(value);
    } else if (arg == "--iterations") {
      iterations = Numbers(value);
    } else if (arg == "--leaf") {
      leaves = Numbers(value);
    } else if (arg == "--threads") {
      threads = Numbers(value).at(0);
    } else {
      std::fprintf(stderr, "bisection-params: unknown flag %s\n", arg.c_str());
      return 2;
    }
  }
  auto generation = scry::storage::LiveGeneration(dir);
  if (!generation.ok()) {
    std::fprintf(stderr, "%s\n", std::string(generation.status().message()).c_str());
    return 1;
  }
  auto shard = scry::storage::ShardReader::Open(*generation + "/" + scry::storage::ShardDirName(0),
                                                scry::storage::ShardReader::Options());
  if (!shard.ok()) {
    std::fprintf(stderr, "%s\n", std::string(shard.status().message()).c_str());
    return 1;
  }
  const std::string tmp = dir + ".bisection-params.tmp";
  if (write) {
    std::vector<uint32_t> identity((*shard)->meta().doc_count);
    for (uint32_t i = 0; i < identity.size(); ++i) identity[i] = i;
    std::printf("input order:\n");
    WriteAndMeasure(**shard, identity, tmp, threads);
  }
  for (uint32_t min_df : min_dfs) {
    auto t0 = std::chrono::steady_clock::now();
    auto forward = scry::indexer::ReadForwardIndex(**shard, min_df);
    if (!forward.ok()) {
      std::fprintf(stderr, "%s\n", std::string(forward.status().message()).c_str());
      return 1;
    }
    const double read = Seconds(t0);
    for (uint32_t iters : iterations) {
      for (uint32_t leaf : leaves) {
        BisectionOptions options;
        options.max_iterations = iters;
        options.min_partition_size = leaf;
        options.threads = threads;
        t0 = std::chrono::steady_clock::now();
        const BisectionResult result = BisectionOrder(*forward, options);
        std::printf(
            "min_df %u (%u terms, %zu postings, read %.2f s) iterations %u leaf %u threads %u: "
            "bisection %.2f s, log-gap %.3f -> %.3f Mbit (%.3f)\n",
            min_df, forward->num_terms, forward->terms.size(), read, iters, leaf, threads,
            Seconds(t0), result.cost_before / 1e6, result.cost_after / 1e6,
            result.cost_after / result.cost_before);
        std::fflush(stdout);
        if (write) WriteAndMeasure(**shard, result.order, tmp, threads);
      }
    }
  }
  return 0;
}
