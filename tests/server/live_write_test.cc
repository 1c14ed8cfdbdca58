// File: tests/server/live_write_test.cc
//
// Live writes through a real server on 127.0.0.1: IndexService's per
// operation answers, the stream, token scopes, --read-only, the HTTP routes,
// the apply hook's grouping by shard and the write-ahead log's recovery.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "scry/v1/index.grpc.pb.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/live_writer.h"
#include "server/server.h"
#include "storage/hash.h"
#include "storage/index_dir.h"
#include "tests/server/http_client.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::PostJson;
using ::scry::testing::Reply;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;

constexpr uint32_t kShards = 3;

class LiveWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::scry::testing::WriteFile(dir_.Sub("docs.jsonl"),
                               "{\"id\":\"a\",\"title\":\"first\",\"body\":\"alpha\"}\n"
                               "{\"id\":\"b\",\"title\":\"second\",\"body\":\"beta\"}\n");
    indexer::BuildOptions build;
    build.inputs = {dir_.Sub("docs.jsonl")};
    build.index_dir = dir_.Sub("idx");
    build.num_shards = kShards;
    ASSERT_THAT(indexer::BuildIndex(build).status(), IsOk());
  }

  ServerOptions Options() const {
    ServerOptions options;
    options.index_dir = dir_.Sub("idx");
    options.listen = "127.0.0.1:0";
    return options;
  }

  static std::unique_ptr<v1::IndexService::Stub> Stub(const Server& server) {
    return v1::IndexService::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", server.port()),
                                                         grpc::InsecureChannelCredentials()));
  }

  static v1::Operation Upsert(const std::string& json) {
    v1::Operation op;
    op.mutable_upsert()->set_document_bytes(json);
    return op;
  }
  static v1::Operation Delete(const std::string& id) {
    v1::Operation op;
    op.mutable_delete_()->set_id(id);
    return op;
  }

  static grpc::Status Write(v1::IndexService::Stub* stub, const std::vector<v1::Operation>& ops,
                            v1::WriteResponse* response, const std::string& token = "") {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::WriteRequest request;
    for (const v1::Operation& op : ops) *request.add_ops() = op;
    return stub->Write(&context, request, response);
  }

  // Every record of the index's log, decoded, from a log opened here (the
  // server must be gone).
  std::vector<LiveOp> LoggedOps() const {
    auto log = storage::WriteLog::Open(dir_.Sub("idx") + "/live");
    EXPECT_THAT(log, IsOk());
    std::vector<LiveOp> ops;
    if (!log.ok()) return ops;
    EXPECT_THAT((*log)->ReadFrom(1,
                                 [&](uint64_t seq, std::string_view record) {
                                   LiveOp op;
                                   absl::Status s = LiveWriter::DecodeOp(record, &op);
                                   op.seq = seq;
                                   ops.push_back(std::move(op));
                                   return s;
                                 }),
                IsOk());
    return ops;
  }

  TempDir dir_;
};

