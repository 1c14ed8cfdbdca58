// The `scry` program end to end, as a user runs it: index, stats, serve on
// 127.0.0.1 with a free port, search through gRPC, SIGTERM.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "grpc/grpc.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "scry/v1/search.grpc.pb.h"
#include "tests/fault_fs.h"
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

// Runs `scry args`, under `wrapper` if given (e.g. "timeout 60").
CommandResult Shell(const std::string& args, const std::string& wrapper = "") {
  const std::string cmd = absl::StrCat(wrapper, " ", SCRY_BINARY, " ", args, " 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string Sample() { return scry::testing::TestDataDir() + "/sample.jsonl"; }

// The hit lines of `scry search` output ("RANK  SCORE  ID  TITLE", then its
// fields and snippets indented), one string per hit, in rank order; the
// ranks must run 1, 2, ... with no gap.
std::vector<std::string> SearchHits(const std::string& out) {
  std::vector<std::string> hits;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    absl::string_view rest = absl::StripLeadingAsciiWhitespace(line);
    const size_t space = rest.find(' ');
    int rank = 0;
    if (space != absl::string_view::npos && absl::SimpleAtoi(rest.substr(0, space), &rank) &&
        rank > 0) {
      EXPECT_EQ(rank, static_cast<int>(hits.size()) + 1) << out;
      hits.emplace_back(line);
    } else if (!hits.empty() && absl::StartsWith(line, "      ")) {
      absl::StrAppend(&hits.back(), "\n", line);
    }
  }
  return hits;
}

// The "total hits: N" line of `scry search` output, without the server's
// time; empty if there is none.
std::string TotalHits(const std::string& out) {
  const size_t at = out.find("total hits: ");
  if (at == std::string::npos) return "";
  const std::string line = out.substr(at, out.find('\n', at) - at);
  return line.substr(0, line.find(" (server took"));
}

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
  EXPECT_THAT(r.output, ::testing::ContainsRegex("\nbuild id    [0-9a-f]{32}\n")) << r.output;
  r = Shell(absl::StrCat("search --index ", dir.Sub("idx"), " -k 3 'nato AND moscow'"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("000_7b2183224cf63943"), std::string::npos) << r.output;
  r = Shell(absl::StrCat("search --index ", dir.Sub("idx"), " 'nato AND'"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("INVALID_ARGUMENT: column 6"), std::string::npos) << r.output;
}

TEST(Cli, ReorderedIndexSearchesAlike) {
  // --reorder bp reports its work and changes no answer of `scry search`.
  TempDir dir;
  for (const char* order : {"none", "bp"}) {
    CommandResult r = Shell(absl::StrCat("index --input ", Sample(), " --index ", dir.Sub(order),
                                         " --shards 2 --reorder ", order));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output.find("reordered 2 shard(s) by graph bisection") != std::string::npos,
              std::string(order) == "bp")
        << r.output;
  }
  for (const char* q : {"'nato AND moscow'", "'\"prime minister\" -israel'", "'climate change'"}) {
    const std::string search = absl::StrCat(" -k 20 --exact-total-hits --highlight body ", q);
    CommandResult plain = Shell(absl::StrCat("search --index ", dir.Sub("none"), search));
    CommandResult reordered = Shell(absl::StrCat("search --index ", dir.Sub("bp"), search));
    ASSERT_EQ(plain.exit_code, 0) << plain.output;
    ASSERT_EQ(reordered.exit_code, 0) << reordered.output;
    EXPECT_FALSE(SearchHits(plain.output).empty()) << q;
    EXPECT_EQ(SearchHits(plain.output), SearchHits(reordered.output)) << q;
    EXPECT_NE(TotalHits(plain.output), "") << plain.output;
    EXPECT_EQ(TotalHits(plain.output), TotalHits(reordered.output)) << q;
  }
  CommandResult r = Shell(
      absl::StrCat("index --input ", Sample(), " --index ", dir.Sub("x"), " --reorder random"));
  EXPECT_NE(r.exit_code, 0);
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

// A directory with a link out of it and a file name that is not UTF-8: the
// link is reported and not followed unless --follow-symlinks; the file is a
// bad document (its path escaped), which stops the build or is skipped.
TEST(Cli, InputDirectoryLinksAndNonUtf8Names) {
  TempDir dir;
  const std::string in = dir.Sub("in");
  std::filesystem::create_directories(in);
  std::filesystem::create_directories(dir.Sub("outside"));
  WriteFile(in + "/a.txt", "granite");
  WriteFile(dir.Sub("outside/o.txt"), "basalt");
  std::filesystem::create_directory_symlink("../outside", in + "/out");
  std::filesystem::create_directories(in + "/sub");
  std::filesystem::create_directory_symlink("..", in + "/sub/loop");
  WriteFile(in + "/caf\xe9.txt", "coffee");
  const std::string index = absl::StrCat(" --input ", in, " --index ", dir.Sub("idx"));
  CommandResult r = Shell("index" + index);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(in + "/caf\\xe9.txt: its path cannot be an id (not valid UTF-8)"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("caf\xe9"), std::string::npos) << "printed as it is";
  r = Shell("index --skip-invalid" + index);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(in + "/out: a symbolic link, not followed"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(in + "/sub/loop: a symbolic link, not followed"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("caf\\xe9.txt: its path cannot be an id (not valid UTF-8) (skipped)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("indexed 1 documents (1 invalid lines skipped)"), std::string::npos)
      << r.output;
  r = Shell("index --skip-invalid --follow-symlinks" + index);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("indexed 2 documents (1 invalid lines skipped)"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(in + "/sub/loop: a symbolic link to a directory walked already"),
            std::string::npos)
      << r.output;
  r = Shell(absl::StrCat("search --index ", dir.Sub("idx"), " 'basalt OR granite'"));
  EXPECT_NE(r.output.find("out/o.txt"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("total hits: 2"), std::string::npos) << r.output;
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

// Whether the peer has closed `fd` (end of stream or reset) by now; what it
// sent before (a server's HTTP/2 SETTINGS) is read and dropped.
bool PeerClosed(int fd) {
  while (true) {
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n > 0) continue;
    return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

// A search on a new connection of its own (deadline 2 s).
grpc::Status SearchOnNewConnection(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = v1::SearchService::NewStub(
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::SearchRequest request;
  request.set_query("\"cold war\"");
  v1::SearchResponse response;
  grpc::Status status = stub->Search(&context, request, &response);
  if (status.ok() && response.hits_size() == 0) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "no hits");
  }
  return status;
}

// More idle TCP connections than the server's fd limit (256, soft and hard):
// the server closes those past its cap (derived from the limit) at once
// instead of running out of descriptors, keeps accepting, and answers on new
// connections once the ones it holds close. (gRPC's own listener stopped
// accepting for good after its first EMFILE.)
TEST(Cli, ServeOutlastsMoreIdleConnectionsThanItsFdLimit) {
  constexpr int kConnections = 400;
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur < kConnections + 200) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, kConnections + 200);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
  }
  ASSERT_GE(limit.rlim_cur, static_cast<rlim_t>(kConnections + 200))
      << "this test needs " << kConnections + 200 << " descriptors";
  TempDir dir;
  ASSERT_EQ(
      Shell(absl::StrCat("index -q --input ", Sample(), " --index ", dir.Sub("idx"))).exit_code, 0);
  const std::string port_file = dir.Sub("port"), log = dir.Sub("serve.log");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    FILE* out = std::fopen(log.c_str(), "w");
    dup2(fileno(out), STDOUT_FILENO);
    dup2(fileno(out), STDERR_FILENO);
    execl("/bin/bash", "bash", "-c",
          "ulimit -n 256 && exec \"$0\" serve --index \"$1\" --listen 127.0.0.1:0 --port-file "
          "\"$2\"",
          SCRY_BINARY, dir.Sub("idx").c_str(), port_file.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 300 && !std::filesystem::exists(port_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(std::filesystem::exists(port_file)) << ReadFile(log);
  const int port = std::stoi(ReadFile(port_file));
  const std::string target = absl::StrCat("127.0.0.1:", port);
  ASSERT_TRUE(SearchOnNewConnection(target).ok());

  std::vector<int> idle;
  for (int i = 0; i < kConnections; ++i) {
    const int fd = scry::testing::ConnectLoopback(port);
    if (fd >= 0) idle.push_back(fd);
  }
  EXPECT_EQ(idle.size(), static_cast<size_t>(kConnections));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  int waited = 0;
  EXPECT_EQ(waitpid(pid, &waited, WNOHANG), 0) << "the server exited\n" << ReadFile(log);
  // Those past the cap were closed by the server at once (refused cleanly);
  // the ones it holds are left open.
  std::vector<int> held;
  for (int fd : idle) {
    if (!PeerClosed(fd)) held.push_back(fd);
  }
  EXPECT_GE(idle.size() - held.size(), static_cast<size_t>(kConnections - 256)) << ReadFile(log);
  EXPECT_GT(held.size(), 0u);
  // A search on a new connection is refused (or served) now, and served
  // once the connections the server holds close.
  (void)SearchOnNewConnection(target);
  for (int fd : held) close(fd);
  grpc::Status status;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    status = SearchOnNewConnection(target);
  } while (!status.ok() && std::chrono::steady_clock::now() < until);
  EXPECT_TRUE(status.ok()) << status.error_message() << "\n" << ReadFile(log);
  // The rest (those the server closed); the held ones are closed already,
  // and their numbers may belong to gRPC's own descriptors by now (closing
  // them again broke the next search's channel: "Bad file descriptor").
  for (int fd : idle) {
    if (std::find(held.begin(), held.end(), fd) == held.end()) close(fd);
  }

  // All gone: the server still accepts and answers, again and again.
  for (int i = 0; i < 5; ++i) {
    status = SearchOnNewConnection(target);
    EXPECT_TRUE(status.ok()) << i << ": " << status.error_message();
  }
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_EQ(waitpid(pid, &waited, 0), pid);
  EXPECT_TRUE(WIFEXITED(waited));
  EXPECT_EQ(WEXITSTATUS(waited), 0);
  const std::string text = ReadFile(log);
  EXPECT_NE(text.find("fd limit 256, max 16 connections"), std::string::npos) << text;
  EXPECT_NE(text.find("connection(s) closed at once: --max-connections 16 open"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("Too many open files"), std::string::npos) << text;
}

// Starts `scry serve` on 127.0.0.1 (a free port) with `extra` flags; returns
// its pid and sets *target to HOST:PORT, or -1 if it did not come up.
pid_t StartServer(const std::string& index, const std::string& port_file,
                  const std::vector<std::string>& extra, std::string* target) {
  std::filesystem::remove(port_file);
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<std::string> args = {"serve",       "--index",     index,    "--listen",
                                     "127.0.0.1:0", "--port-file", port_file};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv = {const_cast<char*>(SCRY_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(SCRY_BINARY, argv.data());
    _exit(127);
  }
  for (int i = 0; i < 300 && !std::filesystem::exists(port_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!std::filesystem::exists(port_file)) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }
  const std::string text = ReadFile(port_file);
  *target = "127.0.0.1:" + text.substr(0, text.find('\n'));
  return pid;
}

// SIGTERM while a search runs: the server stops accepting calls, lets the
// running search finish with its answer, and exits 0. The signal is sent
// once the server reports the search in flight; a round counts if the
// server's answer shows it was still searching when the signal went (sent
// at t0 or later, it took `took`: it ran at least until t0 + took), else the
// round is run again on a fresh server.
TEST(Cli, SigtermLetsTheRunningSearchFinish) {
  TempDir dir;
  ASSERT_EQ(
      Shell(absl::StrCat("index -q --input ", Sample(), " --index ", dir.Sub("idx"))).exit_code, 0);
  // A slow query: the corpus's 3,000 most frequent words, exhaustively, top 10,000.
  const std::string query =
      absl::StrJoin(scry::testing::MostFrequentWords(Sample(), 3000, {"and", "not"}), " ");

  constexpr int kRounds = 5;
  int round = 0;
  for (; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    std::string target;
    const pid_t pid =
        StartServer(dir.Sub("idx"), dir.Sub("port"),
                    {"--max-query-bytes", "65536", "--max-clauses", "10000"}, &target);
    ASSERT_GT(pid, 0) << "the server did not start";
    auto stub =
        v1::SearchService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    // The channel up before the clock starts.
    {
      grpc::ClientContext context;
      v1::StatsResponse stats;
      ASSERT_TRUE(stub->Stats(&context, v1::StatsRequest(), &stats).ok());
    }

    grpc::Status running;
    v1::SearchResponse answer;
    std::atomic<bool> answered{false};
    const auto sent = std::chrono::steady_clock::now();
    std::thread client([&] {
      v1::SearchRequest request;
      request.set_query(query);
      request.set_top_k(10000);
      request.set_pruning(v1::PRUNING_NONE);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      running = stub->Search(&context, request, &answer);
      answered = true;
    });
    // Wait until the server reports the search in flight, then SIGTERM.
    bool in_flight = false;
    while (!in_flight && !answered) {
      grpc::ClientContext context;
      v1::StatsResponse stats;
      in_flight =
          stub->Stats(&context, v1::StatsRequest(), &stats).ok() && stats.searches_in_flight() > 0;
    }
    const auto signalled = std::chrono::steady_clock::now();
    ASSERT_EQ(kill(pid, SIGTERM), 0);
    client.join();
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    // Whatever the timing, the search is answered in full, never cut.
    EXPECT_TRUE(running.ok()) << running.error_message();
    if (!running.ok()) break;
    EXPECT_GT(answer.hits_size(), 1000);
    const auto ran_until = sent + std::chrono::microseconds(answer.took_micros());
    if (in_flight && ran_until > signalled) break;  // the search outlived the signal
  }
  EXPECT_LT(round, kRounds) << "in " << kRounds
                            << " rounds the search never ran past the SIGTERM: the test proved "
                               "nothing (is the query too light?)";
}

// Every file of the index directory but its LOCK, with its contents.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().filename() != "LOCK") {
      out[e.path().string()] = ReadFile(e.path().string());
    }
  }
  return out;
}

// Starts `scry args...` with its output to /dev/null; returns its pid.
pid_t Spawn(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(SCRY_BINARY));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    FILE* null = std::fopen("/dev/null", "w");
    dup2(fileno(null), STDOUT_FILENO);
    dup2(fileno(null), STDERR_FILENO);
    execv(SCRY_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

TEST(Cli, SigkillDuringABuildLeavesThePreviousIndexAndARerunStartsClean) {
  TempDir dir;
  const std::string idx = dir.Sub("idx");
  ASSERT_EQ(
      Shell(absl::StrCat("index -q --shards 2 --input ", Sample(), " --index ", idx)).exit_code, 0);
  auto before = Snapshot(idx);
  std::string before_current = ReadFile(idx + "/CURRENT");
  std::string hits_before =
      Shell(absl::StrCat("search --index ", idx, " -k 5 'nato moscow'")).output;
  ASSERT_NE(hits_before.find("000_7b2183224cf63943"), std::string::npos) << hits_before;

  // A larger input (the sample 6 times over, fresh ids), built with a small
  // memory cap so that it writes sorted runs and merges them.
  const std::string sample = ReadFile(Sample());
  std::string big;
  for (int copy = 0; copy < 6; ++copy) {
    std::string part = sample;
    const std::string from = "{\"id\": \"";
    const std::string to = absl::StrCat(from, "c", copy, "-");
    for (size_t at = part.find(from); at != std::string::npos; at = part.find(from, at + 1)) {
      part.replace(at, from.size(), to);
    }
    big += part;
  }
  WriteFile(dir.Sub("big.jsonl"), big);
  const std::vector<std::string> build = {"index",   "--input",     dir.Sub("big.jsonl"),
                                          "--index", idx,           "--shards",
                                          "2",       "--memory-mb", "2"};

  // How long an uninterrupted build takes (into another directory).
  std::vector<std::string> timed = build;
  timed[4] = dir.Sub("timed");
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  waitpid(Spawn(timed), &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const auto full = std::chrono::steady_clock::now() - start;

  // Killed at 5% to 95% of that: reading and inverting, writing runs,
  // merging, writing shards.
  int killed = 0;
  for (double at : {0.05, 0.25, 0.5, 0.7, 0.85, 0.95}) {
    const pid_t pid = Spawn(build);
    std::this_thread::sleep_for(std::chrono::duration_cast<std::chrono::microseconds>(full * at));
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    const bool signaled = WIFSIGNALED(status);
    if (!signaled) {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "at " << at;
    }
    if (ReadFile(idx + "/CURRENT") != before_current) {
      // The build got past its switch (finished, or killed after CURRENT
      // was replaced, while removing the old generation): then the new
      // index is whole.
      const std::string hits =
          Shell(absl::StrCat("search --index ", idx, " -k 5 'nato moscow'")).output;
      EXPECT_NE(hits.find("c0-000_7b2183224cf63943"), std::string::npos) << "at " << at << hits;
      EXPECT_NE(Shell(absl::StrCat("stats --index ", idx)).output.find("docs        27132"),
                std::string::npos)
          << "at " << at;
      before = Snapshot(idx);
      before_current = ReadFile(idx + "/CURRENT");
      hits_before = hits;
      continue;
    }
    ASSERT_TRUE(signaled) << "a build that exited 0 switched CURRENT, at " << at;
    ++killed;
    const auto after = Snapshot(idx);
    // The live generation is what it was, file for file. Beside it there may
    // be an unfinished *.tmp generation, or a finished one that CURRENT does
    // not name yet (killed between the two renames): never referenced.
    const std::string live =
        absl::StrCat(idx, "/", absl::StripAsciiWhitespace(before_current), "/");
    for (const auto& [path, contents] : before) {
      auto it = after.find(path);
      ASSERT_TRUE(it != after.end()) << "killed at " << at << ": " << path << " is gone";
      EXPECT_TRUE(it->second == contents) << "killed at " << at << ": " << path << " changed";
    }
    for (const auto& [path, contents] : after) {
      if (!before.contains(path)) {
        EXPECT_EQ(path.find(live), std::string::npos) << "killed at " << at << ": " << path;
      }
    }
    EXPECT_EQ(Shell(absl::StrCat("search --index ", idx, " -k 5 'nato moscow'")).output,
              hits_before)
        << "killed at " << at;
  }
  EXPECT_GE(killed, 3) << "most kills should land before the build ends";

  // A rerun starts clean: it removes the leftovers and switches to the new
  // index.
  CommandResult r = Shell(absl::StrCat("index --shards 2 --memory-mb 2 --input ",
                                       dir.Sub("big.jsonl"), " --index ", idx));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("indexed 27132 documents"), std::string::npos) << r.output;
  for (const auto& e : std::filesystem::directory_iterator(idx)) {
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  }
  r = Shell(absl::StrCat("search --index ", idx, " -k 5 'nato moscow'"));
  EXPECT_NE(r.output.find("c0-000_7b2183224cf63943"), std::string::npos) << r.output;
}

TEST(Cli, CompressedStandardInputAndAssembledParts) {
  TempDir dir;
  // zstd on standard input, told by its magic number.
  ASSERT_EQ(std::system(absl::StrCat("zstd -q -c ", Sample(), " > ", dir.Sub("s.zst")).c_str()), 0);
  CommandResult r = Shell(absl::StrCat("index --shards 2 --input - --index ", dir.Sub("whole"),
                                       " < ", dir.Sub("s.zst")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("indexed 4522 documents"), std::string::npos) << r.output;
  // The same index from two parts, built apart and assembled.
  for (int s = 0; s < 2; ++s) {
    r = Shell(absl::StrCat("index --shards 2 --shard ", s, " --input ", dir.Sub("s.zst"),
                           " --index ", dir.Sub(absl::StrCat("part", s))));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(absl::StrCat("part: shard ", s, " of 2")), std::string::npos)
        << r.output;
  }
  r = Shell(absl::StrCat("search --index ", dir.Sub("part0"), " nato"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("scry assemble"), std::string::npos) << r.output;
  // `scry stats` of a part: its shard's figures; the parts' documents add up.
  uint64_t part_docs = 0;
  for (int s = 0; s < 2; ++s) {
    r = Shell(absl::StrCat("stats --index ", dir.Sub(absl::StrCat("part", s))));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(absl::StrCat("(a part: shard ", s, " alone")), std::string::npos)
        << r.output;
    const size_t at = r.output.find("\ndocs");
    ASSERT_NE(at, std::string::npos) << r.output;
    uint64_t docs = 0;
    ASSERT_TRUE(absl::SimpleAtoi(
        absl::StripAsciiWhitespace(r.output.substr(at + 5, r.output.find('\n', at + 1) - at - 5)),
        &docs))
        << r.output;
    EXPECT_GT(docs, 0u);
    part_docs += docs;
  }
  EXPECT_EQ(part_docs, 4522u);
  r = Shell(absl::StrCat("assemble --part ", dir.Sub("part1"), " --part ", dir.Sub("part0"),
                         " --index ", dir.Sub("assembled")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("assembled 2 shards, 4522 documents"), std::string::npos) << r.output;
  const std::string q = " -k 20 'moscow OR treaty OR \"prime minister\"'";
  const std::string whole = Shell(absl::StrCat("search --index ", dir.Sub("whole"), q)).output;
  EXPECT_NE(whole.find("000_7b2183224cf63943"), std::string::npos) << whole;
  const std::string assembled =
      Shell(absl::StrCat("search --index ", dir.Sub("assembled"), q)).output;
  // Same hits and scores, every one of them (-k 20, or all if fewer).
  const std::vector<std::string> whole_hits = SearchHits(whole);
  size_t total = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripPrefix(TotalHits(whole), "total hits: "), &total))
      << whole;
  EXPECT_GT(total, 1u) << whole;
  EXPECT_EQ(whole_hits.size(), std::min<size_t>(total, 20)) << whole;
  EXPECT_EQ(SearchHits(assembled), whole_hits);
  EXPECT_EQ(TotalHits(assembled), TotalHits(whole));
  r = Shell(absl::StrCat("assemble --part ", dir.Sub("part1"), " --index ", dir.Sub("bad")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no part holds shard 0 of 2"), std::string::npos) << r.output;
}

TEST(Cli, ServeOnMissingIndexFailsCleanly) {
  TempDir dir;
  CommandResult r = Shell(absl::StrCat("serve --index ", dir.Sub("none"), " --listen 127.0.0.1:0"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("FAILED_PRECONDITION"), std::string::npos) << r.output;
}

TEST(Cli, VerifyReportsDamageAndServeVerifyOnOpenRefusesIt) {
  TempDir dir;
  const std::string idx = dir.Sub("idx");
  ASSERT_EQ(
      Shell(absl::StrCat("index -q --shards 2 --input ", Sample(), " --index ", idx)).exit_code, 0);
  CommandResult r = Shell(absl::StrCat("verify --index ", idx));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ok: 2 shards"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("4522 docs"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

  // A flipped byte in a data block of shard 1's postings.
  const std::string gen =
      absl::StrCat(idx, "/", absl::StripAsciiWhitespace(ReadFile(idx + "/CURRENT")));
  const auto postings = scry::testing::SstFilesOf(gen + "/shard-001", "postings");
  ASSERT_EQ(postings.size(), 1u);
  scry::testing::FlipByte(postings[0].path, postings[0].data_bytes / 3);
  r = Shell(absl::StrCat("verify --index ", idx));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("shard-001 postings file " +
                          std::filesystem::path(postings[0].path).filename().string()),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("DAMAGED"), std::string::npos) << r.output;

  // The server refuses to start on it (it would open: no block is read at open) with
  // --verify-on-open (`timeout`: a server that started anyway would never exit).
  r = Shell(absl::StrCat("serve --index ", idx, " --listen 127.0.0.1:0 --verify-on-open"),
            "timeout 120");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("DATA_LOSS"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("failed verification"), std::string::npos) << r.output;

  // A truncated file of shard 0 as well.
  const auto docs = scry::testing::SstFilesOf(gen + "/shard-000", "docs");
  ASSERT_EQ(docs.size(), 1u);
  std::filesystem::resize_file(docs[0].path, docs[0].size - 100);
  r = Shell(absl::StrCat("verify --index ", idx));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("shard-000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("shard-001 postings"), std::string::npos) << r.output;
}

}  // namespace
