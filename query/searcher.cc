// File: query/searcher.cc
#include "query/searcher.h"

#include <algorithm>
#include <map>
#include <optional>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "query/bm25.h"
#include "query/deadline.h"
#include "query/maxscore.h"
#include "query/scorer.h"
#include "query/thread_pool.h"
#include "storage/hash.h"
#include "storage/keys.h"
#include "storage/posting_cursor.h"
#include "storage/status.h"

namespace scry::query {
namespace {

using storage::TermInfo;
using TermInfos = absl::flat_hash_map<std::string, std::optional<TermInfo>>;

void CollectTerms(const QueryNode& node, std::vector<std::string>* out) {
  for (const auto& t : node.terms) out->push_back(t);
  for (const auto* group : {&node.must, &node.should, &node.must_not}) {
    for (const auto& child : *group) CollectTerms(*child, out);
  }
}

struct ShardPlan {
  const storage::ShardReader* shard = nullptr;
  TermInfos infos;
  ScoringContext ctx{nullptr, Bm25(0, 0)};
  const absl::flat_hash_map<std::string, double>* idf = nullptr;

  std::unique_ptr<storage::PostingCursor> Cursor(const std::string& term) const {
    const auto& info = infos.at(term);
    if (!info.has_value()) return nullptr;
    return std::make_unique<storage::PostingCursor>(shard, storage::kTextField, term, *info);
  }

