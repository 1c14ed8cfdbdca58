// File: query/searcher.cc
#include "query/searcher.h"

#include <algorithm>
#include <mutex>
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

struct Searcher::Base {
  std::unique_ptr<storage::IndexReader> index;
  PlannerOptions planner_options;
  size_t max_query_memory_bytes = 0;
  std::vector<bool> served;  // by base shard
  size_t threads = 1;        // of the pool, the calling thread included
  std::unique_ptr<AnalyzerPool> analyzers;
  mutable std::once_flag pool_once;
  mutable std::unique_ptr<ThreadPool> pool;
};

absl::StatusOr<std::unique_ptr<Searcher>> Searcher::Open(const std::string& index_dir,
                                                         const SearcherOptions& options) {
  auto base = std::make_shared<Base>();
  storage::ShardReader::Options shard_options;
  shard_options.block_cache_bytes = options.block_cache_bytes;
  shard_options.memory_lists_bytes = options.memory_lists_bytes;
  shard_options.memory_dictionary = options.memory_dictionary;
  // A shard server opens its shards alone (a part built with --shard I
  // serves as --shards I).
  SCRY_ASSIGN_OR_RETURN(base->index,
                        storage::IndexReader::Open(index_dir, shard_options, options.shards));
  const storage::IndexReader& index = *base->index;
  base->threads = options.search_threads != 0
                      ? options.search_threads
                      : std::max<size_t>(1, std::thread::hardware_concurrency());
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<analysis::Analyzer> prototype,
                        analysis::Analyzer::Create(analysis::AnalyzerOptions{
                            index.manifest().language, index.manifest().stopwords}));
  base->analyzers = std::make_unique<AnalyzerPool>(std::move(prototype));
  base->planner_options.parse = options.parse;
  base->planner_options.max_top_k = options.max_top_k;
  base->planner_options.expansion = options.expansion;
  base->planner_options.parallel_min_postings = options.parallel_min_postings;
  base->max_query_memory_bytes = options.max_query_memory_bytes;
  base->served.assign(index.num_shards(), options.shards.empty());
  for (const uint32_t s : options.shards) {
    if (s >= index.num_shards()) {
      return absl::InvalidArgumentError(absl::StrCat("shard ", s, " is not a shard of the index (",
                                                     index.num_shards(), " shards)"));
    }
    base->served[s] = true;
  }

  std::unique_ptr<Searcher> searcher(new Searcher());
  searcher->base_ = std::move(base);
  SCRY_RETURN_IF_ERROR(searcher->Init());
  // Made now rather than at the first query, as before segments.
  if (index.num_shards() > 1) searcher->pool();
  return searcher;
}

absl::StatusOr<std::unique_ptr<Searcher>> Searcher::WithSegments(Snapshot snapshot) const {
  const storage::IndexReader& index = *base_->index;
  const size_t num_shards = index.num_shards();
  if (snapshot.base_deleted.size() > num_shards) {
    return absl::InvalidArgumentError(absl::StrCat("deleted documents of ",
                                                   snapshot.base_deleted.size(),
                                                   " shards for an index of ", num_shards));
  }
  snapshot.base_deleted.resize(num_shards);
  for (size_t s = 0; s < num_shards; ++s) {
    const auto& deleted = snapshot.base_deleted[s];
    if (deleted != nullptr && deleted->doc_count() != index.shard(s).meta().doc_count) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the deleted documents of shard ", s, " are for another shard (", deleted->doc_count(),
          " documents, not ", index.shard(s).meta().doc_count, ")"));
    }
  }
  for (size_t i = 0; i < snapshot.segments.size(); ++i) {
    const Segment& segment = snapshot.segments[i];
    if (segment.reader == nullptr || segment.shard >= num_shards) {
      return absl::InvalidArgumentError(
          absl::StrCat("segment ", i, " has no reader or names no shard of the index"));
    }
    const storage::ShardMeta& meta = segment.reader->meta();
    if (meta.language != index.manifest().language) {
      return absl::InvalidArgumentError(absl::StrCat("segment ", i, " was analysed as \"",
                                                     meta.language, "\", the index as \"",
                                                     index.manifest().language, "\""));
    }
    if (segment.deleted != nullptr && segment.deleted->doc_count() != meta.doc_count) {
      return absl::InvalidArgumentError(
          absl::StrCat("the deleted documents of segment ", i, " are for another shard"));
    }
  }
  std::unique_ptr<Searcher> searcher(new Searcher());
  searcher->base_ = base_;
  searcher->snapshot_ = std::move(snapshot);
  SCRY_RETURN_IF_ERROR(searcher->Init());
  return searcher;
}