TEST_F(LiveWriteTest, AMixedBatchIsAnsweredPerOperationAndTheGoodOnesAreLogged) {
  auto server = Server::Start(Options());
  ASSERT_THAT(server, IsOk());
  auto stub = Stub(**server);
  const std::vector<v1::Operation> ops = {
      Upsert(R"({"id":"c","title":"third","body":"gamma"})"),
      Upsert(R"({"id":"d","title":)"),                // malformed JSON
      Upsert("{\"id\":\"e\",\"body\":\"caf\xC3\"}"),  // invalid UTF-8
      Upsert(R"({"title":"no id"})"),                 // missing id
      Upsert(R"({"id":7,"body":"x"})"),               // id of the wrong type
      Upsert(R"({"id":"f","body":["a"]})"),           // a member of the wrong type
      Delete("a"),
      Delete(""),  // empty id
      Upsert(R"({"id":"g","body":null,"extra":"text"})"),
  };
  v1::WriteResponse response;
  ASSERT_TRUE(Write(stub.get(), ops, &response).ok());
  ASSERT_EQ(response.results_size(), 9);
  const std::vector<std::string> codes = {"OK",
                                          "INVALID_ARGUMENT",
                                          "INVALID_ARGUMENT",
                                          "INVALID_ARGUMENT",
                                          "INVALID_ARGUMENT",
                                          "INVALID_ARGUMENT",
                                          "OK",
                                          "INVALID_ARGUMENT",
                                          "OK"};
  for (int i = 0; i < 9; ++i) EXPECT_EQ(response.results(i).code(), codes[i]) << i;
  // The bulk builder's words.
  EXPECT_THAT(response.results(1).message(), ::testing::HasSubstr("malformed JSON"));
  EXPECT_EQ(response.results(2).message(), "invalid UTF-8");
  EXPECT_EQ(response.results(3).message(), "missing member \"id\"");
  EXPECT_EQ(response.results(4).message(), "member \"id\" must be a string, got a number");
  EXPECT_EQ(response.results(5).message(),
            "member \"body\" must be a string or null, got an array");
  EXPECT_EQ(response.results(7).message(), "the id is empty");
  // Sequences follow request order.
  EXPECT_EQ(response.results(0).seq(), 1u);
  EXPECT_EQ(response.results(6).seq(), 2u);
  EXPECT_EQ(response.results(8).seq(), 3u);

  // document and document_bytes both set: refused alone.
  v1::Operation both = Upsert(R"({"id":"h"})");
  both.mutable_upsert()->set_document(R"({"id":"h"})");
  v1::WriteResponse second;
  ASSERT_TRUE(Write(stub.get(), {both, Delete("b")}, &second).ok());
  EXPECT_EQ(second.results(0).code(), "INVALID_ARGUMENT");
  EXPECT_EQ(second.results(1).seq(), 4u);
  server->reset();

  const std::vector<LiveOp> logged = LoggedOps();
  ASSERT_EQ(logged.size(), 4u);
  EXPECT_EQ(logged[0].kind, OpKind::kUpsert);
  EXPECT_EQ(logged[0].doc.id, "c");
  EXPECT_EQ(logged[0].doc.fields, (std::vector<std::pair<std::string, std::string>>{
                                      {"title", "third"}, {"body", "gamma"}}));
  EXPECT_EQ(logged[1].kind, OpKind::kDelete);
  EXPECT_EQ(logged[1].doc.id, "a");
  EXPECT_EQ(logged[2].doc.id, "g");
  EXPECT_EQ(logged[2].doc.fields,
            (std::vector<std::pair<std::string, std::string>>{{"extra", "text"}}));
  EXPECT_EQ(logged[3].doc.id, "b");
  EXPECT_EQ(logged[3].seq, 4u);
}

TEST_F(LiveWriteTest, TheStreamCountsAndListsRefusedOperationsByPosition) {
  auto server = Server::Start(Options());
  ASSERT_THAT(server, IsOk());
  auto stub = Stub(**server);
  grpc::ClientContext context;
  v1::WriteStreamResponse response;
  auto stream = stub->WriteStream(&context, &response);
  for (int batch = 0; batch < 3; ++batch) {
    v1::WriteRequest request;
    for (int i = 0; i < 4; ++i) {
      const int n = batch * 4 + i;
      *request.add_ops() =
          n % 5 == 3 ? Upsert("{\"id\":") : Upsert(absl::StrCat(R"({"id":"s)", n, R"("})"));
    }
    request.set_sync(batch == 1);
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(response.accepted(), 10u);
  EXPECT_EQ(response.refused(), 2u);
  ASSERT_EQ(response.failures_size(), 2);
  EXPECT_EQ(response.failures(0).index(), 3u);
  EXPECT_EQ(response.failures(1).index(), 8u);
  EXPECT_EQ(response.failures(0).code(), "INVALID_ARGUMENT");
  EXPECT_EQ(response.last_seq(), 10u);
  server->reset();
  const std::vector<LiveOp> logged = LoggedOps();
  ASSERT_EQ(logged.size(), 10u);
  EXPECT_EQ(logged[3].doc.id, "s4");  // s3 was refused
  EXPECT_EQ(logged[9].doc.id, "s11");
}

TEST_F(LiveWriteTest, WritesNeedAWriteScopedTokenEvenWithAnonymousSearch) {
  ::scry::testing::WriteFile(dir_.Sub("tokens"),
                             "# readers and a writer\nreader\nr2 read\n"
                             "feeder write\n");
  ServerOptions options = Options();
  options.auth_token_file = dir_.Sub("tokens");
  options.service.anonymous_search = true;
  options.http_listen = "127.0.0.1:0";
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  auto stub = Stub(**server);
  const std::vector<v1::Operation> ops = {Upsert(R"({"id":"z"})")};
  v1::WriteResponse r;
  EXPECT_EQ(Write(stub.get(), ops, &r).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Write(stub.get(), ops, &r, "reader").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Write(stub.get(), ops, &r, "r2").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Write(stub.get(), ops, &r, "nobody").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(Write(stub.get(), ops, &r, "feeder").ok());
  EXPECT_EQ(r.results(0).code(), "OK");
  {
    // The stream checks the token before reading.
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer reader");
    v1::WriteStreamResponse response;
    auto stream = stub->WriteStream(&context, &response);
    v1::WriteRequest request;
    *request.add_ops() = Upsert(R"({"id":"y"})");
    stream->Write(request);
    stream->WritesDone();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  // A write token reads too; a read token searches.
  auto search = v1::SearchService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*server)->port()), grpc::InsecureChannelCredentials()));
  for (const char* token : {"feeder", "reader"}) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    v1::StatsResponse stats;
    EXPECT_TRUE(search->Stats(&context, v1::StatsRequest(), &stats).ok()) << token;
  }
  // The same over HTTP.
  const int port = (*server)->http_port();
  const std::string body = R"({"ops":[{"upsert":{"document":"{\"id\":\"w\"}"}}]})";
  EXPECT_EQ(PostJson(port, "/v1/write", body).status, 401);
  EXPECT_EQ(PostJson(port, "/v1/write", body, "Authorization: Bearer reader\r\n").status, 403);
  const Reply ok = PostJson(port, "/v1/write", body, "Authorization: Bearer feeder\r\n");
  EXPECT_EQ(ok.status, 200);
  EXPECT_THAT(ok.body, ::testing::HasSubstr("\"code\":\"OK\""));
  EXPECT_EQ(PostJson(port, "/v1/commit", "{}", "Authorization: Bearer feeder\r\n").status, 200);
  EXPECT_EQ(PostJson(port, "/v1/refresh", "{}", "Authorization: Bearer feeder\r\n").status, 200);
}

