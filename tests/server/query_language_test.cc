// File: tests/server/query_language_test.cc
//
// The query language and result features of issue 6, through a real gRPC
// server on 127.0.0.1 over real on-disk indexes: field scoping, boosts and
// per-request field weights, prefix and fuzzy expansion (and its limit),
// sloppy phrases with Lucene's slop (a transposition costs 2), search_after
// deep paging, explanations, snippets, and indexes in German and Russian
// (with stopwords).
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/server.h"
#include "tests/server/raw_call.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Doc {
  std::string id, title, body;
};

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

const std::vector<Doc>& EnglishCorpus() {
  static const auto* corpus = new std::vector<Doc>{
      {"e1", "Security policy", "The cooperation of nations is essential for peace."},
      {"e2", "Peace treaty", "A european treaty about security and cooperating states."},
      {"e3", "Medvedev visits", "President Medvedev met the treaty delegation in Moscow."},
      {"e4", "Garden notes", "Treaty european style: the treaty was european, the garden green."},
      {"e5", "Treaty archive", "Old treaty texts, a treaty index and treaty maps."},
  };
  return *corpus;
}

class QueryLanguageTest : public ::testing::Test {
 protected:
  // Builds `docs` into a new index and serves it.
  void Serve(const std::vector<Doc>& docs, const std::string& language, bool stopwords,
             query::ExpansionOptions expansion = {}) {
    std::string jsonl;
    for (const Doc& d : docs) {
      jsonl += "{\"id\":" + JsonString(d.id) + ",\"title\":" + JsonString(d.title) +
               ",\"body\":" + JsonString(d.body) + "}\n";
    }
    const std::string input = tmp_.Sub("input.jsonl");
    scry::testing::WriteFile(input, jsonl);
    indexer::BuildOptions build;
    build.inputs = {input};
    build.index_dir = tmp_.Sub("index");
    build.num_shards = 2;
    build.language = language;
    build.stopwords = stopwords;
    ASSERT_TRUE(indexer::BuildIndex(build).ok());
    ServerOptions options;
    options.index_dir = build.index_dir;
    options.listen = "127.0.0.1:0";
    options.searcher.expansion = expansion;
    auto server = Server::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = scry::testing::LoopbackStub(server_->port());
  }

  grpc::Status Search(const v1::SearchRequest& request, v1::SearchResponse* response) {
    grpc::ClientContext context;
    return stub_->Search(&context, request, response);
  }

  // The ids of the hits of `query` (top 100), in rank order; the status
  // message if the search failed.
  std::vector<std::string> Ids(const std::string& query) {
    v1::SearchRequest request;
    request.set_query(query);
    request.set_top_k(100);
    v1::SearchResponse response;
    grpc::Status status = Search(request, &response);
    if (!status.ok()) return {"error: " + status.error_message()};
    std::vector<std::string> ids;
    for (const auto& hit : response.hits()) ids.push_back(hit.id());
    return ids;
  }

  TempDir tmp_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::SearchService::Stub> stub_;
};

TEST_F(QueryLanguageTest, FieldScopesAndUnknownFields) {
  Serve(EnglishCorpus(), "english", false);
  EXPECT_THAT(Ids("title:security"), ElementsAre("e1"));
  EXPECT_THAT(Ids("body:security"), ElementsAre("e2"));
  EXPECT_EQ(Ids("security").size(), 2u);
  EXPECT_THAT(Ids("title:(peace treaty)"), ElementsAre("e2", "e5"));
  EXPECT_THAT(Ids("title:\"peace treaty\""), ElementsAre("e2"));
  EXPECT_THAT(Ids("+treaty -title:treaty -body:european"), ElementsAre("e3"));
  EXPECT_THAT(Ids("nosuch:peace"),
              ElementsAre("error: column 1: unknown field 'nosuch'; the index has body, title"));
  EXPECT_THAT(Ids("peace title:"), ElementsAre("error: column 7: missing term after 'title:'"));
  v1::StatsResponse stats;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->Stats(&context, v1::StatsRequest(), &stats).ok());
  EXPECT_THAT(stats.fields(), ElementsAre("body", "title"));
  EXPECT_FALSE(stats.stopwords());
}

