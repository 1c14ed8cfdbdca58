// File: query/shard_search.cc
#include "query/shard_search.h"

#include <algorithm>
#include <optional>
#include <queue>
#include <span>
#include <utility>

#include "query/maxscore.h"
#include "storage/keys.h"
#include "storage/status.h"

namespace scry::query {

ShardQuery::ShardQuery(const QueryPlan& plan, const storage::ShardReader* shard,
                       const ShardTerms* terms, Deadline* deadline, const DeletedDocs* deleted,
                       const DocBitmap* filter)
    : plan_(&plan), terms_(terms), ctx_{shard,      plan.bm25, deadline, {},
                                        plan.after, deleted,   filter} {
  const auto& names = shard->meta().field_names;
  ctx_.field_bm25.reserve(names.size());
  for (size_t f = 0; f < names.size(); ++f) {
    ctx_.field_bm25.push_back(f == 0 ? plan.bm25 : plan.field_bm25.at(names[f]));
  }
}

std::unique_ptr<storage::PostingCursor> ShardQuery::Cursor(const QueryNode& leaf, size_t i) const {
  const auto& info = terms_->at(FieldTermKey(leaf.field, leaf.terms[i]));
  if (!info.has_value()) return nullptr;
  // A term found in the field means the shard has the field.
  const uint8_t field = *ShardFieldId(*ctx_.shard, leaf.field);
  // The plan and the shard's TermInfos outlive the cursor: borrowed.
  return std::make_unique<storage::PostingCursor>(ctx_.shard, field,
                                                  std::string_view(leaf.terms[i]), &*info);
}

std::vector<ShardQuery::PhraseList> ShardQuery::PhraseLists(const QueryNode& phrase) const {
  const size_t n = phrase.terms.size();
  std::vector<PhraseList> words(n), pairs(n);
  for (size_t i = 0; i < n; ++i) {
    words[i] = {phrase.terms[i], &*terms_->at(FieldTermKey(phrase.field, phrase.terms[i])),
                phrase.positions[i]};
  }
  if (phrase.slop != 0) return words;  // the sloppy walk reads every word, in phrase order
  for (size_t i = 0; i + 1 < n; ++i) {
    if (phrase.positions[i + 1] != phrase.positions[i] + 1) continue;
    // Looked up only where the shard indexes it; absent or too rare to be
    // stored: the words are read instead.
    std::string pair = storage::PairTerm(phrase.terms[i], phrase.terms[i + 1]);
    const auto it = terms_->find(FieldTermKey(phrase.field, pair));
    if (it != terms_->end() && it->second.has_value()) {
      pairs[i] = {std::move(pair), &*it->second, phrase.positions[i]};
    }
  }
  // The cover of the words by words and pairs (pairs may overlap) with the
  // fewest postings in all: best[k] covers words [0, k), the last list
  // ending at word k - 1, which came from best[from[k]] (with list[k]).
  constexpr uint64_t kNone = UINT64_MAX;
  std::vector<uint64_t> best(n + 1, kNone);
  std::vector<size_t> from(n + 1, 0);
  std::vector<const PhraseList*> list(n + 1, nullptr);
  best[0] = 0;
  for (size_t j = 0; j < n; ++j) {
    if (best[j] + words[j].info->df < best[j + 1]) {
      best[j + 1] = best[j] + words[j].info->df;
      from[j + 1] = j;
      list[j + 1] = &words[j];
    }
    if (pairs[j].info == nullptr) continue;
    // The pair covers words j and j + 1, whether word j was covered or not.
    const size_t prev = best[j] <= best[j + 1] ? j : j + 1;
    if (best[prev] + pairs[j].info->df < best[j + 2]) {
      best[j + 2] = best[prev] + pairs[j].info->df;
      from[j + 2] = prev;
      list[j + 2] = &pairs[j];
    }
  }
  std::vector<PhraseList> cover;
  for (size_t k = n; k > 0; k = from[k]) cover.push_back(*list[k]);
  std::reverse(cover.begin(), cover.end());  // phrase order
  return cover;
}

double ShardQuery::Weight(const QueryNode& leaf, size_t i) const {
  const auto it = plan_->idf.find(FieldTermKey(leaf.field, leaf.terms[i]));
  return it == plan_->idf.end() ? 0.0 : it->second * leaf.boost;
}

std::unique_ptr<Scorer> ShardQuery::Build(const QueryNode& node) const {
  switch (node.kind) {
    case QueryNode::Kind::kTerm: {
      auto cursor = Cursor(node, 0);
      if (cursor == nullptr) return nullptr;
      return NewTermScorer(std::move(cursor), Weight(node, 0), &ctx_);
    }
    case QueryNode::Kind::kPhrase: {
      // Scored by its words, whatever lists find its matches.
      double phrase_idf = 0;
      for (const std::string& term : node.terms) {
        const std::string key = FieldTermKey(node.field, term);
        if (!terms_->at(key).has_value()) return nullptr;
        const auto idf = plan_->idf.find(key);  // none for a phrase that only filters
        phrase_idf += idf == plan_->idf.end() ? 0.0 : idf->second;
      }
      const uint8_t field = *ShardFieldId(*ctx_.shard, node.field);
      std::vector<std::unique_ptr<storage::PostingCursor>> cursors;
      std::vector<uint32_t> offsets;
      for (PhraseList& list : PhraseLists(node)) {
        cursors.push_back(std::make_unique<storage::PostingCursor>(
            ctx_.shard, field, std::move(list.term), *list.info));
        offsets.push_back(list.offset);
      }
      return NewPhraseScorer(std::move(cursors), std::move(offsets), node.slop,
                             phrase_idf * node.boost, &ctx_);
    }
    case QueryNode::Kind::kKeyword: {
      // The exact value's list, scored 0: conjunctions still intersect it
      // block by block like any term's.
      auto cursor = Cursor(node, 0);
      if (cursor == nullptr) return nullptr;
      return NewTermScorer(std::move(cursor), 0.0, &ctx_);
    }
    case QueryNode::Kind::kRange: {
      const storage::DocValuesColumn* column = ctx_.shard->doc_values(node.field);
      if (column == nullptr || node.range.empty()) return nullptr;
      return NewRangeScorer(column, node.range);
    }
    case QueryNode::Kind::kPrefix:
    case QueryNode::Kind::kFuzzy:
      return nullptr;  // expanded before evaluation
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

absl::StatusOr<DocBitmap> FilterDocs(const ShardQuery& query, const QueryNode& filter) {
  const ScoringContext& ctx = query.context();
  const uint32_t doc_count = ctx.shard->meta().doc_count;
  if (filter.is_leaf()) {
    DocBitmap docs(doc_count);
    std::unique_ptr<Scorer> scorer = query.Build(filter);
    if (scorer == nullptr) return docs;
    uint32_t polled = 0;
    for (uint32_t d = scorer->docid(); d != storage::kEndDocid;
         scorer->Next(), d = scorer->docid()) {
      if (++polled % 4096 == 0 && ctx.Expired()) return ctx.deadline->status();
      docs.Set(d);
    }
    SCRY_RETURN_IF_ERROR(scorer->status());
    return docs;
  }
  std::optional<DocBitmap> docs;
  for (const auto& child : filter.must) {
    SCRY_ASSIGN_OR_RETURN(DocBitmap part, FilterDocs(query, *child));
    if (docs.has_value()) {
      docs->And(part);
    } else {
      docs = std::move(part);
    }
  }
  if (!docs.has_value() && !filter.should.empty()) {
    docs.emplace(doc_count);
    for (const auto& child : filter.should) {
      SCRY_ASSIGN_OR_RETURN(DocBitmap part, FilterDocs(query, *child));
      docs->Or(part);
    }
  }
  if (!docs.has_value()) docs.emplace(doc_count, /*all=*/true);
  for (const auto& child : filter.must_not) {
    SCRY_ASSIGN_OR_RETURN(DocBitmap part, FilterDocs(query, *child));
    docs->AndNot(part);
  }
  if (ctx.Expired()) return ctx.deadline->status();
  return std::move(*docs);
}

namespace {

// The counts of `facet` over the documents of `shard` in `matched`.
absl::StatusOr<ShardFacet> CountFacet(const QueryPlan::Facet& facet,
                                      const storage::ShardReader& shard, const DocBitmap& matched,
                                      const ScoringContext& ctx) {
  ShardFacet counts;
  if (facet.type != storage::FieldType::kKeyword) {
    counts.resize(facet.ranges.size());
    for (size_t r = 0; r < counts.size(); ++r) counts[r].value = facet.request.ranges[r];
    const storage::DocValuesColumn* column = shard.doc_values(facet.request.field);
    if (column == nullptr) return counts;
    // A document counts once per range it has a value in.
    matched.ForEach([&](uint32_t d) {
      const std::span<const int64_t> keys = column->values(d);
      for (size_t r = 0; r < counts.size(); ++r) {
        const storage::KeyRange& range = facet.ranges[r];
        const auto it = std::lower_bound(keys.begin(), keys.end(), range.lo);
        counts[r].count += it != keys.end() && *it <= range.hi ? 1 : 0;
      }
    });
    return counts;
  }
  // A keyword field: each value's list against the matches (as Solr's
  // facet.method=enum; a per-document ordinal column would serve fields of
  // many values better).
  const std::optional<uint8_t> field = shard.FieldId(facet.request.field);
  if (!field.has_value()) return counts;
  absl::Status inner;
  size_t seen = 0;
  SCRY_RETURN_IF_ERROR(
      shard.ScanTerms(*field, "", [&](std::string_view term, std::string_view bytes) {
        if (++seen % 64 == 0 && ctx.Expired()) return false;
        absl::StatusOr<storage::TermInfo> info = storage::TermInfo::Decode(bytes);
        if (!info.ok()) {
          inner = info.status();
          return false;
        }
        storage::PostingCursor cursor(&shard, *field, std::string(term), *info);
        uint64_t n = 0;
        for (uint32_t d = cursor.docid(); d != storage::kEndDocid;
             cursor.Next(), d = cursor.docid()) {
          n += matched.Contains(d) ? 1 : 0;
        }
        if (!cursor.status().ok()) {
          inner = cursor.status();
          return false;
        }
        if (n > 0) counts.push_back(FacetCount{std::string(term), n});
        return true;
      }));
  SCRY_RETURN_IF_ERROR(inner);
  if (ctx.Expired()) return ctx.deadline->status();
  return counts;
}

// The best plan.keep matches of one shard in a sorted search's order
// (plan.sort_order), after plan.sorted_after if set.
class SortedCollector {
 public:
  SortedCollector(const QueryPlan& plan, const storage::ShardReader* shard, uint32_t shard_index)
      : plan_(plan), shard_(shard), shard_index_(shard_index), heap_(WorseFirst{this}) {
    for (const QueryPlan::SortKey& key : plan.sort)
      columns_.push_back(shard->doc_values(key.field));
  }

  void Offer(uint32_t docid, double score) {
    ShardHit hit{score, shard_index_, docid, Keys(docid)};
    if (plan_.sorted_after.has_value()) {
      const QueryPlan::SortedAfter& after = *plan_.sorted_after;
      if (!plan_.sort_order.Before(after.keys, after.score, after.id, hit.sort_keys, score,
                                   shard_->external_id(docid))) {
        return;
      }
    }
    if (heap_.size() < plan_.keep) {
      heap_.push(std::move(hit));
    } else if (Better(hit, heap_.top())) {
      heap_.pop();
      heap_.push(std::move(hit));
    }
  }

  void TakeInto(std::vector<ShardHit>* out) {
    for (; !heap_.empty(); heap_.pop()) out->push_back(heap_.top());
  }

 private:
  // The document's key per sort field: its least value ascending, its
  // greatest descending, none without a value.
  std::vector<std::optional<int64_t>> Keys(uint32_t docid) const {
    std::vector<std::optional<int64_t>> keys(columns_.size());
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (columns_[i] == nullptr) continue;
      const std::span<const int64_t> values = columns_[i]->values(docid);
      if (!values.empty()) {
        keys[i] = plan_.sort_order.descending[i] ? values.back() : values.front();
      }
    }
    return keys;
  }
  bool Better(const ShardHit& a, const ShardHit& b) const {
    return plan_.sort_order.Before(a.sort_keys, a.score, shard_->external_id(a.docid), b.sort_keys,
                                   b.score, shard_->external_id(b.docid));
  }
  // Heap order: the top is the worst hit kept.
  struct WorseFirst {
    const SortedCollector* self;
    bool operator()(const ShardHit& a, const ShardHit& b) const { return self->Better(a, b); }
  };

  const QueryPlan& plan_;
  const storage::ShardReader* shard_;
  uint32_t shard_index_;
  std::vector<const storage::DocValuesColumn*> columns_;
  std::priority_queue<ShardHit, std::vector<ShardHit>, WorseFirst> heap_;
};

// SearchShard with `deadline` possibly null (no limit).
absl::Status Evaluate(const QueryPlan& plan, const storage::ShardReader& shard,
                      uint32_t shard_index, const ShardTerms& terms, SharedThreshold* shared,
                      Deadline* deadline, const DeletedDocs* deleted, ShardSearchResult* out) {
  std::optional<DocBitmap> filter;
  if (plan.filter != nullptr) {
    const ShardQuery unfiltered(plan, &shard, &terms, deadline, deleted);
    SCRY_ASSIGN_OR_RETURN(filter, FilterDocs(unfiltered, *plan.filter));
  }
  const ShardQuery query(plan, &shard, &terms, deadline, deleted,
                         filter.has_value() ? &*filter : nullptr);
  const ScoringContext& ctx = query.context();
  if (ctx.Expired()) return absl::OkStatus();
  auto keep_top = [&](const std::vector<ScoredDoc>& top) {
    for (const ScoredDoc& d : top) out->top.push_back(ShardHit{d.score, shard_index, d.docid});
  };
  const QueryNode& root = *plan.root;
  if (plan.term_disjunction) {
    // Ranked OR of terms: MaxScore or Block-Max WAND over the cursors of the
    // terms present, unless every match must be counted.
    size_t present = 0;
    for (const auto& child : root.should) {
      const auto& info = terms.at(FieldTermKey(child->field, child->terms[0]));
      if (!info.has_value()) continue;
      ++present;
      out->postings_total += info->df;
    }
    const bool prune =
        plan.evaluator == Evaluator::kMaxScore || plan.evaluator == Evaluator::kBlockMaxWand;
    if (prune && present >= 2) {
      std::vector<MaxScoreTerm> leaves;
      for (const auto& child : root.should) {
        auto cursor = query.Cursor(*child, 0);
        if (cursor != nullptr) leaves.push_back({std::move(cursor), query.Weight(*child, 0)});
      }
      MaxScoreResult pruned;
      const absl::Status status =
          plan.evaluator == Evaluator::kBlockMaxWand
              ? BlockMaxWandTopK(std::move(leaves), ctx, plan.keep, shared, &pruned)
              : MaxScoreTopK(std::move(leaves), ctx, plan.keep, shared, &pruned);
      out->hits = pruned.matches;
      out->hits_is_lower_bound = pruned.matches_is_lower_bound;
      out->postings_scored = pruned.postings_scored;
      keep_top(pruned.top);
      return status;
    }
    out->postings_scored = out->postings_total;  // exhaustive: every posting
  }
  if (plan.evaluator == Evaluator::kBlockMaxAnd) {
    // Ranked AND of terms: block-max skipping over the intersection. A term
    // missing from this shard means no match here.
    std::vector<MaxScoreTerm> leaves;
    for (const auto& child : root.must) {
      auto cursor = query.Cursor(*child, 0);
      if (cursor == nullptr) return absl::OkStatus();
      leaves.push_back({std::move(cursor), query.Weight(*child, 0)});
    }
    MaxScoreResult pruned;
    const absl::Status status =
        BlockMaxConjunctionTopK(std::move(leaves), ctx, plan.keep, shared, &pruned);
    out->hits = pruned.matches;
    out->hits_is_lower_bound = pruned.matches_is_lower_bound;
    keep_top(pruned.top);
    return status;
  }
  std::unique_ptr<Scorer> scorer = query.Build(root);
  // Facets count every match (the planner chose this evaluator for them).
  std::optional<DocBitmap> matched;
  if (!plan.facets.empty()) matched.emplace(shard.meta().doc_count);
  if (scorer != nullptr) {
    // Sorted by fields (the planner chose this evaluator for them too), or
    // by score.
    std::optional<SortedCollector> sorted;
    if (!plan.sort.empty()) sorted.emplace(plan, &shard, shard_index);
    TopKHeap heap(plan.keep, &shard, ctx.after);
    for (uint32_t d = scorer->docid(); d != storage::kEndDocid && !ctx.Expired();
         scorer->Next(), d = scorer->docid()) {
      if (ctx.Excluded(d)) continue;
      ++out->hits;
      if (matched.has_value()) matched->Set(d);
      if (sorted.has_value()) {
        sorted->Offer(d, scorer->Score());
      } else {
        heap.Offer(ScoredDoc{scorer->Score(), d});
      }
    }
    if (sorted.has_value()) {
      sorted->TakeInto(&out->top);
    } else {
      keep_top(heap.Take());
    }
    SCRY_RETURN_IF_ERROR(scorer->status());
  }
  for (const QueryPlan::Facet& facet : plan.facets) {
    SCRY_ASSIGN_OR_RETURN(ShardFacet counts, CountFacet(facet, shard, *matched, ctx));
    out->facets.push_back(std::move(counts));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SearchShard(const QueryPlan& plan, const storage::ShardReader& shard,
                         uint32_t shard_index, const ShardTerms& terms, SharedThreshold* shared,
                         Deadline deadline, ShardSearchResult* out, const DeletedDocs* deleted) {
  absl::Status status = Evaluate(plan, shard, shard_index, terms, shared,
                                 deadline.unlimited() ? nullptr : &deadline, deleted, out);
  // One that expired overrides whatever the evaluator returned.
  if (!deadline.status().ok()) status = deadline.status();
  return status;
}

}  // namespace scry::query
