// File: storage/verify.h
//
// Checks a built index for damage, as `scry verify` and `scry serve
// --verify-on-open` do. Per shard:
//   - the RocksDB opens (every file it lists is there, at its size), and
//     every block of every SST file matches its checksum (each file read
//     whole with rocksdb::SstFileReader::VerifyChecksum);
//   - meta decodes, a document length of every document in every field,
//     the ids column family maps exactly doc_count ids to distinct docids;
//   - every posting list (each key of `terms`) decodes whole: docids
//     strictly ascending and below doc_count, tfs >= 1, per document tf
//     positions strictly ascending, the TermInfo's df, total tf, max tf and
//     chunk table equal to what its chunks hold, every posting under its
//     block's and its list's impacts; no chunk belongs to no term; term and
//     posting counts equal meta's;
//   - every stored document decodes, under a docid below doc_count, with the
//     id the ids column family gives it.
// Everything is read without filling the block cache.
//
// Damage is reported, not returned as an error: a VerifyReport lists what is
// wrong, where (shard, column family or file, term). Errors are for a
// directory that holds no index or shard at all.
#ifndef SCRY_STORAGE_VERIFY_H_
#define SCRY_STORAGE_VERIFY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace scry::storage {

struct VerifyReport {
  // At most this many problems are listed; the rest are only counted.
  static constexpr size_t kMaxListed = 100;

  std::string generation_path;  // what VerifyGeneration / VerifyIndex checked
  uint64_t shards = 0;
  uint64_t files = 0;  // SST files checked
  uint64_t bytes = 0;  // their size
  uint64_t docs = 0;
  uint64_t terms = 0;     // posting lists checked (every field)
  uint64_t postings = 0;  // postings decoded (every field)
  // One line per damage found, e.g.
  //   shard-001 postings "body:apple" chunk 0: docids not ascending at 77
  std::vector<std::string> problems;
  uint64_t unlisted = 0;  // problems past kMaxListed

  bool ok() const { return problems.empty(); }
  uint64_t num_problems() const { return problems.size() + unlisted; }
  // Adds a problem line (or counts it past kMaxListed).
  void Add(std::string problem);
  // Adds `other`'s counts and problems.
  void Merge(const VerifyReport& other);
  // One line: "ok: 3 shards, 120 files (12.3 MB), ..." or "DAMAGED: 2
  // problems in 3 shards, ...".
  std::string Summary() const;
};

// Checks the shard (one RocksDB) at `path`; problem lines start with
// `label` (e.g. "shard-001"). NotFound if there is no directory at `path`.
absl::StatusOr<VerifyReport> VerifyShard(const std::string& path, const std::string& label);

// Checks a generation directory (DIR/gen-N): its MANIFEST and every shard it
// names, which must agree with it. NotFound if there is no directory at
// `generation_path`.
absl::StatusOr<VerifyReport> VerifyGeneration(const std::string& generation_path);

// Checks the live generation of the index at `dir`, leased while it is
// read. The errors of GenerationLease::AcquireLive (FailedPrecondition if
// `dir` holds no index).
absl::StatusOr<VerifyReport> VerifyIndex(const std::string& dir);

}  // namespace scry::storage

#endif  // SCRY_STORAGE_VERIFY_H_