TEST_F(QueryLanguageTest, BoostsAndSearchFieldsAddPerFieldScores) {
  Serve(EnglishCorpus(), "english", false);
  // In the catch-all, e2 (security in a longer text) ranks after e1.
  v1::SearchRequest request;
  request.set_query("security");
  request.set_explain(true);
  v1::SearchResponse plain;
  ASSERT_TRUE(Search(request, &plain).ok());
  ASSERT_EQ(plain.hits_size(), 2);
  // Body weighted 5, title 1: e2 (security in its body) comes first.
  request.add_search_fields()->set_field("title");
  v1::FieldWeight* body = request.add_search_fields();
  body->set_field("body");
  body->set_weight(5);
  v1::SearchResponse weighted;
  ASSERT_TRUE(Search(request, &weighted).ok());
  ASSERT_EQ(weighted.hits_size(), 2);
  EXPECT_EQ(weighted.hits(0).id(), "e2");
  // The explanation: one term in one field each, its score the hit's.
  for (const auto& hit : weighted.hits()) {
    ASSERT_EQ(hit.explanation().terms_size(), 1) << hit.id();
    const v1::TermExplanation& t = hit.explanation().terms(0);
    EXPECT_EQ(t.term(), "secur");
    EXPECT_EQ(t.field(), hit.id() == "e2" ? "body" : "title");
    EXPECT_EQ(t.weight(), hit.id() == "e2" ? 5.0 : 1.0);
    EXPECT_EQ(t.tf(), 1.0);
    EXPECT_EQ(t.df(), 1u);
    EXPECT_EQ(t.docs(), 5u);
    EXPECT_NEAR(t.idf(), std::log(1 + (5 - 1 + 0.5) / (1 + 0.5)), 1e-12);
    const double norm = 1.2 * (1 - 0.75 + 0.75 * t.doc_length() / t.avg_doc_length());
    EXPECT_NEAR(t.score(), t.weight() * t.idf() * 2.2 / (1 + norm), 1e-12);
    EXPECT_DOUBLE_EQ(hit.explanation().score(), hit.score());
    EXPECT_NEAR(t.score(), hit.score(), 1e-12);
  }
  // A query-time boost multiplies the score.
  v1::SearchRequest boosted;
  boosted.set_query("security^3");
  v1::SearchResponse three;
  ASSERT_TRUE(Search(boosted, &three).ok());
  ASSERT_EQ(three.hits_size(), 2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(three.hits(i).id(), plain.hits(i).id());
    EXPECT_NEAR(three.hits(i).score(), 3 * plain.hits(i).score(), 1e-12);
  }
  // An unknown search field is an error.
  request.mutable_search_fields(0)->set_field("nosuch");
  v1::SearchResponse bad;
  grpc::Status status = Search(request, &bad);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("default field 'nosuch'"));
}

TEST_F(QueryLanguageTest, PrefixAndFuzzyExpansion) {
  Serve(EnglishCorpus(), "english", false, query::ExpansionOptions{2, 50});
  EXPECT_THAT(Ids("secur*"), ::testing::UnorderedElementsAre("e1", "e2"));
  // "cooperation" and "cooperating" both stem to "cooper".
  EXPECT_THAT(Ids("Cooperat*"), ElementsAre());  // prefixes match stems, not words
  EXPECT_THAT(Ids("coop*"), ::testing::UnorderedElementsAre("e1", "e2"));
  EXPECT_THAT(Ids("title:medv*"), ElementsAre("e3"));
  EXPECT_THAT(Ids("medvedv~1"), ElementsAre("e3"));
  EXPECT_THAT(Ids("medevdev~1"), ElementsAre("e3"));  // a transposition is one edit
  EXPECT_THAT(Ids("mdvdv~2"), ElementsAre());
  EXPECT_THAT(Ids("medvedv~0"), ElementsAre());
  // "t*" matches more than two terms: the two most frequent are kept.
  v1::SearchRequest request;
  request.set_query("t*");
  v1::SearchResponse response;
  ASSERT_TRUE(Search(request, &response).ok());
  EXPECT_TRUE(response.expansions_truncated());
  request.set_query("secur*");
  ASSERT_TRUE(Search(request, &response).ok());
  EXPECT_FALSE(response.expansions_truncated());
}

TEST_F(QueryLanguageTest, PhraseSlopIsLuceneEditDistanceOfPositions) {
  Serve(EnglishCorpus(), "english", false);
  EXPECT_THAT(Ids("\"european treaty\""), ElementsAre("e2"));
  // e4 has "treaty european": the swap of two words costs 2.
  EXPECT_THAT(Ids("\"european treaty\"~1"), ElementsAre("e2"));
  EXPECT_THAT(Ids("\"european treaty\"~2"), ElementsAre("e2", "e4"));
  // e3: "medvedev met the treaty": treaty is two moves from where the
  // phrase wants it.
  EXPECT_THAT(Ids("\"medvedev treaty\"~1"), ElementsAre());
  EXPECT_THAT(Ids("\"medvedev treaty\"~2"), ElementsAre("e3"));
  EXPECT_THAT(Ids("body:\"medvedev treaty\"~2"), ElementsAre("e3"));
  EXPECT_THAT(Ids("title:\"medvedev treaty\"~2"), ElementsAre());
}

TEST_F(QueryLanguageTest, SearchAfterPagesThroughTheRanking) {
  Serve(EnglishCorpus(), "english", false);
  v1::SearchRequest request;
  request.set_query("treaty OR peace OR the");
  request.set_top_k(100);
  v1::SearchResponse all;
  ASSERT_TRUE(Search(request, &all).ok());
  ASSERT_GE(all.hits_size(), 4);
  request.set_top_k(2);
  std::vector<std::string> paged;
  for (int page = 0; page < 10; ++page) {
    v1::SearchResponse response;
    ASSERT_TRUE(Search(request, &response).ok());
    if (response.hits_size() == 0) break;
    for (const auto& hit : response.hits()) paged.push_back(hit.id());
    const auto& last = response.hits(response.hits_size() - 1);
    request.mutable_search_after()->set_score(last.score());
    request.mutable_search_after()->set_id(last.id());
  }
  std::vector<std::string> want;
  for (const auto& hit : all.hits()) want.push_back(hit.id());
  EXPECT_EQ(paged, want);
}

