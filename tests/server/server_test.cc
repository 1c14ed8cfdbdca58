// File: tests/server/server_test.cc
//
// Integration tests of the gRPC server: real indexes built on disk with
// indexer::BuildIndex from a small hand-written corpus (so that expected
// results are exact), real servers on 127.0.0.1 with port 0, and real gRPC
// channels. Covers boolean and phrase queries, ranking order, 1 shard vs 3
// shards (bit-identical scores), pagination, stored fields, every error the
// API documents, malformed requests sent as raw bytes, health checking,
// reflection, Stats, concurrency and shutdown.
#include "server/server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "scry/v1/search.grpc.pb.h"
#include "tests/server/raw_call.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::RawCall;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

struct Doc {
  std::string id, title, body;
};

// The hand-written corpus. Every title is "orchard" except d08's, so that
// d08 has "kiwi" in its title and "lemon" first in its body: the phrase
// "kiwi lemon" must not match it across the title/body boundary. d01, d11
// and d12 have identical text (ties broken by id); d09 and d10 have the same
// length, d09 with "grape" twice.
const std::vector<Doc>& Corpus() {
  static const auto* corpus = new std::vector<Doc>{
      {"d01", "orchard", "apple banana"},  {"d02", "orchard", "apple cherry"},
      {"d03", "orchard", "banana cherry"}, {"d04", "orchard", "apple"},
      {"d05", "orchard", "banana"},        {"d06", "orchard", "kiwi lemon"},
      {"d07", "orchard", "lemon kiwi"},    {"d08", "kiwi", "lemon mango"},
      {"d09", "orchard", "grape grape"},   {"d10", "orchard", "grape mango"},
      {"d11", "orchard", "apple banana"},  {"d12", "orchard", "apple banana"},
  };
  return *corpus;
}