absl::Status Searcher::Init() {
  const storage::IndexReader& index = *base_->index;
  for (size_t s = 0; s < index.num_shards(); ++s) {
    shards_.push_back(index.has_shard(s) ? &index.shard(s) : nullptr);  // not served: null
    deleted_.push_back(s < snapshot_.base_deleted.size() ? snapshot_.base_deleted[s].get()
                                                         : nullptr);
  }
  for (const Segment& segment : snapshot_.segments) {
    shards_.push_back(segment.reader.get());
    deleted_.push_back(segment.deleted.get());
  }
  for (size_t p = 0; p < shards_.size(); ++p) {
    const uint32_t shard = p < index.num_shards()
                               ? static_cast<uint32_t>(p)
                               : snapshot_.segments[p - index.num_shards()].shard;
    if (!base_->served[shard]) continue;
    parts_.push_back(p);
    served_readers_.push_back(shards_[p]);
    if (p < index.num_shards()) served_shards_.push_back(shard);
  }
  // The live sizes: each part's, less its deleted documents' (their lengths
  // are in memory).
  std::set<std::string> names;
  TypedFields typed;
  for (const size_t p : parts_) {
    const storage::ShardReader& shard = *shards_[p];
    const storage::ShardMeta& meta = shard.meta();
    for (const auto& [name, type] : meta.typed_fields) typed.emplace(name, type);
    std::vector<uint64_t> lengths = meta.field_lengths;
    lengths.resize(std::max<size_t>(meta.field_names.size(), 1), 0);
    if (meta.field_lengths.empty()) lengths[0] = meta.total_length;  // format 4
    uint64_t docs = meta.doc_count;
    if (deleted_[p] != nullptr) {
      docs -= deleted_[p]->size();
      for (const uint32_t d : deleted_[p]->docids()) {
        for (size_t f = 0; f < lengths.size(); ++f) {
          lengths[f] -= shard.doc_length(static_cast<uint8_t>(f), d);
        }
      }
    }
    collection_.docs += docs;
    collection_.total_length += lengths[0];
    for (size_t f = 1; f < meta.field_names.size(); ++f) {
      names.insert(meta.field_names[f]);
      collection_.field_lengths[meta.field_names[f]] += lengths[f];
    }
  }
  info_.generation_path = index.generation_path();
  info_.generation = index.generation_name();
  info_.build_id = index.manifest().build_id;
  info_.language = index.manifest().language;
  info_.stopwords = index.manifest().stopwords;
  info_.num_shards = static_cast<uint32_t>(index.num_shards());
  info_.docs = collection_.docs;
  info_.fields.assign(names.begin(), names.end());
  for (const auto& [name, type] : typed) {
    info_.typed_fields.emplace_back(name, std::string(storage::FieldTypeName(type)));
  }
  planner_ = std::make_unique<Planner>(base_->planner_options, info_.fields, std::move(typed),
                                       parts_.size(), base_->analyzers.get());
  return absl::OkStatus();
}

ThreadPool* Searcher::pool() const {
  std::call_once(base_->pool_once, [&] {
    // The calling thread works too, so one fewer worker is enough.
    base_->pool = std::make_unique<ThreadPool>(base_->threads - 1);
  });
  return base_->pool.get();
}

const storage::ShardReader& Searcher::base_shard(uint32_t shard) const {
  return base_->index->shard(shard);
}

bool Searcher::serves(uint32_t shard) const {
  return shard < base_->served.size() && base_->served[shard];
}

Searcher::~Searcher() = default;

