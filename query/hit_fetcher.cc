// File: query/hit_fetcher.cc
#include "query/hit_fetcher.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "query/deadline.h"
#include "query/highlighter.h"
#include "query/shard_search.h"
#include "storage/posting_cursor.h"
#include "storage/status.h"

namespace scry::query {
namespace {

using storage::TermInfo;

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

// The BM25 breakdown of document `docid` of query.shard(): one entry per
// scoring leaf that matches it.
std::vector<TermExplanation> Explain(const ShardQuery& query, uint32_t docid) {
  const QueryPlan& plan = query.plan();
  std::vector<TermExplanation> out;
  ForEachScoringLeaf(*plan.root, [&](const QueryNode& leaf) {
    std::unique_ptr<Scorer> scorer = query.Build(leaf);
    if (scorer == nullptr) return;
    scorer->NextGeq(docid);
    if (scorer->docid() != docid) return;
    TermExplanation e;
    e.field = leaf.field;
    e.term = absl::StrJoin(leaf.terms, " ");
    e.weight = leaf.boost;
    e.tf = scorer->Freq();
    e.docs = plan.stats.docs;
    for (const auto& t : leaf.terms) e.idf += plan.idf.at(FieldTermKey(leaf.field, t));
    if (leaf.kind == QueryNode::Kind::kTerm) {
      e.df = plan.stats.df.at(FieldTermKey(leaf.field, leaf.terms[0]));
    }
    const uint8_t field = *ShardFieldId(query.shard(), leaf.field);
    e.doc_length = query.shard().doc_length(field, docid);
    e.avg_doc_length = query.context().Of(field).avgdl();
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

// A stored document's fields by index, alike for a decoded document (the
// one-by-one path) and one viewed in place (the batch path).
size_t FieldCount(const storage::StoredDocument& doc) { return doc.fields.size(); }
size_t FieldCount(const storage::StoredDocumentView& doc) { return doc.fields().size(); }
std::string_view FieldName(const storage::StoredDocument& doc, size_t i) {
  return doc.fields[i].first;
}
std::string_view FieldName(const storage::StoredDocumentView& doc, size_t i) {
  return doc.fields()[i].name;
}
std::string_view FieldValue(const storage::StoredDocument& doc, size_t i) {
  return doc.fields[i].second;
}
std::string_view FieldValue(const storage::StoredDocumentView& doc, size_t i) {
  return doc.fields()[i].value;
}

// The stored fields, title and snippets of `hit` (document `docid` of
// `shard`, stored as `doc`).
template <typename Document>
absl::Status FetchStored(const QueryPlan& plan, const SearchRequest& request,
                         const storage::ShardReader& shard, uint32_t docid, const Document& doc,
                         analysis::Analyzer* analyzer, SearchHit* hit) {
  hit->title = std::string(doc.Field("title"));
  const size_t n = FieldCount(doc);
  for (const std::string& name : request.highlight_fields) {
    size_t index = 0;
    while (index < n && FieldName(doc, index) != name) ++index;
    if (index == n) continue;
    const std::string_view text = FieldValue(doc, index);
    const absl::flat_hash_set<std::string> terms = TermsForField(*plan.root, name);
    const std::vector<std::string> term_list(terms.begin(), terms.end());
    SCRY_ASSIGN_OR_RETURN(auto positions,
                          MatchPositions(shard, docid, name, text, term_list, analyzer));
    // By term, so that a window with a rare term beats a run of a common one.
    std::vector<std::string> fragments = HighlightByTerm(text, doc.Checkpoints(index), positions,
                                                         terms, request.highlight, analyzer);
    if (!fragments.empty()) hit->snippets.emplace_back(name, std::move(fragments));
  }
  const bool all_fields =
      std::find(request.fields.begin(), request.fields.end(), "*") != request.fields.end();
  for (size_t i = 0; i < n; ++i) {
    const std::string_view name = FieldName(doc, i);
    if (all_fields ||
        std::find(request.fields.begin(), request.fields.end(), name) != request.fields.end()) {
      hit->fields.emplace_back(name, FieldValue(doc, i));
    }
  }
  return absl::OkStatus();
}

// About the bytes `hit` takes in a response: its strings, and a little for
// each string's and number's encoding (a protobuf tag and length, a double).
size_t ResponseBytes(const SearchHit& hit) {
  size_t n = 32 + hit.id.size() + hit.title.size();
  for (const auto& [name, value] : hit.fields) n += 16 + name.size() + value.size();
  for (const auto& [name, fragments] : hit.snippets) {
    n += 16 + name.size();
    for (const std::string& f : fragments) n += 8 + f.size();
  }
  for (const TermExplanation& e : hit.explanation) n += 96 + e.field.size() + e.term.size();
  return n;
}

std::atomic<bool> one_by_one_for_testing{false};

}  // namespace

absl::StatusOr<std::vector<SearchHit>> FetchHits(
    const QueryPlan& plan, const SearchRequest& request,
    std::span<const storage::ShardReader* const> shards, std::span<const ShardHit> page,
    const AnalyzerPool& analyzers) {
  // Snippets analyse text around the matches: one analyzer for the page.
  std::unique_ptr<analysis::Analyzer, std::function<void(analysis::Analyzer*)>> analyzer(
      request.highlight_fields.empty() ? nullptr : analyzers.Acquire().release(),
      [&analyzers](analysis::Analyzer* a) {
        if (a != nullptr) analyzers.Release(std::unique_ptr<analysis::Analyzer>(a));
      });
  if (!request.highlight_fields.empty() && analyzer == nullptr) {
    return absl::ResourceExhaustedError("cannot create an analyzer");
  }
  // Explanations score again: the plan's terms of each shard on the page,
  // looked up once.
  std::vector<std::optional<ShardTerms>> terms(request.explain ? shards.size() : 0);
  // A hit needs its stored document for fields, snippets, or a title in a
  // shard that keeps none apart (before format 6).
  // (The one-by-one path of the tests reads every title from the documents.)
  const bool one_by_one = one_by_one_for_testing.load(std::memory_order_relaxed);
  const bool more_than_titles =
      one_by_one || !request.fields.empty() || !request.highlight_fields.empty();
  auto needs_document = [&](const storage::ShardReader& shard) {
    return !request.ids_only && (more_than_titles || !shard.has_titles());
  };
  // The stored documents of the page: one batch per shard, in docid order.
  bool batch = false;
  if (!one_by_one) {
    for (const ShardHit& c : page) batch = batch || needs_document(*shards[c.shard]);
  }
  std::vector<storage::PinnedDocuments> stored(batch ? shards.size() : 0);
  std::vector<size_t> slot(batch ? page.size() : 0);  // of each hit in stored[its shard]
  if (batch) {
    std::vector<std::pair<uint32_t, size_t>> order;  // (shard, hit) of the page, sorted
    order.reserve(page.size());
    for (size_t i = 0; i < page.size(); ++i) {
      if (needs_document(*shards[page[i].shard])) order.emplace_back(page[i].shard, i);
    }
    std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : page[a.second].docid < page[b.second].docid;
    });
    std::vector<uint32_t> docids;
    for (size_t begin = 0, end = 0; begin < order.size(); begin = end) {
      const uint32_t s = order[begin].first;
      docids.clear();
      for (end = begin; end < order.size() && order[end].first == s; ++end) {
        slot[order[end].second] = end - begin;
        docids.push_back(page[order[end].second].docid);
      }
      stored[s] = shards[s]->GetDocuments(docids);
    }
  }
  std::vector<SearchHit> hits;
  hits.reserve(page.size());
  // A hit can take long (snippets, explanations): the deadline is asked
  // before each one.
  Deadline deadline(request.deadline, request.cancelled);
  size_t response_bytes = 0;
  for (size_t i = 0; i < page.size(); ++i) {
    if (deadline.ExpiredNow()) return deadline.status();
    const ShardHit& c = page[i];
    const storage::ShardReader& shard = *shards[c.shard];
    SearchHit hit;
    hit.id = std::string(shard.external_id(c.docid));
    hit.score = c.score;
    if (request.explain) {
      if (!terms[c.shard].has_value()) {
        SCRY_ASSIGN_OR_RETURN(terms[c.shard], LookupTerms(shard, plan.terms, plan.pairs, nullptr));
      }
      const ShardQuery query(plan, &shard, &*terms[c.shard], nullptr);
      hit.explanation = Explain(query, c.docid);
    }
    if (!needs_document(shard)) {
      if (!request.ids_only) hit.title = std::string(shard.title(c.docid));
    } else if (batch) {
      SCRY_ASSIGN_OR_RETURN(const storage::StoredDocumentView doc, stored[c.shard].Get(slot[i]));
      SCRY_RETURN_IF_ERROR(FetchStored(plan, request, shard, c.docid, doc, analyzer.get(), &hit));
    } else {
      SCRY_ASSIGN_OR_RETURN(const storage::StoredDocument doc, shard.GetDocument(c.docid));
      SCRY_RETURN_IF_ERROR(FetchStored(plan, request, shard, c.docid, doc, analyzer.get(), &hit));
    }
    response_bytes += ResponseBytes(hit);
    if (request.max_response_bytes > 0 && response_bytes > request.max_response_bytes) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "response too large: the first %u hits already take more than %.1f MiB (the limit of "
          "one response); ask for fewer hits or fields, or fewer and shorter snippets",
          i + 1, static_cast<double>(request.max_response_bytes) / (1 << 20)));
    }
    hits.push_back(std::move(hit));
  }
  return hits;
}

namespace internal {
void SetFetchOneByOneForTesting(bool one_by_one) {
  one_by_one_for_testing.store(one_by_one, std::memory_order_relaxed);
}
}  // namespace internal

}  // namespace scry::query
