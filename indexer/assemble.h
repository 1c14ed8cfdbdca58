// File: indexer/assemble.h
//
// Puts an index together from its parts: each part is an index directory
// holding one shard of N, built alone with `scry index --shards N --shard i`
// (BuildOptions::only_shard), possibly on another machine. The result is the
// index a whole build of the same input with N shards makes (the same
// shards, document for document), written and switched to atomically like
// a build (storage/index_dir.h): a failed assembly leaves the previous index
// at the output directory as it was.
//
// The parts must agree on the format version, shard count, language,
// stopwords and named fields, and hold every shard 0..N-1 exactly once.
// Their shard files are hard-linked where the file system allows (RocksDB
// table files are never changed once written), else copied; the parts are
// not changed. The index's build id is derived from the parts' (sorted), so
// every machine that assembles the same parts records the same id.
#ifndef SCRY_INDEXER_ASSEMBLE_H_
#define SCRY_INDEXER_ASSEMBLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace scry::indexer {

struct AssembleSummary {
  uint32_t shards = 0;
  uint64_t docs = 0;
  uint64_t files_linked = 0;
  uint64_t files_copied = 0;
  uint64_t index_bytes = 0;
  std::string generation_path;
  std::string build_id = {};  // derived from the parts' (storage::AssembledBuildId)
};

// InvalidArgument for parts that do not fit together (the message says
// which and why), FailedPrecondition for a part that is not an index part,
// Unavailable if a build holds index_dir.
absl::StatusOr<AssembleSummary> AssembleIndex(const std::vector<std::string>& parts,
                                              const std::string& index_dir);

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_ASSEMBLE_H_
