// File: tests/server/live_concurrency_test.cc
//
// Writers and searchers at once on a real server (127.0.0.1, real RocksDB):
// writer threads insert, replace and delete documents of their own ids and
// call Refresh; searcher threads search all the while. Each document's
// title is its version ("v123"), unique over the run, so a hit names the
// version it shows.
//
// What a search may return follows from a shared logical clock: a writer
// reads it after a Refresh returns (the writes acknowledged before are
// visible from then on) and, under the history's lock, before it sends an
// operation that ends a guarantee; a searcher reads it before sending its
// query (s) and after the answer (e). A search with [s, e] inside a
// guarantee's window must honour it:
//   - absent: a delete was acknowledged and refreshed, no upsert sent since:
//     the id is not in any result;
//   - present: an upsert was acknowledged and refreshed, no delete sent
//     since: the id is in every result whose query it matches, exactly
//     once, with that version or a later one, never an older one.
// At the end the index holds exactly the expected documents and versions.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
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
#include "server/server.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::TempDir;

constexpr int kWriters = 3;
constexpr int kSearchers = 3;
constexpr int kIdsPerWriter = 20;
constexpr int kBaseIdsPerWriter = 5;  // in the bulk-built base index
constexpr int kStepsPerWriter = 80;
constexpr uint64_t kOpen = std::numeric_limits<uint64_t>::max();
const char* const kGroups[] = {"red", "green", "blue"};

std::string DocId(int writer, int k) { return absl::StrCat("w", writer, "-", k); }
// Every document has "common" and the word of its group in its body.
std::string Group(int k) { return kGroups[k % 3]; }
std::string DocJson(int writer, int k, uint64_t version) {
  return absl::StrCat(R"({"id":")", DocId(writer, k), R"(","title":"v)", version,
                      R"(","body":"common )", Group(k), R"("})");
}

// A window of the clock [from, to) in which an id's state is guaranteed.
struct Window {
  uint64_t from = 0;
  uint64_t to = kOpen;
  uint64_t min_version = 0;  // present windows: the oldest version allowed
  bool Covers(uint64_t s, uint64_t e) const { return from <= s && e < to; }
};

struct IdHistory {
  std::string group;
  std::vector<Window> absent, present;
  std::vector<uint64_t> versions;  // every version sent, in order
};

// The guarantees, shared by writers (who add them) and searchers (who check
// results against them).
class History {
 public:
  uint64_t Tick() { return clock_.fetch_add(1) + 1; }

  // Before an operation on `id` is sent: ends the guarantee it breaks.
  void BeforeUpsert(const std::string& id, uint64_t version) {
    std::lock_guard<std::mutex> lock(mu_);
    IdHistory& h = ids_[id];
    const uint64_t now = Tick();
    if (!h.absent.empty() && h.absent.back().to == kOpen) h.absent.back().to = now;
    h.versions.push_back(version);
  }
  void BeforeDelete(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    IdHistory& h = ids_[id];
    const uint64_t now = Tick();
    if (!h.present.empty() && h.present.back().to == kOpen) h.present.back().to = now;
  }
  // After a Refresh that followed the acknowledgement: the state from now on.
  void VisibleAfterRefresh(const std::string& id, bool present, uint64_t version) {
    const uint64_t now = Tick();
    std::lock_guard<std::mutex> lock(mu_);
    IdHistory& h = ids_[id];
    if (present) {
      if (!h.present.empty() && h.present.back().to == kOpen) h.present.back().to = now;
      h.present.push_back({now, kOpen, version});
    } else if (h.absent.empty() || h.absent.back().to != kOpen) {
      h.absent.push_back({now, kOpen, 0});
    }
  }
  void SetGroup(const std::string& id, const std::string& group) {
    std::lock_guard<std::mutex> lock(mu_);
    ids_[id].group = group;
  }

  // Checks one search for `group` ("" for all) run within [s, e].
  void Check(const std::string& group, uint64_t s, uint64_t e, const v1::SearchResponse& response) {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, int> seen;
    for (const v1::Hit& hit : response.hits()) {
      if (++seen[hit.id()] == 2) ADD_FAILURE() << hit.id() << " twice in one result";
      const auto it = ids_.find(hit.id());
      if (it == ids_.end()) {
        ADD_FAILURE() << "unknown id " << hit.id();
        continue;
      }
      const IdHistory& h = it->second;
      for (const Window& w : h.absent) {
        if (w.Covers(s, e)) ADD_FAILURE() << hit.id() << " found after its delete was refreshed";
        absent_checks_ += w.Covers(s, e) ? 1 : 0;
      }
      const uint64_t version = std::stoull(hit.title().substr(1));
      if (std::find(h.versions.begin(), h.versions.end(), version) == h.versions.end()) {
        ADD_FAILURE() << hit.id() << " shows " << hit.title() << ", never sent for it";
      }
      for (const Window& w : h.present) {
        if (w.Covers(s, e) && version < w.min_version) {
          ADD_FAILURE() << hit.id() << " shows v" << version << " after v" << w.min_version
                        << " was refreshed";
        }
      }
    }
    for (const auto& [id, h] : ids_) {
      if (!group.empty() && h.group != group) continue;
      for (const Window& w : h.present) {
        if (!w.Covers(s, e)) continue;
        ++present_checks_;
        if (seen.count(id) == 0) ADD_FAILURE() << id << " missing though refreshed and not deleted";
      }
      if (seen.count(id) == 0) {
        for (const Window& w : h.absent) absent_checks_ += w.Covers(s, e) ? 1 : 0;
      }
    }
  }

