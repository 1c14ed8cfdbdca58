// File: bench/posting_codec_bench.cc
//
// Block codecs on REAL postings: every block of an index as the writer cut
// it, read back from the shards (the `postings` and `positions` column
// families, and the short lists inlined in `terms`). Each codec re-encodes
// the data and the benchmarks decode it block by block, as cursors do. Every
// codec in CodecNames() is registered automatically.
//
//   SCRY_BENCH_INDEX=/tmp/idx build/bench/posting_codec_bench
//
//   BM_Real/<kind>/<codec>/<blocks>
//     kind   docids     docid blocks (up to 128), EncodeDelta / DecodeDelta
//                       from the block's base docid
//            freqs      tf-1 blocks (up to 128), Encode / Decode
//            positions  the position values of a block (each document's
//                       first position, then gaps minus one), in groups of
//                       up to 128, Encode / Decode
//     blocks all        every block
//            full       only 128-integer blocks: the long lists that queries
//                       spend their time in
//   BM_LibStreamVByte/<kind>/<blocks>
//     libstreamvbyte's own decoder on the "streamvbyte" bytes, for comparison
//     (plus the prefix sum for docids).
// Counters: items_per_second = integers decoded per second (CPU time);
// bits_per_int = encoded size over those blocks; blocks; ints.
//
// Build the index first, e.g.
//   scry index --input ../shared/corpora/out/all.jsonl --index /tmp/idx --store none

#include <benchmark/benchmark.h>
#include <streamvbyte.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "storage/block_codec.h"
#include "storage/index_dir.h"
#include "storage/keys.h"
#include "storage/posting_format.h"
#include "storage/rocks_util.h"
#include "storage/status.h"

namespace scry::storage {
namespace {

enum Kind { kDocids = 0, kFreqs = 1, kPositions = 2 };
constexpr const char* kKindNames[] = {"docids", "freqs", "positions"};

// Blocks of up to kBlockSize integers, concatenated.
struct Blocks {
  std::vector<uint32_t> values;  // docids: absolute; freqs: tf-1; positions: as stored
  std::vector<uint32_t> begin;   // first index of each block in values
  std::vector<uint32_t> count;   // integers in each block
  std::vector<uint32_t> prev;    // docids: the block's base docid - 1
  size_t ints() const { return values.size(); }

  void Add(const uint32_t* v, uint32_t n, uint32_t prev_docid) {
    begin.push_back(static_cast<uint32_t>(values.size()));
    count.push_back(n);
    prev.push_back(prev_docid);
    values.insert(values.end(), v, v + n);
  }
};

struct Corpus {
  absl::Status status;
  Blocks blocks[3][2];  // [kind][full only]

  void Add(Kind kind, const uint32_t* v, uint32_t n, uint32_t prev = 0) {
    blocks[kind][0].Add(v, n, prev);
    if (n == kBlockSize) blocks[kind][1].Add(v, n, prev);
  }
};

// Adds the blocks of one posting chunk and its positions chunk.
absl::Status AddChunk(std::string_view postings, std::string_view positions, Corpus* corpus) {
  SCRY_ASSIGN_OR_RETURN(const PostingChunkView chunk, PostingChunkView::Parse(postings));
  SCRY_ASSIGN_OR_RETURN(const PositionsChunkView pos_chunk, PositionsChunkView::Parse(positions));
  if (pos_chunk.num_blocks() != chunk.num_blocks()) {
    return absl::DataLossError("posting and positions chunks differ in blocks");
  }
  uint32_t docids[kBlockSize], tfs[kBlockSize], values[kBlockSize];
  std::vector<uint32_t> pos, pos_values;
  for (uint32_t b = 0; b < chunk.num_blocks(); ++b) {
    SCRY_RETURN_IF_ERROR(chunk.DecodeBlock(b, docids, tfs));
    const BlockHeader h = chunk.header(b);
    const uint32_t base = b == 0 ? chunk.base_docid() : chunk.header(b - 1).last_docid + 1;
    corpus->Add(kDocids, docids, h.count, base - 1);
    for (uint32_t i = 0; i < h.count; ++i) values[i] = tfs[i] - 1;
    corpus->Add(kFreqs, values, h.count);
    // Positions as the writer encodes them: per document the first position,
    // then gaps minus one; groups of kBlockSize over the whole block.
    SCRY_RETURN_IF_ERROR(pos_chunk.DecodeBlock(b, tfs, h.count, &pos));
    pos_values.clear();
    size_t at = 0;
    for (uint32_t i = 0; i < h.count; ++i) {
      for (uint32_t k = 0; k < tfs[i]; ++k, ++at) {
        pos_values.push_back(k == 0 ? pos[at] : pos[at] - pos[at - 1] - 1);
      }
    }
    for (size_t g = 0; g < pos_values.size(); g += kBlockSize) {
      corpus->Add(kPositions, &pos_values[g],
                  static_cast<uint32_t>(std::min(kBlockSize, pos_values.size() - g)));
    }
  }
  return absl::OkStatus();
}

// Adds the inline lists of the terms column family, and the chunks of the
// postings and positions column families (same keys, same order).
absl::Status ReadShard(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* terms,
                       rocksdb::ColumnFamilyHandle* postings,
                       rocksdb::ColumnFamilyHandle* positions, Corpus* corpus) {
  auto view = [](const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); };
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), terms));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    SCRY_ASSIGN_OR_RETURN(const TermInfo info, TermInfo::Decode(view(it->value())));
    if (info.is_inline()) {
      SCRY_RETURN_IF_ERROR(AddChunk(info.inline_postings, info.inline_positions, corpus));
    }
  }
  SCRY_RETURN_IF_ERROR(internal::FromRocks(it->status(), "iterate terms"));
  std::unique_ptr<rocksdb::Iterator> p(db->NewIterator(rocksdb::ReadOptions(), postings));
  std::unique_ptr<rocksdb::Iterator> q(db->NewIterator(rocksdb::ReadOptions(), positions));
  for (p->SeekToFirst(), q->SeekToFirst(); p->Valid(); p->Next(), q->Next()) {
    if (!q->Valid() || p->key() != q->key()) {
      return absl::DataLossError("postings and positions keys differ");
    }
    SCRY_RETURN_IF_ERROR(AddChunk(view(p->value()), view(q->value()), corpus));
  }
  SCRY_RETURN_IF_ERROR(internal::FromRocks(p->status(), "iterate postings"));
  return internal::FromRocks(q->status(), "iterate positions");
}