TEST_F(LiveWriteTest, ATokenFileWithAnUnknownScopeIsRefused) {
  ::scry::testing::WriteFile(dir_.Sub("tokens"), "t admin\n");
  ServerOptions options = Options();
  options.auth_token_file = dir_.Sub("tokens");
  EXPECT_THAT(Server::Start(options),
              StatusIs(absl::StatusCode::kInvalidArgument, "token file line 1"));
  EXPECT_EQ(ParseTokenFile("t write\n u \n"), (std::vector<std::string>{"t", "u"}));
}

TEST_F(LiveWriteTest, AReadOnlyServerRefusesEveryWriteCall) {
  ServerOptions options = Options();
  options.read_only = true;
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  EXPECT_EQ((*server)->writer(), nullptr);
  auto stub = Stub(**server);
  v1::WriteResponse r;
  EXPECT_EQ(Write(stub.get(), {Upsert(R"({"id":"z"})")}, &r).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  {
    grpc::ClientContext context;
    v1::RefreshResponse response;
    EXPECT_EQ(stub->Refresh(&context, v1::RefreshRequest(), &response).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
  {
    grpc::ClientContext context;
    v1::CommitResponse response;
    EXPECT_EQ(stub->Commit(&context, v1::CommitRequest(), &response).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
  {
    grpc::ClientContext context;
    v1::WriteStreamResponse response;
    auto stream = stub->WriteStream(&context, &response);
    stream->WritesDone();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  // The log was never opened.
  server->reset();
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("idx") + "/live"));
}

TEST_F(LiveWriteTest, RefreshHandsThePendingOperationsByShardAndRecoveryReplaysTheUnapplied) {
  struct Applied {
    std::vector<std::vector<LiveOp>> by_shard;
    uint64_t last_seq = 0;
    int calls = 0;
  };
  auto applied = std::make_shared<Applied>();
  std::atomic<bool> fail{false};
  ServerOptions options = Options();
  options.wal_sync = WalSync::kNever;
  options.apply = [applied, &fail](std::vector<std::vector<LiveOp>> by_shard, uint64_t last) {
    ++applied->calls;
    if (fail) return absl::UnavailableError("the engine is busy");
    applied->by_shard = std::move(by_shard);
    applied->last_seq = last;
    return absl::OkStatus();
  };
  std::vector<v1::Operation> ops;
  for (int i = 0; i < 20; ++i) {
    ops.push_back(i % 4 == 3 ? Delete(absl::StrCat("k", i - 1))
                             : Upsert(absl::StrCat(R"({"id":"k)", i, R"(","body":"v"})")));
  }
  {
    auto server = Server::Start(options);
    ASSERT_THAT(server, IsOk());
    auto stub = Stub(**server);
    v1::WriteResponse r;
    ASSERT_TRUE(Write(stub.get(), ops, &r).ok());
    grpc::ClientContext c1;
    v1::RefreshResponse refreshed;
    ASSERT_TRUE(stub->Refresh(&c1, v1::RefreshRequest(), &refreshed).ok());
    EXPECT_EQ(refreshed.applied(), 20u);
    EXPECT_EQ(applied->last_seq, 20u);
    ASSERT_EQ(applied->by_shard.size(), kShards);
    size_t total = 0;
    for (uint32_t s = 0; s < kShards; ++s) {
      uint64_t prev = 0;
      for (const LiveOp& op : applied->by_shard[s]) {
        EXPECT_EQ(storage::ShardForId(op.doc.id, kShards), s) << op.doc.id;
        EXPECT_GT(op.seq, prev);  // sequence order within a shard
        prev = op.seq;
        ++total;
      }
    }
    EXPECT_EQ(total, 20u);
    // Nothing new: an empty refresh does not call the hook.
    grpc::ClientContext c2;
    ASSERT_TRUE(stub->Refresh(&c2, v1::RefreshRequest(), &refreshed).ok());
    EXPECT_EQ(refreshed.applied(), 0u);
    EXPECT_EQ(applied->calls, 1);
    // A failing hook keeps the operations pending.
    ASSERT_TRUE(Write(stub.get(), {Upsert(R"({"id":"late"})")}, &r).ok());
    fail = true;
    grpc::ClientContext c3;
    EXPECT_EQ(stub->Refresh(&c3, v1::RefreshRequest(), &refreshed).error_code(),
              grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ((*server)->writer()->pending(), 1u);
    // The engine says the first 20 are in durable segments.
    ASSERT_THAT((*server)->writer()->log()->MarkApplied(20), IsOk());
  }
  // Recovery: only what follows the applied sequence is pending again, and
  // the server hands it to the hook before it serves.
  fail = false;
  applied->calls = 0;
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  EXPECT_EQ((*server)->writer()->pending(), 0u);
  EXPECT_EQ(applied->calls, 1);
  EXPECT_EQ(applied->last_seq, 21u);
  size_t total = 0;
  for (const auto& shard : applied->by_shard) total += shard.size();
  EXPECT_EQ(total, 1u);
}

TEST_F(LiveWriteTest, WritesAreRefusedWhileABulkBuildOfTheIndexRuns) {
  auto server = Server::Start(Options());
  ASSERT_THAT(server, IsOk());
  auto stub = Stub(**server);
  v1::WriteResponse r;
  ASSERT_TRUE(Write(stub.get(), {Upsert(R"({"id":"before"})")}, &r).ok());
  {
    // What `scry index` holds from its start to its commit: DIR/LOCK.
    auto build = storage::IndexBuild::Begin(dir_.Sub("idx"));
    ASSERT_THAT(build, IsOk());
    const grpc::Status refused = Write(stub.get(), {Upsert(R"({"id":"during"})")}, &r);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(refused.error_message(), ::testing::HasSubstr("bulk build"));
    // The probe took no lock: the build was not disturbed (a second build
    // still finds the lock held).
    EXPECT_THAT(storage::IndexBuild::Begin(dir_.Sub("idx")),
                StatusIs(absl::StatusCode::kUnavailable));
  }
  ASSERT_TRUE(Write(stub.get(), {Upsert(R"({"id":"after"})")}, &r).ok());
  EXPECT_EQ(r.results(0).seq(), 2u);
}

TEST(LiveWriterCodec, OperationsSurviveTheRecordEncoding) {
  indexer::InputDocument doc;
  doc.id = std::string("i\0d", 3);
  doc.fields = {{"title", ""}, {"body", std::string(1000, 'x')}, {"", "y"}};
  LiveOp op;
  ASSERT_THAT(LiveWriter::DecodeOp(LiveWriter::EncodeOp(OpKind::kUpsert, doc), &op), IsOk());
  EXPECT_EQ(op.kind, OpKind::kUpsert);
  EXPECT_EQ(op.doc.id, doc.id);
  EXPECT_EQ(op.doc.fields, doc.fields);
  ASSERT_THAT(LiveWriter::DecodeOp(LiveWriter::EncodeOp(OpKind::kDelete, doc), &op), IsOk());
  EXPECT_EQ(op.kind, OpKind::kDelete);
  EXPECT_TRUE(op.doc.fields.empty());
  const std::string record = LiveWriter::EncodeOp(OpKind::kUpsert, doc);
  for (size_t cut = 0; cut < record.size(); cut += 7) {
    EXPECT_THAT(LiveWriter::DecodeOp(record.substr(0, cut), &op),
                StatusIs(absl::StatusCode::kDataLoss));
  }
}

TEST(LiveWriterCodec, TypedMembersSurviveTheRecordEncoding) {
  indexer::InputDocument doc;
  doc.id = "t";
  doc.fields = {{"body", "text"}};
  doc.typed = {{"lang", {"en", "fr"}, {}},
               {"year", {}, {-5, 2004, std::numeric_limits<int64_t>::min()}},
               {"none", {}, {}}};
  const std::string plain = LiveWriter::EncodeOp(OpKind::kUpsert, {doc.id, doc.fields, {}, 0});
  const std::string record = LiveWriter::EncodeOp(OpKind::kUpsert, doc);
  LiveOp op;
  ASSERT_THAT(LiveWriter::DecodeOp(record, &op), IsOk());
  EXPECT_EQ(op.doc.fields, doc.fields);
  EXPECT_EQ(op.doc.typed, doc.typed);
  // A record without typed members is one written before they existed.
  ASSERT_THAT(LiveWriter::DecodeOp(plain, &op), IsOk());
  EXPECT_TRUE(op.doc.typed.empty());
  for (size_t cut = plain.size() + 1; cut < record.size(); ++cut) {
    EXPECT_THAT(LiveWriter::DecodeOp(record.substr(0, cut), &op),
                StatusIs(absl::StatusCode::kDataLoss))
        << cut;
  }
}

}  // namespace
}  // namespace scry::server

namespace scry::server {
namespace {

// The ids of a search for `query` (top 100) through gRPC.
std::vector<std::string> SearchIds(const Server& server, const std::string& query) {
  auto stub = v1::SearchService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", server.port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::SearchRequest request;
  request.set_query(query);
  request.set_top_k(100);
  v1::SearchResponse response;
  const grpc::Status status = stub->Search(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  std::vector<std::string> ids;
  for (const v1::Hit& hit : response.hits()) ids.push_back(hit.id());
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Waits up to 10 s for `done`.
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 1000 && !done(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// The built-in apply hook end to end: writes are searchable after Refresh
// and by themselves within the refresh interval; a restarted server
// applies its log again; a bulk rebuild switched to keeps the writes.
TEST_F(LiveWriteTest, WritesBecomeSearchableSurviveARestartAndARebuild) {
  ServerOptions options = Options();
  options.refresh_interval_ms = 0;  // explicit refreshes first
  options.reload_poll_ms = 20;
  {
    auto server = Server::Start(options);
    ASSERT_THAT(server, IsOk());
    auto stub = Stub(**server);
    v1::WriteResponse r;
    ASSERT_TRUE(Write(stub.get(),
                      {Upsert(R"({"id":"c","body":"alpha gamma"})"), Delete("b"),
                       Upsert(R"({"id":"a","body":"gamma only"})")},
                      &r)
                    .ok());
    EXPECT_EQ(SearchIds(**server, "gamma"), std::vector<std::string>{});  // not refreshed
    grpc::ClientContext context;
    v1::RefreshResponse refreshed;
    ASSERT_TRUE(stub->Refresh(&context, v1::RefreshRequest(), &refreshed).ok());
    EXPECT_EQ(SearchIds(**server, "gamma"), (std::vector<std::string>{"a", "c"}));
    EXPECT_EQ(SearchIds(**server, "alpha"), std::vector<std::string>{"c"});
    EXPECT_EQ(SearchIds(**server, "beta"), std::vector<std::string>{});
  }
  options.refresh_interval_ms = 50;
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  // The log applied again by the first automatic refresh.
  ASSERT_TRUE(Eventually([&] { return SearchIds(**server, "gamma").size() == 2; }));
  EXPECT_EQ(SearchIds(**server, "beta"), std::vector<std::string>{});
  auto stub = Stub(**server);
  v1::WriteResponse r;
  ASSERT_TRUE(Write(stub.get(), {Upsert(R"({"id":"d","body":"delta gamma"})")}, &r).ok());
  ASSERT_TRUE(Eventually([&] { return SearchIds(**server, "gamma").size() == 3; }));

  // A bulk rebuild from the original two documents: it is served only with
  // the writes applied onto it. A search during the switch never misses
  // them (no half-visible moment: the log is applied before the switch).
  const std::vector<std::string> with_writes = {"a", "c", "d"};
  const auto generation = [&] {
    auto search = v1::SearchService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", (*server)->port()), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    v1::DescribeResponse described;
    EXPECT_TRUE(search->Describe(&context, v1::DescribeRequest(), &described).ok());
    return described.generation();
  };
  const std::string before = generation();
  std::atomic<bool> stop{false};
  std::atomic<int> probes{0}, wrong{0};
  std::thread prober([&] {
    while (!stop.load()) {
      if (SearchIds(**server, "gamma") != with_writes) wrong.fetch_add(1);
      probes.fetch_add(1);
    }
  });
  indexer::BuildOptions build;
  build.inputs = {dir_.Sub("docs.jsonl")};
  build.index_dir = dir_.Sub("idx");
  build.num_shards = kShards;
  ASSERT_THAT(indexer::BuildIndex(build).status(), IsOk());
  const bool switched = Eventually([&] { return generation() != before; });
  const int at_switch = probes.load();
  while (probes.load() < at_switch + 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  stop = true;
  prober.join();
  ASSERT_TRUE(switched);
  EXPECT_EQ(wrong.load(), 0) << "of " << probes.load() << " searches during the switch";
  EXPECT_EQ(SearchIds(**server, "gamma"), with_writes);
  EXPECT_EQ(SearchIds(**server, "beta"), std::vector<std::string>{});
  EXPECT_EQ(SearchIds(**server, "alpha"), std::vector<std::string>{"c"});
}

// The log stays bounded by the live documents: replacing the same ids
// again and again leaves one upsert record per id once the merge thread
// has dropped the superseded ones; a restart then replays the compacted
// log into the same answers, each id once, its last text.
TEST_F(LiveWriteTest, ReplacedDocumentsLeaveTheLogAndARestartStillHasTheLastCopies) {
  ServerOptions options = Options();
  options.refresh_interval_ms = 0;
  const auto log_records = [](const Server& server) {
    std::vector<LiveOp> ops;
    EXPECT_THAT(server.writer()->ReadOps(~uint64_t{0}, &ops), IsOk());
    return ops.size();
  };
  {
    auto server = Server::Start(options);
    ASSERT_THAT(server, IsOk());
    auto stub = Stub(**server);
    for (int round = 0; round < 12; ++round) {
      v1::WriteResponse r;
      ASSERT_TRUE(Write(stub.get(),
                        {Upsert(absl::StrCat(R"({"id":"x","body":"epsilon round)", round, R"("})")),
                         Upsert(absl::StrCat(R"({"id":"y","body":"epsilon zeta)", round, R"("})")),
                         Upsert(R"({"id":"z","body":"epsilon"})")},
                        &r)
                      .ok());
      grpc::ClientContext context;
      v1::RefreshResponse refreshed;
      ASSERT_TRUE(stub->Refresh(&context, v1::RefreshRequest(), &refreshed).ok());
    }
    // 36 records written; the merge thread drops all but the last three.
    EXPECT_TRUE(Eventually([&] { return log_records(**server) == 3; }))
        << log_records(**server) << " records left";
    EXPECT_EQ(SearchIds(**server, "epsilon"), (std::vector<std::string>{"x", "y", "z"}));
  }
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  auto stub = Stub(**server);
  grpc::ClientContext context;
  v1::RefreshResponse refreshed;
  ASSERT_TRUE(stub->Refresh(&context, v1::RefreshRequest(), &refreshed).ok());
  EXPECT_EQ(SearchIds(**server, "epsilon"), (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_EQ(SearchIds(**server, "round11"), std::vector<std::string>{"x"});
  EXPECT_EQ(SearchIds(**server, "round10"), std::vector<std::string>{});
  EXPECT_EQ(SearchIds(**server, "zeta11"), std::vector<std::string>{"y"});
}

}  // namespace
}  // namespace scry::server