absl::StatusOr<QueryPlan> Searcher::PlanLocal(const SearchRequest& request,
                                              std::vector<ShardTerms>* terms,
                                              PlanStatistics* stats) const {
  // Term lookups and expansions of a long query take time too: the
  // deadline applies.
  Deadline lookup_deadline(request.deadline, request.cancelled);
  IndexTermSource dictionary(served_readers_, &lookup_deadline);
  SCRY_ASSIGN_OR_RETURN(QueryPlan plan, planner_->Parse(request, dictionary));
  terms->assign(shards_.size(), ShardTerms());
  *stats = collection_;
  for (const size_t s : parts_) {
    SCRY_ASSIGN_OR_RETURN((*terms)[s],
                          LookupTerms(*shards_[s], plan.terms, plan.pairs, &lookup_deadline));
    AddTermStatistics((*terms)[s], stats);
    if (deleted_[s] != nullptr) {
      SCRY_RETURN_IF_ERROR(SubtractDeletedStatistics(*shards_[s], (*terms)[s], *deleted_[s],
                                                     &lookup_deadline, stats));
    }
    // Terms that only filter are looked up after the statistics: they are
    // never part of them (a broker's statistics do not hold them either).
    if (!plan.filter_terms.empty()) {
      SCRY_ASSIGN_OR_RETURN(ShardTerms filter_terms,
                            LookupTerms(*shards_[s], plan.filter_terms, {}, &lookup_deadline));
      (*terms)[s].merge(filter_terms);
    }
  }
  return plan;
}

absl::StatusOr<PlanStatistics> Searcher::Statistics(const SearchRequest& request) const {
  std::vector<ShardTerms> terms;
  PlanStatistics stats;
  SCRY_RETURN_IF_ERROR(PlanLocal(request, &terms, &stats).status());
  return stats;
}

namespace {

// Whether `global` can be the index-wide statistics of which `local` is a
// part: no smaller count anywhere (a broker's sum always passes; a stale or
// made-up one may not).
absl::Status CheckCovers(const PlanStatistics& global, const PlanStatistics& local) {
  bool covers = global.docs >= local.docs && global.total_length >= local.total_length;
  for (const auto& [name, length] : local.field_lengths) {
    const auto it = global.field_lengths.find(name);
    covers &= length == 0 || (it != global.field_lengths.end() && it->second >= length);
  }
  for (const auto& [key, df] : local.df) {
    const auto it = global.df.find(key);
    covers &= df == 0 || (it != global.df.end() && it->second >= df);
  }
  if (covers) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "the request's statistics do not cover this server's shards (smaller counts than its "
      "own): gather them from every server of the same generation");
}

}  // namespace

// Sums the shards' counts of each facet of `plan` into *out: a keyword
// facet's top values (most matches first, ties by value), a numeric one's
// ranges in request order.
static void MergeFacets(const QueryPlan& plan, const std::vector<size_t>& parts,
                        const std::vector<ShardSearchResult>& results, bool all_values,
                        std::vector<FacetResult>* out) {
  for (size_t f = 0; f < plan.facets.size(); ++f) {
    const QueryPlan::Facet& facet = plan.facets[f];
    FacetResult merged{facet.request.field, {}, 0};
    if (facet.type != storage::FieldType::kKeyword) {
      for (const std::string& range : facet.request.ranges) merged.counts.push_back({range, 0});
      for (const size_t s : parts) {
        if (f >= results[s].facets.size()) continue;  // nothing evaluated there
        const ShardFacet& counts = results[s].facets[f];
        for (size_t r = 0; r < counts.size(); ++r) merged.counts[r].count += counts[r].count;
      }
      out->push_back(std::move(merged));
      continue;
    }
    absl::flat_hash_map<std::string, uint64_t> sums;
    for (const size_t s : parts) {
      if (f >= results[s].facets.size()) continue;
      for (const FacetCount& c : results[s].facets[f]) sums[c.value] += c.count;
    }
    merged.values = sums.size();
    for (auto& [value, count] : sums) merged.counts.push_back({value, count});
    KeepTopFacetCounts(all_values ? merged.counts.size() : facet.request.size, &merged.counts);
    out->push_back(std::move(merged));
  }
}

