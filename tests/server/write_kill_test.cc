// File: tests/server/write_kill_test.cc
//
// SIGKILL during a stream of writes: `scry serve` runs as a child process, a
// client writes batches and remembers every acknowledged operation, the
// server is killed at a random moment (fixed seed), restarted, and every
// acknowledged operation must be in the recovered log with its sequence, in
// order, and the restarted server must take writes again. Each round uses
// one of the --wal-sync policies: a killed process loses nothing the OS
// has, whatever the policy (only a machine's crash can lose unsynced writes).
//
// The visibility half: ids come from a small pool, so writes replace and
// delete documents of earlier rounds; each upsert's title is a version
// unique over the run. After every restart (and a Refresh) a search through
// gRPC shows every id in its last acknowledged state, or in the state of an
// operation sent after it whose answer the kill cut off (it may or may not
// be in the log), never an older version, never twice.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "scry/v1/index.grpc.pb.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/live_writer.h"
#include "storage/status.h"
#include "storage/write_log.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::TempDir;

struct Acked {
  OpKind kind;
  std::string id;
};

constexpr int kIdPool = 1500;
// In every test document's body, in no document of sample.jsonl.
constexpr char kMarker[] = "zqxkill";

// A state of one id: present with a version, or absent (version 0).
struct IdState {
  bool present = false;
  uint64_t version = 0;
  bool operator==(const IdState& o) const { return present == o.present && version == o.version; }
};

// What a search may show for an id: its last acknowledged state, or one of
// the operations sent after it without an answer.
struct Allowed {
  IdState acked;
  std::vector<IdState> unanswered;
  bool Allows(const IdState& s) const {
    return s == acked || std::find(unanswered.begin(), unanswered.end(), s) != unanswered.end();
  }
};

