// The proto-to-engine mapping (server/convert.h), field by field, with no
// index and no server.
#include "server/convert.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

TEST(ConvertSearchRequest, EveryFieldIsMapped) {
  v1::SearchRequest p;
  p.set_query("fox AND dog");
  p.set_top_k(25);
  p.set_offset(5);
  p.set_default_operator(v1::DEFAULT_OPERATOR_AND);
  p.add_fields("body");
  p.add_fields("*");
  p.set_exact_total_hits(true);
  p.set_pruning(v1::PRUNING_BLOCK_MAX_WAND);
  v1::FieldWeight* title = p.add_search_fields();
  title->set_field("title");
  title->set_weight(2.5);
  p.add_search_fields()->set_field("body");  // weight 0: 1
  p.mutable_search_after()->set_score(1.25);
  p.mutable_search_after()->set_id("d7");
  p.set_explain(true);
  v1::HighlightRequest* h = p.mutable_highlight();
  h->add_fields("title");
  h->set_pre_tag("<b>");
  h->set_post_tag("</b>");
  h->set_fragment_chars(80);
  h->set_max_fragments(2);

  absl::StatusOr<query::SearchRequest> q = FromProto(p);
  ASSERT_THAT(q, IsOk());
  EXPECT_EQ(q->query, "fox AND dog");
  EXPECT_EQ(q->top_k, 25u);
  EXPECT_EQ(q->offset, 5u);
  EXPECT_EQ(q->default_operator, query::DefaultOperator::kAnd);
  EXPECT_THAT(q->fields, ElementsAre("body", "*"));
  EXPECT_TRUE(q->exact_total_hits);
  EXPECT_EQ(q->pruning, query::Pruning::kBlockMaxWand);
  ASSERT_EQ(q->default_fields.size(), 2u);
  EXPECT_EQ(q->default_fields[0].field, "title");
  EXPECT_EQ(q->default_fields[0].weight, 2.5);
  EXPECT_EQ(q->default_fields[1].field, "body");
  EXPECT_EQ(q->default_fields[1].weight, 1.0);
  ASSERT_TRUE(q->search_after.has_value());
  EXPECT_EQ(q->search_after->score, 1.25);
  EXPECT_EQ(q->search_after->id, "d7");
  EXPECT_TRUE(q->explain);
  EXPECT_THAT(q->highlight_fields, ElementsAre("title"));
  EXPECT_EQ(q->highlight.pre_tag, "<b>");
  EXPECT_EQ(q->highlight.post_tag, "</b>");
  EXPECT_EQ(q->highlight.fragment_chars, 80u);
  EXPECT_EQ(q->highlight.max_fragments, 2u);
  // Not in the message: left to the caller.
  EXPECT_EQ(q->deadline, absl::InfiniteFuture());
  EXPECT_FALSE(q->cancelled);
  EXPECT_FALSE(q->ids_only);
}

TEST(ConvertSearchRequest, DefaultsOfAnEmptyMessage) {
  absl::StatusOr<query::SearchRequest> q = FromProto(v1::SearchRequest());
  ASSERT_THAT(q, IsOk());
  const query::SearchRequest d;
  EXPECT_EQ(q->query, "");
  EXPECT_EQ(q->top_k, 0u);  // the engine's default, query::kDefaultTopK
  EXPECT_EQ(q->offset, 0u);
  EXPECT_EQ(q->default_operator, query::DefaultOperator::kOr);
  EXPECT_THAT(q->fields, IsEmpty());
  EXPECT_FALSE(q->exact_total_hits);
  EXPECT_EQ(q->pruning, query::Pruning::kAuto);
  EXPECT_THAT(q->default_fields, IsEmpty());
  EXPECT_FALSE(q->search_after.has_value());
  EXPECT_FALSE(q->explain);
  EXPECT_THAT(q->highlight_fields, IsEmpty());
  EXPECT_EQ(q->highlight.pre_tag, d.highlight.pre_tag);
  EXPECT_EQ(q->highlight.post_tag, d.highlight.post_tag);
  EXPECT_EQ(q->highlight.fragment_chars, d.highlight.fragment_chars);
  EXPECT_EQ(q->highlight.max_fragments, d.highlight.max_fragments);
}

