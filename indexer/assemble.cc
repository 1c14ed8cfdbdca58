// File: indexer/assemble.cc
#include "indexer/assemble.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "storage/index_dir.h"
#include "storage/shard.h"
#include "storage/status.h"

namespace scry::indexer {
namespace {

namespace fs = std::filesystem;

struct Part {
  std::string dir;
  std::string generation;
  storage::IndexManifest manifest;
  std::vector<std::string> field_names;
  std::string id;  // what identifies the part's build (PartId)
};

// The part's build id; for a part built before build ids, its shard's
// RocksDB IDENTITY (a random id RocksDB wrote when the shard was created,
// which copies keep): every pod assembling the same old parts still
// derives the same id, and other parts another. "" if neither is there.
std::string PartId(const storage::IndexManifest& manifest, const std::string& shard_path) {
  if (!manifest.build_id.empty()) return manifest.build_id;
  std::ifstream in(shard_path + "/IDENTITY");
  std::string identity;
  std::getline(in, identity);
  identity = std::string(absl::StripAsciiWhitespace(identity));
  return identity.empty() ? "" : absl::StrCat("rocksdb-identity:", identity);
}

// Copies the shard directory `from` to `to` (which must not exist), linking
// table files where it can.
absl::Status CopyShard(const std::string& from, const std::string& to, AssembleSummary* summary) {
  std::error_code ec;
  fs::create_directory(to, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", to, ": ", ec.message()));
  for (const auto& entry : fs::directory_iterator(from, ec)) {
    const fs::path target = fs::path(to) / entry.path().filename();
    if (!entry.is_regular_file()) {
      return absl::FailedPreconditionError(
          absl::StrCat(entry.path().string(), " is not a regular file; is this a scry shard?"));
    }
    if (entry.path().extension() == ".sst") {
      std::error_code link_ec;
      fs::create_hard_link(entry.path(), target, link_ec);
      if (!link_ec) {
        ++summary->files_linked;
        continue;
      }
    }
    fs::copy_file(entry.path(), target, ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot copy ", entry.path().string(), ": ", ec.message()));
    }
    ++summary->files_copied;
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", from, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AssembleSummary> AssembleIndex(const std::vector<std::string>& parts,
                                              const std::string& index_dir) {
  if (parts.empty()) return absl::InvalidArgumentError("no parts given");
  if (index_dir.empty()) return absl::InvalidArgumentError("no index directory given");
  std::vector<Part> found;
  for (const std::string& dir : parts) {
    std::error_code ec;
    if (fs::exists(index_dir, ec) && fs::equivalent(dir, index_dir, ec)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the output ", index_dir, " cannot also be a part"));
    }
    Part p;
    p.dir = dir;
    SCRY_ASSIGN_OR_RETURN(p.generation, storage::LiveGeneration(dir));
    SCRY_ASSIGN_OR_RETURN(p.manifest, storage::ReadManifest(p.generation));
    if (p.manifest.only_shard < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, " is a whole index, not a part (built without --shard)"));
    }
    // Open the shard: it must be complete, and its fields are compared.
    const std::string shard_path = absl::StrCat(
        p.generation, "/", storage::ShardDirName(static_cast<uint32_t>(p.manifest.only_shard)));
    storage::ShardReader::Options options;
    options.block_cache_bytes = 1 << 20;
    options.memory_dictionary = false;  // opened once, to check it
    SCRY_ASSIGN_OR_RETURN(auto shard, storage::ShardReader::Open(shard_path, options));
    if (shard->meta().shard_index != static_cast<uint32_t>(p.manifest.only_shard) ||
        shard->meta().num_shards != p.manifest.num_shards) {
      return absl::DataLossError(absl::StrCat(shard_path, " does not match its MANIFEST"));
    }
    p.field_names = shard->meta().field_names;
    p.id = PartId(p.manifest, shard_path);
    found.push_back(std::move(p));
  }
  const Part& first = found.front();
  const uint32_t n = first.manifest.num_shards;
  std::vector<const Part*> by_shard(n, nullptr);
  for (const Part& p : found) {
    auto differ = [&](const char* what, const std::string& a, const std::string& b) {
      return absl::InvalidArgumentError(absl::StrCat("parts ", first.dir, " and ", p.dir,
                                                     " differ in ", what, " (", a, " and ", b,
                                                     "): they are not parts of one index"));
    };
    if (p.manifest.num_shards != n) {
      return differ("shard count", absl::StrCat(n), absl::StrCat(p.manifest.num_shards));
    }
    if (p.manifest.format_version != first.manifest.format_version) {
      return differ("format version", absl::StrCat(first.manifest.format_version),
                    absl::StrCat(p.manifest.format_version));
    }
    if (p.manifest.language != first.manifest.language) {
      return differ("language", first.manifest.language, p.manifest.language);
    }
    if (p.manifest.stopwords != first.manifest.stopwords) {
      return differ("stopwords", first.manifest.stopwords ? "on" : "off",
                    p.manifest.stopwords ? "on" : "off");
    }
    if (p.manifest.schema != first.manifest.schema) {
      return differ("schema", first.manifest.schema, p.manifest.schema);
    }
    if (p.field_names != first.field_names) {
      return differ("fields", absl::StrJoin(first.field_names, ","),
                    absl::StrJoin(p.field_names, ","));
    }
    const Part*& slot = by_shard[p.manifest.only_shard];
    if (slot != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("parts ", slot->dir, " and ", p.dir,
                                                     " both hold shard ", p.manifest.only_shard));
    }
    slot = &p;
  }
  for (uint32_t s = 0; s < n; ++s) {
    if (by_shard[s] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("no part holds shard ", s, " of ", n,
                                                     " (build it with --shards ", n, " --shard ", s,
                                                     ")"));
    }
  }

  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<storage::IndexBuild> build,
                        storage::IndexBuild::Begin(index_dir));
  AssembleSummary summary;
  summary.shards = n;
  for (uint32_t s = 0; s < n; ++s) {
    SCRY_RETURN_IF_ERROR(
        CopyShard(absl::StrCat(by_shard[s]->generation, "/", storage::ShardDirName(s)),
                  build->ShardPath(s), &summary));
    summary.docs += by_shard[s]->manifest.docs;
  }
  storage::IndexManifest manifest = first.manifest;
  manifest.only_shard = -1;
  manifest.docs = summary.docs;
  // Derived from the parts, not random: pods that assemble the same parts
  // (each into its own volume) serve one index, and the broker takes them
  // for replicas of it. Without an id for every part nothing tells these
  // parts from others, so the assembly is a build of its own.
  std::vector<std::string> part_ids;
  for (const Part& p : found) part_ids.push_back(p.id);
  const bool known = std::none_of(part_ids.begin(), part_ids.end(),
                                  [](const std::string& id) { return id.empty(); });
  manifest.build_id =
      known ? storage::AssembledBuildId(std::move(part_ids)) : storage::NewBuildId();
  SCRY_RETURN_IF_ERROR(build->Commit(manifest));
  summary.build_id = manifest.build_id;
  SCRY_ASSIGN_OR_RETURN(summary.generation_path, storage::LiveGeneration(index_dir));
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(summary.generation_path, ec)) {
    if (e.is_regular_file(ec)) summary.index_bytes += e.file_size(ec);
  }
  return summary;
}

}  // namespace scry::indexer
