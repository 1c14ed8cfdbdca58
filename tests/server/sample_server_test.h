// File: tests/server/sample_server_test.h
//
// A fixture for tests of a whole Server: the bundled sample corpus indexed
// once per test suite (2 shards) in a temporary directory, options that
// listen on 127.0.0.1 (free ports), and a query heavy enough to outlast a
// short deadline (the 3,000 most frequent words of the corpus).
#ifndef SCRY_TESTS_SERVER_SAMPLE_SERVER_TEST_H_
#define SCRY_TESTS_SERVER_SAMPLE_SERVER_TEST_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "server/server.h"
#include "tests/test_util.h"

namespace scry::testing {

class SampleServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    indexer::BuildOptions options;
    options.inputs = {std::string(SCRY_TEST_DATA_DIR) + "/sample.jsonl"};
    options.index_dir = tmp_->Sub("idx");
    options.num_shards = 2;
    build_status_ = new absl::Status(indexer::BuildIndex(options).status());
    heavy_query_ = new std::string(
        absl::StrJoin(MostFrequentWords(options.inputs[0], 3000, {"and", "not"}), " "));
  }
  static void TearDownTestSuite() {
    delete tmp_;
    delete build_status_;
    delete heavy_query_;
    tmp_ = nullptr;
  }

  void SetUp() override { ASSERT_THAT(*build_status_, IsOk()); }

  // A gRPC port on 127.0.0.1 (free), the sample index, generous query
  // limits (so that the heavy query parses).
  static server::ServerOptions Options() {
    server::ServerOptions options;
    options.index_dir = tmp_->Sub("idx");
    options.listen = "127.0.0.1:0";
    options.searcher.parse.max_query_bytes = 1 << 16;
    options.searcher.parse.max_clauses = 10000;
    return options;
  }

  static std::unique_ptr<server::Server> Start(const server::ServerOptions& options) {
    auto server = server::Server::Start(options);
    EXPECT_THAT(server, IsOk());
    return server.ok() ? std::move(*server) : nullptr;
  }

  static inline TempDir* tmp_ = nullptr;
  static inline absl::Status* build_status_ = nullptr;
  static inline std::string* heavy_query_ = nullptr;
};

}  // namespace scry::testing

#endif  // SCRY_TESTS_SERVER_SAMPLE_SERVER_TEST_H_
