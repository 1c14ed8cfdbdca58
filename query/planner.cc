// File: query/planner.cc
#include "query/planner.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "storage/keys.h"
#include "storage/posting_cursor.h"
#include "storage/status.h"

namespace scry::query {
namespace {

using storage::TermInfo;

// The (field, term) keys of `node`'s term and phrase leaves into *scored,
// of its keyword leaves (which never score) into *matched.
void CollectTerms(const QueryNode& node, std::vector<std::string>* scored,
                  std::vector<std::string>* matched) {
  if (node.kind == QueryNode::Kind::kTerm || node.kind == QueryNode::Kind::kPhrase) {
    for (const auto& t : node.terms) scored->push_back(FieldTermKey(node.field, t));
  } else if (node.kind == QueryNode::Kind::kKeyword) {
    matched->push_back(FieldTermKey(node.field, node.terms[0]));
  }
  for (const auto* group : {&node.must, &node.should, &node.must_not}) {
    for (const auto& child : *group) CollectTerms(*child, scored, matched);
  }
}

// Moves the root's typed clauses that a filter can take without changing
// the matches into *filter: every excluded one, and the required ones while
// a required clause that scores stays (the optional clauses then stay
// optional, as they were). A root left with one required clause and
// nothing else becomes that clause, so that `(a OR b) AND lang:en` is
// evaluated as the ranked OR of a and b.
void LiftTypedClauses(QueryNode* root, QueryNode* filter) {
  auto move_typed = [](std::vector<std::unique_ptr<QueryNode>>* from,
                       std::vector<std::unique_ptr<QueryNode>>* to) {
    for (auto it = from->begin(); it != from->end();) {
      if ((*it)->is_typed()) {
        to->push_back(std::move(*it));
        it = from->erase(it);
      } else {
        ++it;
      }
    }
  };
  const bool scored_must = std::any_of(root->must.begin(), root->must.end(),
                                       [](const auto& c) { return !c->is_typed(); });
  if (scored_must) move_typed(&root->must, &filter->must);
  move_typed(&root->must_not, &filter->must_not);
  if (root->must.size() == 1 && root->should.empty() && root->must_not.empty()) {
    std::unique_ptr<QueryNode> only = std::move(root->must.front());
    root->must.clear();
    if (only->kind == QueryNode::Kind::kBool) {
      *root = std::move(*only);
    } else {
      root->should.push_back(std::move(only));
    }
  }
}

// The names of `typed` (only the numeric and date ones if `numeric_only`),
// comma-separated, for errors; what to do when there are none.
std::string TypedFieldNames(const TypedFields& typed, bool numeric_only) {
  std::vector<std::string> names;
  for (const auto& [name, type] : typed) {
    if (!numeric_only || storage::IsNumeric(type)) names.push_back(name);
  }
  return names.empty() ? "it has none: build it with --schema" : absl::StrJoin(names, ", ");
}

constexpr size_t kMaxFacets = 32;
constexpr size_t kMaxSortFields = 8;
constexpr size_t kMaxFacetRanges = 256;
constexpr uint32_t kMaxFacetSize = 10000;

// Whether `node` is a boolean node whose only clauses are `group` (its must
// or its should clauses), two or more single terms: the ranked AND or OR
// query that the block-max evaluators take.
bool IsTermGroup(const QueryNode& node, const decltype(QueryNode::must)& group) {
  if (node.kind != QueryNode::Kind::kBool || group.size() < 2 ||
      node.must.size() + node.should.size() + node.must_not.size() != group.size()) {
    return false;
  }
  return std::all_of(group.begin(), group.end(),
                     [](const auto& c) { return c->kind == QueryNode::Kind::kTerm; });
}

void CollectPairs(const QueryNode& node, std::vector<std::string>* out) {
  if (node.kind == QueryNode::Kind::kPhrase && node.slop == 0) {
    for (size_t i = 0; i + 1 < node.terms.size(); ++i) {
      if (node.positions[i + 1] == node.positions[i] + 1) {
        out->push_back(
            FieldTermKey(node.field, storage::PairTerm(node.terms[i], node.terms[i + 1])));
      }
    }
  }
  for (const auto* group : {&node.must, &node.should, &node.must_not}) {
    for (const auto& child : *group) CollectPairs(*child, out);
  }
}

void SortUnique(std::vector<std::string>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
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

}  // namespace

std::string FieldTermKey(std::string_view field, std::string_view term) {
  std::string key;
  key.reserve(field.size() + 1 + term.size());
  key.append(field);
  key.push_back('\0');
  key.append(term);
  return key;
}

std::optional<uint8_t> ShardFieldId(const storage::ShardReader& shard, std::string_view name) {
  if (name.empty()) return storage::kTextField;
  return shard.FieldId(name);
}

void PlanStatistics::Merge(const PlanStatistics& part) {
  docs += part.docs;
  total_length += part.total_length;
  for (const auto& [name, length] : part.field_lengths) field_lengths[name] += length;
  for (const auto& [key, n] : part.df) df[key] += n;
}

Planner::Planner(const PlannerOptions& options, std::vector<std::string> fields, TypedFields typed,
                 size_t num_shards, const AnalyzerPool* analyzers)
    : options_(options),
      fields_(std::move(fields)),
      typed_(std::move(typed)),
      num_shards_(num_shards),
      analyzers_(analyzers) {}

absl::StatusOr<QueryPlan> Planner::Parse(const SearchRequest& request,
                                         const TermSource& dictionary) const {
  const uint32_t top_k = request.top_k == 0 ? kDefaultTopK : request.top_k;
  if (uint64_t{top_k} + request.offset > options_.max_top_k) {
    return absl::InvalidArgumentError(absl::StrCat("offset + top_k must be at most ",
                                                   options_.max_top_k, ", got ",
                                                   uint64_t{top_k} + request.offset));
  }
  for (const FieldWeight& f : request.default_fields) {
    if (std::find(fields_.begin(), fields_.end(), f.field) == fields_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("default field '", f.field, "' is not a field of the index (",
                       fields_.empty() ? "it has none" : absl::StrJoin(fields_, ", "), ")"));
    }
    if (!(f.weight > 0) || f.weight > 1e6) {
      return absl::InvalidArgumentError(absl::StrCat("the weight of default field '", f.field,
                                                     "' must be in (0, 1e6], got ", f.weight));
    }
  }
  QueryPlan plan;
  SCRY_RETURN_IF_ERROR(PlanFacets(request, &plan));
  SCRY_RETURN_IF_ERROR(PlanSort(request, &plan));
  ParseOptions parse = options_.parse;
  parse.default_operator = request.default_operator;
  parse.known_fields = &fields_;
  parse.typed_fields = &typed_;
  std::unique_ptr<analysis::Analyzer> analyzer = analyzers_->Acquire();
  if (analyzer == nullptr) return absl::ResourceExhaustedError("cannot create an analyzer");
  absl::StatusOr<std::unique_ptr<QueryNode>> root =
      ParseQuery(request.query, parse, analyzer.get());
  absl::StatusOr<std::unique_ptr<QueryNode>> filter = nullptr;
  if (root.ok() && !request.filter.empty()) {
    filter = ParseQuery(request.filter, parse, analyzer.get());
  }
  analyzers_->Release(std::move(analyzer));
  if (!root.ok()) return root.status();
  if (!filter.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("filter: ", filter.status().message()));
  }