  uint64_t present_checks() const { return present_checks_; }
  uint64_t absent_checks() const { return absent_checks_; }

 private:
  std::atomic<uint64_t> clock_{0};
  std::mutex mu_;
  std::map<std::string, IdHistory> ids_;
  uint64_t present_checks_ = 0, absent_checks_ = 0;
};

// The last acknowledged state of a writer's ids.
struct Known {
  bool present = false;
  uint64_t version = 0;
};

grpc::Status Search(v1::SearchService::Stub* stub, const std::string& query,
                    v1::SearchResponse* response) {
  grpc::ClientContext context;
  v1::SearchRequest request;
  request.set_query(query);
  request.set_top_k(1000);
  return stub->Search(&context, request, response);
}

class LiveConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The base index: the first ids of each writer, version 0.
    std::string jsonl;
    for (int w = 0; w < kWriters; ++w) {
      for (int k = 0; k < kIdsPerWriter; ++k) {
        history_.SetGroup(DocId(w, k), Group(k));
        if (k >= kBaseIdsPerWriter) continue;
        jsonl += DocJson(w, k, 0) + "\n";
        history_.BeforeUpsert(DocId(w, k), 0);
        history_.VisibleAfterRefresh(DocId(w, k), true, 0);
      }
    }
    ::scry::testing::WriteFile(dir_.Sub("docs.jsonl"), jsonl);
    indexer::BuildOptions build;
    build.inputs = {dir_.Sub("docs.jsonl")};
    build.index_dir = dir_.Sub("idx");
    build.num_shards = 2;
    ASSERT_THAT(indexer::BuildIndex(build).status(), IsOk());
  }

  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                               grpc::InsecureChannelCredentials());
  }

  // One writer: batches of 1-4 operations on distinct ids of its own, a
  // Refresh every few batches.
  void Writer(int w, uint32_t seed, std::vector<Known>* known) {
    auto stub = v1::IndexService::NewStub(Channel());
    std::mt19937 rng(seed);
    std::map<int, Known> unrefreshed;
    for (int step = 0; step < kStepsPerWriter; ++step) {
      v1::WriteRequest request;
      std::map<int, Known> batch;
      const int size = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < size; ++i) {
        const int k = static_cast<int>(rng() % kIdsPerWriter);
        if (batch.count(k) != 0) continue;
        const Known& now = (*known)[static_cast<size_t>(k)];
        if (now.present && rng() % 3 == 0) {
          history_.BeforeDelete(DocId(w, k));
          request.add_ops()->mutable_delete_()->set_id(DocId(w, k));
          batch[k] = {false, 0};
        } else {
          const uint64_t version = static_cast<uint64_t>(w) * 1000000 + step * 10 + i + 1;
          history_.BeforeUpsert(DocId(w, k), version);
          request.add_ops()->mutable_upsert()->set_document(DocJson(w, k, version));
          batch[k] = {true, version};
        }
      }
      grpc::ClientContext context;
      v1::WriteResponse response;
      const grpc::Status status = stub->Write(&context, request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      for (const v1::OperationResult& r : response.results()) ASSERT_EQ(r.code(), "OK");
      for (const auto& [k, state] : batch) {
        (*known)[static_cast<size_t>(k)] = state;
        unrefreshed[k] = state;
      }
      if (rng() % 4 != 0) continue;
      grpc::ClientContext refresh_context;
      v1::RefreshResponse refreshed;
      ASSERT_TRUE(stub->Refresh(&refresh_context, v1::RefreshRequest(), &refreshed).ok());
      for (const auto& [k, state] : unrefreshed) {
        history_.VisibleAfterRefresh(DocId(w, k), state.present, state.version);
      }
      unrefreshed.clear();
    }
  }

  // One searcher: "common" (every document) or a group's word, until told
  // to stop; the number of searches.
  int Searcher(uint32_t seed, const std::atomic<bool>* stop) {
    auto stub = v1::SearchService::NewStub(Channel());
    std::mt19937 rng(seed);
    int searches = 0;
    while (!stop->load()) {
      const int pick = static_cast<int>(rng() % 4);
      const std::string group = pick == 3 ? "" : kGroups[pick];
      v1::SearchResponse response;
      const uint64_t s = history_.Tick();
      const grpc::Status status = Search(stub.get(), group.empty() ? "common" : group, &response);
      const uint64_t e = history_.Tick();
      if (!status.ok()) {
        ADD_FAILURE() << status.error_message();
        break;
      }
      history_.Check(group, s, e, response);
      ++searches;
    }
    return searches;
  }

  TempDir dir_;
  History history_;
  std::unique_ptr<Server> server_;
};