// The corpus plus generated documents over a small vocabulary, with many
// exact duplicates under other ids, for the 1-shard vs 3-shard comparison.
std::vector<Doc> BigCorpus() {
  static const char* const kWords[] = {"apple", "banana", "cherry", "kiwi", "lemon",
                                       "mango", "grape",  "plum",   "pear", "fig"};
  std::vector<Doc> docs = Corpus();
  SCRY_SEEDED_RNG(rng, 20240607);
  for (int i = 0; i < 200; ++i) {
    Doc doc;
    char id[16];
    std::snprintf(id, sizeof(id), "g%03d", i);
    doc.id = id;
    if (i % 5 == 4) {  // same text as the previous document
      doc.title = docs.back().title;
      doc.body = docs.back().body;
    } else {
      const int title_words = 1 + static_cast<int>(rng() % 2);
      for (int w = 0; w < title_words; ++w) {
        if (w > 0) doc.title += ' ';
        doc.title += kWords[rng() % 10];
      }
      const int body_words = 2 + static_cast<int>(rng() % 8);
      for (int w = 0; w < body_words; ++w) {
        if (w > 0) doc.body += ' ';
        doc.body += kWords[rng() % 10];
      }
    }
    docs.push_back(std::move(doc));
  }
  return docs;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Builds an index of `docs` with `shards` shards at `index_dir`.
absl::Status Build(const TempDir& tmp, const std::vector<Doc>& docs, uint32_t shards,
                   const std::string& index_dir) {
  std::string jsonl;
  for (const Doc& d : docs) {
    jsonl += "{\"id\":" + JsonString(d.id) + ",\"title\":" + JsonString(d.title) +
             ",\"body\":" + JsonString(d.body) + "}\n";
  }
  const std::string input = tmp.Sub("input-" + std::to_string(docs.size()) + ".jsonl");
  scry::testing::WriteFile(input, jsonl);
  indexer::BuildOptions options;
  options.inputs = {input};
  options.index_dir = index_dir;
  options.num_shards = shards;
  options.threads = 2;
  return indexer::BuildIndex(options).status();
}

absl::StatusOr<std::unique_ptr<Server>> StartServer(const std::string& index_dir,
                                                    int max_message_bytes = 4 << 20) {
  ServerOptions options;
  options.index_dir = index_dir;
  options.listen = "127.0.0.1:0";
  options.max_message_bytes = max_message_bytes;
  return Server::Start(options);
}

std::shared_ptr<grpc::Channel> Connect(int port) {
  return grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                             grpc::InsecureChannelCredentials());
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

// A typed client of one server.
class Client {
 public:
  explicit Client(int port)
      : channel_(Connect(port)), stub_(v1::SearchService::NewStub(channel_)) {}

  grpc::Status Search(const v1::SearchRequest& request, v1::SearchResponse* response) const {
    grpc::ClientContext context;
    SetDeadline(&context);
    return stub_->Search(&context, request, response);
  }
  grpc::Status Search(const std::string& query, v1::SearchResponse* response,
                      uint32_t top_k = 100) const {
    v1::SearchRequest request;
    request.set_query(query);
    request.set_top_k(top_k);
    return Search(request, response);
  }
  grpc::Status GetDocument(const std::string& id, v1::GetDocumentResponse* response) const {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::GetDocumentRequest request;
    request.set_id(id);
    return stub_->GetDocument(&context, request, response);
  }
  grpc::Status Stats(v1::StatsResponse* response) const {
    grpc::ClientContext context;
    SetDeadline(&context);
    return stub_->Stats(&context, v1::StatsRequest(), response);
  }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SearchService::Stub> stub_;
};

std::vector<std::string> Ids(const v1::SearchResponse& response) {
  std::vector<std::string> ids;
  for (const v1::Hit& hit : response.hits()) ids.push_back(hit.id());
  return ids;
}

// The order the API promises: descending score, ties by ascending id.
void ExpectRankingOrder(const v1::SearchResponse& response, const std::string& query) {
  for (int i = 1; i < response.hits_size(); ++i) {
    const v1::Hit& a = response.hits(i - 1);
    const v1::Hit& b = response.hits(i);
    EXPECT_TRUE(a.score() > b.score() || (a.score() == b.score() && a.id() < b.id()))
        << query << ": hit " << i - 1 << " (" << a.id() << ", " << a.score() << ") before hit " << i
        << " (" << b.id() << ", " << b.score() << ")";
  }
}

// total_hits of a 1-shard and a 3-shard answer to `request`: equal when both
// are exact; a lower bound (pruned OR) must not exceed the exact count, which
// both servers then agree on, and exact counting must not change the hits.
void ExpectTotalsAgree(Client& one, Client& three, const v1::SearchRequest& request,
                       const v1::SearchResponse& r1, const v1::SearchResponse& r3) {
  if (!r1.total_hits_is_lower_bound() && !r3.total_hits_is_lower_bound()) {
    EXPECT_EQ(r1.total_hits(), r3.total_hits()) << request.query();
    return;
  }
  v1::SearchRequest exact = request;
  exact.set_exact_total_hits(true);
  v1::SearchResponse e1, e3;
  ASSERT_TRUE(one.Search(exact, &e1).ok());
  ASSERT_TRUE(three.Search(exact, &e3).ok());
  EXPECT_FALSE(e1.total_hits_is_lower_bound());
  EXPECT_FALSE(e3.total_hits_is_lower_bound());
  EXPECT_EQ(e1.total_hits(), e3.total_hits()) << request.query();
  EXPECT_LE(r1.total_hits(), e1.total_hits()) << request.query();
  EXPECT_LE(r3.total_hits(), e1.total_hits()) << request.query();
  ASSERT_EQ(Ids(e1), Ids(r1)) << request.query();
  for (int i = 0; i < e1.hits_size(); ++i) EXPECT_EQ(e1.hits(i).score(), r1.hits(i).score());
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    const std::string one = tmp_->Sub("one"), three = tmp_->Sub("three");
    const std::string big1 = tmp_->Sub("big1"), big3 = tmp_->Sub("big3");
    absl::Status s = Build(*tmp_, Corpus(), 1, one);
    if (s.ok()) s = Build(*tmp_, Corpus(), 3, three);
    if (s.ok()) s = Build(*tmp_, BigCorpus(), 1, big1);
    if (s.ok()) s = Build(*tmp_, BigCorpus(), 3, big3);
    if (!s.ok()) {
      build_error_ = new std::string(s.ToString());
      return;
    }
    for (const auto& [dir, out] : {std::pair{one, &server1_}, std::pair{three, &server3_},
                                   std::pair{big1, &big1_}, std::pair{big3, &big3_}}) {
      auto server = StartServer(dir);
      if (!server.ok()) {
        build_error_ = new std::string(server.status().ToString());
        return;
      }
      *out = server->release();
    }
  }

  static void TearDownTestSuite() {
    for (Server** s : {&server1_, &server3_, &big1_, &big3_}) {
      delete *s;
      *s = nullptr;
    }
    delete tmp_;
    tmp_ = nullptr;
    delete build_error_;
    build_error_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(build_error_, nullptr) << *build_error_;
    client1_ = std::make_unique<Client>(server1_->port());
    client3_ = std::make_unique<Client>(server3_->port());
  }

  // Searches both the 1-shard and the 3-shard server, checks that they agree
  // exactly and that the order is right, and returns the 1-shard answer.
  v1::SearchResponse Search(const v1::SearchRequest& request) {
    v1::SearchResponse r1, r3;
    grpc::Status s1 = client1_->Search(request, &r1);
    grpc::Status s3 = client3_->Search(request, &r3);
    EXPECT_TRUE(s1.ok()) << request.query() << ": " << s1.error_message();
    EXPECT_TRUE(s3.ok()) << request.query() << ": " << s3.error_message();
    EXPECT_EQ(Ids(r1), Ids(r3)) << request.query();
    ExpectTotalsAgree(*client1_, *client3_, request, r1, r3);
    ExpectRankingOrder(r1, request.query());
    return r1;
  }
  v1::SearchResponse Search(const std::string& query,
                            v1::DefaultOperator op = v1::DEFAULT_OPERATOR_UNSPECIFIED) {
    v1::SearchRequest request;
    request.set_query(query);
    request.set_top_k(100);
    request.set_default_operator(op);
    return Search(request);
  }

  static TempDir* tmp_;
  static std::string* build_error_;
  static Server* server1_;
  static Server* server3_;
  static Server* big1_;
  static Server* big3_;
  std::unique_ptr<Client> client1_, client3_;
};