  // The scorer of `node` in this shard, or nullptr if it cannot match here.
  std::unique_ptr<Scorer> Build(const QueryNode& node) const {
    switch (node.kind) {
      case QueryNode::Kind::kTerm: {
        auto cursor = Cursor(node.terms[0]);
        if (cursor == nullptr) return nullptr;
        return NewTermScorer(std::move(cursor), idf->at(node.terms[0]), &ctx);
      }
      case QueryNode::Kind::kPhrase: {
        std::vector<std::unique_ptr<storage::PostingCursor>> cursors;
        double phrase_idf = 0;
        for (const auto& term : node.terms) {
          auto cursor = Cursor(term);
          if (cursor == nullptr) return nullptr;
          cursors.push_back(std::move(cursor));
          phrase_idf += idf->at(term);
        }
        return NewPhraseScorer(std::move(cursors), node.positions, phrase_idf, &ctx);
      }
      case QueryNode::Kind::kBool:
        break;
    }
    std::vector<std::unique_ptr<Scorer>> must, should, must_not;
    for (const auto& child : node.must) {
      auto s = Build(*child);
      if (s == nullptr) return nullptr;
      must.push_back(std::move(s));
    }
    for (const auto& child : node.should) {
      if (auto s = Build(*child)) should.push_back(std::move(s));
    }
    for (const auto& child : node.must_not) {
      if (auto s = Build(*child)) must_not.push_back(std::move(s));
    }
    std::unique_ptr<Scorer> positive;
    if (!must.empty()) {
      positive = NewConjunctionScorer(std::move(must));
      if (!should.empty()) {
        positive = NewOptionalScorer(std::move(positive), NewDisjunctionScorer(std::move(should)));
      }
    } else if (!should.empty()) {
      positive = NewDisjunctionScorer(std::move(should));
    } else {
      return nullptr;
    }
    if (!must_not.empty()) {
      positive = NewExclusionScorer(std::move(positive), NewDisjunctionScorer(std::move(must_not)));
    }
    return positive;
  }
};

// A disjunction of two or more single terms (the ranked OR query), which
// MaxScore evaluates.
bool IsTermDisjunction(const QueryNode& node) {
  if (node.kind != QueryNode::Kind::kBool || !node.must.empty() || !node.must_not.empty() ||
      node.should.size() < 2) {
    return false;
  }
  return std::all_of(node.should.begin(), node.should.end(),
                     [](const auto& c) { return c->kind == QueryNode::Kind::kTerm; });
}

// A conjunction of two or more single terms (the ranked AND query).
bool IsTermConjunction(const QueryNode& node) {
  if (node.kind != QueryNode::Kind::kBool || !node.should.empty() || !node.must_not.empty() ||
      node.must.size() < 2) {
    return false;
  }
  return std::all_of(node.must.begin(), node.must.end(),
                     [](const auto& c) { return c->kind == QueryNode::Kind::kTerm; });
}

bool HasPhrase(const QueryNode& node) {
  if (node.kind == QueryNode::Kind::kPhrase) return true;
  for (const auto* group : {&node.must, &node.should, &node.must_not}) {
    for (const auto& child : *group) {
      if (HasPhrase(*child)) return true;
    }
  }
  return false;
}

struct Candidate {
  double score;
  uint32_t shard;
  uint32_t docid;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Searcher>> Searcher::Open(const std::string& index_dir,
                                                         const SearcherOptions& options) {
  std::unique_ptr<Searcher> searcher(new Searcher());
  searcher->options_ = options;
  storage::ShardReader::Options shard_options;
  shard_options.block_cache_bytes = options.block_cache_bytes;
  SCRY_ASSIGN_OR_RETURN(searcher->index_, storage::IndexReader::Open(index_dir, shard_options));
  if (searcher->index_->num_shards() > 1) {
    const size_t threads = options.search_threads != 0
                               ? options.search_threads
                               : std::max<size_t>(1, std::thread::hardware_concurrency());
    // The calling thread works too, so one fewer worker is enough.
    searcher->pool_ = std::make_unique<ThreadPool>(threads - 1);
  }
  SCRY_ASSIGN_OR_RETURN(searcher->prototype_,
                        indexer::Analyzer::Create(searcher->index_->manifest().language));
  return searcher;
}

std::unique_ptr<indexer::Analyzer> Searcher::AcquireAnalyzer() const {
  {
    absl::MutexLock lock(&mu_);
    if (!analyzers_.empty()) {
      auto a = std::move(analyzers_.back());
      analyzers_.pop_back();
      return a;
    }
  }
  return prototype_->Clone();
}

void Searcher::ReleaseAnalyzer(std::unique_ptr<indexer::Analyzer> analyzer) const {
  absl::MutexLock lock(&mu_);
  analyzers_.push_back(std::move(analyzer));
}

absl::StatusOr<SearchResult> Searcher::Search(const SearchRequest& request) const {
  const uint32_t top_k = request.top_k == 0 ? 10 : request.top_k;
  if (uint64_t{top_k} + request.offset > options_.max_top_k) {
    return absl::InvalidArgumentError(absl::StrCat("offset + top_k must be at most ",
                                                   options_.max_top_k, ", got ",
                                                   uint64_t{top_k} + request.offset));
  }
  ParseOptions parse = options_.parse;
  parse.default_operator = request.default_operator;
  std::unique_ptr<indexer::Analyzer> analyzer = AcquireAnalyzer();
  if (analyzer == nullptr) return absl::ResourceExhaustedError("cannot create an analyzer");
  absl::StatusOr<std::unique_ptr<QueryNode>> root =
      ParseQuery(request.query, parse, analyzer.get());
  ReleaseAnalyzer(std::move(analyzer));
  if (!root.ok()) return root.status();

  std::vector<std::string> terms;
  CollectTerms(**root, &terms);
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());

  // Index-wide statistics first, so that every shard scores alike.
  const Bm25 bm25(index_->total_docs(), index_->total_length());
  std::vector<ShardPlan> plans(index_->num_shards());
  absl::flat_hash_map<std::string, uint64_t> df;
  // Term lookups of a long query take time too: the deadline applies.
  Deadline lookup_deadline(request.deadline, request.cancelled);
  for (size_t s = 0; s < plans.size(); ++s) {
    plans[s].shard = &index_->shard(s);
    for (const auto& term : terms) {
      if (lookup_deadline.Expired()) return lookup_deadline.status();
      SCRY_ASSIGN_OR_RETURN(auto info, plans[s].shard->FindTerm(storage::kTextField, term));
      if (info.has_value()) df[term] += info->df;
      plans[s].infos.emplace(term, std::move(info));
    }
  }
  absl::flat_hash_map<std::string, double> idf;
  for (const auto& term : terms) idf[term] = bm25.Idf(df[term]);