  plan.root = std::move(*root);
  auto filter_root = QueryNode::Bool();
  if (*filter != nullptr) filter_root->must.push_back(std::move(*filter));
  ExpansionResult expanded;
  for (QueryNode* tree : {plan.root.get(), filter_root.get()}) {
    if (!request.default_fields.empty()) ApplyDefaultFields(tree, request.default_fields);
    SCRY_RETURN_IF_ERROR(ExpandMultiTerms(tree, dictionary, options_.expansion, &expanded));
  }
  plan.expansions_truncated = expanded.truncated;
  FlattenDisjunctions(plan.root.get());
  LiftTypedClauses(plan.root.get(), filter_root.get());
  if (!filter_root->must.empty() || !filter_root->must_not.empty()) {
    plan.filter = std::move(filter_root);
  }

  CollectTerms(*plan.root, &plan.terms, &plan.filter_terms);
  if (plan.filter != nullptr) CollectTerms(*plan.filter, &plan.filter_terms, &plan.filter_terms);
  SortUnique(&plan.terms);
  SortUnique(&plan.filter_terms);
  CollectPairs(*plan.root, &plan.pairs);
  SortUnique(&plan.pairs);

  plan.keep = size_t{top_k} + request.offset;
  if (request.search_after.has_value() && plan.sort.empty()) {
    plan.after = RankAfter{true, request.search_after->score, request.search_after->id};
  }
  const Pruning pruning = request.pruning == Pruning::kAuto ? Pruning::kMaxScore : request.pruning;
  // Facets and sorts see every match, as an exact total does.
  const bool prune = !request.exact_total_hits && pruning != Pruning::kNone &&
                     plan.facets.empty() && plan.sort.empty();
  plan.term_disjunction = IsTermGroup(*plan.root, plan.root->should);
  if (prune && plan.term_disjunction) {
    plan.evaluator =
        pruning == Pruning::kBlockMaxWand ? Evaluator::kBlockMaxWand : Evaluator::kMaxScore;
  } else if (prune && IsTermGroup(*plan.root, plan.root->must)) {
    plan.evaluator = Evaluator::kBlockMaxAnd;
  }
  plan.has_phrase = HasPhrase(*plan.root);
  return plan;
}

