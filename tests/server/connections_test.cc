// Connection limits of the server on loopback (127.0.0.1, a free port):
// the cap on open connections (--max-connections; one more is closed at
// once, and a slot is free again once a connection closes), and idle and
// slow connections closed after --idle-timeout-s / --handshake-timeout-s.
// The counts are checked through the Stats RPC (connections_open,
// connections_refused, max_connections).
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "grpc/grpc.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/acceptor.h"
#include "server/server.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::TempDir;
using Clock = std::chrono::steady_clock;

// A channel with a connection of its own (not shared with other channels
// to the same address, as gRPC does by default).
std::shared_ptr<grpc::Channel> OwnChannel(int port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials(), args);
}

grpc::Status CallStats(const std::shared_ptr<grpc::Channel>& channel, v1::StatsResponse* stats,
                       int deadline_ms = 5000) {
  auto stub = v1::SearchService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  return stub->Stats(&context, v1::StatsRequest(), stats);
}

// Whether the server closed `fd` within `ms` (end of stream or reset); what
// it sent before (its HTTP/2 SETTINGS) is read and dropped.
bool ClosedByServer(int fd, int ms) {
  const auto until = Clock::now() + std::chrono::milliseconds(ms);
  while (true) {
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n > 0) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return true;  // reset
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, static_cast<int>(left));
  }
}

class ConnectionsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    scry::testing::WriteFile(
        tmp_->Sub("docs.jsonl"),
        "{\"id\":\"a\",\"body\":\"cold war\"}\n{\"id\":\"b\",\"body\":\"war\"}\n");
    indexer::BuildOptions options;
    options.inputs = {tmp_->Sub("docs.jsonl")};
    options.index_dir = tmp_->Sub("idx");
    build_status_ = new absl::Status(indexer::BuildIndex(options).status());
  }
  static void TearDownTestSuite() {
    delete tmp_;
    delete build_status_;
  }
  void SetUp() override { ASSERT_THAT(*build_status_, IsOk()); }

  static ServerOptions Options() {
    ServerOptions options;
    options.index_dir = tmp_->Sub("idx");
    options.listen = "127.0.0.1:0";
    return options;
  }

  static TempDir* tmp_;
  static absl::Status* build_status_;
};

TempDir* ConnectionsTest::tmp_ = nullptr;
absl::Status* ConnectionsTest::build_status_ = nullptr;

TEST_F(ConnectionsTest, DefaultCapFollowsTheFdLimit) {
  EXPECT_EQ(DefaultMaxConnections(1024, 20), 1024 - 20 - 256);
  EXPECT_EQ(DefaultMaxConnections(256, 20), 16);  // at least 16
  EXPECT_EQ(DefaultMaxConnections(1 << 20, 20), 16384);
  EXPECT_EQ(DefaultMaxConnections(-1, 20), 16384);  // limit unknown
  auto server = Server::Start(Options());
  ASSERT_THAT(server, IsOk());
  EXPECT_GE((*server)->max_connections(), 16);
  EXPECT_LE((*server)->max_connections(), 16384);
  v1::StatsResponse stats;
  ASSERT_TRUE(CallStats(OwnChannel((*server)->port()), &stats).ok());
  EXPECT_EQ(stats.max_connections(), static_cast<uint64_t>((*server)->max_connections()));
}

