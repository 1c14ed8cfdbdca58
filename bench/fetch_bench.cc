// File: bench/fetch_bench.cc
//
// What a page's stored fields (titles) cost beside the search itself, in
// process, on an index built beforehand (default /tmp/st-idx, or
// $SCRY_BENCH_INDEX), e.g. from the shared corpus:
//   build/tools/scry index --input /work/shared/corpora/out/all.jsonl --index /tmp/st-idx -q
//
//   BM_Search/<query>/ids_only    the search alone (ids_only = true)
//   BM_Search/<query>/titles      top 10 with titles (ids_only = false,
//                                 fields empty): the page read in one batch
//                                 per shard, titles viewed in place
//   BM_Search/<query>/one_by_one  the same, each hit's document read (one
//                                 Get) and decoded whole, as before batches
// The fetch costs titles - ids_only. The machine may be shared: run the
// binary several times (rounds interleave) and take medians, e.g.
//   for i in 1 2 3 4 5; do build/bench/fetch_bench --benchmark_min_time=1; done

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "query/hit_fetcher.h"
#include "query/searcher.h"

namespace scry::query {
namespace {

const Searcher& TheSearcher() {
  static const std::unique_ptr<Searcher> searcher = [] {
    const char* env = std::getenv("SCRY_BENCH_INDEX");
    const std::string dir = env != nullptr && *env != '\0' ? env : "/tmp/st-idx";
    auto s = Searcher::Open(dir, SearcherOptions());
    if (!s.ok()) {
      std::fprintf(stderr, "fetch_bench: cannot open %s: %s\n", dir.c_str(),
                   std::string(s.status().message()).c_str());
      std::exit(1);
    }
    return std::move(*s);
  }();
  return *searcher;
}

enum Mode { kIdsOnly, kTitles, kOneByOne };

void BM_Search(benchmark::State& state, const char* query, Mode mode) {
  const Searcher& searcher = TheSearcher();
  SearchRequest request;
  request.query = query;
  request.top_k = 10;
  request.ids_only = mode == kIdsOnly;
  internal::SetFetchOneByOneForTesting(mode == kOneByOne);
  for (auto _ : state) {
    auto result = searcher.Search(request);
    if (!result.ok() || result->hits.empty()) {
      state.SkipWithError("search failed or found nothing");
      break;
    }
    benchmark::DoNotOptimize(result->hits.data());
  }
  internal::SetFetchOneByOneForTesting(false);
}

#define SCRY_FETCH_BENCH(name, query)                                                            \
  BENCHMARK_CAPTURE(BM_Search, name##_ids_only, query, kIdsOnly)->Unit(benchmark::kMicrosecond); \
  BENCHMARK_CAPTURE(BM_Search, name##_titles, query, kTitles)->Unit(benchmark::kMicrosecond);    \
  BENCHMARK_CAPTURE(BM_Search, name##_one_by_one, query, kOneByOne)->Unit(benchmark::kMicrosecond)

SCRY_FETCH_BENCH(nato, "nato");
SCRY_FETCH_BENCH(or4, "moscow security cooperation treaty");

}  // namespace
}  // namespace scry::query