  const size_t keep = size_t{top_k} + request.offset;
  // Evaluate the shards in parallel (each with its own scorer tree).
  struct ShardResult {
    absl::Status status;
    uint64_t hits = 0;
    bool lower_bound = false;
    uint64_t postings_scored = 0;
    uint64_t postings_total = 0;
    std::vector<Candidate> top;
  };
  std::vector<ShardResult> shard_results(plans.size());
  // The k-th score of any shard bounds the query's: shards prune with the
  // best one known (evaluated in parallel, so which documents each skips,
  // and total_hits, may vary from run to run; the hits do not).
  SharedThreshold shared;
  const Pruning pruning = request.pruning == Pruning::kAuto ? Pruning::kMaxScore : request.pruning;
  auto evaluate_shard = [&](size_t s, Deadline* deadline) {
    ShardPlan& plan = plans[s];
    ShardResult& out = shard_results[s];
    plan.ctx = ScoringContext{plan.shard, bm25, deadline};
    plan.idf = &idf;
    if (plan.ctx.Expired()) return;
    auto keep_top = [&](const std::vector<ScoredDoc>& top) {
      for (const ScoredDoc& d : top) {
        out.top.push_back(Candidate{d.score, static_cast<uint32_t>(s), d.docid});
      }
    };
    const bool prune = !request.exact_total_hits && pruning != Pruning::kNone;
    if (IsTermDisjunction(**root)) {
      // Ranked OR of terms: MaxScore or Block-Max WAND over the cursors of
      // the terms present, unless every match must be counted.
      size_t present = 0;
      for (const auto& child : (*root)->should) {
        const auto& info = plan.infos.at(child->terms[0]);
        if (!info.has_value()) continue;
        ++present;
        out.postings_total += info->df;
      }
      if (prune && present >= 2) {
        std::vector<MaxScoreTerm> leaves;
        for (const auto& child : (*root)->should) {
          auto cursor = plan.Cursor(child->terms[0]);
          if (cursor != nullptr) leaves.push_back({std::move(cursor), idf.at(child->terms[0])});
        }
        MaxScoreResult pruned;
        out.status = pruning == Pruning::kBlockMaxWand
                         ? BlockMaxWandTopK(std::move(leaves), plan.ctx, keep, &shared, &pruned)
                         : MaxScoreTopK(std::move(leaves), plan.ctx, keep, &shared, &pruned);
        out.hits = pruned.matches;
        out.lower_bound = pruned.matches_is_lower_bound;
        out.postings_scored = pruned.postings_scored;
        keep_top(pruned.top);
        return;
      }
      out.postings_scored = out.postings_total;  // exhaustive: every posting
    }
    if (prune && IsTermConjunction(**root)) {
      // Ranked AND of terms: block-max skipping over the intersection. A
      // term missing from this shard means no match here.
      std::vector<MaxScoreTerm> leaves;
      for (const auto& child : (*root)->must) {
        auto cursor = plan.Cursor(child->terms[0]);
        if (cursor == nullptr) return;
        leaves.push_back({std::move(cursor), idf.at(child->terms[0])});
      }
      MaxScoreResult pruned;
      out.status = BlockMaxConjunctionTopK(std::move(leaves), plan.ctx, keep, &shared, &pruned);
      out.hits = pruned.matches;
      out.lower_bound = pruned.matches_is_lower_bound;
      keep_top(pruned.top);
      return;
    }
    std::unique_ptr<Scorer> scorer = plan.Build(**root);
    if (scorer == nullptr) return;
    TopKHeap heap(keep);
    for (uint32_t d = scorer->docid(); d != storage::kEndDocid && !plan.ctx.Expired();
         scorer->Next(), d = scorer->docid()) {
      ++out.hits;
      heap.Offer(ScoredDoc{scorer->Score(), d});
    }
    out.status = scorer->status();
    keep_top(heap.Take());
  };
  // Each shard polls its own copy of the deadline; one that expired
  // overrides whatever the evaluator returned.
  auto evaluate = [&](size_t s) {
    Deadline deadline(request.deadline, request.cancelled);
    evaluate_shard(s, deadline.unlimited() ? nullptr : &deadline);
    if (!deadline.status().ok()) shard_results[s].status = deadline.status();
  };
  uint64_t postings = 0;
  for (const auto& [term, n] : df) postings += n;
  // Phrases check positions per candidate: worth the hand-off at any size.
  if (plans.size() > 1 && (postings >= options_.parallel_min_postings || HasPhrase(**root))) {
    pool_->RunAll(plans.size(), evaluate);
  } else {
    for (size_t s = 0; s < plans.size(); ++s) evaluate(s);
  }
  SearchResult result;
  std::vector<Candidate> candidates;
  for (ShardResult& r : shard_results) {
    SCRY_RETURN_IF_ERROR(r.status);
    result.total_hits += r.hits;
    result.total_hits_is_lower_bound |= r.lower_bound;
    result.postings_scored += r.postings_scored;
    result.postings_total += r.postings_total;
    candidates.insert(candidates.end(), r.top.begin(), r.top.end());
  }

