// Typed fields through the server (issue 21): a real Server on 127.0.0.1
// (free ports) over tests/data/typed_sample.jsonl built with its schema.
// Filters, typed clauses and facets over gRPC equal the same searches in
// process (query::Searcher, tested against a reference in
// tests/query/filter_test.cc), and over HTTP/JSON equal them over gRPC;
// bad ones are INVALID_ARGUMENT (HTTP 400) naming the fault.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "indexer/schema.h"
#include "query/searcher.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/convert.h"
#include "server/server.h"
#include "tests/server/http_client.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::PostJson;
using ::scry::testing::Reply;
using ::scry::testing::TempDir;
using ::testing::HasSubstr;

class TypedSearchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    indexer::BuildOptions options;
    const std::string data = SCRY_TEST_DATA_DIR;
    options.inputs = {data + "/typed_sample.jsonl"};
    options.index_dir = tmp_->Sub("idx");
    options.num_shards = 2;
    auto schema = indexer::Schema::ReadFile(data + "/typed_sample.schema.json");
    ASSERT_THAT(schema, IsOk());
    options.schema = *schema;
    ASSERT_THAT(indexer::BuildIndex(options).status(), IsOk());
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }

  void SetUp() override {
    ServerOptions options;
    options.index_dir = tmp_->Sub("idx");
    options.listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    auto server = Server::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    stub_ = v1::SearchService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
  }

  static inline TempDir* tmp_ = nullptr;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::SearchService::Stub> stub_;
};

const std::vector<std::string> kRequests = {
    R"({"query": "state OR people OR time", "filter": "section:world", "top_k": 5})",
    R"({"query": "state OR water", "filter": "year:[2000 TO 2010] AND NOT section:sports",
        "facets": [{"field": "section", "size": 3},
                   {"field": "year", "ranges": ["[* TO 2005}", "[2005 TO *]"]}]})",
    R"({"query": "(new OR one) AND published:>=2010-01-01T00:00:00Z", "top_k": 20,
        "facets": [{"field": "words", "ranges": ["<100", "[100 TO 500]", ">500"]}]})",
    R"({"query": "form -section:politics", "exact_total_hits": true})",
    R"({"query": "section:science OR section:culture", "top_k": 3, "offset": 2,
        "facets": [{"field": "section"}]})",
    R"({"query": "state OR people OR new", "top_k": 7,
        "sort": [{"field": "year", "descending": true}, {"field": "words"}]})",
    R"({"query": "state OR people OR new", "sort": [{"field": "published"}],
        "search_after": {"score": 0, "id": "", "sort_values": ["2005-06-01T00:00:00Z"]}})",
};

TEST_F(TypedSearchTest, GrpcEqualsInProcessAndHttpEqualsGrpc) {
  auto searcher = query::Searcher::Open(tmp_->Sub("idx"), query::SearcherOptions());
  ASSERT_THAT(searcher, IsOk());
  bool some_facet_counted = false;
  for (const std::string& json : kRequests) {
    SCOPED_TRACE(json);
    v1::SearchRequest request;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &request).ok());
    v1::SearchResponse over_grpc;
    grpc::ClientContext context;
    const grpc::Status status = stub_->Search(&context, request, &over_grpc);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_GT(over_grpc.hits_size(), 0);

    // In process, converted the way the server converts.
    absl::StatusOr<query::SearchRequest> converted = FromProto(request);
    ASSERT_THAT(converted, IsOk());
    absl::StatusOr<query::SearchResult> local = (*searcher)->Search(*converted);
    ASSERT_THAT(local, IsOk());
    v1::SearchResponse expected;
    ToProto(std::move(*local), false, &expected);
    over_grpc.clear_took_micros();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(over_grpc, expected))
        << "gRPC: " << over_grpc.ShortDebugString() << "\nlocal: " << expected.ShortDebugString();
    ASSERT_EQ(over_grpc.facets_size(), request.facets_size());
    for (const v1::FacetResult& f : over_grpc.facets()) {
      for (const v1::FacetCount& c : f.counts()) some_facet_counted |= c.count() > 0;
    }

    const Reply r = PostJson(server_->http_port(), "/v1/search", json);
    ASSERT_EQ(r.status, 200) << r.body;
    v1::SearchResponse over_http;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &over_http).ok()) << r.body;
    over_http.clear_took_micros();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(over_http, over_grpc))
        << "HTTP: " << over_http.ShortDebugString();
  }
  EXPECT_TRUE(some_facet_counted);
}

TEST_F(TypedSearchTest, EveryHitPassesTheFilter) {
  v1::SearchRequest request;
  request.set_query("new OR one OR state OR people OR time");
  request.set_filter("section:sports AND year:[2001 TO 2012]");
  request.set_top_k(50);
  request.add_fields("*");
  v1::SearchResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->Search(&context, request, &response).ok());
  ASSERT_GT(response.hits_size(), 0);
  for (const v1::Hit& hit : response.hits()) {
    // The stored document keeps the typed members as given.
    const std::string& section = hit.fields().at("section");
    EXPECT_THAT(section, HasSubstr("sports")) << hit.id();
    const int year = std::stoi(hit.fields().at("year"));
    EXPECT_GE(year, 2001);
    EXPECT_LE(year, 2012);
  }
}

TEST_F(TypedSearchTest, BadFiltersAndFacetsAreInvalidArgument) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"query": "a", "filter": "year:[x TO 2]"})", "filter: column 1:"},
      {R"({"query": "year:>>3"})", "column 1:"},
      {R"({"query": "bank", "facets": [{"field": "body"}]})", "is not a typed field"},
      {R"({"query": "bank", "facets": [{"field": "year"}]})", "give it 1 to 256 ranges"},
      {R"({"query": "bank", "facets": [{"field": "section", "ranges": ["[1 TO 2]"]}]})",
       "is a keyword field"},
  };
  for (const auto& [json, message] : cases) {
    SCOPED_TRACE(json);
    v1::SearchRequest request;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &request).ok());
    v1::SearchResponse response;
    grpc::ClientContext context;
    const grpc::Status status = stub_->Search(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr(message));
    const Reply r = PostJson(server_->http_port(), "/v1/search", json);
    EXPECT_EQ(r.status, 400);
    EXPECT_THAT(r.body, HasSubstr(message));
  }
}

}  // namespace
}  // namespace scry::server