absl::StatusOr<SearchResult> Searcher::Search(const SearchRequest& request) const {
  // Index-wide statistics first, so that every shard scores alike: this
  // searcher's own, or a broker's over every server.
  std::vector<ShardTerms> terms;
  PlanStatistics stats;
  SCRY_ASSIGN_OR_RETURN(QueryPlan plan, PlanLocal(request, &terms, &stats));
  if (request.statistics != nullptr) {
    SCRY_RETURN_IF_ERROR(CheckCovers(*request.statistics, stats));
    stats = *request.statistics;
  }
  planner_->SetStatistics(std::move(stats), &plan);
  if (!request.fetch.empty()) return FetchListed(plan, request);
  const size_t max_query_memory_bytes = base_->max_query_memory_bytes;
  if (max_query_memory_bytes > 0) {
    // The cursors of the shards evaluated at once (all of them in parallel,
    // else the largest one), refused before any is opened.
    size_t cursors = 0;
    for (const size_t s : parts_) {
      const size_t n = CursorCount(*plan.root, terms[s]);
      cursors = plan.parallel ? cursors + n : std::max(cursors, n);
    }
    const uint64_t bytes = uint64_t{cursors} * CursorMemoryBytes();
    if (bytes > max_query_memory_bytes) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "the query would take about %.1f MiB to evaluate (%u posting lists open at once), more "
          "than the limit of %.1f MiB per query; use fewer words, prefixes or fields",
          static_cast<double>(bytes) / (1 << 20), cursors,
          static_cast<double>(max_query_memory_bytes) / (1 << 20)));
    }
  }

  // Evaluate each shard (in parallel: each with its own scorer tree and its
  // own copy of the deadline). The k-th score of any shard bounds the
  // query's: shards prune with the best one known (so which documents each
  // skips, and total_hits, may vary from run to run; the hits do not).
  std::vector<ShardSearchResult> shard_results(shards_.size());
  std::vector<absl::Status> statuses(shards_.size());
  SharedThreshold shared;
  if (request.min_competitive_score > 0 && plan.sort.empty()) {
    shared.Raise(request.min_competitive_score);
  }
  auto evaluate = [&](size_t i) {
    const size_t s = parts_[i];
    statuses[s] =
        SearchShard(plan, *shards_[s], static_cast<uint32_t>(s), terms[s], &shared,
                    Deadline(request.deadline, request.cancelled), &shard_results[s], deleted_[s]);
  };
  if (plan.parallel) {
    pool()->RunAll(parts_.size(), evaluate);
  } else {
    for (size_t i = 0; i < parts_.size(); ++i) evaluate(i);
  }

  // Merge: by score, then by id (ids compared only for equal scores).
  SearchResult result;
  result.expansions_truncated = plan.expansions_truncated;
  std::vector<ShardHit> candidates;
  for (const size_t s : parts_) {
    SCRY_RETURN_IF_ERROR(statuses[s]);
    const ShardSearchResult& r = shard_results[s];
    result.total_hits += r.hits;
    result.total_hits_is_lower_bound |= r.hits_is_lower_bound;
    result.postings_scored += r.postings_scored;
    result.postings_total += r.postings_total;
    candidates.insert(candidates.end(), r.top.begin(), r.top.end());
  }
  if (plan.sort.empty()) {
    MergeShardHits(shards_, &candidates);
  } else {
    MergeSortedHits(shards_, plan.sort_order, &candidates);
  }
  MergeFacets(plan, parts_, shard_results, request.facet_all_values, &result.facets);

  // Fetch the page.
  const size_t begin = std::min<size_t>(request.offset, candidates.size());
  const size_t end = std::min(candidates.size(), plan.keep);
  std::span<const ShardHit> page(candidates.data() + begin, std::max(begin, end) - begin);
  SCRY_ASSIGN_OR_RETURN(result.hits, FetchHits(plan, request, shards_, page, *base_->analyzers));
  // A sorted search's hits carry their keys (FetchHits keeps the page's order).
  for (size_t i = 0; i < result.hits.size() && !plan.sort.empty(); ++i) {
    for (size_t k = 0; k < plan.sort.size(); ++k) {
      const std::optional<int64_t>& key = page[i].sort_keys[k];
      result.hits[i].sort_values.push_back(
          key.has_value() ? storage::FormatSortKey(plan.sort[k].type, *key) : std::string());
    }
  }
  return result;
}

