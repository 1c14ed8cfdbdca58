// File: indexer/merge.h
//
// The end of a shard's build: its sorted runs (indexer/run_file.h) and its
// in-memory rest (indexer/memory_index.h) merged key by key into the shard's
// posting lists. Each run holds a contiguous docid range, later runs later
// ranges, so a key's lists in several runs concatenate in docid order. At
// most kMaxMergeFanIn runs are read at once (groups of runs are first merged
// into longer runs), and the key order can be cut into ranges of about equal
// bytes (SplitKeys) merged on threads of their own, each into list part of
// the ShardWriter (storage/shard.h) of its own.
#ifndef SCRY_INDEXER_MERGE_H_
#define SCRY_INDEXER_MERGE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "indexer/memory_index.h"
#include "indexer/run_file.h"
#include "storage/shard.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace scry::indexer {

// Runs merged at once: past this, groups of runs are first merged into
// longer runs, so that the open files and read buffers stay bounded.
inline constexpr size_t kMaxMergeFanIn = 64;

// The sorted runs of one shard and where new ones go.
struct ShardRuns {
  std::string dir;              // the run files' directory (removed by MergeRuns)
  rocksdb::Env* env = nullptr;  // what they are written through (null: the local disk)
  std::vector<RunFile> runs;    // in docid order
  uint32_t next_run = 0;        // names the next run file
};

// Sorted entries of an in-memory index as a run (the lists are not copied:
// they must outlive it).
class MemoryRun : public RunSource {
 public:
  explicit MemoryRun(std::span<const MemoryIndex::Entry* const> entries) : entries_(entries) {}
  bool done() const override { return at_ == entries_.size(); }
  const std::string& key() const override { return entries_[at_]->first; }
  const storage::PostingList& list() const override { return entries_[at_]->second; }
  absl::Status Next() override {
    ++at_;
    return absl::OkStatus();
  }

 private:
  std::span<const MemoryIndex::Entry* const> entries_;
  size_t at_ = 0;
};

// Readers of the records of `runs` in [lo, hi) (RunReader::Open).
absl::StatusOr<std::vector<std::unique_ptr<RunSource>>> OpenRuns(std::span<const RunFile> runs,
                                                                 const std::string& lo = "",
                                                                 const std::string& hi = "");

// At most parts - 1 keys, ascending, that cut the keys of `runs` and
// `entries` together into ranges [split[p-1], split[p]) holding about as many
// bytes of postings as each other. Run files are weighed by their marks, the
// in-memory lists by the bytes their records would take.
std::vector<std::string> SplitKeys(const std::vector<RunFile>& runs,
                                   std::span<const MemoryIndex::Entry* const> entries,
                                   unsigned parts);

// Writes `index` as the next run of `runs` (a file in runs->dir) and clears
// it. Nothing is written if it is empty.
absl::Status SpillRun(MemoryIndex* index, ShardRuns* runs);

// Writes the lists of `runs` and `index` merged to `writer`, on `parts`
// threads (the calling one among them): each merges a range of the key
// order (SplitKeys) and encodes and writes it to a list part of its own
// (ShardWriter::SetListParts). Adds the catch-all's postings and distinct
// terms to *postings and *terms. Clears `index`, removes the run files and
// runs->dir. REQUIRES: every document added to `writer`, every field
// declared, no list added yet.
absl::Status MergeRuns(ShardRuns* runs, MemoryIndex* index, unsigned parts,
                       storage::ShardWriter* writer, uint64_t* postings, uint64_t* terms);

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_MERGE_H_
