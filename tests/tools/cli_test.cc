// The `scry` program end to end, as a user runs it: index, stats, serve on
// 127.0.0.1 with a free port, search through gRPC, SIGTERM.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "scry/v1/search.grpc.pb.h"
#include "tests/test_util.h"

namespace {

namespace v1 = ::scry::v1;
using ::scry::testing::ReadFile;
using ::scry::testing::TempDir;
using ::scry::testing::WriteFile;

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr
};

CommandResult Shell(const std::string& args) {
  const std::string cmd = absl::StrCat(SCRY_BINARY, " ", args, " 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string Sample() { return scry::testing::TestDataDir() + "/sample.jsonl"; }

TEST(Cli, IndexStatsAndLocalSearch) {
  TempDir dir;
  CommandResult r =
      Shell(absl::StrCat("index --input ", Sample(), " --index ", dir.Sub("idx"), " --shards 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("indexed 4522 documents"), std::string::npos) << r.output;
  r = Shell(absl::StrCat("stats --index ", dir.Sub("idx")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("docs        4522"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("positions"), std::string::npos) << r.output;
  r = Shell(absl::StrCat("search --index ", dir.Sub("idx"), " -k 3 'nato AND moscow'"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("000_7b2183224cf63943"), std::string::npos) << r.output;
  r = Shell(absl::StrCat("search --index ", dir.Sub("idx"), " 'nato AND'"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("INVALID_ARGUMENT: column 6"), std::string::npos) << r.output;
}

TEST(Cli, BadLineStopsBuildAndKeepsOldIndex) {
  TempDir dir;
  ASSERT_EQ(
      Shell(absl::StrCat("index -q --input ", Sample(), " --index ", dir.Sub("idx"))).exit_code, 0);
  const std::string current = ReadFile(dir.Sub("idx/CURRENT"));
  WriteFile(dir.Sub("bad.jsonl"), "{\"id\":\"1\",\"body\":\"ok\"}\n{\"id\":\"2\",\"body\":3}\n");
  CommandResult r =
      Shell(absl::StrCat("index --input ", dir.Sub("bad.jsonl"), " --index ", dir.Sub("idx")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(dir.Sub("bad.jsonl") + ":2: member \"body\" must be a string"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(ReadFile(dir.Sub("idx/CURRENT")), current);
  r = Shell(absl::StrCat("index --skip-invalid --input ", dir.Sub("bad.jsonl"), " --index ",
                         dir.Sub("idx")));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(1 invalid lines skipped)"), std::string::npos) << r.output;
}

TEST(Cli, ServeSearchThroughGrpcAndStopOnSigterm) {
  TempDir dir;
  ASSERT_EQ(
      Shell(absl::StrCat("index -q --input ", Sample(), " --index ", dir.Sub("idx"))).exit_code, 0);
  const std::string port_file = dir.Sub("port");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(SCRY_BINARY, SCRY_BINARY, "serve", "--index", dir.Sub("idx").c_str(), "--listen",
          "127.0.0.1:0", "--port-file", port_file.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 300 && !std::filesystem::exists(port_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(std::filesystem::exists(port_file));
  const std::string port = ReadFile(port_file).substr(0, ReadFile(port_file).find('\n'));
  CommandResult r = Shell(absl::StrCat("search --server 127.0.0.1:", port, " -k 2 '\"cold war\"'"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("000_7b2183224cf63943"), std::string::npos) << r.output;
  r = Shell(absl::StrCat("search --server 127.0.0.1:", port, " '(unbalanced'"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("INVALID_ARGUMENT: column 1"), std::string::npos) << r.output;
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// SIGTERM while a search runs: the server stops accepting calls, lets the
// running search finish with its answer, and exits 0.
TEST(Cli, SigtermLetsTheRunningSearchFinish) {
  TempDir dir;
  ASSERT_EQ(
      Shell(absl::StrCat("index -q --input ", Sample(), " --index ", dir.Sub("idx"))).exit_code, 0);
  // A slow query: the corpus's 3,000 most frequent words, exhaustively, top 10,000.
  const std::string query =
      absl::StrJoin(scry::testing::MostFrequentWords(Sample(), 3000, {"and", "not"}), " ");

  const std::string port_file = dir.Sub("port");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(SCRY_BINARY, SCRY_BINARY, "serve", "--index", dir.Sub("idx").c_str(), "--listen",
          "127.0.0.1:0", "--port-file", port_file.c_str(), "--max-query-bytes", "65536",
          "--max-clauses", "10000", static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 300 && !std::filesystem::exists(port_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(std::filesystem::exists(port_file));
  const std::string target =
      "127.0.0.1:" + ReadFile(port_file).substr(0, ReadFile(port_file).find('\n'));
  auto stub =
      v1::SearchService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));

  grpc::Status running;
  v1::SearchResponse answer;
  std::thread client([&] {
    v1::SearchRequest request;
    request.set_query(query);
    request.set_top_k(10000);
    request.set_pruning(v1::PRUNING_NONE);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    running = stub->Search(&context, request, &answer);
  });
  // Wait until the server reports the search in flight, then SIGTERM.
  bool in_flight = false;
  for (int i = 0; i < 2000 && !in_flight; ++i) {
    grpc::ClientContext context;
    v1::StatsResponse stats;
    in_flight =
        stub->Stats(&context, v1::StatsRequest(), &stats).ok() && stats.searches_in_flight() > 0;
  }
  if (in_flight) {
    ASSERT_EQ(kill(pid, SIGTERM), 0);
  }
  client.join();
  if (!in_flight) {
    ASSERT_EQ(kill(pid, SIGTERM), 0);
    GTEST_SKIP() << "the search finished before it was seen in flight";
  }
  EXPECT_TRUE(running.ok()) << running.error_message();
  EXPECT_GT(answer.hits_size(), 1000);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Cli, ServeOnMissingIndexFailsCleanly) {
  TempDir dir;
  CommandResult r = Shell(absl::StrCat("serve --index ", dir.Sub("none"), " --listen 127.0.0.1:0"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("FAILED_PRECONDITION"), std::string::npos) << r.output;
}

}  // namespace