absl::Status ReadShardAt(const std::string& path, Corpus* corpus) {
  rocksdb::DBOptions options;
  options.max_open_files = -1;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  rocksdb::DB* raw = nullptr;
  SCRY_RETURN_IF_ERROR(internal::FromRocks(
      rocksdb::DB::OpenForReadOnly(options, path, internal::CfDescriptors(8 << 20), &cfs, &raw),
      "open shard " + path));
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::ColumnFamilyHandle *terms = nullptr, *postings = nullptr, *positions = nullptr;
  for (auto* cf : cfs) {
    if (cf->GetName() == kTermsCf) terms = cf;
    if (cf->GetName() == kPostingsCf) postings = cf;
    if (cf->GetName() == kPositionsCf) positions = cf;
  }
  const absl::Status status = ReadShard(db.get(), terms, postings, positions, corpus);
  for (auto* cf : cfs) db->DestroyColumnFamilyHandle(cf).PermitUncheckedError();
  return status;
}

Corpus LoadCorpus() {
  Corpus corpus;
  const char* dir = std::getenv("SCRY_BENCH_INDEX");
  if (dir == nullptr || *dir == '\0') {
    corpus.status = absl::FailedPreconditionError("set SCRY_BENCH_INDEX to an index directory");
    return corpus;
  }
  absl::StatusOr<std::string> gen = LiveGeneration(dir);
  absl::StatusOr<IndexManifest> manifest =
      gen.ok() ? ReadManifest(*gen) : absl::StatusOr<IndexManifest>(gen.status());
  corpus.status = manifest.status();
  for (uint32_t s = 0; corpus.status.ok() && s < manifest->num_shards; ++s) {
    corpus.status = ReadShardAt(absl::StrCat(*gen, "/", ShardDirName(s)), &corpus);
  }
  if (corpus.status.ok()) {
    for (Kind kind : {kDocids, kFreqs, kPositions}) {
      const Blocks& all = corpus.blocks[kind][0];
      std::fprintf(stderr, "%s: %s: %zu integers in %zu blocks (%zu full)\n", dir, kKindNames[kind],
                   all.ints(), all.count.size(), corpus.blocks[kind][1].count.size());
    }
  }
  return corpus;
}

const Blocks* GetBlocks(benchmark::State& state, Kind kind, bool full_only) {
  static const Corpus* corpus = new Corpus(LoadCorpus());
  if (!corpus->status.ok()) {
    state.SkipWithError(corpus->status.ToString().c_str());
    return nullptr;
  }
  return &corpus->blocks[kind][full_only];
}

