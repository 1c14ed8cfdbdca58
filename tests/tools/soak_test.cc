// File: tests/tools/soak_test.cc
//
// The hostile mix of issue 17, for SCRY_SOAK_SECONDS (default 120) against
// one `scry serve` on 127.0.0.1 with a low fd limit, while an ordinary
// client searches on its own connection:
//   - connection floods: more idle TCP connections than the fd limit,
//     opened, held and closed over and over;
//   - silent connections that never finish the HTTP/2 preface;
//   - prefix bombs: 780 x `x*`-like prefixes with a 300 s client deadline;
//   - tag bombs: 100 KB highlight tags with top_k 100 and every field;
//   - malformed requests: random bytes as a SearchRequest.
// Must hold: every ordinary search succeeds, the server's resident memory
// stays bounded, the server is alive at the end and accepts new connections.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "scry/v1/search.grpc.pb.h"
#include "tests/server/raw_call.h"
#include "tests/test_util.h"

namespace {

namespace v1 = ::scry::v1;
using Clock = std::chrono::steady_clock;

// Resident memory of `pid` in KiB (0 if it is gone).
long RssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

std::shared_ptr<grpc::Channel> NewChannel(int port, int tag) {
  grpc::ChannelArguments args;
  args.SetInt("scry.soak.channel", tag);  // a connection of its own
  args.SetMaxReceiveMessageSize(256 << 20);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), args);
}

