// File: indexer/builder.h
//
// The bulk build: read JSON Lines, route each document to shard
// Fnv1a64(id) % num_shards (storage/hash.h), analyse and invert on all
// cores with bounded memory (sorted runs, merged at the end), write every
// shard, then switch the index directory to the new generation atomically
// (storage/index_dir.h). Until that switch, an existing index at the same
// directory is left exactly as it was, whatever happens to the build (a
// killed build leaves an unfinished *.tmp generation that the next build
// removes).
//
// Inside a shard, docids are given in input order; ties in score are broken
// by id at query time, so results do not depend on the sharding or order.
//
// Text fields are indexed in one searchable stream, the catch-all field:
// title first, then body, then the other members in input order, with a gap
// of kFieldPositionGap positions between fields so that a phrase never spans
// two fields. Members chosen by BuildOptions::index_fields are indexed again
// as named fields of their own (positions from 0 in each).
#ifndef SCRY_INDEXER_BUILDER_H_
#define SCRY_INDEXER_BUILDER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "indexer/schema.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace scry::indexer {

inline constexpr uint32_t kFieldPositionGap = 100;

struct BuildOptions {
  // JSON Lines files, text files and directories of them, plain, gzip or
  // zstd (indexer/input.h); "-" is standard input.
  std::vector<std::string> inputs;
  // Follow symbolic links in input directories, also out of their trees
  // (ExpandOptions::follow_symlinks); by default links are left out (and
  // reported through `warn`).
  bool follow_symlinks = false;
  std::string index_dir;
  uint32_t num_shards = 1;
  // Build only shard `only_shard` of num_shards (-1: all of them): the
  // result is a part of an index, which AssembleIndex (indexer/assemble.h)
  // puts together with the other parts into an index equal to the one a
  // whole build makes. Every part reads the whole input (to number the
  // fields alike) but analyses only its own documents. Duplicate ids are
  // found within the part (a duplicate always falls into the same shard).
  int32_t only_shard = -1;
  // The build id the MANIFEST records; empty: a random one. The parts of
  // one run may be given one id (the run's name), so that servers of
  // different parts are known to serve one index (scry serve --shards I on
  // part I, behind a broker). Letters, digits, '.', '_', '-'; 1 to 64.
  std::string build_id;
  std::string language = "english";
  // Drop the language's stopwords (analysis/stopwords.h), keeping their
  // positions. Recorded in the manifest so queries are analysed alike.
  bool stopwords = false;
  // false: the first bad line stops the build (InvalidArgument "FILE:LINE:
  // reason"). true: bad lines are reported through `warn` and skipped.
  bool skip_invalid = false;
  size_t max_document_bytes = 64 << 20;
  unsigned threads = 0;  // analysis threads; 0 = all cores
  // Cap on the in-memory inverted index of all shards, in MiB: past it a
  // shard's index is written to disk as a sorted run, and runs are merged at
  // the end. Peak memory is this plus a bounded overhead (batches in flight,
  // RocksDB write buffers, a chunk of a list and a run record per run and
  // thread at merge time) plus 4 bytes per document and field (lengths).
  uint64_t memory_mb = 1024;
  // Block codecs (storage/block_codec.h), chosen by bench/posting_codec_bench
  // on the shared corpus: simdbp128 decodes docid gaps fastest at the size of
  // bitpack; pfor is the smallest for tfs and positions (bench/RESULTS.md).
  std::string docid_codec = "simdbp128";
  std::string freq_codec = "pfor";
  std::string positions_codec = "pfor";
  // The order of the documents in each shard: "bp" (recursive graph
  // bisection, indexer/reorder.h: each shard rewritten at the end of the
  // build with documents that share terms next to each other; same results,
  // 1.7% smaller and faster to query on the shared corpus, for about 1.7x
  // the build time: bench/RESULTS.md run 9) or "none" (input order).
  std::string reorder = "bp";
  // Members kept in the `docs` column family besides the id, which is always
  // stored: {"*"} (the default) keeps every member, {} keeps only the id.
  std::vector<std::string> stored_fields = {"*"};
  // Members that also get postings of their own, for field queries
  // (`title:word`) and per-field weights: {"*"} (the default) every member
  // whose name is a field name (storage::IsFieldName), {} none. The
  // catch-all field, searched by default, always holds every member.
  // At most 255 fields.
  std::vector<std::string> index_fields = {"*"};
  // The typed fields (`--schema FILE`, indexer/schema.h): a keyword field
  // is a named field of exact values (whatever index_fields says), a
  // numeric one a doc-values column per shard (storage/doc_values.h); bad
  // values are bad lines ("FILE:LINE: member ..."). Recorded in the
  // MANIFEST and every shard's meta. Empty: every member is text.
  Schema schema;
  // Pairs of words (storage/keys.h), which make phrases of common words
  // fast: the `common_terms` terms in the most documents of a sample (the
  // first `pair_sample_bytes` of text of the input, in input order, every
  // shard's documents, so that parts built apart agree) are the common
  // terms; every two words next to each other in a member, one of them
  // common, are indexed as a pair too, unless it is found in fewer than
  // `pair_min_df` documents of the shard (1..8192). 0: no pairs.
  uint32_t common_terms = 32;
  bool pairs_need_both = false;  // pairs of two common terms only
  uint32_t pair_min_df = 16;
  uint64_t pair_sample_bytes = 8 << 20;
  // Called with one line per skipped input line, and one per entry of an
  // input directory left out that may have been meant as input (a symbolic
  // link not followed, a file reached twice; not counted as skipped).
  std::function<void(const std::string&)> warn;
  // Called about 4 times a second with a one-line progress report (no
  // newline); nullptr for none.
  std::function<void(const std::string&)> progress;
  // The RocksDB environment every file of the new generation is written
  // and read through: the shards, the sorted runs, the source log, the
  // MANIFEST and CURRENT (storage/files.h); nullptr: the default
  // (rocksdb::Env::Default(), the local file system). For tests that inject
  // faults (tests/fault_fs.h). Must outlive the build.
  rocksdb::Env* env = nullptr;
};