TEST(ConvertSearchRequest, EveryEnumValue) {
  v1::SearchRequest p;
  const std::pair<v1::DefaultOperator, query::DefaultOperator> operators[] = {
      {v1::DEFAULT_OPERATOR_UNSPECIFIED, query::DefaultOperator::kOr},
      {v1::DEFAULT_OPERATOR_OR, query::DefaultOperator::kOr},
      {v1::DEFAULT_OPERATOR_AND, query::DefaultOperator::kAnd}};
  for (const auto& [in, out] : operators) {
    p.set_default_operator(in);
    absl::StatusOr<query::SearchRequest> q = FromProto(p);
    ASSERT_THAT(q, IsOk());
    EXPECT_EQ(q->default_operator, out);
  }
  p.clear_default_operator();
  const std::pair<v1::Pruning, query::Pruning> prunings[] = {
      {v1::PRUNING_AUTO, query::Pruning::kAuto},
      {v1::PRUNING_NONE, query::Pruning::kNone},
      {v1::PRUNING_MAXSCORE, query::Pruning::kMaxScore},
      {v1::PRUNING_BLOCK_MAX_WAND, query::Pruning::kBlockMaxWand}};
  for (const auto& [in, out] : prunings) {
    p.set_pruning(in);
    absl::StatusOr<query::SearchRequest> q = FromProto(p);
    ASSERT_THAT(q, IsOk());
    EXPECT_EQ(q->pruning, out);
  }
}

TEST(ConvertSearchRequest, UnknownEnumValuesAreInvalid) {
  v1::SearchRequest p;
  p.set_default_operator(static_cast<v1::DefaultOperator>(42));
  EXPECT_THAT(FromProto(p),
              StatusIs(absl::StatusCode::kInvalidArgument, "unknown default_operator 42"));
  p.clear_default_operator();
  p.set_pruning(static_cast<v1::Pruning>(9));
  EXPECT_THAT(FromProto(p), StatusIs(absl::StatusCode::kInvalidArgument, "unknown pruning 9"));
}

TEST(ConvertSearchRequest, HighlightDefaultsAndBounds) {
  v1::SearchRequest p;
  p.mutable_highlight();  // present, all defaults: the body
  absl::StatusOr<query::SearchRequest> q = FromProto(p);
  ASSERT_THAT(q, IsOk());
  EXPECT_THAT(q->highlight_fields, ElementsAre("body"));
  EXPECT_EQ(q->highlight.pre_tag, query::HighlightOptions().pre_tag);

  p.mutable_highlight()->set_pre_tag("[");  // one tag given: both taken
  q = FromProto(p);
  ASSERT_THAT(q, IsOk());
  EXPECT_EQ(q->highlight.pre_tag, "[");
  EXPECT_EQ(q->highlight.post_tag, "");

  p.mutable_highlight()->set_fragment_chars(query::kMaxFragmentChars + 1);
  EXPECT_THAT(FromProto(p),
              StatusIs(absl::StatusCode::kInvalidArgument, "fragment_chars must be at most 10000"));
  p.mutable_highlight()->set_fragment_chars(query::kMaxFragmentChars);
  p.mutable_highlight()->set_max_fragments(21);
  EXPECT_THAT(FromProto(p),
              StatusIs(absl::StatusCode::kInvalidArgument, "max_fragments at most 20"));
}

