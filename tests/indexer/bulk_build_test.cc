// Bulk builds at scale, on a real RocksDB on disk: bounded memory (sorted
// runs merged at the end), thread counts, shards built apart and assembled,
// compressed inputs and directories. Each build is compared with a plain
// one column family by column family, key by key: the index must not depend
// on how it was built. Build ids: each build and part its own, an assembly's
// derived from its parts' (the same wherever they are assembled), and an
// index from before build ids still opens.
#include <zlib.h>
#include <zstd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "indexer/assemble.h"
#include "indexer/builder.h"
#include "query/searcher.h"
#include "rocksdb/db.h"
#include "storage/index_dir.h"
#include "storage/keys.h"
#include "tests/test_util.h"

namespace scry::indexer {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::ReadFile;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;
using ::scry::testing::WriteFile;
namespace fs = std::filesystem;

std::string Sample() { return scry::testing::TestDataDir() + "/sample.jsonl"; }

// The MANIFEST text of `generation` without its build_id line.
std::string ManifestWithoutBuildId(const std::string& generation) {
  std::string text = ReadFile(generation + "/MANIFEST");
  const size_t at = text.find("build_id=");
  if (at != std::string::npos) text.erase(at, text.find('\n', at) + 1 - at);
  return text;
}

// Every key and value of every column family of every shard of the live
// generation, keyed "shard/cf/key". The MANIFEST file is included but for
// its build id (each build's own, by design).
std::map<std::string, std::string> Contents(const std::string& index_dir) {
  std::map<std::string, std::string> out;
  auto gen = storage::LiveGeneration(index_dir);
  EXPECT_THAT(gen, IsOk());
  if (!gen.ok()) return out;
  out["MANIFEST"] = ManifestWithoutBuildId(*gen);
  auto manifest = storage::ReadManifest(*gen);
  EXPECT_THAT(manifest, IsOk());
  for (uint32_t s = 0; s < manifest->num_shards; ++s) {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name : storage::kColumnFamilies) cfs.emplace_back(name, rocksdb::Options());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status st = rocksdb::DB::OpenForReadOnly(
        rocksdb::Options(), absl::StrCat(*gen, "/", storage::ShardDirName(s)), cfs, &handles, &raw);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok()) continue;
    std::unique_ptr<rocksdb::DB> db(raw);
    for (size_t c = 0; c < handles.size(); ++c) {
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[c]));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        out[absl::StrCat(s, "/", storage::kColumnFamilies[c], "/", it->key().ToString())] =
            it->value().ToString();
      }
      EXPECT_TRUE(it->status().ok());
    }
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  return out;
}

// The keys where two contents differ (at most a few, for the message).
std::string Diff(const std::map<std::string, std::string>& a,
                 const std::map<std::string, std::string>& b) {
  std::string out;
  int n = 0;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end() || it->second != v) {
      absl::StrAppend(&out, it == b.end() ? "only in first: " : "differs: ", k, "\n");
      if (++n == 5) return out;
    }
  }
  for (const auto& [k, v] : b) {
    if (!a.contains(k)) {
      absl::StrAppend(&out, "only in second: ", k, "\n");
      if (++n == 5) return out;
    }
  }
  return out;
}

class BulkBuildTest : public ::testing::Test {
 protected:
  BuildOptions Options(const std::string& index, std::vector<std::string> inputs = {Sample()}) {
    BuildOptions o;
    o.inputs = std::move(inputs);
    o.index_dir = dir_.Sub(index);
    o.num_shards = 3;
    return o;
  }
  TempDir dir_;
};

