// File: indexer/builder.h
//
// The bulk build: read JSON Lines, route each document to shard
// Fnv1a64(id) % num_shards (storage/hash.h), analyse, invert and write every
// shard, then switch the index directory to the new generation atomically
// (storage/index_dir.h). Until that switch, an existing index at the same
// directory is left exactly as it was, whatever happens to the build.
//
// Inside a shard, docids are assigned in byte order of the external ids, so
// ties in score broken by docid are broken by id, whatever the shard count.
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

namespace scry::indexer {

inline constexpr uint32_t kFieldPositionGap = 100;

struct BuildOptions {
  std::vector<std::string> inputs;  // JSONL files; "-" is standard input
  std::string index_dir;
  uint32_t num_shards = 1;
  std::string language = "english";
  // Drop the language's stopwords (indexer/stopwords.h), keeping their
  // positions. Recorded in the manifest so queries are analysed alike.
  bool stopwords = false;
  // false: the first bad line stops the build (InvalidArgument "FILE:LINE:
  // reason"). true: bad lines are reported through `warn` and skipped.
  bool skip_invalid = false;
  size_t max_document_bytes = 64 << 20;
  unsigned threads = 0;  // analysis threads; 0 = all cores
  // Block codecs (storage/block_codec.h), chosen by bench/posting_codec_bench
  // on the shared corpus: simdbp128 decodes docid gaps fastest at the size of
  // bitpack; pfor is the smallest for tfs and positions (bench/RESULTS.md).
  std::string docid_codec = "simdbp128";
  std::string freq_codec = "pfor";
  std::string positions_codec = "pfor";
  // Members kept in the `docs` column family besides the id, which is always
  // stored: {"*"} (the default) keeps every member, {} keeps only the id.
  std::vector<std::string> stored_fields = {"*"};
  // Members that also get postings of their own, for field queries
  // (`title:word`) and per-field weights: {"*"} (the default) every member
  // whose name is a field name (storage::IsFieldName), {} none. The
  // catch-all field, searched by default, always holds every member.
  // At most 255 fields.
  std::vector<std::string> index_fields = {"*"};
  // Called with one line per skipped input line (and progress if set below).
  std::function<void(const std::string&)> warn;
  // Called about 4 times a second with a one-line progress report (no
  // newline); nullptr for none.
  std::function<void(const std::string&)> progress;
};

struct BuildSummary {
  uint64_t docs = 0;
  uint64_t skipped = 0;  // invalid lines skipped (skip_invalid)
  uint64_t input_bytes = 0;
  uint64_t terms = 0;  // distinct terms summed over shards
  uint64_t postings = 0;
  uint64_t index_bytes = 0;  // bytes on disk of the new generation
  double seconds = 0;
  std::string generation_path;
};

// Builds the index. On error the previous index at options.index_dir (if
// any) is unchanged. Errors: InvalidArgument for bad input or options,
// NotFound for a missing input file, Unavailable if another build holds the
// directory, FailedPrecondition if the directory is not a scry index.
absl::StatusOr<BuildSummary> BuildIndex(const BuildOptions& options);

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_BUILDER_H_