TEST_F(LiveConcurrencyTest, SearchesSeeRefreshedDeletesAndEachReplacedDocumentOnce) {
  ServerOptions options;
  options.index_dir = dir_.Sub("idx");
  options.listen = "127.0.0.1:0";
  options.wal_sync = WalSync::kNever;  // the log's sync is not what is tested here
  options.refresh_interval_ms = 50;    // background refreshes between the writers' own
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  server_ = std::move(*server);

  const uint32_t seed = ::scry::testing::TestSeed(1919);
  SCRY_SEED_TRACE(seed);
  std::vector<std::vector<Known>> known(kWriters, std::vector<Known>(kIdsPerWriter));
  for (int w = 0; w < kWriters; ++w) {
    for (int k = 0; k < kBaseIdsPerWriter; ++k) known[w][k] = {true, 0};
  }
  std::atomic<bool> stop{false};
  std::vector<int> searches(kSearchers, 0);
  std::vector<std::thread> searchers(kSearchers);
  for (int i = 0; i < kSearchers; ++i) {
    searchers[i] = std::thread([&, i] { searches[i] = Searcher(seed + 100 + i, &stop); });
  }
  std::vector<std::thread> writers(kWriters);
  for (int w = 0; w < kWriters; ++w) {
    writers[w] = std::thread([&, w] { Writer(w, seed + w, &known[w]); });
  }
  for (std::thread& t : writers) t.join();
  stop = true;
  for (std::thread& t : searchers) t.join();
  for (int i = 0; i < kSearchers; ++i) EXPECT_GT(searches[i], 10) << "searcher " << i;
  // The checks had something to check.
  EXPECT_GT(history_.present_checks(), 1000u);
  EXPECT_GT(history_.absent_checks(), 100u);

  // At the end, after a Refresh: exactly the expected documents and versions.
  auto index = v1::IndexService::NewStub(Channel());
  grpc::ClientContext context;
  v1::RefreshResponse refreshed;
  ASSERT_TRUE(index->Refresh(&context, v1::RefreshRequest(), &refreshed).ok());
  std::map<std::string, std::string> want, got;
  for (int w = 0; w < kWriters; ++w) {
    for (int k = 0; k < kIdsPerWriter; ++k) {
      if (known[w][k].present) want[DocId(w, k)] = absl::StrCat("v", known[w][k].version);
    }
  }
  auto search = v1::SearchService::NewStub(Channel());
  v1::SearchResponse response;
  ASSERT_TRUE(Search(search.get(), "common", &response).ok());
  for (const v1::Hit& hit : response.hits()) got[hit.id()] = hit.title();
  EXPECT_EQ(got, want);
  EXPECT_EQ(response.hits_size(), static_cast<int>(want.size()));
}

// A server shut down while the refreshes it just made are being merged (and
// the merges drop the log records the replacements superseded) closes
// cleanly (CI's ASan run once caught a merge using the closed log), and a
// restart serves exactly the last version of every document from the start.
TEST_F(LiveConcurrencyTest, ShutdownDuringMergesLosesNoWrite) {
  ServerOptions options;
  options.index_dir = dir_.Sub("idx");
  options.listen = "127.0.0.1:0";
  options.wal_sync = WalSync::kNever;
  options.refresh_interval_ms = 0;  // only the test's refreshes
  // Every refresh makes a merge due.
  options.merge_segments_per_tier = 1;
  options.merge_max_at_once = 2;
  std::map<std::string, std::string> want;
  for (int w = 0; w < kWriters; ++w) {
    for (int k = 0; k < kBaseIdsPerWriter; ++k) want[DocId(w, k)] = "v0";
  }
  uint64_t version = 0;
  for (int round = 0; round < 8; ++round) {
    auto server = Server::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    auto stub = v1::IndexService::NewStub(Channel());
    for (int refresh = 0; refresh < 3; ++refresh) {
      v1::WriteRequest request;
      for (int k = 0; k < kIdsPerWriter; ++k) {
        ++version;
        request.add_ops()->mutable_upsert()->set_document(DocJson(0, k, version));
        want[DocId(0, k)] = absl::StrCat("v", version);
      }
      grpc::ClientContext context;
      v1::WriteResponse response;
      ASSERT_TRUE(stub->Write(&context, request, &response).ok());
      grpc::ClientContext refresh_context;
      v1::RefreshResponse refreshed;
      ASSERT_TRUE(stub->Refresh(&refresh_context, v1::RefreshRequest(), &refreshed).ok());
    }
    server_.reset();  // merges of these segments are due or under way
  }
  auto server = Server::Start(options);
  ASSERT_THAT(server, IsOk());
  server_ = std::move(*server);
  // Served as soon as the server is up, with no refresh.
  auto search = v1::SearchService::NewStub(Channel());
  v1::SearchResponse response;
  ASSERT_TRUE(Search(search.get(), "common", &response).ok());
  std::map<std::string, std::string> got;
  for (const v1::Hit& hit : response.hits()) got[hit.id()] = hit.title();
  EXPECT_EQ(got, want);
  EXPECT_EQ(response.hits_size(), static_cast<int>(want.size()));
}

}  // namespace
}  // namespace scry::server