absl::Status Planner::PlanSort(const SearchRequest& request, QueryPlan* plan) const {
  if (request.sort.size() > kMaxSortFields) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxSortFields, " sort fields, got ", request.sort.size()));
  }
  for (const SortField& f : request.sort) {
    const auto it = typed_.find(f.field);
    if (it == typed_.end() || !storage::IsNumeric(it->second)) {
      return absl::InvalidArgumentError(
          absl::StrCat("sort field '", f.field, "' is not a numeric or date field of the index (",
                       TypedFieldNames(typed_, /*numeric_only=*/true),
                       "; keyword fields cannot be sorted by yet)"));
    }
    plan->sort.push_back({f.field, it->second});
    plan->sort_order.descending.push_back(f.descending);
  }
  if (!request.search_after.has_value()) return absl::OkStatus();
  const std::vector<std::string>& values = request.search_after->sort_values;
  if (values.size() != plan->sort.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("search_after.sort_values must have one value per sort field (",
                     plan->sort.size(), "), got ", values.size()));
  }
  if (plan->sort.empty()) return absl::OkStatus();
  QueryPlan::SortedAfter after{{}, request.search_after->score, request.search_after->id};
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].empty()) {  // the hit had no value
      after.keys.emplace_back();
      continue;
    }
    absl::StatusOr<int64_t> key = storage::ParseSortKey(plan->sort[i].type, values[i]);
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("search_after.sort_values[", i, "]: ", key.status().message()));
    }
    after.keys.emplace_back(*key);
  }
  plan->sorted_after = std::move(after);
  return absl::OkStatus();
}

absl::Status Planner::PlanFacets(const SearchRequest& request, QueryPlan* plan) const {
  if (request.facets.size() > kMaxFacets) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxFacets, " facets, got ", request.facets.size()));
  }
  for (const FacetRequest& f : request.facets) {
    const auto it = typed_.find(f.field);
    if (it == typed_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("facet '", f.field, "' is not a typed field of the index (",
                       TypedFieldNames(typed_, /*numeric_only=*/false), ")"));
    }
    QueryPlan::Facet facet{f, it->second, {}};
    if (it->second == storage::FieldType::kKeyword) {
      if (!f.ranges.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "facet '", f.field, "' is a keyword field: ranges are for numeric and date fields"));
      }
      if (f.size > kMaxFacetSize) {
        return absl::InvalidArgumentError(absl::StrCat(
            "facet '", f.field, "': size must be at most ", kMaxFacetSize, ", got ", f.size));
      }
      if (facet.request.size == 0) facet.request.size = kDefaultFacetSize;
    } else {
      if (f.ranges.empty() || f.ranges.size() > kMaxFacetRanges) {
        return absl::InvalidArgumentError(absl::StrCat(
            "facet '", f.field, "' is a ", std::string(storage::FieldTypeName(it->second)),
            " field: give it 1 to ", kMaxFacetRanges, " ranges, got ", f.ranges.size()));
      }
      for (const std::string& text : f.ranges) {
        absl::StatusOr<storage::KeyRange> range = storage::ParseRange(f.field, it->second, text);
        if (!range.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("facet '", f.field, "': ", range.status().message()));
        }
        facet.ranges.push_back(*range);
      }
    }
    plan->facets.push_back(std::move(facet));
  }
  return absl::OkStatus();
}

void Planner::SetStatistics(PlanStatistics stats, QueryPlan* plan) const {
  plan->stats = std::move(stats);
  const PlanStatistics& s = plan->stats;
  plan->bm25 = Bm25(s.docs, s.total_length);
  uint64_t postings = 0;
  for (const auto& key : plan->terms) {
    const auto it = s.df.find(key);
    const uint64_t df = it == s.df.end() ? 0 : it->second;
    plan->idf[key] = plan->bm25.Idf(df);
    postings += df;
  }
  // Each field's BM25 (its own average length), by name.
  for (const auto& [name, length] : s.field_lengths) {
    plan->field_bm25.emplace(name, Bm25(s.docs, length));
  }
  // Phrases check positions per candidate: worth the hand-off at any size.
  plan->parallel =
      num_shards_ > 1 && (postings >= options_.parallel_min_postings || plan->has_phrase);
}

