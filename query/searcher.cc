// File: query/searcher.cc
#include "query/searcher.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "query/bm25.h"
#include "query/collector.h"
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
// Keyed by FieldTermKey.
using TermInfos = absl::flat_hash_map<std::string, std::optional<TermInfo>>;

// The key of a (field name, term) pair in the per-query maps: the name
// ("" = the catch-all), a NUL, the term.
std::string FieldTermKey(std::string_view field, std::string_view term) {
  std::string key;
  key.reserve(field.size() + 1 + term.size());
  key.append(field);
  key.push_back('\0');
  key.append(term);
  return key;
}

void CollectTerms(const QueryNode& node, std::vector<std::string>* out) {
  if (node.kind == QueryNode::Kind::kTerm || node.kind == QueryNode::Kind::kPhrase) {
    for (const auto& t : node.terms) out->push_back(FieldTermKey(node.field, t));
  }
  for (const auto* group : {&node.must, &node.should, &node.must_not}) {
    for (const auto& child : *group) CollectTerms(*child, out);
  }
}

// The shard's id of field `name` ("" is the catch-all), or nullopt.
std::optional<uint8_t> ShardFieldId(const storage::ShardReader& shard, std::string_view name) {
  if (name.empty()) return storage::kTextField;
  return shard.FieldId(name);
}

struct ShardPlan {
  const storage::ShardReader* shard = nullptr;
  TermInfos infos;
  ScoringContext ctx{nullptr, Bm25(0, 0), nullptr, {}, {}};
  const absl::flat_hash_map<std::string, double>* idf = nullptr;  // by FieldTermKey

  // The cursor of term i of `leaf`, or nullptr if this shard lacks it.
  std::unique_ptr<storage::PostingCursor> Cursor(const QueryNode& leaf, size_t i) const {
    const auto& info = infos.at(FieldTermKey(leaf.field, leaf.terms[i]));
    if (!info.has_value()) return nullptr;
    // A term found in the field means the shard has the field.
    const uint8_t field = *ShardFieldId(*shard, leaf.field);
    return std::make_unique<storage::PostingCursor>(shard, field, leaf.terms[i], *info);
  }
  // The BM25 weight of term i of `leaf`: its idf times the leaf's boost.
  double Weight(const QueryNode& leaf, size_t i) const {
    return idf->at(FieldTermKey(leaf.field, leaf.terms[i])) * leaf.boost;
  }