TempDir* ServerTest::tmp_ = nullptr;
std::string* ServerTest::build_error_ = nullptr;
Server* ServerTest::server1_ = nullptr;
Server* ServerTest::server3_ = nullptr;
Server* ServerTest::big1_ = nullptr;
Server* ServerTest::big3_ = nullptr;

std::map<std::string, std::string> FieldMap(const v1::Hit& hit) {
  return {hit.fields().begin(), hit.fields().end()};
}

// The ids of the hits, sorted (for queries whose ranking is not the point).
std::vector<std::string> IdSet(const v1::SearchResponse& response) {
  std::vector<std::string> ids = Ids(response);
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST_F(ServerTest, BooleanQueries) {
  struct Case {
    std::string query;
    v1::DefaultOperator op;
    std::vector<std::string> ids;
  };
  const auto kOr = v1::DEFAULT_OPERATOR_UNSPECIFIED;
  const std::vector<Case> cases = {
      {"apple", kOr, {"d01", "d02", "d04", "d11", "d12"}},
      {"apple AND banana", kOr, {"d01", "d11", "d12"}},
      {"apple && banana", kOr, {"d01", "d11", "d12"}},
      {"apple OR cherry", kOr, {"d01", "d02", "d03", "d04", "d11", "d12"}},
      {"apple cherry", kOr, {"d01", "d02", "d03", "d04", "d11", "d12"}},
      {"apple cherry", v1::DEFAULT_OPERATOR_OR, {"d01", "d02", "d03", "d04", "d11", "d12"}},
      {"apple banana", v1::DEFAULT_OPERATOR_AND, {"d01", "d11", "d12"}},
      {"+apple -banana", kOr, {"d02", "d04"}},
      {"apple NOT banana", kOr, {"d02", "d04"}},
      {"apple -banana -cherry", kOr, {"d04"}},
      {"(apple OR banana) AND cherry", kOr, {"d02", "d03"}},
      {"apple AND (banana OR cherry)", kOr, {"d01", "d02", "d11", "d12"}},
      {"(apple AND cherry) OR (banana AND cherry)", kOr, {"d02", "d03"}},
      {"orchard -apple -banana -cherry", kOr, {"d06", "d07", "d09", "d10"}},
      {"kiwi AND lemon", kOr, {"d06", "d07", "d08"}},
      {"APPLE", kOr, {"d01", "d02", "d04", "d11", "d12"}},   // case-folded word
      {"apples", kOr, {"d01", "d02", "d04", "d11", "d12"}},  // stemmed
      {"durian", kOr, {}},
      {"apple AND durian", kOr, {}},
      {"apple OR durian", kOr, {"d01", "d02", "d04", "d11", "d12"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.query);
    const v1::SearchResponse r = Search(c.query, c.op);
    EXPECT_EQ(IdSet(r), c.ids);
    EXPECT_EQ(r.total_hits(), c.ids.size());
  }
}

TEST_F(ServerTest, PhraseRespectsOrderAndFieldBoundary) {
  EXPECT_THAT(Ids(Search("\"kiwi lemon\"")), ElementsAre("d06"));
  EXPECT_THAT(Ids(Search("\"lemon kiwi\"")), ElementsAre("d07"));
  // d08: title "kiwi", body "lemon mango": no phrase across fields.
  EXPECT_THAT(Ids(Search("\"lemon mango\"")), ElementsAre("d08"));
  EXPECT_THAT(Ids(Search("\"orchard kiwi\"")), IsEmpty());
  EXPECT_THAT(Ids(Search("\"grape grape\"")), ElementsAre("d09"));
  EXPECT_THAT(IdSet(Search("\"apple banana\"")), ElementsAre("d01", "d11", "d12"));
  EXPECT_THAT(Ids(Search("\"banana apple\"")), IsEmpty());
  EXPECT_THAT(IdSet(Search("kiwi -\"kiwi lemon\"")), ElementsAre("d07", "d08"));
  // A word the analyser splits becomes a phrase.
  EXPECT_THAT(Ids(Search("kiwi-lemon")), ElementsAre("d06"));
  EXPECT_EQ(Search("\"kiwi lemon\"").total_hits(), 1u);
}

TEST_F(ServerTest, Ranking) {
  // Same length (3 tokens with the title), "grape" twice beats once.
  v1::SearchResponse r = Search("grape");
  ASSERT_THAT(Ids(r), ElementsAre("d09", "d10"));
  EXPECT_GT(r.hits(0).score(), r.hits(1).score());
  EXPECT_GT(r.hits(1).score(), 0);

  // d04 is shortest; d01, d02, d11, d12 have the same length and one
  // "apple" each: tied, in id order.
  r = Search("apple");
  ASSERT_THAT(Ids(r), ElementsAre("d04", "d01", "d02", "d11", "d12"));
  EXPECT_GT(r.hits(0).score(), r.hits(1).score());
  EXPECT_EQ(r.hits(1).score(), r.hits(2).score());
  EXPECT_EQ(r.hits(2).score(), r.hits(3).score());
  EXPECT_EQ(r.hits(3).score(), r.hits(4).score());

  // Matching both terms beats matching one.
  r = Search("apple banana");
  ASSERT_EQ(r.hits_size(), 7);
  const std::vector<std::string> ids = Ids(r);
  EXPECT_THAT(std::vector<std::string>(ids.begin(), ids.begin() + 3),
              ElementsAre("d01", "d11", "d12"));
  EXPECT_EQ(r.hits(0).score(), r.hits(2).score());
  EXPECT_GT(r.hits(2).score(), r.hits(3).score());
  EXPECT_GT(r.took_micros(), 0u);
}

TEST_F(ServerTest, StoredFieldsInHits) {
  v1::SearchRequest request;
  request.set_query("\"kiwi lemon\"");
  v1::SearchResponse r = Search(request);
  ASSERT_EQ(r.hits_size(), 1);
  EXPECT_EQ(r.hits(0).title(), "orchard");
  EXPECT_THAT(r.hits(0).fields(), IsEmpty());

  request.add_fields("body");
  r = Search(request);
  ASSERT_EQ(r.hits_size(), 1);
  EXPECT_THAT(r.hits(0).fields(), UnorderedElementsAre(Pair("body", "kiwi lemon")));

  request.clear_fields();
  request.add_fields("*");
  r = Search(request);
  ASSERT_EQ(r.hits_size(), 1);
  EXPECT_THAT(r.hits(0).fields(),
              UnorderedElementsAre(Pair("title", "orchard"), Pair("body", "kiwi lemon")));
}

TEST_F(ServerTest, TopKAndOffsetPaginate) {
  v1::SearchRequest request;
  request.set_query("orchard kiwi");
  request.set_top_k(12);
  const v1::SearchResponse all = Search(request);
  ASSERT_EQ(all.hits_size(), 12);
  EXPECT_EQ(all.total_hits(), 12u);

  request.set_top_k(0);  // means 10
  EXPECT_EQ(Search(request).hits_size(), 10);

  for (uint32_t offset : {0u, 4u, 8u}) {
    request.set_top_k(4);
    request.set_offset(offset);
    const v1::SearchResponse page = Search(request);
    EXPECT_EQ(page.total_hits(), 12u);
    ASSERT_EQ(page.hits_size(), 4) << offset;
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(page.hits(i).id(), all.hits(offset + i).id()) << offset;
      EXPECT_EQ(page.hits(i).score(), all.hits(offset + i).score()) << offset;
    }
  }
  request.set_offset(10);
  EXPECT_EQ(Search(request).hits_size(), 2);
  request.set_offset(50);
  const v1::SearchResponse past = Search(request);
  EXPECT_EQ(past.hits_size(), 0);
  EXPECT_EQ(past.total_hits(), 12u);
}

// 1 shard and 3 shards over a corpus with many exact duplicates: identical
// ids, bit-identical scores and identical totals, for every query and page.
TEST_F(ServerTest, ShardedEqualsUnsharded) {
  Client one(big1_->port()), three(big3_->port());
  const std::vector<std::string> queries = {
      "apple",
      "fig",
      "orchard",
      "apple AND banana",
      "apple OR banana",
      "apple banana cherry",
      "+apple -banana",
      "apple NOT cherry",
      "(apple OR plum) AND NOT kiwi",
      "fig AND (pear OR plum) -apple",
      "cherry OR (lemon AND mango)",
      "\"kiwi lemon\"",
      "\"apple banana\"",
      "\"banana apple cherry\"",
      "\"grape grape\"",
      "mango -\"kiwi lemon\"",
      "pear fig grape plum",
      "+pear +fig",
      "apple OR durian",
      "apple AND durian",
      "durian",
      "NOT NOT apple",
  };
  int compared_ties = 0;
  for (const std::string& query : queries) {
    for (const v1::DefaultOperator op : {v1::DEFAULT_OPERATOR_OR, v1::DEFAULT_OPERATOR_AND}) {
      for (const auto& [top_k, offset] :
           std::vector<std::pair<uint32_t, uint32_t>>{{1000, 0}, {5, 0}, {5, 3}, {7, 20}}) {
        SCOPED_TRACE(query + " top_k=" + std::to_string(top_k) +
                     " offset=" + std::to_string(offset) + " op=" + std::to_string(op));
        v1::SearchRequest request;
        request.set_query(query);
        request.set_top_k(top_k);
        request.set_offset(offset);
        request.set_default_operator(op);
        request.add_fields("*");
        v1::SearchResponse r1, r3;
        ASSERT_TRUE(one.Search(request, &r1).ok());
        ASSERT_TRUE(three.Search(request, &r3).ok());
        ExpectTotalsAgree(one, three, request, r1, r3);
        ASSERT_EQ(Ids(r1), Ids(r3));
        for (int i = 0; i < r1.hits_size(); ++i) {
          EXPECT_EQ(r1.hits(i).score(), r3.hits(i).score()) << r1.hits(i).id();
          EXPECT_EQ(r1.hits(i).title(), r3.hits(i).title());
          EXPECT_EQ(FieldMap(r1.hits(i)), FieldMap(r3.hits(i)));
          if (i > 0 && r1.hits(i).score() == r1.hits(i - 1).score()) ++compared_ties;
        }
        ExpectRankingOrder(r1, query);
      }
    }
  }
  EXPECT_GT(compared_ties, 100);  // ties were really exercised
}

// Random queries (valid or not) over the big corpus: both servers give the
// same answer or the same error, and nothing but OK or INVALID_ARGUMENT.
TEST_F(ServerTest, RandomQueriesAgreeAcrossShardCounts) {
  Client one(big1_->port()), three(big3_->port());
  static const char* const kTokens[] = {"apple",  "banana", "kiwi", "lemon", "fig", "plum",
                                        "durian", "AND",    "OR",   "NOT",   "(",   ")",
                                        "\"",     "+",      "-",    "!",     "\\",  "&&"};
  SCRY_SEEDED_RNG(rng, 7);
  int ok = 0;
  for (int q = 0; q < 400; ++q) {
    std::string query;
    const int n = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) {
      const char* token = kTokens[rng() % std::size(kTokens)];
      if (i > 0 && rng() % 3 != 0) query += ' ';
      query += token;
    }
    SCOPED_TRACE(query);
    v1::SearchRequest request;
    request.set_query(query);
    request.set_top_k(1 + rng() % 20);
    request.set_offset(rng() % 5);
    request.set_default_operator(rng() % 2 ? v1::DEFAULT_OPERATOR_AND : v1::DEFAULT_OPERATOR_OR);
    request.set_pruning(static_cast<v1::Pruning>(rng() % 4));
    v1::SearchResponse r1, r3;
    const grpc::Status s1 = one.Search(request, &r1);
    const grpc::Status s3 = three.Search(request, &r3);
    ASSERT_EQ(s1.error_code(), s3.error_code());
    EXPECT_EQ(s1.error_message(), s3.error_message());
    if (!s1.ok()) {
      EXPECT_EQ(s1.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s1.error_message();
      EXPECT_THAT(s1.error_message(), HasSubstr("column"));
      continue;
    }
    ++ok;
    ExpectTotalsAgree(one, three, request, r1, r3);
    ASSERT_EQ(Ids(r1), Ids(r3));
    for (int i = 0; i < r1.hits_size(); ++i) EXPECT_EQ(r1.hits(i).score(), r3.hits(i).score());
    ExpectRankingOrder(r1, query);
    // Every pruning choice gives the exhaustive hits.
    v1::SearchRequest exhaustive = request;
    exhaustive.set_pruning(v1::PRUNING_NONE);
    v1::SearchResponse rx;
    ASSERT_TRUE(one.Search(exhaustive, &rx).ok());
    ASSERT_EQ(Ids(r1), Ids(rx));
    for (int i = 0; i < r1.hits_size(); ++i) EXPECT_EQ(r1.hits(i).score(), rx.hits(i).score());
  }
  EXPECT_GT(ok, 50);
}

TEST_F(ServerTest, QueryErrorsAreInvalidArgumentWithColumn) {
  v1::SearchResponse r;
  for (const std::string& query :
       std::vector<std::string>{"", "   ", "\"kiwi lemon", "(apple", "apple)", "()", "apple AND",
                                "AND apple", "-apple", "...", std::string(5000, 'a')}) {
    SCOPED_TRACE(query.substr(0, 40));
    const grpc::Status s = client1_->Search(query, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("column"));
  }
  // The column points at the opening quote (1-based, in code points).
  const grpc::Status s = client1_->Search("äpple \"kiwi", &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("column 7"));
}

TEST_F(ServerTest, TopKLimits) {
  v1::SearchRequest request;
  request.set_query("apple");
  v1::SearchResponse r;
  request.set_top_k(10000);
  EXPECT_TRUE(client1_->Search(request, &r).ok());
  request.set_top_k(10001);
  EXPECT_EQ(client1_->Search(request, &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  request.set_top_k(10);
  request.set_offset(9995);
  EXPECT_EQ(client1_->Search(request, &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  request.set_top_k(UINT32_MAX);
  request.set_offset(UINT32_MAX);  // no overflow
  EXPECT_EQ(client1_->Search(request, &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServerTest, UnknownEnumValuesAreInvalidArgument) {
  v1::SearchRequest request;
  request.set_query("apple");
  request.set_default_operator(static_cast<v1::DefaultOperator>(7));
  v1::SearchResponse r;
  const grpc::Status s = client1_->Search(request, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("default_operator"));
  request.set_default_operator(v1::DEFAULT_OPERATOR_OR);
  request.set_pruning(static_cast<v1::Pruning>(9));
  const grpc::Status p = client1_->Search(request, &r);
  EXPECT_EQ(p.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(p.error_message(), HasSubstr("pruning"));
}

// Queries meant to break a parser: never a crash, never anything but OK or
// INVALID_ARGUMENT (with a column), and the server keeps answering.
TEST_F(ServerTest, HostileQueriesNeverCrash) {
  std::string many_clauses;
  for (int i = 0; i < 1100; ++i) many_clauses += "apple OR ";
  many_clauses += "apple";
  const std::vector<std::string> queries = {
      "(",
      ")",
      "\"",
      "\"\"",
      "+",
      "-",
      "!",
      "&&",
      "||",
      "\\",
      "\\\\",
      "apple\\",
      "\"apple\\\"",
      "NOT",
      "NOT NOT NOT apple",
      "apple AND NOT apple",
      "-apple -banana",
      std::string("apple\0banana", 12),
      "\t\n\r\f\v",
      "***",
      "apple ... banana",
      "日本語",
      "\xe2\x80\x99",
      "e\xcc\x81",
      std::string(2000, '('),
      std::string(1000, '(') + "apple" + std::string(1000, ')'),
      std::string(100, '(') + "apple" + std::string(100, ')'),
      many_clauses,
      std::string(4096, 'x'),
      std::string(300, 'b') + " apple"};
  for (const std::string& query : queries) {
    SCOPED_TRACE(query.substr(0, 40));
    v1::SearchResponse r1, r3;
    const grpc::Status s1 = client1_->Search(query, &r1);
    const grpc::Status s3 = client3_->Search(query, &r3);
    EXPECT_EQ(s1.error_code(), s3.error_code());
    if (s1.ok()) {
      EXPECT_EQ(Ids(r1), Ids(r3));
    } else {
      EXPECT_EQ(s1.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s1.error_message();
      EXPECT_THAT(s1.error_message(), HasSubstr("column"));
    }
  }
  EXPECT_EQ(Search("apple").hits_size(), 5);
}

// Invalid UTF-8 in a proto3 string is refused by protobuf when the request
// is parsed; the server answers INVALID_ARGUMENT (not INTERNAL or a crash).
TEST_F(ServerTest, MalformedRequestBytesAreInvalidArgument) {
  std::string response;
  // A well-formed raw request works: SearchRequest{query: "apple"}.
  ASSERT_TRUE(RawCall(client1_->channel(), "/scry.v1.SearchService/Search",
                      std::string("\x0a\x05"
                                  "apple",
                                  7),
                      &response)
                  .ok());
  v1::SearchResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(response));
  EXPECT_EQ(parsed.total_hits(), 5u);

  struct Case {
    std::string method, bytes;
  };
  const std::vector<Case> cases = {
      {"/scry.v1.SearchService/Search", std::string("\x0a\x02\xff\xfe", 4)},
      {"/scry.v1.SearchService/Search", std::string("\x0a\x07"
                                                    "app\xc3(le",
                                                    9)},
      {"/scry.v1.SearchService/Search", std::string("\x0a\x09"
                                                    "apple",
                                                    7)},  // truncated
      {"/scry.v1.SearchService/Search", std::string("\xff\xff\xff", 3)},
      {"/scry.v1.SearchService/Search", std::string("\x2a\x01\x80", 3)},  // fields: bad UTF-8
      {"/scry.v1.SearchService/GetDocument", std::string("\x0a\x01\xff", 3)},
      {"/scry.v1.SearchService/Stats", std::string("\x07", 1)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method);
    const grpc::Status s = RawCall(client1_->channel(), c.method, c.bytes, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("malformed scry.v1."));
  }

  // The generated client only logs when it serializes invalid UTF-8; the
  // server refuses it the same way.
  v1::SearchResponse r;
  const grpc::Status s = client1_->Search(std::string("apple \xff", 7), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();

  // An unknown method of the service.
  EXPECT_EQ(RawCall(client1_->channel(), "/scry.v1.SearchService/Nope", "", &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Search("apple").hits_size(), 5);  // still serving
}

TEST_F(ServerTest, GetDocument) {
  for (Client* client : {client1_.get(), client3_.get()}) {
    for (const Doc& doc : Corpus()) {
      v1::GetDocumentResponse r;
      const grpc::Status s = client->GetDocument(doc.id, &r);
      ASSERT_TRUE(s.ok()) << doc.id << ": " << s.error_message();
      EXPECT_EQ(r.id(), doc.id);
      EXPECT_THAT(r.fields(),
                  UnorderedElementsAre(Pair("title", doc.title), Pair("body", doc.body)));
    }
    v1::GetDocumentResponse r;
    grpc::Status s = client->GetDocument("d99", &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("d99"));
    s = client->GetDocument("D01", &r);  // ids are case-sensitive
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    s = client->GetDocument("", &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    // The NOT_FOUND message would quote the id; it is shortened so that the
    // trailers stay under HTTP/2 limits (else RESOURCE_EXHAUSTED at the client).
    s = client->GetDocument(std::string(100000, 'x'), &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message().substr(0, 200);
    EXPECT_LE(s.error_message().size(), 1100u);
  }
}

TEST_F(ServerTest, Stats) {
  for (const auto& [client, shards] :
       {std::pair{client1_.get(), 1}, std::pair{client3_.get(), 3}}) {
    SCOPED_TRACE(shards);
    v1::StatsResponse r;
    ASSERT_TRUE(client->Stats(&r).ok());
    EXPECT_EQ(r.docs(), Corpus().size());
    EXPECT_EQ(r.language(), "english");
    ASSERT_EQ(r.shards_size(), shards);
    uint64_t docs = 0, terms = 0, postings = 0, bytes = 0;
    std::set<uint32_t> indices;
    for (const v1::ShardStats& s : r.shards()) {
      indices.insert(s.shard());
      docs += s.docs();
      terms += s.terms();
      postings += s.postings();
      EXPECT_FALSE(s.bytes_per_column_family().empty());
      for (const auto& [cf, b] : s.bytes_per_column_family()) bytes += b;
    }
    EXPECT_EQ(indices.size(), static_cast<size_t>(shards));
    EXPECT_EQ(*indices.rbegin(), static_cast<uint32_t>(shards - 1));
    EXPECT_EQ(docs, r.docs());
    EXPECT_EQ(terms, r.terms());
    EXPECT_EQ(postings, r.postings());
    EXPECT_EQ(bytes, r.bytes_on_disk());
    EXPECT_GT(r.bytes_on_disk(), 0u);
    // 8 distinct terms: orchard apple banana cherry kiwi lemon mango grape.
    if (shards == 1) {
      EXPECT_EQ(r.terms(), 8u);
    }
    EXPECT_GE(r.postings(), r.terms());
  }
}

TEST_F(ServerTest, HealthCheckServing) {
  std::string response;
  // HealthCheckRequest{} -> HealthCheckResponse{status: SERVING (1)}.
  grpc::Status s = RawCall(client1_->channel(), "/grpc.health.v1.Health/Check", "", &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response, std::string("\x08\x01", 2));
  // HealthCheckRequest{service: "scry.v1.SearchService"}.
  const std::string service = "scry.v1.SearchService";
  s = RawCall(client1_->channel(), "/grpc.health.v1.Health/Check",
              std::string("\x0a") + static_cast<char>(service.size()) + service, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response, std::string("\x08\x01", 2));
  s = RawCall(client1_->channel(), "/grpc.health.v1.Health/Check", "\x0a\x04nope", &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, ReflectionListsTheService) {
  grpc::GenericStub stub(client1_->channel());
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  ASSERT_NE(call, nullptr);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](intptr_t expected) {
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), expected);
  };
  call->StartCall(reinterpret_cast<void*>(1));
  step(1);
  ASSERT_TRUE(ok);
  // ServerReflectionRequest{list_services: ""} (field 7).
  grpc::Slice slice(std::string("\x3a\x00", 2));
  grpc::ByteBuffer request(&slice, 1), response;
  call->Write(request, reinterpret_cast<void*>(2));
  step(2);
  call->WritesDone(reinterpret_cast<void*>(3));
  step(3);
  call->Read(&response, reinterpret_cast<void*>(4));
  step(4);
  ASSERT_TRUE(ok);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  EXPECT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_THAT(bytes, HasSubstr("scry.v1.SearchService"));
  EXPECT_THAT(bytes, HasSubstr("grpc.health.v1.Health"));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(ServerTest, ConcurrentSearchesGiveTheSameAnswers) {
  const std::vector<std::string> queries = {"apple",          "apple AND banana",
                                            "\"kiwi lemon\"", "grape",
                                            "orchard -apple", "(banana OR cherry) -apple"};
  std::vector<std::vector<std::string>> expected;
  for (const auto& q : queries) expected.push_back(Ids(Search(q)));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0}, failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Client client(t % 2 == 0 ? server1_->port() : server3_->port());
      for (int i = 0; i < 60; ++i) {
        const size_t q = (t + i) % queries.size();
        v1::SearchResponse r;
        if (!client.Search(queries[q], &r).ok()) {
          ++failures;
        } else if (Ids(r) != expected[q]) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Server, StartOnMissingIndexIsFailedPrecondition) {
  TempDir tmp;
  auto server = StartServer(tmp.Sub("nothing-here"));
  EXPECT_THAT(server, StatusIs(absl::StatusCode::kFailedPrecondition));
  server = StartServer(tmp.path().string());  // exists, but empty
  EXPECT_THAT(server, StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(Server, StartOnBusyOrBadAddressIsUnavailable) {
  TempDir tmp;
  const std::string index = tmp.Sub("index");
  ASSERT_THAT(Build(tmp, Corpus(), 1, index), scry::testing::IsOk());
  auto first = StartServer(index);
  ASSERT_THAT(first, scry::testing::IsOk());
  ServerOptions options;
  options.index_dir = index;
  options.listen = "127.0.0.1:" + std::to_string((*first)->port());
  EXPECT_THAT(Server::Start(options),
              StatusIs(absl::StatusCode::kUnavailable, "cannot listen on 127.0.0.1:"));
  options.listen = "not an address";
  EXPECT_THAT(Server::Start(options), StatusIs(absl::StatusCode::kUnavailable));
}

TEST(Server, MessageSizeLimit) {
  TempDir tmp;
  const std::string index = tmp.Sub("index");
  ASSERT_THAT(Build(tmp, Corpus(), 1, index), scry::testing::IsOk());
  auto server = StartServer(index, /*max_message_bytes=*/1024);
  ASSERT_THAT(server, scry::testing::IsOk());
  Client client((*server)->port());
  v1::SearchResponse r;
  EXPECT_TRUE(client.Search("apple", &r).ok());
  std::string big;
  while (big.size() < 2000) big += "apple ";
  EXPECT_EQ(client.Search(big, &r).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST(Server, ShutdownStopsWaitAndIsIdempotent) {
  TempDir tmp;
  const std::string index = tmp.Sub("index");
  ASSERT_THAT(Build(tmp, Corpus(), 2, index), scry::testing::IsOk());
  auto started = StartServer(index);
  ASSERT_THAT(started, scry::testing::IsOk());
  std::unique_ptr<Server> server = std::move(*started);
  Client client(server->port());
  v1::SearchResponse r;
  ASSERT_TRUE(client.Search("apple", &r).ok());
  EXPECT_EQ(r.hits_size(), 5);

  std::promise<void> waited;
  std::thread waiter([&] {
    server->Wait();
    waited.set_value();
  });
  auto done = waited.get_future();
  EXPECT_EQ(done.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  server->Shutdown(1000);
  EXPECT_EQ(done.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  waiter.join();
  server->Shutdown();  // again: nothing happens
  server->Wait();      // returns at once

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  auto stub = v1::SearchService::NewStub(Connect(server->port()));
  v1::SearchRequest request;
  request.set_query("apple");
  const grpc::Status s = stub->Search(&context, request, &r);
  EXPECT_FALSE(s.ok());
  server.reset();  // destructor after Shutdown
}

TEST(Server, DestructorShutsDown) {
  TempDir tmp;
  const std::string index = tmp.Sub("index");
  ASSERT_THAT(Build(tmp, Corpus(), 1, index), scry::testing::IsOk());
  for (int i = 0; i < 3; ++i) {  // start and drop repeatedly
    auto server = StartServer(index);
    ASSERT_THAT(server, scry::testing::IsOk());
    Client client((*server)->port());
    v1::SearchResponse r;
    EXPECT_TRUE(client.Search("grape", &r).ok());
  }
}

TEST(Server, ToGrpcKeepsCanonicalCodes) {
  EXPECT_TRUE(ToGrpc(absl::OkStatus()).ok());
  for (int code = 1; code <= 16; ++code) {
    const absl::Status status(static_cast<absl::StatusCode>(code), "message");
    const grpc::Status g = ToGrpc(status);
    if (code == static_cast<int>(absl::StatusCode::kUnknown)) {
      EXPECT_EQ(g.error_code(), grpc::StatusCode::INTERNAL);
    } else {
      EXPECT_EQ(static_cast<int>(g.error_code()), code);
    }
    EXPECT_EQ(g.error_message(), "message");
  }
  EXPECT_EQ(ToGrpc(absl::Status(static_cast<absl::StatusCode>(42), "x")).error_code(),
            grpc::StatusCode::INTERNAL);
  // Long messages are cut at a character boundary.
  std::string utf8 = "x";
  for (int i = 0; i < 1000; ++i) utf8 += "\xc3\xa4";  // "ä"
  const grpc::Status cut = ToGrpc(absl::NotFoundError(utf8));
  EXPECT_EQ(cut.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(cut.error_message(), utf8.substr(0, kMaxStatusMessageBytes - 1) + "...");
  EXPECT_EQ(ToGrpc(absl::NotFoundError(std::string(kMaxStatusMessageBytes, 'y'))).error_message(),
            std::string(kMaxStatusMessageBytes, 'y'));
}

}  // namespace
}  // namespace scry::server