// Finds the FieldTermKey `key` in `shard` into *out.
static absl::Status LookupTerm(const storage::ShardReader& shard, const std::string& key,
                               Deadline* deadline, ShardTerms* out) {
  if (deadline != nullptr && deadline->Expired()) return deadline->status();
  const size_t nul = key.find('\0');
  const std::optional<uint8_t> field = ShardFieldId(shard, std::string_view(key).substr(0, nul));
  std::optional<TermInfo> info;
  if (field.has_value()) {
    SCRY_ASSIGN_OR_RETURN(info, shard.FindTerm(*field, std::string_view(key).substr(nul + 1)));
  }
  out->emplace(key, std::move(info));
  return absl::OkStatus();
}

absl::StatusOr<ShardTerms> LookupTerms(const storage::ShardReader& shard,
                                       const std::vector<std::string>& terms,
                                       const std::vector<std::string>& pairs, Deadline* deadline) {
  ShardTerms out;
  for (const auto& key : pairs) {
    std::string_view first, second;
    const bool split =
        storage::SplitPairTerm(std::string_view(key).substr(key.find('\0') + 1), &first, &second);
    if (!split || !shard.IndexesPair(first, second)) continue;
    SCRY_RETURN_IF_ERROR(LookupTerm(shard, key, deadline, &out));
  }
  for (const auto& key : terms) SCRY_RETURN_IF_ERROR(LookupTerm(shard, key, deadline, &out));
  return out;
}

void AddTermStatistics(const ShardTerms& terms, PlanStatistics* stats) {
  for (const auto& [key, info] : terms) {
    if (info.has_value() &&
        !storage::IsPairTerm(std::string_view(key).substr(key.find('\0') + 1))) {
      stats->df[key] += info->df;
    }
  }
}

absl::StatusOr<uint32_t> CountDeletedPostings(const storage::ShardReader& shard, uint8_t field,
                                              std::string_view term, const TermInfo& info,
                                              const DeletedDocs& deleted) {
  storage::PostingCursor cursor(&shard, field, std::string(term), info);
  uint32_t count = 0;
  if (info.df <= deleted.size()) {
    for (uint32_t d = cursor.docid(); d != storage::kEndDocid; cursor.Next(), d = cursor.docid()) {
      count += deleted.Contains(d) ? 1 : 0;
    }
  } else {
    for (const uint32_t d : deleted.docids()) {
      cursor.NextGeq(d);
      if (cursor.docid() == storage::kEndDocid) break;
      count += cursor.docid() == d ? 1 : 0;
    }
  }
  SCRY_RETURN_IF_ERROR(cursor.status());
  return count;
}

absl::Status SubtractDeletedStatistics(const storage::ShardReader& shard, const ShardTerms& terms,
                                       const DeletedDocs& deleted, Deadline* deadline,
                                       PlanStatistics* stats) {
  if (deleted.size() == 0) return absl::OkStatus();
  for (const auto& [key, info] : terms) {
    const size_t nul = key.find('\0');
    const std::string_view term = std::string_view(key).substr(nul + 1);
    if (!info.has_value() || storage::IsPairTerm(term)) continue;
    if (deadline != nullptr && deadline->Expired()) return deadline->status();
    const uint8_t field = *ShardFieldId(shard, std::string_view(key).substr(0, nul));
    SCRY_ASSIGN_OR_RETURN(const uint32_t n,
                          CountDeletedPostings(shard, field, term, *info, deleted));
    stats->df[key] -= n;
  }
  return absl::OkStatus();
}

size_t CursorCount(const QueryNode& node, const ShardTerms& terms) {
  size_t n = 0;
  if (node.kind == QueryNode::Kind::kTerm || node.kind == QueryNode::Kind::kPhrase) {
    for (const auto& t : node.terms) {
      const auto it = terms.find(FieldTermKey(node.field, t));
      if (it != terms.end() && it->second.has_value()) ++n;
    }
  }
  for (const auto* group : {&node.must, &node.should, &node.must_not}) {
    for (const auto& child : *group) n += CursorCount(*child, terms);
  }
  return n;
}

size_t CursorMemoryBytes() { return sizeof(storage::PostingCursor) + 1024; }

absl::Status IndexTermSource::Scan(
    const std::string& field, std::string_view prefix,
    const std::function<bool(std::string_view, uint64_t)>& fn) const {
  std::map<std::string, uint64_t, std::less<>> merged;
  absl::Status inner;
  for (const storage::ShardReader* shard : shards_) {
    const std::optional<uint8_t> id = ShardFieldId(*shard, field);
    if (!id.has_value()) continue;
    size_t seen = 0;
    SCRY_RETURN_IF_ERROR(
        shard->ScanTerms(*id, prefix, [&](std::string_view term, std::string_view info) {
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

}  // namespace scry::query