  // The scorer of `node` in this shard, or nullptr if it cannot match here.
  std::unique_ptr<Scorer> Build(const QueryNode& node) const {
    switch (node.kind) {
      case QueryNode::Kind::kTerm: {
        auto cursor = Cursor(node, 0);
        if (cursor == nullptr) return nullptr;
        return NewTermScorer(std::move(cursor), Weight(node, 0), &ctx);
      }
      case QueryNode::Kind::kPhrase: {
        std::vector<std::unique_ptr<storage::PostingCursor>> cursors;
        double phrase_idf = 0;
        for (size_t i = 0; i < node.terms.size(); ++i) {
          auto cursor = Cursor(node, i);
          if (cursor == nullptr) return nullptr;
          cursors.push_back(std::move(cursor));
          phrase_idf += idf->at(FieldTermKey(node.field, node.terms[i]));
        }
        return NewPhraseScorer(std::move(cursors), node.positions, node.slop,
                               phrase_idf * node.boost, &ctx);
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
};

// The dictionary of every shard, merged (TermSource of prefix and fuzzy
// expansion), with the query's deadline polled while scanning.
class IndexTermSource final : public TermSource {
 public:
  IndexTermSource(const storage::IndexReader* index, Deadline* deadline)
      : index_(index), deadline_(deadline) {}
  absl::Status Scan(const std::string& field, std::string_view prefix,
                    const std::function<bool(std::string_view, uint64_t)>& fn) const override {
    std::map<std::string, uint64_t, std::less<>> merged;
    absl::Status inner;
    for (size_t s = 0; s < index_->num_shards(); ++s) {
      const storage::ShardReader& shard = index_->shard(s);
      const std::optional<uint8_t> id = ShardFieldId(shard, field);
      if (!id.has_value()) continue;
      size_t seen = 0;
      SCRY_RETURN_IF_ERROR(
          shard.ScanTerms(*id, prefix, [&](std::string_view term, std::string_view info) {
            if (++seen % 1024 == 0 && deadline_->Expired()) return false;
            absl::StatusOr<uint32_t> df = TermInfo::DecodeDf(info);
            if (!df.ok()) {
              inner = df.status();
              return false;
            }
            auto it = merged.find(term);
            if (it == merged.end()) it = merged.emplace(std::string(term), 0).first;
            it->second += *df;
            return true;
          }));
      SCRY_RETURN_IF_ERROR(inner);
      SCRY_RETURN_IF_ERROR(deadline_->status());
    }
    for (const auto& [term, df] : merged) {
      if (!fn(term, df)) break;
    }
    return absl::OkStatus();
  }

 private:
  const storage::IndexReader* index_;
  Deadline* deadline_;
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

// Calls fn(leaf) for every term and phrase leaf that can add to a score
// (not under a must_not).
void ForEachScoringLeaf(const QueryNode& node, const std::function<void(const QueryNode&)>& fn) {
  if (node.kind == QueryNode::Kind::kTerm || node.kind == QueryNode::Kind::kPhrase) {
    fn(node);
    return;
  }
  for (const auto* group : {&node.must, &node.should}) {
    for (const auto& child : *group) ForEachScoringLeaf(*child, fn);
  }
}

// The BM25 breakdown of document `docid` of plan.shard: one entry per
// scoring leaf that matches it.
std::vector<TermExplanation> Explain(const QueryNode& root, const ShardPlan& plan, uint32_t docid,
                                     const absl::flat_hash_map<std::string, uint64_t>& df,
                                     uint64_t total_docs) {
  std::vector<TermExplanation> out;
  ForEachScoringLeaf(root, [&](const QueryNode& leaf) {
    std::unique_ptr<Scorer> scorer = plan.Build(leaf);
    if (scorer == nullptr) return;
    scorer->NextGeq(docid);
    if (scorer->docid() != docid) return;
    TermExplanation e;
    e.field = leaf.field;
    e.term = absl::StrJoin(leaf.terms, " ");
    e.weight = leaf.boost;
    e.tf = scorer->Freq();
    e.docs = total_docs;
    for (const auto& t : leaf.terms) e.idf += plan.idf->at(FieldTermKey(leaf.field, t));
    if (leaf.kind == QueryNode::Kind::kTerm) e.df = df.at(FieldTermKey(leaf.field, leaf.terms[0]));
    const uint8_t field = *ShardFieldId(*plan.shard, leaf.field);
    e.doc_length = plan.shard->doc_length(field, docid);
    e.avg_doc_length = plan.ctx.Of(field).avgdl();
    e.score = scorer->Score();
    out.push_back(std::move(e));
  });
  return out;
}

// The analysed terms of the scoring leaves that can match in stored field
// `name` (leaves of that named field or of the catch-all).
absl::flat_hash_set<std::string> TermsForField(const QueryNode& root, const std::string& name) {
  absl::flat_hash_set<std::string> terms;
  ForEachScoringLeaf(root, [&](const QueryNode& leaf) {
    if (leaf.field.empty() || leaf.field == name)
      terms.insert(leaf.terms.begin(), leaf.terms.end());
  });
  return terms;
}

// The positions in stored field `name` of document `docid` of `shard` where
// each of `terms` occurs (one sorted list per term, in `terms` order): from
// the field's own postings, or, if the shard has no such named field, by
// analysing `text` (slower).
absl::StatusOr<std::vector<std::vector<uint32_t>>> MatchPositions(
    const storage::ShardReader& shard, uint32_t docid, const std::string& name,
    std::string_view text, const std::vector<std::string>& terms, analysis::Analyzer* analyzer) {
  std::vector<std::vector<uint32_t>> positions(terms.size());
  const std::optional<uint8_t> field = shard.FieldId(name);
  if (!field.has_value()) {
    std::vector<analysis::Token> tokens;
    analyzer->Analyze(text, 0, &tokens);
    for (const auto& t : tokens) {
      auto it = std::find(terms.begin(), terms.end(), t.term);
      if (it != terms.end()) positions[it - terms.begin()].push_back(t.position);
    }
    return positions;
  }
  for (size_t i = 0; i < terms.size(); ++i) {
    SCRY_ASSIGN_OR_RETURN(std::optional<TermInfo> info, shard.FindTerm(*field, terms[i]));
    if (!info.has_value()) continue;
    storage::PostingCursor cursor(&shard, *field, terms[i], *info);
    cursor.NextGeq(docid);
    SCRY_RETURN_IF_ERROR(cursor.status());
    if (cursor.docid() != docid) continue;
    const uint32_t* span = nullptr;
    SCRY_RETURN_IF_ERROR(cursor.PositionSpan(&span));
    positions[i].assign(span, span + cursor.freq());
  }
  return positions;
}

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
  SCRY_ASSIGN_OR_RETURN(searcher->prototype_, analysis::Analyzer::Create(analysis::AnalyzerOptions{
                                                  searcher->index_->manifest().language,
                                                  searcher->index_->manifest().stopwords}));
  std::set<std::string> names;
  for (size_t s = 0; s < searcher->index_->num_shards(); ++s) {
    const storage::ShardMeta& meta = searcher->index_->shard(s).meta();
    for (size_t f = 1; f < meta.field_names.size(); ++f) {
      names.insert(meta.field_names[f]);
      searcher->field_lengths_[meta.field_names[f]] += meta.field_lengths[f];
    }
  }
  searcher->field_names_.assign(names.begin(), names.end());
  return searcher;
}

std::unique_ptr<analysis::Analyzer> Searcher::AcquireAnalyzer() const {
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

void Searcher::ReleaseAnalyzer(std::unique_ptr<analysis::Analyzer> analyzer) const {
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
  for (const FieldWeight& f : request.default_fields) {
    if (std::find(field_names_.begin(), field_names_.end(), f.field) == field_names_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "default field '", f.field, "' is not a field of the index (",
          field_names_.empty() ? "it has none" : absl::StrJoin(field_names_, ", "), ")"));
    }
    if (!(f.weight > 0) || f.weight > 1e6) {
      return absl::InvalidArgumentError(absl::StrCat("the weight of default field '", f.field,
                                                     "' must be in (0, 1e6], got ", f.weight));
    }
  }
  ParseOptions parse = options_.parse;
  parse.default_operator = request.default_operator;
  parse.known_fields = &field_names_;
  std::unique_ptr<analysis::Analyzer> analyzer = AcquireAnalyzer();
  if (analyzer == nullptr) return absl::ResourceExhaustedError("cannot create an analyzer");
  absl::StatusOr<std::unique_ptr<QueryNode>> root =
      ParseQuery(request.query, parse, analyzer.get());
  ReleaseAnalyzer(std::move(analyzer));
  if (!root.ok()) return root.status();

  // Term lookups and expansions of a long query take time too: the deadline
  // applies.
  Deadline lookup_deadline(request.deadline, request.cancelled);
  if (!request.default_fields.empty()) ApplyDefaultFields(root->get(), request.default_fields);
  SearchResult result;
  {
    IndexTermSource source(index_.get(), &lookup_deadline);
    ExpansionResult expanded;
    SCRY_RETURN_IF_ERROR(ExpandMultiTerms(root->get(), source, options_.expansion, &expanded));
    result.expansions_truncated = expanded.truncated;
  }
  FlattenDisjunctions(root->get());

  std::vector<std::string> terms;
  CollectTerms(**root, &terms);
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());

  // Index-wide statistics first, so that every shard scores alike.
  const Bm25 bm25(index_->total_docs(), index_->total_length());
  std::vector<ShardPlan> plans(index_->num_shards());
  absl::flat_hash_map<std::string, uint64_t> df;
  for (size_t s = 0; s < plans.size(); ++s) {
    plans[s].shard = &index_->shard(s);
    for (const auto& key : terms) {
      if (lookup_deadline.Expired()) return lookup_deadline.status();
      const size_t nul = key.find('\0');
      const std::optional<uint8_t> field =
          ShardFieldId(*plans[s].shard, std::string_view(key).substr(0, nul));
      std::optional<TermInfo> info;
      if (field.has_value()) {
        SCRY_ASSIGN_OR_RETURN(
            info, plans[s].shard->FindTerm(*field, std::string_view(key).substr(nul + 1)));
      }
      if (info.has_value()) df[key] += info->df;
      plans[s].infos.emplace(key, std::move(info));
    }
  }
  absl::flat_hash_map<std::string, double> idf;
  for (const auto& key : terms) idf[key] = bm25.Idf(df[key]);
  // Each field's BM25 (its own average length), by name.
  absl::flat_hash_map<std::string, Bm25> field_bm25;
  for (const auto& [name, length] : field_lengths_) {
    field_bm25.emplace(name, Bm25(index_->total_docs(), length));
  }

  const size_t keep = size_t{top_k} + request.offset;
  // Evaluate the shards in parallel (each with its own scorer tree).
  struct ShardResult {
    absl::Status status;
    uint64_t hits = 0;
    bool lower_bound = false;
    uint64_t postings_scored = 0;
    uint64_t postings_total = 0;
    std::vector<ShardHit> top;
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
    plan.ctx = ScoringContext{plan.shard, bm25, deadline, {}, {}};
    if (request.search_after.has_value()) {
      plan.ctx.after = RankAfter{true, request.search_after->score, request.search_after->id};
    }
    const auto& names = plan.shard->meta().field_names;
    for (size_t f = 0; f < names.size(); ++f) {
      plan.ctx.field_bm25.push_back(f == 0 ? bm25 : field_bm25.at(names[f]));
    }
    plan.idf = &idf;
    if (plan.ctx.Expired()) return;
    auto keep_top = [&](const std::vector<ScoredDoc>& top) {
      for (const ScoredDoc& d : top) {
        out.top.push_back(ShardHit{d.score, static_cast<uint32_t>(s), d.docid});
      }
    };
    const bool prune = !request.exact_total_hits && pruning != Pruning::kNone;
    if (IsTermDisjunction(**root)) {
      // Ranked OR of terms: MaxScore or Block-Max WAND over the cursors of
      // the terms present, unless every match must be counted.
      size_t present = 0;
      for (const auto& child : (*root)->should) {
        const auto& info = plan.infos.at(FieldTermKey(child->field, child->terms[0]));
        if (!info.has_value()) continue;
        ++present;
        out.postings_total += info->df;
      }
      if (prune && present >= 2) {
        std::vector<MaxScoreTerm> leaves;
        for (const auto& child : (*root)->should) {
          auto cursor = plan.Cursor(*child, 0);
          if (cursor != nullptr) leaves.push_back({std::move(cursor), plan.Weight(*child, 0)});
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
        auto cursor = plan.Cursor(*child, 0);
        if (cursor == nullptr) return;
        leaves.push_back({std::move(cursor), plan.Weight(*child, 0)});
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
    TopKHeap heap(keep, plan.shard, plan.ctx.after);
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
  std::vector<ShardHit> candidates;
  for (ShardResult& r : shard_results) {
    SCRY_RETURN_IF_ERROR(r.status);
    result.total_hits += r.hits;
    result.total_hits_is_lower_bound |= r.lower_bound;
    result.postings_scored += r.postings_scored;
    result.postings_total += r.postings_total;
    candidates.insert(candidates.end(), r.top.begin(), r.top.end());
  }

  // Merge: by score, then by id (ids compared only for equal scores).
  std::vector<const storage::ShardReader*> shards;
  for (const ShardPlan& plan : plans) shards.push_back(plan.shard);
  MergeShardHits(shards, &candidates);
  const bool all_fields =
      std::find(request.fields.begin(), request.fields.end(), "*") != request.fields.end();
  // Snippets analyse text around the matches: one analyzer for the page.
  std::unique_ptr<analysis::Analyzer, std::function<void(analysis::Analyzer*)>> highlight_analyzer(
      request.highlight_fields.empty() ? nullptr : AcquireAnalyzer().release(),
      [this](analysis::Analyzer* a) {
        if (a != nullptr) ReleaseAnalyzer(std::unique_ptr<analysis::Analyzer>(a));
      });
  if (!request.highlight_fields.empty() && highlight_analyzer == nullptr) {
    return absl::ResourceExhaustedError("cannot create an analyzer");
  }
  for (size_t i = request.offset; i < candidates.size() && i < keep; ++i) {
    SearchHit hit;
    const ShardHit& c = candidates[i];
    hit.id = std::string(index_->shard(c.shard).external_id(c.docid));
    hit.score = c.score;
    if (request.explain) {
      ShardPlan& plan = plans[c.shard];  // evaluated, since it holds a hit
      plan.ctx.deadline = nullptr;       // the evaluation's has gone
      hit.explanation = Explain(**root, plan, c.docid, df, index_->total_docs());
    }
    if (request.ids_only) {
      result.hits.push_back(std::move(hit));
      continue;
    }
    SCRY_ASSIGN_OR_RETURN(const storage::StoredDocument stored,
                          index_->shard(c.shard).GetDocument(c.docid));
    const storage::StoredDocument* doc = &stored;
    hit.title = std::string(doc->Field("title"));
    for (const std::string& name : request.highlight_fields) {
      auto it = std::find_if(doc->fields.begin(), doc->fields.end(),
                             [&](const auto& f) { return f.first == name; });
      if (it == doc->fields.end()) continue;
      const size_t index = static_cast<size_t>(it - doc->fields.begin());
      const absl::flat_hash_set<std::string> terms = TermsForField(**root, name);
      const std::vector<std::string> term_list(terms.begin(), terms.end());
      SCRY_ASSIGN_OR_RETURN(auto positions,
                            MatchPositions(index_->shard(c.shard), c.docid, name, it->second,
                                           term_list, highlight_analyzer.get()));
      // By term, so that a window with a rare term beats a run of a common one.
      std::vector<std::string> fragments =
          HighlightByTerm(it->second, doc->Checkpoints(index), positions, terms, request.highlight,
                          highlight_analyzer.get());
      if (!fragments.empty()) hit.snippets.emplace_back(name, std::move(fragments));
    }
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