TEST_F(BulkBuildTest, SortedRunsUnderAMemoryCapMergeToTheSameIndex) {
  // The reference: one thread, everything in memory, one writer per shard.
  // Past the cap, sorted runs are written and merged; the threads that the
  // shards leave over merge and write ranges of the terms into files of their
  // own (ShardWriter::SetListParts), each reading the runs from a mark near
  // its range. None of it may change a byte of the index.
  for (uint32_t shards : {3u, 1u}) {
    BuildOptions reference = Options(absl::StrCat("plain", shards));
    reference.num_shards = shards;
    reference.threads = 1;
    ASSERT_THAT(BuildIndex(reference), IsOk());
    const auto plain = Contents(reference.index_dir);
    ASSERT_GT(plain.size(), 10000u);
    struct Case {
      unsigned threads;
      uint64_t memory_mb;
    };
    for (Case c : {Case{1, 1}, Case{2, 1}, Case{5, 1}, Case{4, 1024}, Case{3, 2}}) {
      BuildOptions o = Options(absl::StrCat("capped", shards, "-", c.threads, "-", c.memory_mb));
      o.num_shards = shards;
      o.memory_mb = c.memory_mb;  // 1: the sample's in-memory index is many times that
      o.threads = c.threads;
      const std::string what =
          absl::StrCat(shards, " shards, ", c.threads, " threads, cap ", c.memory_mb, " MiB");
      auto summary = BuildIndex(o);
      ASSERT_THAT(summary, IsOk()) << what;
      if (c.memory_mb == 1) {
        EXPECT_GE(summary->runs, 5u) << what;
      }
      if (c.memory_mb == 1024) {
        EXPECT_EQ(summary->runs, 0u) << what;
      }
      EXPECT_EQ(summary->docs, 4522u);
      const auto capped = Contents(o.index_dir);
      EXPECT_TRUE(capped == plain) << what << "\n" << Diff(plain, capped);
      // The run files are gone with the build.
      for (const auto& e : fs::recursive_directory_iterator(o.index_dir)) {
        EXPECT_EQ(e.path().string().find(".runs"), std::string::npos) << e.path();
      }
    }
  }
}

TEST_F(BulkBuildTest, ShardsBuiltApartAssembleToTheWholeBuild) {
  ASSERT_THAT(BuildIndex(Options("whole")), IsOk());
  std::vector<std::string> parts;
  uint64_t docs = 0;
  for (int s = 2; s >= 0; --s) {  // in any order
    BuildOptions o = Options(absl::StrCat("part", s));
    o.only_shard = s;
    o.memory_mb = 1;
    auto summary = BuildIndex(o);
    ASSERT_THAT(summary, IsOk());
    EXPECT_EQ(summary->docs + summary->other_shards, 4522u);
    docs += summary->docs;
    parts.push_back(o.index_dir);
    // A part alone is not an index to search.
    EXPECT_THAT(query::Searcher::Open(o.index_dir, query::SearcherOptions()),
                StatusIs(absl::StatusCode::kFailedPrecondition, "scry assemble"));
  }
  EXPECT_EQ(docs, 4522u);
  auto summary = AssembleIndex(parts, dir_.Sub("assembled"));
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->docs, 4522u);
  EXPECT_EQ(summary->shards, 3u);
  EXPECT_GT(summary->files_linked, 0u);  // same file system: table files linked
  const auto whole = Contents(dir_.Sub("whole"));
  const auto assembled = Contents(dir_.Sub("assembled"));
  EXPECT_TRUE(whole == assembled) << Diff(whole, assembled);
  const absl::StatusOr<uint64_t> hits =
      scry::testing::TotalHits(dir_.Sub("assembled"), "nato AND moscow");
  ASSERT_THAT(hits, IsOk());
  EXPECT_GT(*hits, 0u);

  // Parts that do not make one index.
  const std::string out = dir_.Sub("bad");
  EXPECT_THAT(AssembleIndex({parts[0], parts[1]}, out),
              StatusIs(absl::StatusCode::kInvalidArgument, "no part holds shard 0 of 3"));
  EXPECT_THAT(AssembleIndex({parts[0], parts[0], parts[1], parts[2]}, out),
              StatusIs(absl::StatusCode::kInvalidArgument, "both hold shard 2"));
  EXPECT_THAT(AssembleIndex({dir_.Sub("whole")}, out),
              StatusIs(absl::StatusCode::kFailedPrecondition, "whole index"));
  BuildOptions german = Options("german");
  german.language = "german";
  german.only_shard = 1;
  ASSERT_THAT(BuildIndex(german), IsOk());
  EXPECT_THAT(AssembleIndex({parts[0], german.index_dir, parts[2]}, out),
              StatusIs(absl::StatusCode::kInvalidArgument, "differ in language"));
  EXPECT_THAT(AssembleIndex(parts, parts[0]),
              StatusIs(absl::StatusCode::kInvalidArgument, "cannot also be a part"));
  EXPECT_FALSE(fs::exists(out + "/CURRENT"));
  BuildOptions bad_shard = Options("x");
  bad_shard.only_shard = 3;
  EXPECT_THAT(BuildIndex(bad_shard), StatusIs(absl::StatusCode::kInvalidArgument, "0..2"));
}