// Encodes every block into one string; *ends gets each block's end offset.
std::string EncodeAll(const BlockCodec& codec, const Blocks& blocks, Kind kind,
                      std::vector<size_t>* ends) {
  std::string out;
  ends->clear();
  for (size_t b = 0; b < blocks.count.size(); ++b) {
    const uint32_t* v = &blocks.values[blocks.begin[b]];
    if (kind == kDocids) {
      codec.EncodeDelta(v, blocks.count[b], blocks.prev[b], &out);
    } else {
      codec.Encode(v, blocks.count[b], &out);
    }
    ends->push_back(out.size());
  }
  return out;
}

void SetCounters(benchmark::State& state, const Blocks& blocks, size_t bytes) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * blocks.ints()));
  state.counters["bits_per_int"] = 8.0 * static_cast<double>(bytes) / blocks.ints();
  state.counters["blocks"] = static_cast<double>(blocks.count.size());
  state.counters["ints"] = static_cast<double>(blocks.ints());
}

void BM_Real(benchmark::State& state, Kind kind, std::string_view codec_name, bool full_only) {
  const Blocks* blocks = GetBlocks(state, kind, full_only);
  if (blocks == nullptr) return;
  const BlockCodec& codec = **CodecByName(codec_name);
  std::vector<size_t> ends;
  const std::string encoded = EncodeAll(codec, *blocks, kind, &ends);
  const size_t num_blocks = blocks->count.size();
  const bool delta = kind == kDocids;
  uint32_t out[kBlockSize];
  // Check every block once, then time the decoding.
  std::string_view rest(encoded);
  for (size_t b = 0; b < num_blocks; ++b) {
    const uint32_t n = blocks->count[b];
    absl::StatusOr<size_t> used =
        delta ? codec.DecodeDelta(rest, n, blocks->prev[b], out) : codec.Decode(rest, n, out);
    if (!used.ok() || encoded.size() - rest.size() + *used != ends[b] ||
        !std::equal(out, out + n, blocks->values.begin() + blocks->begin[b])) {
      state.SkipWithError(absl::StrCat("block ", b, " does not round-trip").c_str());
      return;
    }
    rest.remove_prefix(*used);
  }
  for (auto _ : state) {
    rest = encoded;
    for (size_t b = 0; b < num_blocks; ++b) {
      absl::StatusOr<size_t> used =
          delta ? codec.DecodeDelta(rest, blocks->count[b], blocks->prev[b], out)
                : codec.Decode(rest, blocks->count[b], out);
      if (!used.ok()) {
        state.SkipWithError("decode failed");
        return;
      }
      rest.remove_prefix(*used);
      benchmark::DoNotOptimize(out);
    }
    benchmark::ClobberMemory();
  }
  SetCounters(state, *blocks, encoded.size());
}

// libstreamvbyte's decoder (no bounds checks: the buffer is padded).
void BM_LibStreamVByte(benchmark::State& state, Kind kind, bool full_only) {
  const Blocks* blocks = GetBlocks(state, kind, full_only);
  if (blocks == nullptr) return;
  absl::StatusOr<const BlockCodec*> codec = CodecByName("streamvbyte");
  if (!codec.ok()) {
    state.SkipWithError("streamvbyte is not registered");
    return;
  }
  std::vector<size_t> ends;
  std::string encoded = EncodeAll(**codec, *blocks, kind, &ends);
  const size_t size = encoded.size();
  encoded.append(64, '\0');
  const size_t num_blocks = blocks->count.size();
  uint32_t out[kBlockSize];
  for (auto _ : state) {
    const auto* p = reinterpret_cast<const uint8_t*>(encoded.data());
    for (size_t b = 0; b < num_blocks; ++b) {
      const uint32_t n = blocks->count[b];
      p += streamvbyte_decode(p, out, n);
      if (kind == kDocids) {
        uint32_t prev = blocks->prev[b];
        for (uint32_t i = 0; i < n; ++i) out[i] = prev += out[i] + 1;
      }
      benchmark::DoNotOptimize(out);
    }
    benchmark::ClobberMemory();
  }
  SetCounters(state, *blocks, size);
}

const bool kRegistered = [] {
  for (const bool full_only : {false, true}) {
    const char* which = full_only ? "full" : "all";
    for (Kind kind : {kDocids, kFreqs, kPositions}) {
      for (std::string_view name : CodecNames()) {
        benchmark::RegisterBenchmark(
            absl::StrCat("BM_Real/", kKindNames[kind], "/", AsAbsl(name), "/", which).c_str(),
            BM_Real, kind, name, full_only);
      }
      benchmark::RegisterBenchmark(
          absl::StrCat("BM_LibStreamVByte/", kKindNames[kind], "/", which).c_str(),
          BM_LibStreamVByte, kind, full_only);
    }
  }
  return true;
}();

}  // namespace
}  // namespace scry::storage