// Tags go around every marked word: each is bounded (query::kMaxTagBytes).
TEST(ConvertSearchRequest, HighlightTagsAreBounded) {
  v1::SearchRequest p;
  p.mutable_highlight()->set_pre_tag(std::string(query::kMaxTagBytes, '<'));
  p.mutable_highlight()->set_post_tag(std::string(query::kMaxTagBytes, '>'));
  absl::StatusOr<query::SearchRequest> q = FromProto(p);
  ASSERT_THAT(q, IsOk());
  EXPECT_EQ(q->highlight.pre_tag.size(), query::kMaxTagBytes);
  p.mutable_highlight()->set_post_tag(std::string(query::kMaxTagBytes + 1, '>'));
  EXPECT_THAT(FromProto(p), StatusIs(absl::StatusCode::kInvalidArgument,
                                     "pre_tag and post_tag must be at most 64 bytes each"));
  p.mutable_highlight()->set_post_tag("");
  p.mutable_highlight()->set_pre_tag(std::string(100 * 1024, '<'));
  EXPECT_THAT(FromProto(p), StatusIs(absl::StatusCode::kInvalidArgument, "got 102400 and 0"));
}

// A field named twice is highlighted once (it would give the same snippets
// twice).
TEST(ConvertSearchRequest, HighlightFieldsAreDeduplicated) {
  v1::SearchRequest p;
  for (const char* name : {"body", "title", "body", "body", "title"}) {
    p.mutable_highlight()->add_fields(name);
  }
  absl::StatusOr<query::SearchRequest> q = FromProto(p);
  ASSERT_THAT(q, IsOk());
  EXPECT_THAT(q->highlight_fields, ElementsAre("body", "title"));
}

query::SearchResult SampleResult() {
  query::SearchResult r;
  query::SearchHit hit;
  hit.id = "d1";
  hit.score = 3.5;
  hit.title = "The fox";
  hit.fields = {{"body", "a quick fox"}, {"tags", "animal"}};
  hit.snippets = {{"body", {"a quick <em>fox</em>", "two"}}};
  query::TermExplanation e;
  e.field = "title";
  e.term = "fox";
  e.weight = 2;
  e.tf = 1;
  e.df = 4;
  e.docs = 100;
  e.idf = 3.1;
  e.doc_length = 7;
  e.avg_doc_length = 9.5;
  e.score = 3.5;
  hit.explanation = {e};
  r.hits.push_back(hit);
  query::SearchHit bare;
  bare.id = "d2";
  bare.score = 1;
  r.hits.push_back(bare);
  r.total_hits = 42;
  r.total_hits_is_lower_bound = true;
  r.expansions_truncated = true;
  r.postings_scored = 5;  // for benchmarks; not in the API
  r.postings_total = 9;
  return r;
}

TEST(ConvertSearchResponse, EveryFieldIsMapped) {
  v1::SearchResponse p;
  ToProto(SampleResult(), /*explain=*/true, &p);
  EXPECT_EQ(p.total_hits(), 42u);
  EXPECT_TRUE(p.total_hits_is_lower_bound());
  EXPECT_TRUE(p.expansions_truncated());
  EXPECT_EQ(p.took_micros(), 0u);  // the caller's
  ASSERT_EQ(p.hits_size(), 2);
  const v1::Hit& h = p.hits(0);
  EXPECT_EQ(h.id(), "d1");
  EXPECT_EQ(h.score(), 3.5);
  EXPECT_EQ(h.title(), "The fox");
  EXPECT_THAT(h.fields(),
              UnorderedElementsAre(Pair("body", "a quick fox"), Pair("tags", "animal")));
  ASSERT_EQ(h.snippets_size(), 1);
  EXPECT_EQ(h.snippets(0).field(), "body");
  EXPECT_THAT(h.snippets(0).fragments(), ElementsAre("a quick <em>fox</em>", "two"));
  ASSERT_TRUE(h.has_explanation());
  EXPECT_EQ(h.explanation().score(), 3.5);
  ASSERT_EQ(h.explanation().terms_size(), 1);
  const v1::TermExplanation& t = h.explanation().terms(0);
  EXPECT_EQ(t.field(), "title");
  EXPECT_EQ(t.term(), "fox");
  EXPECT_EQ(t.weight(), 2);
  EXPECT_EQ(t.tf(), 1);
  EXPECT_EQ(t.df(), 4u);
  EXPECT_EQ(t.docs(), 100u);
  EXPECT_EQ(t.idf(), 3.1);
  EXPECT_EQ(t.doc_length(), 7u);
  EXPECT_EQ(t.avg_doc_length(), 9.5);
  EXPECT_EQ(t.score(), 3.5);
  // A hit with nothing but an id and a score, explained: an empty breakdown.
  const v1::Hit& b = p.hits(1);
  EXPECT_EQ(b.id(), "d2");
  EXPECT_EQ(b.score(), 1);
  EXPECT_EQ(b.title(), "");
  EXPECT_THAT(b.fields(), IsEmpty());
  EXPECT_THAT(b.snippets(), IsEmpty());
  ASSERT_TRUE(b.has_explanation());
  EXPECT_EQ(b.explanation().score(), 1);
  EXPECT_THAT(b.explanation().terms(), IsEmpty());
}

