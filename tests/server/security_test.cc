// TLS, mutual TLS and bearer-token auth of the server, on loopback
// (127.0.0.1, a free port), with certificates made for the test by the
// openssl command (EC P-256 keys, valid one day, SAN IP:127.0.0.1).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/server.h"
#include "tests/server/raw_call.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    setup_error_ = new std::string();
    const std::string corpus = tmp_->Sub("c.jsonl");
    scry::testing::WriteFile(corpus,
                             "{\"id\":\"a\",\"title\":\"apple pie\",\"body\":\"apple kiwi\"}\n"
                             "{\"id\":\"b\",\"title\":\"kiwi\",\"body\":\"lemon\"}\n");
    indexer::BuildOptions options;
    options.inputs = {corpus};
    options.index_dir = tmp_->Sub("idx");
    absl::Status built = indexer::BuildIndex(options).status();
    if (!built.ok()) {
      *setup_error_ = built.ToString();
      return;
    }
    // A CA; a server certificate it signs for 127.0.0.1; a client
    // certificate it signs; and a self-signed client certificate it does not.
    const std::string d = tmp_->path().string();
    const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::vector<std::string> commands = {
        "openssl req -x509 " + key + " -keyout " + d + "/ca.key -out " + d +
            "/ca.pem -days 1 -subj /CN=scry-test-ca",
        "openssl req -new " + key + " -keyout " + d + "/server.key -out " + d +
            "/server.csr -subj /CN=localhost",
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > " + d + "/san.ext",
        "openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.pem -CAkey " + d +
            "/ca.key -CAcreateserial -out " + d + "/server.pem -days 1 -extfile " + d + "/san.ext",
        "openssl req -new " + key + " -keyout " + d + "/client.key -out " + d +
            "/client.csr -subj /CN=client",
        "openssl x509 -req -in " + d + "/client.csr -CA " + d + "/ca.pem -CAkey " + d +
            "/ca.key -CAcreateserial -out " + d + "/client.pem -days 1",
        "openssl req -x509 " + key + " -keyout " + d + "/rogue.key -out " + d +
            "/rogue.pem -days 1 -subj /CN=rogue",
    };
    for (const std::string& c : commands) {
      if (std::system((c + " >/dev/null 2>&1").c_str()) != 0) {
        *setup_error_ = "failed: " + c;
        return;
      }
    }
  }
  static void TearDownTestSuite() {
    delete tmp_;
    delete setup_error_;
  }
  void SetUp() override { ASSERT_EQ(*setup_error_, "") << *setup_error_; }

  static std::string File(const std::string& name) { return tmp_->Sub(name); }

  static ServerOptions Options() {
    ServerOptions options;
    options.index_dir = tmp_->Sub("idx");
    options.listen = "127.0.0.1:0";
    return options;
  }

  // The certificate names 127.0.0.1 and localhost; this gRPC matches DNS
  // names only, hence the override.
  static std::shared_ptr<grpc::Channel> Channel(
      const Server& server, std::shared_ptr<grpc::ChannelCredentials> credentials) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server.port()), credentials,
                                     args);
  }

  static std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& client = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadAll(File("ca.pem"));
    if (!client.empty()) {
      ssl.pem_cert_chain = ReadAll(File(client + ".pem"));
      ssl.pem_private_key = ReadAll(File(client + ".key"));
    }
    return grpc::SslCredentials(ssl);
  }

  // Search "apple" with an optional bearer token.
  static grpc::Status Search(const std::shared_ptr<grpc::Channel>& channel,
                             const std::string& authorization = "") {
    auto stub = v1::SearchService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    v1::SearchRequest request;
    request.set_query("apple");
    v1::SearchResponse response;
    grpc::Status s = stub->Search(&context, request, &response);
    if (s.ok() && (response.hits_size() != 1 || response.hits(0).id() != "a")) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "wrong hits");
    }
    return s;
  }

  static grpc::Status Stats(const std::shared_ptr<grpc::Channel>& channel,
                            const std::string& authorization = "") {
    auto stub = v1::SearchService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    v1::StatsResponse response;
    return stub->Stats(&context, v1::StatsRequest(), &response);
  }

  // A unary call with raw bytes (health, reflection); the response is not looked at.
  static grpc::Status Raw(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                          const std::string& request) {
    std::string response;
    return ::scry::testing::RawCall(channel, method, request, &response);
  }

  static TempDir* tmp_;
  static std::string* setup_error_;
};