TEST(Soak, TheHostileMixLeavesOrdinarySearchesServedAndMemoryBounded) {
  int seconds = 120;
  if (const char* s = std::getenv("SCRY_SOAK_SECONDS")) seconds = std::max(5, std::atoi(s));
  scry::testing::TempDir dir;
  const std::string index = dir.Sub("idx");
  const std::string sample = scry::testing::TestDataDir() + "/sample.jsonl";
  ASSERT_EQ(std::system(absl::StrCat(SCRY_BINARY, " index -q --input ", sample, " --index ", index,
                                     " >/dev/null 2>&1")
                            .c_str()),
            0);
  const std::string port_file = dir.Sub("port");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    FILE* log = std::fopen(dir.Sub("serve.log").c_str(), "w");
    if (log != nullptr) dup2(fileno(log), STDERR_FILENO);
    // A low fd limit, as on a default Debian machine (1024), lower still.
    const std::string cmd = absl::StrCat("ulimit -n 256 && exec ", SCRY_BINARY, " serve --index ",
                                         index, " --listen 127.0.0.1:0 --port-file ", port_file,
                                         " --max-deadline-ms 5000 --default-deadline-ms 5000 "
                                         "--handshake-timeout-s 2 --idle-timeout-s 30");
    execl("/bin/bash", "bash", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 600 && !std::filesystem::exists(port_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(std::filesystem::exists(port_file)) << scry::testing::ReadFile(dir.Sub("serve.log"));
  const int port = std::stoi(scry::testing::ReadFile(port_file));
  const long rss_start = RssKib(pid);

  // The ordinary client connects first and keeps its connection.
  auto ordinary = v1::SearchService::NewStub(NewChannel(port, 0));
  auto search = [&](v1::SearchService::Stub* stub, const v1::SearchRequest& request, int deadline_s,
                    v1::SearchResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(deadline_s));
    return stub->Search(&context, request, response);
  };
  {
    v1::SearchRequest warm;
    warm.set_query("war");
    v1::SearchResponse r;
    ASSERT_TRUE(search(ordinary.get(), warm, 30, &r).ok());
  }

  std::atomic<bool> stop{false};
  std::atomic<long> max_rss{rss_start};
  std::atomic<int> ordinary_ok{0}, ordinary_failed{0}, hostile_calls{0};
  // The hostile clients connect before the floods, as the ordinary one, so
  // that their calls reach the server; a call that did not (UNAVAILABLE)
  // is not counted.
  auto count = [&](const grpc::Status& s) {
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE) ++hostile_calls;
  };
  auto bomb_channel = NewChannel(port, 1);
  auto tag_channel = NewChannel(port, 2);
  for (const auto& channel : {bomb_channel, tag_channel}) {
    ASSERT_TRUE(
        channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)));
  }
  std::string first_failure;
  std::vector<std::function<void()>> jobs;
  // Ordinary searches, one at a time.
  jobs.emplace_back([&] {
    const char* queries[] = {"war", "\"cold war\"", "peace OR treaty", "soviet union", "nato"};
    for (int i = 0; !stop; ++i) {
      v1::SearchRequest request;
      request.set_query(queries[i % 5]);
      v1::SearchResponse response;
      const grpc::Status s = search(ordinary.get(), request, 30, &response);
      if (s.ok()) {
        ++ordinary_ok;
      } else if (ordinary_failed++ == 0) {
        first_failure = absl::StrCat(s.error_code(), ": ", s.error_message());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  // Connection floods: 400 idle connections (fd limit 256), held 1 s.
  jobs.emplace_back([&] {
    while (!stop) {
      std::vector<int> fds;
      for (int i = 0; i < 400 && !stop; ++i) {
        const int fd = scry::testing::ConnectLoopback(port);
        if (fd >= 0) fds.push_back(fd);
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
      for (int fd : fds) close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  // Silent connections that send half a preface and wait.
  jobs.emplace_back([&] {
    while (!stop) {
      std::vector<int> fds;
      for (int i = 0; i < 20; ++i) {
        const int fd = scry::testing::ConnectLoopback(port);
        if (fd < 0) continue;
        (void)!write(fd, "PRI * HTTP/2.0\r\n", 16);
        fds.push_back(fd);
      }
      std::this_thread::sleep_for(std::chrono::seconds(3));
      for (int fd : fds) close(fd);
    }
  });
  // Prefix bombs, tag bombs and garbage, each on a connection of its own.
  jobs.emplace_back([&] {
    auto stub = v1::SearchService::NewStub(bomb_channel);
    std::string bomb;
    for (int i = 0; i < 780; ++i) {
      if (i > 0) bomb.push_back(' ');
      bomb.push_back(static_cast<char>('a' + i % 26));
      bomb.push_back('*');
    }
    while (!stop) {
      v1::SearchRequest request;
      request.set_query(bomb);
      v1::SearchResponse response;
      count(search(stub.get(), request, 300, &response));
    }
  });
  jobs.emplace_back([&] {
    auto channel = tag_channel;
    auto stub = v1::SearchService::NewStub(channel);
    std::mt19937 rng(20261204);
    while (!stop) {
      v1::SearchRequest request;
      request.set_query("the OR war OR peace");
      request.set_top_k(100);
      request.add_fields()->push_back('*');
      request.mutable_highlight()->set_pre_tag(std::string(100 << 10, '<'));
      request.mutable_highlight()->set_post_tag(std::string(100 << 10, '>'));
      request.mutable_highlight()->set_max_fragments(20);
      v1::SearchResponse response;
      count(search(stub.get(), request, 300, &response));
      std::string garbage(1 + rng() % 512, '\0');
      for (char& c : garbage) c = static_cast<char>(rng());
      std::string out;
      count(scry::testing::RawCall(channel, "/scry.v1.SearchService/Search", garbage, &out));
    }
  });
  // The server's memory, every 200 ms.
  jobs.emplace_back([&] {
    while (!stop) {
      const long rss = RssKib(pid);
      long seen = max_rss.load();
      while (rss > seen && !max_rss.compare_exchange_weak(seen, rss)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  std::vector<std::thread> threads(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) threads[i] = std::thread(jobs[i]);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& t : threads) t.join();

  // Alive, and a new connection is served.
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), 0) << "the server exited";
  auto fresh = v1::SearchService::NewStub(NewChannel(port, 3));
  v1::SearchRequest request;
  request.set_query("nato");
  v1::SearchResponse response;
  grpc::Status last = grpc::Status(grpc::StatusCode::UNKNOWN, "not tried");
  for (int i = 0; i < 50 && !last.ok(); ++i) {  // the last flood's connections drain
    last = search(fresh.get(), request, 10, &response);
    if (!last.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(last.ok()) << last.error_message();

  EXPECT_EQ(ordinary_failed.load(), 0) << first_failure;
  EXPECT_GT(ordinary_ok.load(), seconds);  // several a second
  EXPECT_GT(hostile_calls.load(), 0);
  // Bounded: well under what one prefix or tag bomb took before (1.5-2.1 GB).
  EXPECT_LT(max_rss.load(), 768L << 10) << "start " << rss_start << " KiB";
  std::printf("soak: %d s, %d ordinary searches, %d hostile calls, RSS %ld -> max %ld KiB\n",
              seconds, ordinary_ok.load(), hostile_calls.load(), rss_start, max_rss.load());
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
}

}  // namespace