// The build id in the MANIFEST of the live generation of `index_dir`.
std::string BuildIdOf(const std::string& index_dir) {
  auto gen = storage::LiveGeneration(index_dir);
  EXPECT_THAT(gen, IsOk());
  if (!gen.ok()) return "";
  auto manifest = storage::ReadManifest(*gen);
  EXPECT_THAT(manifest, IsOk());
  return manifest.ok() ? manifest->build_id : "";
}

// Rewrites the MANIFEST of the live generation of `index_dir` as scry wrote
// it before build ids.
void DropBuildId(const std::string& index_dir) {
  auto gen = storage::LiveGeneration(index_dir);
  ASSERT_THAT(gen, IsOk());
  WriteFile(*gen + "/MANIFEST", ManifestWithoutBuildId(*gen));
  ASSERT_EQ(BuildIdOf(index_dir), "");
}

bool IsBuildId(const std::string& id) {
  return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST_F(BulkBuildTest, EveryBuildHasItsOwnIdAndAssembliesOfTheSamePartsAgree) {
  // Two builds of the same input: the same bytes, but two builds.
  auto first = BuildIndex(Options("first"));
  auto second = BuildIndex(Options("second"));
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_TRUE(IsBuildId(first->build_id)) << first->build_id;
  EXPECT_EQ(BuildIdOf(dir_.Sub("first")), first->build_id);
  EXPECT_NE(first->build_id, second->build_id);
  // The searcher serves it (what Describe sends).
  auto searcher = query::Searcher::Open(dir_.Sub("first"), query::SearcherOptions());
  ASSERT_THAT(searcher, IsOk());
  EXPECT_EQ((*searcher)->info().build_id, first->build_id);

  // Parts: each its own id.
  std::vector<std::string> parts;
  std::set<std::string> part_ids;
  for (int s = 0; s < 3; ++s) {
    BuildOptions o = Options(absl::StrCat("part", s));
    o.only_shard = s;
    auto summary = BuildIndex(o);
    ASSERT_THAT(summary, IsOk());
    EXPECT_TRUE(IsBuildId(summary->build_id)) << summary->build_id;
    part_ids.insert(summary->build_id);
    parts.push_back(o.index_dir);
  }
  EXPECT_EQ(part_ids.size(), 3u);
  // The same parts assembled anywhere, in any order, again: one id, no
  // part's.
  auto assembled = AssembleIndex(parts, dir_.Sub("asm-a"));
  ASSERT_THAT(assembled, IsOk());
  EXPECT_TRUE(IsBuildId(assembled->build_id)) << assembled->build_id;
  EXPECT_EQ(BuildIdOf(dir_.Sub("asm-a")), assembled->build_id);
  EXPECT_EQ(part_ids.count(assembled->build_id), 0u);
  ASSERT_THAT(AssembleIndex({parts[2], parts[0], parts[1]}, dir_.Sub("asm-b")), IsOk());
  EXPECT_EQ(BuildIdOf(dir_.Sub("asm-b")), assembled->build_id);
  ASSERT_THAT(AssembleIndex(parts, dir_.Sub("asm-a")), IsOk());  // gen-000002 there
  EXPECT_EQ(storage::CurrentGenerationName(dir_.Sub("asm-a")), "gen-000002");
  EXPECT_EQ(BuildIdOf(dir_.Sub("asm-a")), assembled->build_id);
  // One part built again: another index.
  BuildOptions again = Options("part1-again");
  again.only_shard = 1;
  ASSERT_THAT(BuildIndex(again), IsOk());
  ASSERT_THAT(AssembleIndex({parts[0], again.index_dir, parts[2]}, dir_.Sub("asm-c")), IsOk());
  const std::string other = BuildIdOf(dir_.Sub("asm-c"));
  EXPECT_TRUE(IsBuildId(other)) << other;
  EXPECT_NE(other, assembled->build_id);

  // Parts from before build ids: still one id for the same parts (their
  // shards' RocksDB IDENTITY), another for other parts.
  for (const std::string& part : parts) DropBuildId(part);
  DropBuildId(again.index_dir);
  ASSERT_THAT(AssembleIndex(parts, dir_.Sub("old-a")), IsOk());
  ASSERT_THAT(AssembleIndex({parts[1], parts[2], parts[0]}, dir_.Sub("old-b")), IsOk());
  ASSERT_THAT(AssembleIndex({parts[0], again.index_dir, parts[2]}, dir_.Sub("old-c")), IsOk());
  const std::string old_id = BuildIdOf(dir_.Sub("old-a"));
  EXPECT_TRUE(IsBuildId(old_id)) << old_id;
  EXPECT_EQ(BuildIdOf(dir_.Sub("old-b")), old_id);
  EXPECT_NE(BuildIdOf(dir_.Sub("old-c")), old_id);
  EXPECT_NE(old_id, assembled->build_id);
}

TEST_F(BulkBuildTest, IndexWithoutABuildIdStillOpens) {
  // A MANIFEST written before build ids: served, with no build id (the
  // broker then tells it by its generation's name).
  ASSERT_THAT(BuildIndex(Options("old")), IsOk());
  DropBuildId(dir_.Sub("old"));
  auto searcher = query::Searcher::Open(dir_.Sub("old"), query::SearcherOptions());
  ASSERT_THAT(searcher, IsOk());
  EXPECT_EQ((*searcher)->info().build_id, "");
  EXPECT_EQ((*searcher)->info().generation, "gen-000001");
  const absl::StatusOr<uint64_t> hits =
      scry::testing::TotalHits(dir_.Sub("old"), "nato AND moscow");
  ASSERT_THAT(hits, IsOk());
  EXPECT_GT(*hits, 0u);
}

TEST_F(BulkBuildTest, ReorderedBuildsDoNotDependOnThreadsRunsOrParts) {
  // --reorder bp: the bisection is deterministic, so threads, sorted runs
  // and shards built apart (each part reorders its own shard) give the same
  // bytes as one whole build. The cap of 1 MiB also bounds the forward index
  // (its share, 1/3 MiB a shard, leaves rare terms out): the same in all.
  BuildOptions whole = Options("whole");
  whole.reorder = "bp";
  whole.threads = 1;
  whole.memory_mb = 1;
  auto whole_summary = BuildIndex(whole);
  ASSERT_THAT(whole_summary, IsOk());
  EXPECT_EQ(whole_summary->shards_reordered, 3u);
  EXPECT_GE(whole_summary->runs, 5u);
  const auto reference = Contents(whole.index_dir);
  BuildOptions threaded = Options("threaded");
  threaded.reorder = "bp";
  threaded.threads = 6;  // 2 per shard: the bisection and the rewrite on 2 threads
  threaded.memory_mb = 1;
  ASSERT_THAT(BuildIndex(threaded), IsOk());
  const auto threaded_contents = Contents(threaded.index_dir);
  EXPECT_TRUE(threaded_contents == reference) << Diff(reference, threaded_contents);
  std::vector<std::string> parts;
  for (int s = 0; s < 3; ++s) {
    BuildOptions o = Options(absl::StrCat("part", s));
    o.reorder = "bp";
    o.only_shard = s;
    o.threads = 2;
    o.memory_mb = 1;
    ASSERT_THAT(BuildIndex(o), IsOk());
    parts.push_back(o.index_dir);
  }
  ASSERT_THAT(AssembleIndex(parts, dir_.Sub("assembled")), IsOk());
  const auto assembled = Contents(dir_.Sub("assembled"));
  EXPECT_TRUE(assembled == reference) << Diff(reference, assembled);
  // Another index than the input order's.
  BuildOptions plain = Options("plain");
  plain.reorder = "none";
  ASSERT_THAT(BuildIndex(plain), IsOk());
  EXPECT_FALSE(Contents(plain.index_dir) == reference);
}

void WriteGzip(const std::string& path, const std::vector<std::string>& members) {
  // Each string its own gzip member, as `cat a.gz b.gz` makes.
  std::string out;
  for (const std::string& m : members) {
    z_stream z{};
    ASSERT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string buf(deflateBound(&z, m.size()) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(m.data()));
    z.avail_in = static_cast<uInt>(m.size());
    z.next_out = reinterpret_cast<Bytef*>(buf.data());
    z.avail_out = static_cast<uInt>(buf.size());
    ASSERT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.append(buf.data(), buf.size() - z.avail_out);
    deflateEnd(&z);
  }
  WriteFile(path, out);
}

void WriteZstd(const std::string& path, const std::vector<std::string>& frames) {
  std::string out;
  for (const std::string& f : frames) {
    std::string buf(ZSTD_compressBound(f.size()), '\0');
    const size_t n = ZSTD_compress(buf.data(), buf.size(), f.data(), f.size(), 3);
    ASSERT_FALSE(ZSTD_isError(n));
    out.append(buf.data(), n);
  }
  WriteFile(path, out);
}

TEST_F(BulkBuildTest, GzipAndZstdInputsIndexAsThePlainFile) {
  const std::string text = ReadFile(Sample());
  const size_t half = text.find('\n', text.size() / 2) + 1;
  WriteGzip(dir_.Sub("sample.jsonl.gz"), {text.substr(0, half), text.substr(half)});
  WriteZstd(dir_.Sub("sample.zst"), {text.substr(0, half), text.substr(half)});
  ASSERT_THAT(BuildIndex(Options("plain")), IsOk());
  const auto plain = Contents(dir_.Sub("plain"));
  // Told apart by content, not name: "sample.zst" is not named .jsonl.
  for (const char* name : {"sample.jsonl.gz", "sample.zst"}) {
    BuildOptions o = Options(name + std::string(".idx"), {dir_.Sub(name)});
    auto summary = BuildIndex(o);
    ASSERT_THAT(summary, IsOk()) << name;
    EXPECT_EQ(summary->docs, 4522u);
    EXPECT_LT(summary->input_bytes, text.size() / 2) << "compressed bytes read";
    EXPECT_EQ(Contents(o.index_dir), plain) << name;
  }
  // Standard input may be compressed too: covered by the CLI test.

  // A truncated or damaged stream fails the build and keeps the index.
  const std::string gz = ReadFile(dir_.Sub("sample.jsonl.gz"));
  WriteFile(dir_.Sub("cut.gz"), gz.substr(0, gz.size() - 100));
  std::string bad = gz;
  bad[bad.size() / 3] ^= 0x55;
  WriteFile(dir_.Sub("bad.gz"), bad);
  const std::string zst = ReadFile(dir_.Sub("sample.zst"));
  WriteFile(dir_.Sub("cut.zst"), zst.substr(0, zst.size() - 10));
  // Text that only starts like zstd (found by jsonl_fuzz).
  WriteFile(dir_.Sub("fake.zst"), "\x28\xb5\x2f\xfd\": \"000\", \"body\": \"x\"}\n");
  for (const char* name : {"cut.gz", "bad.gz", "cut.zst", "fake.zst"}) {
    BuildOptions o = Options("plain", {dir_.Sub(name)});
    o.skip_invalid = true;  // not a bad line: the stream is damaged
    EXPECT_THAT(BuildIndex(o), StatusIs(absl::StatusCode::kDataLoss, name)) << name;
    EXPECT_EQ(Contents(dir_.Sub("plain")), plain) << name;
  }
}

TEST_F(BulkBuildTest, DirectoriesOfJsonlAndTextFiles) {
  const std::string in = dir_.Sub("in");
  fs::create_directories(in + "/sub/deeper");
  WriteFile(in + "/a.jsonl", "{\"id\":\"j1\",\"title\":\"Jay\",\"body\":\"granite quarry\"}\n");
  WriteGzip(in + "/sub/b.jsonl.gz", {"{\"id\":\"j2\",\"body\":\"marble quarry\"}\n"});
  WriteFile(in + "/sub/deeper/notes.txt", "Granite and basalt.\nSecond line of the note.\n");
  WriteZstd(in + "/sub/memo.txt.zst", {"A memo on basalt columns"});
  WriteFile(in + "/README.md", "not an input: left out");
  WriteFile(in + "/data.csv", "x,y");
  BuildOptions o = Options("idx", {in});
  o.num_shards = 1;
  auto summary = BuildIndex(o);
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->docs, 4u);
  auto searcher = query::Searcher::Open(o.index_dir, query::SearcherOptions());
  ASSERT_THAT(searcher, IsOk());
  auto ids = [&](const std::string& q) {
    query::SearchRequest r;
    r.query = q;
    r.top_k = 10;
    auto res = (*searcher)->Search(r);
    EXPECT_THAT(res, IsOk());
    std::set<std::string> out;
    for (const auto& h : res->hits) out.insert(h.id);
    return out;
  };
  EXPECT_EQ(ids("granite"), (std::set<std::string>{"j1", "sub/deeper/notes.txt"}));
  EXPECT_EQ(ids("basalt"), (std::set<std::string>{"sub/deeper/notes.txt", "sub/memo.txt"}));
  EXPECT_EQ(ids("quarry"), (std::set<std::string>{"j1", "j2"}));
  EXPECT_EQ(ids("readme"), std::set<std::string>{});
  auto doc = (*searcher)->GetDocument("sub/deeper/notes.txt");
  ASSERT_THAT(doc, IsOk());
  EXPECT_EQ(doc->Field("body"), "Granite and basalt.\nSecond line of the note.\n");
  searcher->reset();

  // A text file that is not UTF-8, or too long: its path and the reason;
  // with skip_invalid, left out.
  WriteFile(in + "/latin1.txt", "caf\xe9");
  WriteFile(in + "/big.txt", std::string(5000, 'a'));
  o.max_document_bytes = 4096;
  EXPECT_THAT(BuildIndex(o), StatusIs(absl::StatusCode::kInvalidArgument, "big.txt: longer than"));
  fs::remove(in + "/big.txt");
  EXPECT_THAT(BuildIndex(o),
              StatusIs(absl::StatusCode::kInvalidArgument, "latin1.txt: invalid UTF-8"));
  o.skip_invalid = true;
  summary = BuildIndex(o);
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->docs, 4u);
  EXPECT_EQ(summary->skipped, 1u);

  // A directory without inputs, and a missing input.
  fs::create_directories(dir_.Sub("empty"));
  EXPECT_THAT(BuildIndex(Options("idx", {dir_.Sub("empty")})),
              StatusIs(absl::StatusCode::kInvalidArgument, "holds no"));
  EXPECT_THAT(BuildIndex(Options("idx", {dir_.Sub("nope.jsonl")})),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace scry::indexer