  // Merge: by score, then by id. Within a shard docid order is id order; ids
  // are fetched only for runs of equal scores that span several shards.
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.shard != b.shard) return a.shard < b.shard;
    return a.docid < b.docid;
  });
  std::map<std::pair<uint32_t, uint32_t>, storage::StoredDocument> docs;
  auto fetch = [&](const Candidate& c) -> absl::StatusOr<const storage::StoredDocument*> {
    auto key = std::make_pair(c.shard, c.docid);
    auto it = docs.find(key);
    if (it == docs.end()) {
      SCRY_ASSIGN_OR_RETURN(auto doc, index_->shard(c.shard).GetDocument(c.docid));
      it = docs.emplace(key, std::move(doc)).first;
    }
    return &it->second;
  };
  for (size_t i = 0; i < candidates.size();) {
    size_t j = i + 1;
    bool several_shards = false;
    while (j < candidates.size() && candidates[j].score == candidates[i].score) {
      several_shards |= candidates[j].shard != candidates[i].shard;
      ++j;
    }
    if (several_shards && i < keep) {
      std::vector<std::pair<std::string_view, Candidate>> run;
      for (size_t k = i; k < j; ++k) {
        const Candidate& c = candidates[k];
        run.emplace_back(index_->shard(c.shard).external_id(c.docid), c);
      }
      std::sort(run.begin(), run.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (size_t k = i; k < j; ++k) candidates[k] = run[k - i].second;
    }
    i = j;
  }

  const bool all_fields =
      std::find(request.fields.begin(), request.fields.end(), "*") != request.fields.end();
  for (size_t i = request.offset; i < candidates.size() && i < keep; ++i) {
    SearchHit hit;
    const Candidate& c = candidates[i];
    hit.id = std::string(index_->shard(c.shard).external_id(c.docid));
    hit.score = c.score;
    if (request.ids_only) {
      result.hits.push_back(std::move(hit));
      continue;
    }
    SCRY_ASSIGN_OR_RETURN(const storage::StoredDocument* doc, fetch(c));
    hit.title = std::string(doc->Field("title"));
    for (const auto& [name, value] : doc->fields) {
      if (all_fields ||
          std::find(request.fields.begin(), request.fields.end(), name) != request.fields.end()) {
        hit.fields.emplace_back(name, value);
      }
    }
    result.hits.push_back(std::move(hit));
  }
  return result;
}

absl::StatusOr<storage::StoredDocument> Searcher::GetDocument(const std::string& id) const {
  const size_t s = storage::ShardForId(id, static_cast<uint32_t>(index_->num_shards()));
  SCRY_ASSIGN_OR_RETURN(auto docid, index_->shard(s).FindDocId(id));
  if (!docid.has_value())
    return absl::NotFoundError(absl::StrCat("no document with id \"", id, "\""));
  return index_->shard(s).GetDocument(*docid);
}

absl::StatusOr<std::vector<storage::ShardStats>> Searcher::Stats() const {
  std::vector<storage::ShardStats> out;
  for (size_t s = 0; s < index_->num_shards(); ++s) {
    SCRY_ASSIGN_OR_RETURN(auto stats, index_->shard(s).Stats());
    out.push_back(std::move(stats));
  }
  return out;
}

}  // namespace scry::query