TempDir* SecurityTest::tmp_ = nullptr;
std::string* SecurityTest::setup_error_ = nullptr;

TEST_F(SecurityTest, TlsServesTlsClientsOnly) {
  ServerOptions options = Options();
  options.tls_cert_file = File("server.pem");
  options.tls_key_file = File("server.key");
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  EXPECT_TRUE(Search(Channel(**server, Tls())).ok());
  const grpc::Status plain = Search(Channel(**server, grpc::InsecureChannelCredentials()));
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::UNAVAILABLE) << plain.error_message();
}

TEST_F(SecurityTest, MutualTlsRequiresACertificateFromTheClientCa) {
  ServerOptions options = Options();
  options.tls_cert_file = File("server.pem");
  options.tls_key_file = File("server.key");
  options.tls_client_ca_file = File("ca.pem");
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  EXPECT_TRUE(Search(Channel(**server, Tls("client"))).ok());
  EXPECT_FALSE(Search(Channel(**server, Tls())).ok());         // no client certificate
  EXPECT_FALSE(Search(Channel(**server, Tls("rogue"))).ok());  // not signed by the CA
}

TEST_F(SecurityTest, BadTlsOrTokenSettingsFailAtStart) {
  ServerOptions options = Options();
  options.tls_cert_file = File("server.pem");
  EXPECT_THAT(Server::Start(options), StatusIs(absl::StatusCode::kInvalidArgument));
  options.tls_key_file = File("missing.key");
  EXPECT_THAT(Server::Start(options), StatusIs(absl::StatusCode::kNotFound));
  options = Options();
  options.tls_client_ca_file = File("ca.pem");
  EXPECT_THAT(Server::Start(options), StatusIs(absl::StatusCode::kInvalidArgument));
  options = Options();
  scry::testing::WriteFile(File("empty-tokens"), "# none yet\n\n");
  options.auth_token_file = File("empty-tokens");
  EXPECT_THAT(Server::Start(options), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SecurityTest, BearerTokensGuardEveryRpcButHealth) {
  scry::testing::WriteFile(File("tokens"), "# clients\nfirst-secret\n  second-secret  \n");
  ServerOptions options = Options();
  options.auth_token_file = File("tokens");
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  auto channel = Channel(**server, grpc::InsecureChannelCredentials());

  ::testing::internal::CaptureStderr();
  const grpc::Status none = Search(channel);
  const grpc::Status wrong = Search(channel, "Bearer wrong-secret");
  const grpc::Status basic = Stats(channel, "Basic Zmlyc3Qtc2VjcmV0");
  const std::string log = ::testing::internal::GetCapturedStderr();
  for (const grpc::Status& s : {none, wrong, basic}) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  }
  EXPECT_THAT(log, HasSubstr("unauthenticated"));
  EXPECT_THAT(log, Not(HasSubstr("wrong-secret")));  // never logged

  EXPECT_TRUE(Search(channel, "Bearer first-secret").ok());
  EXPECT_TRUE(Stats(channel, "Bearer second-secret").ok());
  // Health needs no token; reflection is off (it cannot check tokens).
  EXPECT_TRUE(Raw(channel, "/grpc.health.v1.Health/Check", "").ok());
  EXPECT_EQ(Raw(channel, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "")
                .error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(SecurityTest, AnonymousSearchLetsOnlySearchThrough) {
  scry::testing::WriteFile(File("tokens2"), "the-token\n");
  ServerOptions options = Options();
  options.auth_token_file = File("tokens2");
  options.service.anonymous_search = true;
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  auto channel = Channel(**server, grpc::InsecureChannelCredentials());
  EXPECT_TRUE(Search(channel).ok());
  EXPECT_EQ(Stats(channel).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Stats(channel, "Bearer the-token").ok());
}

TEST_F(SecurityTest, AnonymousSearchSeesOnlyTheOpenMembers) {
  scry::testing::WriteFile(File("tokens3"), "the-token\n");
  ServerOptions options = Options();
  options.auth_token_file = File("tokens3");
  options.service.anonymous_search = true;  // --anonymous-fields: title (the default)
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  auto stub = v1::SearchService::NewStub(Channel(**server, grpc::InsecureChannelCredentials()));
  auto search = [&](const std::vector<std::string>& fields,
                    const std::vector<std::string>& highlight, const std::string& token,
                    v1::SearchResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::SearchRequest request;
    request.set_query("apple");
    for (const auto& f : fields) request.add_fields(f);
    for (const auto& f : highlight) request.mutable_highlight()->add_fields(f);
    return stub->Search(&context, request, response);
  };
  // fields=* without a token: the title only, never the body.
  v1::SearchResponse all;
  ASSERT_TRUE(search({"*"}, {}, "", &all).ok());
  ASSERT_EQ(all.hits_size(), 1);
  EXPECT_EQ(all.hits(0).title(), "apple pie");
  EXPECT_EQ(all.hits(0).fields().count("body"), 0u);
  EXPECT_EQ(all.hits(0).fields().at("title"), "apple pie");
  // The body by name, or in snippets: refused, saying why.
  v1::SearchResponse denied;
  grpc::Status body = search({"body"}, {}, "", &denied);
  EXPECT_EQ(body.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(body.error_message(), HasSubstr("--anonymous-fields"));
  EXPECT_EQ(search({}, {"body"}, "", &denied).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // A wrong token is no token; the right one sees everything.
  EXPECT_EQ(search({"body"}, {}, "wrong", &denied).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::SearchResponse full;
  ASSERT_TRUE(search({"*"}, {"body"}, "the-token", &full).ok());
  ASSERT_EQ(full.hits_size(), 1);
  EXPECT_EQ(full.hits(0).fields().at("body"), "apple kiwi");
  EXPECT_EQ(full.hits(0).snippets_size(), 1);
}

TEST_F(SecurityTest, AnonymousFieldsWithoutTitleHideTitles) {
  scry::testing::WriteFile(File("tokens4"), "the-token\n");
  ServerOptions options = Options();
  options.auth_token_file = File("tokens4");
  options.service.anonymous_search = true;
  options.service.anonymous_fields = {};
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  auto stub = v1::SearchService::NewStub(Channel(**server, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::SearchRequest request;
  request.set_query("apple");
  request.add_fields("*");
  v1::SearchResponse response;
  ASSERT_TRUE(stub->Search(&context, request, &response).ok());
  ASSERT_EQ(response.hits_size(), 1);
  EXPECT_EQ(response.hits(0).id(), "a");
  EXPECT_EQ(response.hits(0).title(), "");
  EXPECT_TRUE(response.hits(0).fields().empty());
}

TEST_F(SecurityTest, UnauthenticatedCallsAreLoggedAtMostOnceASecond) {
  scry::testing::WriteFile(File("tokens5"), "the-token\n");
  ServerOptions options = Options();
  options.auth_token_file = File("tokens5");
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  auto channel = Channel(**server, grpc::InsecureChannelCredentials());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past earlier tests' lines
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(Stats(channel).ok());
  const std::string log = ::testing::internal::GetCapturedStderr();
  const size_t lines = static_cast<size_t>(std::count(log.begin(), log.end(), '\n'));
  EXPECT_GE(lines, 1u);
  EXPECT_LE(lines, 3u) << log;  // 50 calls in well under 3 s
}

TEST(ServerPathsTest, ErrorsForClientsNameNoServerPaths) {
  EXPECT_EQ(WithoutServerPaths("read shard /srv/idx/gen-000002/shard-000/000012.sst: Corruption"),
            "read shard .../000012.sst: Corruption");
  EXPECT_EQ(WithoutServerPaths("open '/var/lib/scry/index' failed (/tmp/x/y)"),
            "open '.../index' failed (.../y)");
  EXPECT_EQ(WithoutServerPaths("a/b/c and /one and x=/a/b"), "a/b/c and /one and x=.../b");
  const grpc::Status s =
      ToGrpc(absl::DataLossError("block checksum mismatch in /home/op/idx/gen-1/shard-0/9.sst"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(s.error_message(), "block checksum mismatch in .../9.sst");
  // A client's own words stay as they are.
  EXPECT_EQ(ToGrpc(absl::InvalidArgumentError("bad query /a/b/c")).error_message(),
            "bad query /a/b/c");
}

TEST(ServerPathsTest, LoopbackListenAddresses) {
  for (const char* a : {"127.0.0.1:7700", "127.1.2.3:0", "localhost:80", "[::1]:7700", "unix:/s"}) {
    EXPECT_TRUE(IsLoopbackListen(a)) << a;
  }
  for (const char* a : {"0.0.0.0:7700", "[::]:7700", "10.0.0.5:7700", "example.org:443"}) {
    EXPECT_FALSE(IsLoopbackListen(a)) << a;
  }
}

}  // namespace
}  // namespace scry::server