class ServeProcess {
 public:
  ServeProcess(const TempDir& dir, const std::string& index, const std::string& wal_sync, int round)
      : port_file_(dir.Sub(absl::StrCat("port-", round))) {
    const std::string log = dir.Sub(absl::StrCat("serve-", round, ".log"));
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = std::fopen(log.c_str(), "w");
      if (f != nullptr) dup2(fileno(f), STDERR_FILENO);
      execl(SCRY_BINARY, SCRY_BINARY, "serve", "--index", index.c_str(), "--listen", "127.0.0.1:0",
            "--port-file", port_file_.c_str(), "--wal-sync", wal_sync.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 600 && !std::filesystem::exists(port_file_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (std::filesystem::exists(port_file_)) {
      // The file may be seen before its content: read until it parses.
      for (int i = 0; i < 100 && port_ == 0; ++i) {
        const std::string text = ::scry::testing::ReadFile(port_file_);
        if (!text.empty() && text.back() == '\n') port_ = std::stoi(text);
        if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
  ~ServeProcess() {
    if (pid_ > 0) Signal(SIGKILL);
  }
  int port() const { return port_; }
  // Sends `sig` and waits; the exit status.
  int Signal(int sig) {
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  std::string port_file_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// Writes batches until a call fails; every acknowledged operation goes into
// *acked at its sequence, every id's state into *allowed. Versions come
// from *version.
void WriteUntilFailure(int port, uint32_t seed, std::map<uint64_t, Acked>* acked,
                       std::map<std::string, Allowed>* allowed, uint64_t* version) {
  auto stub = v1::IndexService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  std::mt19937 rng(seed);
  uint64_t last_seq = acked->empty() ? 0 : acked->rbegin()->first;
  for (;;) {
    v1::WriteRequest request;
    std::vector<Acked> sent;
    std::vector<IdState> states;
    const int size = 1 + static_cast<int>(rng() % 20);
    for (int i = 0; i < size; ++i) {
      const std::string id = absl::StrCat("k", rng() % kIdPool);
      if (rng() % 5 == 0) {
        request.add_ops()->mutable_delete_()->set_id(id);
        sent.push_back({OpKind::kDelete, id});
        states.push_back({false, 0});
      } else if (rng() % 10 == 0) {
        request.add_ops()->mutable_upsert()->set_document_bytes("{\"id\":");  // refused
        sent.push_back({OpKind::kUpsert, ""});
        states.push_back({false, 0});
      } else {
        const uint64_t v = ++*version;
        request.add_ops()->mutable_upsert()->set_document_bytes(
            absl::StrCat(R"({"id":")", id, R"(","title":"v)", v, R"(","body":")", kMarker,
                         R"( word )", rng() % 1000, R"("})"));
        sent.push_back({OpKind::kUpsert, id});
        states.push_back({true, v});
      }
    }
    request.set_sync(rng() % 4 == 0);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::WriteResponse response;
    if (!stub->Write(&context, request, &response).ok()) {
      // Cut off by the kill: the batch may or may not be in the log.
      for (size_t i = 0; i < sent.size(); ++i) {
        if (!sent[i].id.empty()) (*allowed)[sent[i].id].unanswered.push_back(states[i]);
      }
      return;
    }
    EXPECT_EQ(response.results_size(), size);
    for (int i = 0; i < response.results_size() && i < size; ++i) {
      const v1::OperationResult& r = response.results(i);
      EXPECT_EQ(r.code() == "OK", !sent[i].id.empty());
      if (r.code() != "OK") continue;
      EXPECT_GT(r.seq(), last_seq) << "acknowledged out of order";
      last_seq = r.seq();
      (*acked)[r.seq()] = sent[static_cast<size_t>(i)];
      (*allowed)[sent[i].id] = {states[i], {}};
    }
  }
}

// After a Refresh, a search through gRPC shows every id of *allowed in an
// allowed state, once, and nothing else.
void ExpectVisible(int port, const std::map<std::string, Allowed>& allowed) {
  const auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  {
    grpc::ClientContext context;
    v1::RefreshResponse refreshed;
    const grpc::Status status =
        v1::IndexService::NewStub(channel)->Refresh(&context, v1::RefreshRequest(), &refreshed);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  grpc::ClientContext context;
  v1::SearchRequest request;
  request.set_query(kMarker);
  request.set_top_k(kIdPool + 100);
  v1::SearchResponse response;
  const grpc::Status status =
      v1::SearchService::NewStub(channel)->Search(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::map<std::string, IdState> shown;
  for (const v1::Hit& hit : response.hits()) {
    const IdState state{true, std::stoull(hit.title().substr(1))};
    EXPECT_TRUE(shown.emplace(hit.id(), state).second) << hit.id() << " twice";
    EXPECT_EQ(allowed.count(hit.id()), 1u) << hit.id() << " was never written";
  }
  size_t wrong = 0;
  for (const auto& [id, a] : allowed) {
    const auto it = shown.find(id);
    const IdState state = it == shown.end() ? IdState{} : it->second;
    if (a.Allows(state)) continue;
    if (++wrong <= 5) {
      ADD_FAILURE() << id << " shows " << (state.present ? "v" : "nothing")
                    << (state.present ? std::to_string(state.version) : "")
                    << ", acknowledged: " << (a.acked.present ? "v" : "deleted")
                    << (a.acked.present ? std::to_string(a.acked.version) : "");
    }
  }
  EXPECT_EQ(wrong, 0u) << "of " << allowed.size() << " ids";
}

TEST(WriteKill, EveryAcknowledgedWriteSurvivesSigkillInOrder) {
  TempDir dir;
  const std::string index = dir.Sub("idx");
  indexer::BuildOptions build;
  build.inputs = {::scry::testing::TestDataDir() + "/sample.jsonl"};
  build.index_dir = index;
  build.num_shards = 2;
  ASSERT_THAT(indexer::BuildIndex(build).status(), IsOk());
  SCRY_SEEDED_RNG(rng, 1919);
  const char* kPolicies[] = {"never", "interval:50", "always"};
  std::map<uint64_t, Acked> acked;
  std::map<std::string, Allowed> allowed;
  uint64_t version = 0;
  constexpr int kRounds = 15;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round, ", --wal-sync ", kPolicies[round % 3]));
    ServeProcess server(dir, index, kPolicies[round % 3], round);
    ASSERT_GT(server.port(), 0) << ::scry::testing::ReadFile(
        dir.Sub(absl::StrCat("serve-", round, ".log")));
    // What the rounds before wrote is there, searchable.
    ExpectVisible(server.port(), allowed);
    const size_t before = acked.size();
    const uint32_t seed = static_cast<uint32_t>(rng());
    std::thread client([&] { WriteUntilFailure(server.port(), seed, &acked, &allowed, &version); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 400));
    const int status = server.Signal(SIGKILL);
    client.join();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    EXPECT_GT(acked.size(), before) << "no write was acknowledged before the kill";
  }
  // The index directory opens cleanly: a server starts, takes a write and
  // stops on SIGTERM with status 0.
  {
    ServeProcess server(dir, index, "always", kRounds);
    ASSERT_GT(server.port(), 0);
    ExpectVisible(server.port(), allowed);
    auto stub = v1::IndexService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server.port()), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    v1::WriteRequest request;
    request.add_ops()->mutable_delete_()->set_id("after");
    v1::WriteResponse response;
    ASSERT_TRUE(stub->Write(&context, request, &response).ok());
    ASSERT_EQ(response.results(0).code(), "OK");
    acked[response.results(0).seq()] = {OpKind::kDelete, "after"};
    const int status = server.Signal(SIGTERM);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  // Every acknowledged operation is at its sequence, whole, unless a later
  // logged operation on the same id superseded it (the server drops such
  // records: server/live_segments.h).
  auto log = storage::WriteLog::Open(index + "/live");
  ASSERT_THAT(log, IsOk());
  std::map<uint64_t, LiveOp> logged;
  std::map<std::string, uint64_t> last_logged;  // id -> its last sequence
  ASSERT_THAT((*log)->ReadFrom(1,
                               [&](uint64_t seq, std::string_view record) {
                                 LiveOp op;
                                 SCRY_RETURN_IF_ERROR(LiveWriter::DecodeOp(record, &op));
                                 last_logged[op.doc.id] = seq;
                                 logged[seq] = std::move(op);
                                 return absl::OkStatus();
                               }),
              IsOk());
  size_t missing = 0, superseded = 0;
  for (const auto& [seq, want] : acked) {
    const auto it = logged.find(seq);
    if (it == logged.end()) {
      const auto later = last_logged.find(want.id);
      ++(later != last_logged.end() && later->second > seq ? superseded : missing);
      continue;
    }
    EXPECT_EQ(it->second.kind, want.kind) << seq;
    EXPECT_EQ(it->second.doc.id, want.id) << seq;
  }
  EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acknowledged operations (" << superseded
                         << " superseded)";
  // Sequences never go back: the last record is the last acknowledged one
  // or an operation after it that the kill cut off.
  ASSERT_FALSE(logged.empty());
  EXPECT_GE(logged.rbegin()->first, acked.rbegin()->first);
}

}  // namespace
}  // namespace scry::server
