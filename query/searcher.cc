// File: query/searcher.cc
#include "query/searcher.h"

#include <algorithm>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "query/collector.h"
#include "query/deadline.h"
#include "query/hit_fetcher.h"
#include "query/shard_search.h"
#include "storage/hash.h"
#include "storage/index_dir.h"
#include "storage/status.h"

namespace scry::query {

absl::StatusOr<std::unique_ptr<Searcher>> Searcher::Open(const std::string& index_dir,
                                                         const SearcherOptions& options) {
  std::unique_ptr<Searcher> searcher(new Searcher());
  storage::ShardReader::Options shard_options;
  shard_options.block_cache_bytes = options.block_cache_bytes;
  shard_options.memory_lists_bytes = options.memory_lists_bytes;
  shard_options.memory_dictionary = options.memory_dictionary;
  SCRY_ASSIGN_OR_RETURN(searcher->index_, storage::IndexReader::Open(index_dir, shard_options));
  const storage::IndexReader& index = *searcher->index_;
  if (index.num_shards() > 1) {
    const size_t threads = options.search_threads != 0
                               ? options.search_threads
                               : std::max<size_t>(1, std::thread::hardware_concurrency());
    // The calling thread works too, so one fewer worker is enough.
    searcher->pool_ = std::make_unique<ThreadPool>(threads - 1);
  }
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<analysis::Analyzer> prototype,
                        analysis::Analyzer::Create(analysis::AnalyzerOptions{
                            index.manifest().language, index.manifest().stopwords}));
  searcher->analyzers_ = std::make_unique<AnalyzerPool>(std::move(prototype));

  PlanStatistics& collection = searcher->collection_;
  collection.docs = index.total_docs();
  collection.total_length = index.total_length();
  std::set<std::string> names;
  for (size_t s = 0; s < index.num_shards(); ++s) {
    searcher->shards_.push_back(&index.shard(s));
    const storage::ShardMeta& meta = index.shard(s).meta();
    for (size_t f = 1; f < meta.field_names.size(); ++f) {
      names.insert(meta.field_names[f]);
      collection.field_lengths[meta.field_names[f]] += meta.field_lengths[f];
    }
  }
  IndexInfo& info = searcher->info_;
  info.generation_path = index.generation_path();
  info.generation = index.generation_name();
  info.language = index.manifest().language;
  info.stopwords = index.manifest().stopwords;
  info.num_shards = static_cast<uint32_t>(index.num_shards());
  info.docs = index.total_docs();
  info.fields.assign(names.begin(), names.end());

  PlannerOptions planner_options;
  planner_options.parse = options.parse;
  planner_options.max_top_k = options.max_top_k;
  planner_options.expansion = options.expansion;
  planner_options.parallel_min_postings = options.parallel_min_postings;
  searcher->planner_ = std::make_unique<Planner>(planner_options, info.fields, index.num_shards(),
                                                 searcher->analyzers_.get());
  searcher->max_query_memory_bytes_ = options.max_query_memory_bytes;
  return searcher;
}

Searcher::~Searcher() = default;

