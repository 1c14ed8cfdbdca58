// File: server/convert.cc
#include "server/convert.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "query/planner.h"

namespace scry::server {

absl::StatusOr<query::SearchRequest> FromProto(const v1::SearchRequest& request) {
  query::SearchRequest q;
  q.query = request.query();
  q.top_k = request.top_k();  // 0: query::kDefaultTopK
  q.offset = request.offset();
  switch (request.default_operator()) {
    case v1::DEFAULT_OPERATOR_UNSPECIFIED:
    case v1::DEFAULT_OPERATOR_OR:
      q.default_operator = query::DefaultOperator::kOr;
      break;
    case v1::DEFAULT_OPERATOR_AND:
      q.default_operator = query::DefaultOperator::kAnd;
      break;
    default:  // an enum value this server does not know (proto3 keeps it)
      return absl::InvalidArgumentError(
          absl::StrCat("unknown default_operator ", static_cast<int>(request.default_operator())));
  }
  q.fields.assign(request.fields().begin(), request.fields().end());
  q.exact_total_hits = request.exact_total_hits();
  switch (request.pruning()) {
    case v1::PRUNING_AUTO:
      q.pruning = query::Pruning::kAuto;
      break;
    case v1::PRUNING_NONE:
      q.pruning = query::Pruning::kNone;
      break;
    case v1::PRUNING_MAXSCORE:
      q.pruning = query::Pruning::kMaxScore;
      break;
    case v1::PRUNING_BLOCK_MAX_WAND:
      q.pruning = query::Pruning::kBlockMaxWand;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown pruning ", static_cast<int>(request.pruning())));
  }
  for (const v1::FieldWeight& f : request.search_fields()) {
    q.default_fields.push_back({f.field(), f.weight() == 0 ? 1.0 : f.weight()});
  }
  if (request.has_search_after()) {
    const v1::SearchAfter& after = request.search_after();
    q.search_after = query::SearchRequest::After{
        after.score(), after.id(), {after.sort_values().begin(), after.sort_values().end()}};
  }
  for (const v1::SortField& f : request.sort()) q.sort.push_back({f.field(), f.descending()});
  q.explain = request.explain();
  q.filter = request.filter();
  for (const v1::FacetRequest& f : request.facets()) {
    q.facets.push_back(
        query::FacetRequest{f.field(), f.size(), {f.ranges().begin(), f.ranges().end()}});
  }
  q.facet_all_values = request.facet_all_values();
  q.ids_only = request.ids_only();
  q.min_competitive_score = request.min_competitive_score();
  for (const v1::FetchHit& hit : request.fetch()) q.fetch.push_back({hit.id(), hit.score()});
  if (request.has_statistics()) {
    q.statistics = std::make_shared<const query::PlanStatistics>(FromProto(request.statistics()));
  }
  if (request.has_highlight()) {
    const v1::HighlightRequest& h = request.highlight();
    if (h.fragment_chars() > query::kMaxFragmentChars || h.max_fragments() > 20) {
      return absl::InvalidArgumentError(absl::StrCat("highlight: fragment_chars must be at most ",
                                                     query::kMaxFragmentChars,
                                                     " and max_fragments at most 20"));
    }
    if (h.pre_tag().size() > query::kMaxTagBytes || h.post_tag().size() > query::kMaxTagBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("highlight: pre_tag and post_tag must be at most ", query::kMaxTagBytes,
                       " bytes each, got ", h.pre_tag().size(), " and ", h.post_tag().size()));
    }
    // Each field once: a field named twice would be highlighted twice.
    for (const std::string& name : h.fields()) {
      if (std::find(q.highlight_fields.begin(), q.highlight_fields.end(), name) ==
          q.highlight_fields.end()) {
        q.highlight_fields.push_back(name);
      }
    }
    if (q.highlight_fields.empty()) q.highlight_fields.push_back("body");
    if (!h.pre_tag().empty() || !h.post_tag().empty()) {
      q.highlight.pre_tag = h.pre_tag();
      q.highlight.post_tag = h.post_tag();
    }
    if (h.fragment_chars() != 0) q.highlight.fragment_chars = h.fragment_chars();
    if (h.max_fragments() != 0) q.highlight.max_fragments = h.max_fragments();
  }
  return q;
}