struct BuildSummary {
  uint64_t docs = 0;
  uint64_t skipped = 0;       // invalid lines skipped (skip_invalid)
  uint64_t other_shards = 0;  // with only_shard: documents left to other parts
  uint64_t input_bytes = 0;   // read from the input files (compressed bytes if they are)
  uint64_t text_bytes = 0;    // ids and members of the documents indexed
  uint64_t runs = 0;          // sorted runs written (past memory_mb)
  uint64_t terms = 0;         // distinct terms summed over shards
  uint64_t postings = 0;
  uint64_t index_bytes = 0;  // bytes on disk of the new generation
  double seconds = 0;
  double invert_seconds = 0;  // of which reading, analysing and inverting (the rest: merge, write)
  // --reorder bp: the shards' reordering, summed over shards (they are
  // reordered in parallel, each after its merge), and the log-gap cost
  // (bits, indexer/bisection.h) of their catch-all lists before and after.
  double reorder_seconds = 0;
  double bisection_seconds = 0;   // of which the bisection (the rest: reading, rewriting)
  uint32_t shards_reordered = 0;  // shards whose order changed
  double reorder_cost_before = 0;
  double reorder_cost_after = 0;
  std::string generation_path;
  std::string build_id = {};  // recorded in the MANIFEST (storage::IndexManifest::build_id)
};

// Builds the index. On error the previous index at options.index_dir (if
// any) is unchanged. Errors: InvalidArgument for bad input or options,
// NotFound for a missing input file, Unavailable if another build holds the
// directory, FailedPrecondition if the directory is not a scry index,
// ResourceExhausted if the disk is full, Internal for other I/O errors.
absl::StatusOr<BuildSummary> BuildIndex(const BuildOptions& options);

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_BUILDER_H_