TEST_F(QueryLanguageTest, SnippetsMarkSurfaceWords) {
  Serve(EnglishCorpus(), "english", false);
  v1::SearchRequest request;
  request.set_query("cooperating peace");
  request.mutable_highlight();  // defaults: body, <em></em>, 160 characters, one fragment
  v1::SearchResponse response;
  ASSERT_TRUE(Search(request, &response).ok());
  std::map<std::string, std::string> fragments;
  for (const auto& hit : response.hits()) {
    ASSERT_LE(hit.snippets_size(), 1);
    if (hit.snippets_size() == 1) {
      EXPECT_EQ(hit.snippets(0).field(), "body");
      ASSERT_EQ(hit.snippets(0).fragments_size(), 1);
      fragments[hit.id()] = hit.snippets(0).fragments(0);
    }
  }
  EXPECT_EQ(fragments["e1"],
            "The <em>cooperation</em> of nations is essential for <em>peace</em>.");
  EXPECT_EQ(fragments["e2"], "A european treaty about security and <em>cooperating</em> states.");
  request.mutable_highlight()->set_pre_tag("[");
  request.mutable_highlight()->set_post_tag("]");
  request.mutable_highlight()->add_fields("title");
  ASSERT_TRUE(Search(request, &response).ok());
  bool title_seen = false;
  for (const auto& hit : response.hits()) {
    for (const auto& snippet : hit.snippets()) {
      if (snippet.field() == "title") {
        EXPECT_EQ(hit.id(), "e2");
        EXPECT_EQ(snippet.fragments(0), "[Peace] treaty");
        title_seen = true;
      }
    }
  }
  EXPECT_TRUE(title_seen);
}

TEST_F(QueryLanguageTest, SnippetOfALongDocumentIsAroundTheMatch) {
  std::string body;
  for (int i = 0; i < 5000; ++i) body += "filler" + std::to_string(i) + " ";
  body += "a rare zebra crossing here.";
  Serve({{"long", "Long", body}, {"short", "Short", "zebra"}}, "english", false);
  v1::SearchRequest request;
  request.set_query("zebra");
  request.mutable_highlight()->set_fragment_chars(40);
  v1::SearchResponse response;
  ASSERT_TRUE(Search(request, &response).ok());
  ASSERT_EQ(response.hits_size(), 2);
  for (const auto& hit : response.hits()) {
    ASSERT_EQ(hit.snippets_size(), 1) << hit.id();
    const std::string& fragment = hit.snippets(0).fragments(0);
    EXPECT_THAT(fragment, HasSubstr("<em>zebra</em>"));
    if (hit.id() == "long") {
      EXPECT_EQ(fragment, "a rare <em>zebra</em> crossing here.");
      EXPECT_LE(fragment.size(), 40u + 9u);  // the tags are not counted
    }
  }
}

TEST_F(QueryLanguageTest, GermanWithStopwords) {
  Serve({{"g1", "Die Häuser der Stadt", "Straße und Plätze"},
         {"g2", "DAS HAUS AM SEE", "STRASSE"},
         {"g3", "Bücher", "Ein Buch über die Stadt"}},
        "german", true);
  EXPECT_THAT(Ids("haus"), ::testing::UnorderedElementsAre("g1", "g2"));
  EXPECT_THAT(Ids("straße"), ::testing::UnorderedElementsAre("g1", "g2"));
  EXPECT_THAT(Ids("BUCH"), ElementsAre("g3"));
  // Stopwords are not indexed, and a query of stopwords only has nothing to search.
  EXPECT_THAT(Ids("die"), ElementsAre("error: column 1: query has no searchable terms"));
  // They keep their positions: "Haus am See" is a phrase with a gap.
  EXPECT_THAT(Ids("\"haus am see\""), ElementsAre("g2"));
  v1::StatsResponse stats;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->Stats(&context, v1::StatsRequest(), &stats).ok());
  EXPECT_EQ(stats.language(), "german");
  EXPECT_TRUE(stats.stopwords());
}

TEST_F(QueryLanguageTest, RussianCaseFoldingAndStemming) {
  Serve({{"r1", "Москва", "Москва — столица России."},
         {"r2", "В МОСКВЕ", "ЁЛКА на площади"},
         {"r3", "Петербург", "Город на Неве"}},
        "russian", false);
  EXPECT_THAT(Ids("москва"), ::testing::UnorderedElementsAre("r1", "r2"));
  EXPECT_THAT(Ids("МОСКВЫ"), ::testing::UnorderedElementsAre("r1", "r2"));
  EXPECT_THAT(Ids("ёлки"), ElementsAre("r2"));
  EXPECT_THAT(Ids("title:петербург"), ElementsAre("r3"));
  EXPECT_THAT(Ids("моск*"), ::testing::UnorderedElementsAre("r1", "r2"));
}

}  // namespace
}  // namespace scry::server