void ToProto(query::SearchResult result, bool explain, v1::SearchResponse* response) {
  response->mutable_hits()->Reserve(static_cast<int>(result.hits.size()));
  for (query::SearchHit& hit : result.hits) {
    v1::Hit* out = response->add_hits();
    out->set_id(std::move(hit.id));
    out->set_score(hit.score);
    out->set_title(std::move(hit.title));
    auto& fields = *out->mutable_fields();
    for (auto& [name, value] : hit.fields) fields[name] = std::move(value);
    for (auto& value : hit.sort_values) out->add_sort_values(std::move(value));
    for (auto& [name, fragments] : hit.snippets) {
      v1::Snippet* snippet = out->add_snippets();
      snippet->set_field(name);
      for (auto& f : fragments) snippet->add_fragments(std::move(f));
    }
    if (explain) {
      v1::Explanation* explanation = out->mutable_explanation();
      explanation->set_score(hit.score);
      for (const query::TermExplanation& e : hit.explanation) {
        v1::TermExplanation* t = explanation->add_terms();
        t->set_field(e.field);
        t->set_term(e.term);
        t->set_weight(e.weight);
        t->set_tf(e.tf);
        t->set_df(e.df);
        t->set_docs(e.docs);
        t->set_idf(e.idf);
        t->set_doc_length(e.doc_length);
        t->set_avg_doc_length(e.avg_doc_length);
        t->set_score(e.score);
      }
    }
  }
  response->set_total_hits(result.total_hits);
  response->set_expansions_truncated(result.expansions_truncated);
  response->set_total_hits_is_lower_bound(result.total_hits_is_lower_bound);
  for (const query::FacetResult& facet : result.facets) {
    v1::FacetResult* out = response->add_facets();
    out->set_field(facet.field);
    out->set_values(facet.values);
    for (const query::FacetCount& c : facet.counts) {
      v1::FacetCount* count = out->add_counts();
      count->set_value(c.value);
      count->set_count(c.count);
    }
  }
}

absl::StatusOr<std::string> FromProto(const v1::GetDocumentRequest& request) {
  if (request.id().empty()) return absl::InvalidArgumentError("id must not be empty");
  return request.id();
}

void ToProto(query::Document doc, v1::GetDocumentResponse* response) {
  response->set_id(std::move(doc.id));
  auto& fields = *response->mutable_fields();
  for (auto& [name, value] : doc.fields) fields[name] = std::move(value);
}

void ToProto(const query::IndexInfo& info, const std::vector<query::ShardInfo>& shards,
             v1::StatsResponse* response) {
  uint64_t docs = 0, terms = 0, postings = 0, bytes = 0;
  for (const query::ShardInfo& shard : shards) {
    v1::ShardStats* out = response->add_shards();
    out->set_shard(shard.shard);
    out->set_docs(shard.docs);
    out->set_terms(shard.terms);
    out->set_postings(shard.postings);
    auto& per_cf = *out->mutable_bytes_per_column_family();
    for (const auto& [cf, cf_bytes] : shard.bytes_per_column_family) {
      per_cf[cf] = cf_bytes;
      bytes += cf_bytes;
    }
    docs += shard.docs;
    terms += shard.terms;
    postings += shard.postings;
  }
  response->set_docs(docs);
  response->set_terms(terms);
  response->set_postings(postings);
  response->set_bytes_on_disk(bytes);
  response->set_language(info.language);
  response->set_stopwords(info.stopwords);
  response->set_generation(info.generation);
  for (const std::string& f : info.fields) response->add_fields(f);
  for (const auto& [name, type] : info.typed_fields) {
    v1::TypedField* typed = response->add_typed_fields();
    typed->set_name(name);
    typed->set_type(type);
  }
}

query::PlanStatistics FromProto(const v1::Statistics& statistics) {
  query::PlanStatistics stats;
  stats.docs = statistics.docs();
  stats.total_length = statistics.total_length();
  for (const auto& [name, length] : statistics.field_lengths()) {
    stats.field_lengths[name] = length;
  }
  for (const v1::TermFrequency& t : statistics.terms()) {
    stats.df[query::FieldTermKey(t.field(), t.term())] += t.df();
  }
  return stats;
}

void ToProto(const query::PlanStatistics& stats, v1::Statistics* out) {
  out->set_docs(stats.docs);
  out->set_total_length(stats.total_length);
  for (const auto& [name, length] : stats.field_lengths)
    (*out->mutable_field_lengths())[name] = length;
  for (const auto& [key, df] : stats.df) {
    const size_t nul = key.find('\0');
    v1::TermFrequency* t = out->add_terms();
    t->set_field(key.substr(0, nul));
    t->set_term(key.substr(nul + 1));
    t->set_df(df);
  }
}

}  // namespace scry::server