absl::StatusOr<SearchResult> Searcher::Search(const SearchRequest& request) const {
  // Plan. Term lookups and expansions of a long query take time too: the
  // deadline applies.
  Deadline lookup_deadline(request.deadline, request.cancelled);
  IndexTermSource dictionary(shards_, &lookup_deadline);
  SCRY_ASSIGN_OR_RETURN(QueryPlan plan, planner_->Parse(request, dictionary));
  // Index-wide statistics first, so that every shard scores alike.
  std::vector<ShardTerms> terms(shards_.size());
  PlanStatistics stats = collection_;
  for (size_t s = 0; s < shards_.size(); ++s) {
    SCRY_ASSIGN_OR_RETURN(terms[s],
                          LookupTerms(*shards_[s], plan.terms, plan.pairs, &lookup_deadline));
    AddTermStatistics(terms[s], &stats);
  }
  planner_->SetStatistics(std::move(stats), &plan);
  if (max_query_memory_bytes_ > 0) {
    // The cursors of the shards evaluated at once (all of them in parallel,
    // else the largest one), refused before any is opened.
    size_t cursors = 0;
    for (size_t s = 0; s < shards_.size(); ++s) {
      const size_t n = CursorCount(*plan.root, terms[s]);
      cursors = plan.parallel ? cursors + n : std::max(cursors, n);
    }
    const uint64_t bytes = uint64_t{cursors} * CursorMemoryBytes();
    if (bytes > max_query_memory_bytes_) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "the query would take about %.1f MiB to evaluate (%u posting lists open at once), more "
          "than the limit of %.1f MiB per query; use fewer words, prefixes or fields",
          static_cast<double>(bytes) / (1 << 20), cursors,
          static_cast<double>(max_query_memory_bytes_) / (1 << 20)));
    }
  }

  // Evaluate each shard (in parallel: each with its own scorer tree and its
  // own copy of the deadline). The k-th score of any shard bounds the
  // query's: shards prune with the best one known (so which documents each
  // skips, and total_hits, may vary from run to run; the hits do not).
  std::vector<ShardSearchResult> shard_results(shards_.size());
  std::vector<absl::Status> statuses(shards_.size());
  SharedThreshold shared;
  auto evaluate = [&](size_t s) {
    statuses[s] = SearchShard(plan, *shards_[s], static_cast<uint32_t>(s), terms[s], &shared,
                              Deadline(request.deadline, request.cancelled), &shard_results[s]);
  };
  if (plan.parallel) {
    pool_->RunAll(shards_.size(), evaluate);
  } else {
    for (size_t s = 0; s < shards_.size(); ++s) evaluate(s);
  }

  // Merge: by score, then by id (ids compared only for equal scores).
  SearchResult result;
  result.expansions_truncated = plan.expansions_truncated;
  std::vector<ShardHit> candidates;
  for (size_t s = 0; s < shards_.size(); ++s) {
    SCRY_RETURN_IF_ERROR(statuses[s]);
    const ShardSearchResult& r = shard_results[s];
    result.total_hits += r.hits;
    result.total_hits_is_lower_bound |= r.hits_is_lower_bound;
    result.postings_scored += r.postings_scored;
    result.postings_total += r.postings_total;
    candidates.insert(candidates.end(), r.top.begin(), r.top.end());
  }
  MergeShardHits(shards_, &candidates);

  // Fetch the page.
  const size_t begin = std::min<size_t>(request.offset, candidates.size());
  const size_t end = std::min(candidates.size(), plan.keep);
  std::span<const ShardHit> page(candidates.data() + begin, std::max(begin, end) - begin);
  SCRY_ASSIGN_OR_RETURN(result.hits, FetchHits(plan, request, shards_, page, *analyzers_));
  return result;
}

absl::StatusOr<Document> Searcher::GetDocument(const std::string& id) const {
  const size_t s = storage::ShardForId(id, static_cast<uint32_t>(shards_.size()));
  SCRY_ASSIGN_OR_RETURN(auto docid, shards_[s]->FindDocId(id));
  if (!docid.has_value())
    return absl::NotFoundError(absl::StrCat("no document with id \"", id, "\""));
  SCRY_ASSIGN_OR_RETURN(storage::StoredDocument doc, shards_[s]->GetDocument(*docid));
  return Document{std::move(doc.id), std::move(doc.fields)};
}

absl::StatusOr<std::vector<ShardInfo>> Searcher::Stats() const {
  std::vector<ShardInfo> out;
  for (const storage::ShardReader* shard : shards_) {
    SCRY_ASSIGN_OR_RETURN(storage::ShardStats stats, shard->Stats());
    out.push_back(ShardInfo{stats.meta.shard_index, stats.meta.doc_count, stats.meta.term_count,
                            stats.meta.posting_count, std::move(stats.bytes_per_cf)});
  }
  return out;
}

}  // namespace scry::query