absl::StatusOr<SearchResult> Searcher::FetchListed(const QueryPlan& plan,
                                                   const SearchRequest& request) const {
  const size_t top_k = request.top_k == 0 ? kDefaultTopK : request.top_k;
  if (request.fetch.size() > top_k) {
    return absl::InvalidArgumentError(
        absl::StrCat("fetch: at most top_k (", top_k, ") hits, got ", request.fetch.size()));
  }
  std::vector<ShardHit> page;
  page.reserve(request.fetch.size());
  for (const SearchRequest::FetchHit& hit : request.fetch) {
    SCRY_ASSIGN_OR_RETURN(const std::optional<DocLocation> at, Locate(hit.id));
    if (!at.has_value()) continue;
    const uint32_t part =
        at->segment < 0 ? at->shard : info_.num_shards + static_cast<uint32_t>(at->segment);
    page.push_back(ShardHit{hit.score, part, at->docid});
  }
  SearchResult result;
  SCRY_ASSIGN_OR_RETURN(result.hits, FetchHits(plan, request, shards_, page, *base_->analyzers));
  result.total_hits = result.hits.size();
  return result;
}

absl::StatusOr<std::optional<DocLocation>> Searcher::Locate(const std::string& id) const {
  const uint32_t shard = storage::ShardForId(id, info_.num_shards);
  if (!base_->served[shard]) return std::nullopt;  // on another server
  // Newest first: the shard's segments from the last, then the shard.
  for (size_t i = snapshot_.segments.size() + 1; i-- > 0;) {
    const bool in_base = i == 0;
    const size_t part = in_base ? shard : info_.num_shards + i - 1;
    if (!in_base && snapshot_.segments[i - 1].shard != shard) continue;
    SCRY_ASSIGN_OR_RETURN(const std::optional<uint32_t> docid, shards_[part]->FindDocId(id));
    if (!docid.has_value() || (deleted_[part] != nullptr && deleted_[part]->Contains(*docid))) {
      continue;
    }
    return DocLocation{shard, static_cast<int32_t>(i) - 1, *docid};
  }
  return std::nullopt;
}

absl::StatusOr<Document> Searcher::GetDocument(const std::string& id) const {
  SCRY_ASSIGN_OR_RETURN(const std::optional<DocLocation> at, Locate(id));
  if (!at.has_value()) return absl::NotFoundError(absl::StrCat("no document with id \"", id, "\""));
  const storage::ShardReader& shard =
      at->segment < 0 ? *shards_[at->shard]
                      : *snapshot_.segments[static_cast<size_t>(at->segment)].reader;
  SCRY_ASSIGN_OR_RETURN(storage::StoredDocument doc, shard.GetDocument(at->docid));
  return Document{std::move(doc.id), std::move(doc.fields)};
}

absl::StatusOr<std::vector<ShardInfo>> Searcher::Stats() const {
  std::vector<ShardInfo> out;
  std::vector<size_t> slot(info_.num_shards, 0);  // of each served shard in out
  for (const uint32_t s : served_shards_) {
    slot[s] = out.size();
    out.push_back(ShardInfo{shards_[s]->meta().shard_index, 0, 0, 0, {}});
  }
  for (const size_t p : parts_) {
    SCRY_ASSIGN_OR_RETURN(storage::ShardStats stats, shards_[p]->Stats());
    ShardInfo& info =
        out[slot[p < info_.num_shards ? p : snapshot_.segments[p - info_.num_shards].shard]];
    info.docs += stats.meta.doc_count - (deleted_[p] != nullptr ? deleted_[p]->size() : 0);
    info.terms += stats.meta.term_count;
    info.postings += stats.meta.posting_count;
    for (const auto& [cf, bytes] : stats.bytes_per_cf) info.bytes_per_column_family[cf] += bytes;
  }
  return out;
}

}  // namespace scry::query