TEST_F(ConnectionsTest, CapClosesExcessConnectionsAndFreesSlotsWhenTheyClose) {
  ServerOptions options = Options();
  options.max_connections = 8;
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  const int port = (*server)->port();
  EXPECT_EQ((*server)->max_connections(), 8);

  // The first 8 connections work.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < 8; ++i) {
    channels.push_back(OwnChannel(port));
    v1::StatsResponse stats;
    ASSERT_TRUE(CallStats(channels.back(), &stats).ok()) << i;
    EXPECT_EQ(stats.connections_open(), static_cast<uint64_t>(i + 1));
  }
  // The 9th to 20th are closed by the server at once.
  std::vector<int> raw;
  for (int i = 0; i < 12; ++i) {
    const int fd = scry::testing::ConnectLoopback(port);
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(ClosedByServer(fd, 2000)) << "connection " << 9 + i << " left open";
    raw.push_back(fd);
  }
  for (int fd : raw) close(fd);
  {
    std::shared_ptr<grpc::Channel> ninth = OwnChannel(port);
    v1::StatsResponse stats;
    EXPECT_FALSE(CallStats(ninth, &stats, 1000).ok());
  }
  // The 8 still work and are still counted.
  v1::StatsResponse stats;
  for (const auto& channel : channels) ASSERT_TRUE(CallStats(channel, &stats).ok());
  EXPECT_EQ(stats.connections_open(), 8u);
  EXPECT_GE(stats.connections_refused(), 13u);
  EXPECT_EQ(stats.max_connections(), 8u);

  // Three close: three new connections work (once the server has seen the
  // old ones end, within its ~200 ms sweep).
  channels.resize(5);
  for (int i = 0; i < 3; ++i) {
    std::shared_ptr<grpc::Channel> channel;
    grpc::Status status;
    const auto until = Clock::now() + std::chrono::seconds(5);
    do {
      channel = OwnChannel(port);
      status = CallStats(channel, &stats, 1000);
    } while (!status.ok() && Clock::now() < until);
    ASSERT_TRUE(status.ok()) << i << ": " << status.error_message();
    channels.push_back(channel);
  }
  ASSERT_TRUE(CallStats(channels[0], &stats).ok());
  EXPECT_EQ(stats.connections_open(), 8u);
  // And the cap holds again.
  const int fd = scry::testing::ConnectLoopback(port);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(ClosedByServer(fd, 2000));
  close(fd);
}

TEST_F(ConnectionsTest, IdleAndSilentConnectionsAreClosed) {
  ServerOptions options = Options();
  options.idle_timeout_s = 1;
  options.handshake_timeout_s = 1;
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  const int port = (*server)->port();

  // A TCP connection that never sends the HTTP/2 preface: closed after the
  // handshake timeout.
  const int fd = scry::testing::ConnectLoopback(port);
  ASSERT_GE(fd, 0);
  Clock::time_point start = Clock::now();
  EXPECT_FALSE(ClosedByServer(fd, 500));
  EXPECT_TRUE(ClosedByServer(fd, 5000)) << "a silent connection was left open";
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(800));
  close(fd);

  // A gRPC connection without calls: closed (GOAWAY) after the idle timeout;
  // the channel goes from READY to IDLE.
  std::shared_ptr<grpc::Channel> channel = OwnChannel(port);
  v1::StatsResponse stats;
  ASSERT_TRUE(CallStats(channel, &stats).ok());
  ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  start = Clock::now();
  EXPECT_TRUE(channel->WaitForStateChange(
      GRPC_CHANNEL_READY, std::chrono::system_clock::now() + std::chrono::seconds(6)));
  EXPECT_NE(channel->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(800));

  // The server no longer counts it: only the connection of this Stats call.
  std::shared_ptr<grpc::Channel> other = OwnChannel(port);
  const auto until = Clock::now() + std::chrono::seconds(3);
  do {
    ASSERT_TRUE(CallStats(other, &stats).ok());
  } while (stats.connections_open() != 1 && Clock::now() < until);
  EXPECT_EQ(stats.connections_open(), 1u);
}

TEST_F(ConnectionsTest, ListenErrors) {
  auto first = Server::Start(Options());
  ASSERT_THAT(first, IsOk());
  // No SO_REUSEPORT: a second server on the same port fails.
  ServerOptions options = Options();
  options.listen = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = Server::Start(options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("cannot listen on"), std::string::npos)
      << second.status();
  // A name: every address it resolves to that can be bound, on one port.
  options.listen = "localhost:0";
  options.read_only = true;  // `first` takes the writes of this index
  {
    auto named = Server::Start(options);
    ASSERT_THAT(named, IsOk());
    v1::StatsResponse stats;
    EXPECT_TRUE(CallStats(OwnChannel((*named)->port()), &stats).ok());
  }
  options.listen = "no-port";
  EXPECT_EQ(Server::Start(options).status().code(), absl::StatusCode::kUnavailable);
  options = Options();
  options.max_connections = -1;
  EXPECT_EQ(Server::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace scry::server