TEST(ConvertSearchResponse, NoExplanationUnlessAsked) {
  v1::SearchResponse p;
  ToProto(SampleResult(), /*explain=*/false, &p);
  ASSERT_EQ(p.hits_size(), 2);
  EXPECT_FALSE(p.hits(0).has_explanation());
  EXPECT_FALSE(p.hits(1).has_explanation());
}

TEST(ConvertGetDocument, RequestAndResponse) {
  v1::GetDocumentRequest p;
  EXPECT_THAT(FromProto(p), StatusIs(absl::StatusCode::kInvalidArgument, "id must not be empty"));
  p.set_id("d9");
  absl::StatusOr<std::string> id = FromProto(p);
  ASSERT_THAT(id, IsOk());
  EXPECT_EQ(*id, "d9");

  v1::GetDocumentResponse r;
  ToProto(query::Document{"d9", {{"title", "T"}, {"body", "B"}}}, &r);
  EXPECT_EQ(r.id(), "d9");
  EXPECT_THAT(r.fields(), UnorderedElementsAre(Pair("title", "T"), Pair("body", "B")));
}

TEST(ConvertStats, EveryFieldIsMappedAndSummed) {
  query::IndexInfo info;
  info.generation_path = "/idx/gen-000001";  // not in the API
  info.generation = "gen-000001";
  info.language = "english";
  info.stopwords = true;
  info.num_shards = 2;
  info.docs = 30;
  info.fields = {"body", "title"};
  const std::vector<query::ShardInfo> shards = {{0, 10, 100, 1000, {{"terms", 7}, {"postings", 8}}},
                                                {1, 20, 200, 2000, {{"terms", 1}, {"docs", 2}}}};
  v1::StatsResponse r;
  ToProto(info, shards, &r);
  EXPECT_EQ(r.docs(), 30u);
  EXPECT_EQ(r.terms(), 300u);
  EXPECT_EQ(r.postings(), 3000u);
  EXPECT_EQ(r.bytes_on_disk(), 18u);
  EXPECT_EQ(r.language(), "english");
  EXPECT_TRUE(r.stopwords());
  EXPECT_EQ(r.generation(), "gen-000001");
  EXPECT_THAT(r.fields(), ElementsAre("body", "title"));
  ASSERT_EQ(r.shards_size(), 2);
  EXPECT_EQ(r.shards(1).shard(), 1u);
  EXPECT_EQ(r.shards(1).docs(), 20u);
  EXPECT_EQ(r.shards(1).terms(), 200u);
  EXPECT_EQ(r.shards(1).postings(), 2000u);
  EXPECT_THAT(r.shards(0).bytes_per_column_family(),
              UnorderedElementsAre(Pair("terms", 7u), Pair("postings", 8u)));
  // The server's own: left to it.
  EXPECT_THAT(r.methods(), IsEmpty());
  EXPECT_EQ(r.searches_in_flight(), 0u);
  EXPECT_EQ(r.reloads(), 0u);
}

}  // namespace
}  // namespace scry::server
