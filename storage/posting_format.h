// File: storage/posting_format.h
//
// Encoding of one term's posting list: its TermInfo (in the `terms` column
// family) and its chunks of blocks (in `postings` and `positions`). The byte
// grammar is at the top of posting_format.cc.
//
// A posting list is cut into blocks of kBlockSize (128) postings and blocks
// are grouped into chunks of up to kBlocksPerChunk blocks, one RocksDB value
// per chunk, so that a cursor reads only the chunks it visits and skips whole
// blocks by their fixed-size headers without decoding them.
#ifndef SCRY_STORAGE_POSTING_FORMAT_H_
#define SCRY_STORAGE_POSTING_FORMAT_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/block_codec.h"

namespace scry::storage {

inline constexpr uint32_t kBlocksPerChunk = 64;
inline constexpr size_t kBlockHeaderBytes = 12;
inline constexpr size_t kInlineMaxBytes = 128;

// One (term frequency, document length) pair. A list of impacts describes a
// range of postings (a block, or a whole list): every posting (tf, dl) in the
// range is dominated by some impact (tf' >= tf and dl' <= dl). BM25 grows with
// tf and falls with dl, so the best score over the impacts is a true upper
// bound of every posting's score in the range, whatever the collection
// statistics at query time. Stored lists are the Pareto frontier, tf and dl
// strictly ascending; a frontier longer than the cap is merged into groups of
// adjacent pairs, each replaced by (its largest tf, its smallest dl), which
// keeps the bound true and only loosens it.
struct Impact {
  uint32_t tf;
  uint32_t dl;
  friend bool operator==(const Impact&, const Impact&) = default;
};
inline constexpr size_t kMaxBlockImpacts = 8;
inline constexpr size_t kMaxTermImpacts = 16;

// The frontier of postings (tfs[i], dls[i]), i < n, at most `cap` pairs.
// dls == nullptr means lengths unknown: dl 0, the loosest true bound.
// cap 0: no cap.
std::vector<Impact> ComputeImpacts(const uint32_t* tfs, const uint32_t* dls, size_t n, size_t cap);
// The frontier of the union of two frontiers (both true bounds), at most `cap`.
std::vector<Impact> MergeImpacts(const std::vector<Impact>& a, const std::vector<Impact>& b,
                                 size_t cap);
// Encoded form: pairs of varints, deltas after the first (see posting_format.cc).
void EncodeImpacts(const std::vector<Impact>& impacts, std::string* out);
// DataLoss unless `data` is exactly a well-formed impact list.
absl::Status DecodeImpacts(std::string_view data, std::vector<Impact>* out);

// Per-term statistics and the chunk skip table.
struct TermInfo {
  uint32_t df = 0;        // documents containing the term
  uint64_t total_tf = 0;  // occurrences over all documents
  uint32_t max_tf = 0;    // largest tf in one document
  // Frontier of the whole list; stored only for lists of more than one block
  // (a single block's bound is computed from the block itself when needed).
  std::vector<Impact> impacts;
  std::vector<uint32_t> chunk_last_docids;  // last docid of each chunk, ascending
  // A short list (one block of at most kInlineMaxBytes, postings and
  // positions together) is kept here, in the terms column family, instead of
  // under its own keys: one read instead of three, and less space. Kept in
  // compact form (CompactInline / ExpandInline below).
  std::string inline_postings;   // empty unless inline
  std::string inline_positions;  // empty unless inline

  bool is_inline() const noexcept { return !inline_postings.empty(); }

  std::string Encode() const;
  // DataLoss if `data` is not a well-formed TermInfo.
  static absl::StatusOr<TermInfo> Decode(std::string_view data);
  // Only the df of an encoded TermInfo (its first field), for dictionary
  // scans. DataLoss if it is not there.
  static absl::StatusOr<uint32_t> DecodeDf(std::string_view data);
};

// The postings of one term in one shard, as the indexer produces them.
// docids strictly ascending; freqs[i] >= 1; positions holds freqs[i]
// ascending positions per document, concatenated (sum(freqs) entries).
struct PostingList {
  std::vector<uint32_t> docids;
  std::vector<uint32_t> freqs;
  std::vector<uint32_t> positions;
};

// Codecs chosen at write time; each block records its own, so readers accept
// any mix.
struct PostingCodecs {
  const BlockCodec* docids = nullptr;     // REQUIRES: non-null
  const BlockCodec* freqs = nullptr;      // REQUIRES: non-null
  const BlockCodec* positions = nullptr;  // null: the same as freqs
};

// The encoded form of a whole posting list.
struct EncodedPostingList {
  TermInfo info;
  std::vector<std::string> posting_chunks;   // one value per chunk
  std::vector<std::string> position_chunks;  // parallel to posting_chunks
};

// Encodes `list`. doc_lengths[docid] is the length of each document the list
// refers to, for the impacts; empty means unknown (impacts then bound with
// length 0). InvalidArgument if the list breaks the PostingList rules or a
// docid is past doc_lengths.
// `impacts` false: no impacts at all, for lists no pruning evaluator reads
// (pair lists: only phrases read them); their blocks store impact_bytes 0 and
// a cursor asked for their bounds reports DataLoss instead of guessing.
absl::StatusOr<EncodedPostingList> EncodePostingList(const PostingList& list,
                                                     const PostingCodecs& codecs,
                                                     std::span<const uint32_t> doc_lengths = {},
                                                     bool impacts = true);

// Encodes a posting list given in pieces, the docids of each piece above
// those of the pieces before, a chunk at a time: a list longer than one
// wants to hold whole (the merge of a build's sorted runs) needs only its
// current piece and one chunk in memory. The chunks and TermInfo are the
// bytes EncodePostingList gives for the pieces concatenated.
//
//   PostingListEncoder e(codecs, doc_lengths);
//   for (piece : pieces) { e.Add(piece); e.TakeChunks(&p, &q); store p, q }
//   auto rest = e.Finish();  // the TermInfo, and the chunks not yet taken
class PostingListEncoder {
 public:
  // `codecs` and `doc_lengths` (as for EncodePostingList) must outlive it.
  // `impacts` as for EncodePostingList.
  explicit PostingListEncoder(const PostingCodecs& codecs,
                              std::span<const uint32_t> doc_lengths = {}, bool impacts = true);

  // Appends `piece`. InvalidArgument if it breaks the PostingList rules,
  // alone or after the pieces before (then the encoder is unusable).
  absl::Status Add(const PostingList& piece);
  // Moves the chunks complete so far and not yet taken to the back of
  // *postings and *positions (parallel; chunk numbers continue in order).
  void TakeChunks(std::vector<std::string>* postings, std::vector<std::string>* positions);
  // Encodes the rest: the TermInfo, and the chunks not taken. InvalidArgument
  // if no posting was added.
  absl::StatusOr<EncodedPostingList> Finish();

 private:
  friend absl::StatusOr<EncodedPostingList> EncodePostingList(const PostingList&,
                                                              const PostingCodecs&,
                                                              std::span<const uint32_t>, bool);
  static constexpr size_t kChunk = kBlockSize * kBlocksPerChunk;  // postings a chunk
  struct View {
    const uint32_t* docids;
    const uint32_t* freqs;
    const uint32_t* positions;
  };
  // Checks `piece` against the rules and the pieces before; counts it.
  absl::Status Check(const PostingList& piece);
  // Encodes postings [0, count) of `v` as the next chunk; *positions_used
  // gets the positions they hold.
  absl::Status EncodeChunk(View v, size_t count, bool with_impacts, size_t* positions_used);
  // Encodes all of pending_ as the next chunk and empties it.
  absl::Status EncodePending(bool with_impacts);

  const PostingCodecs& codecs_;
  std::span<const uint32_t> doc_lengths_;
  bool impacts_;  // whether lists of more than one block get impacts
  EncodedPostingList out_;
  PostingList pending_;  // added, not yet encoded: less than one chunk
  uint64_t count_ = 0;   // postings added
  uint64_t total_tf_ = 0;
  uint32_t max_tf_ = 0;
  uint32_t last_docid_ = 0;  // of the postings added, if any
  uint32_t base_ = 0;        // the next chunk's base docid
  std::vector<Impact> block_frontiers_;
  std::vector<uint32_t> pos_values_;  // scratch
};

// Inline lists drop from their one-block chunks what the TermInfo already
// says (base 0, one block, its last docid, count = df, sizes): a posting
// chunk keeps its two codec ids and block data, a positions chunk its block
// data. InvalidArgument if the chunks are not of one block without impacts.
absl::Status CompactInline(std::string_view posting_chunk, std::string_view positions_chunk,
                           std::string* postings, std::string* positions);
// Rebuilds the full chunks of an inline list. DataLoss if malformed.
absl::Status ExpandInlinePostings(const TermInfo& info, std::string* chunk);
absl::Status ExpandInlinePositions(const TermInfo& info, std::string* chunk);

// Header of one block, as stored (fixed width, so it can be binary searched).
struct BlockHeader {
  uint32_t last_docid;
  uint32_t data_end;  // end offset of the block's data, from the data section start
  uint32_t count;     // postings in the block, 1..128
  uint8_t docid_codec;
  uint8_t freq_codec;
  uint8_t impact_bytes;  // size of the block's impact list at the front of its data; 0: none
};

// A parsed, validated view of a posting chunk. It does not own the bytes:
// they must outlive it (in practice a PinnableSlice from the block cache).
class PostingChunkView {
 public:
  // Checks the chunk's structure (header sizes, offsets ascending and in
  // bounds, last docids ascending). DataLoss on any inconsistency.
  static absl::StatusOr<PostingChunkView> Parse(std::string_view chunk);

  PostingChunkView() = default;
  uint32_t base_docid() const noexcept { return base_; }
  uint32_t num_blocks() const noexcept { return num_blocks_; }
  BlockHeader header(uint32_t block) const noexcept;
  // The encoded bytes of block `block` (impacts, docid gaps, freqs).
  std::string_view block_data(uint32_t block) const noexcept;
  // Replaces *out with the block's stored impacts (empty if it stores none).
  // DataLoss if they are corrupt.
  absl::Status BlockImpacts(uint32_t block, std::vector<Impact>* out) const;

  // Decodes block `block`: docids (absolute) and, if freqs != nullptr, tfs.
  // DataLoss on corrupt data. REQUIRES: arrays of kBlockSize.
  absl::Status DecodeBlock(uint32_t block, uint32_t* docids, uint32_t* freqs) const;

  // The two halves of DecodeBlock, for cursors that need the tfs of a block
  // only sometimes: DecodeDocids sets *freqs_offset to where the tfs start in
  // block_data(block), which DecodeFreqs takes back.
  absl::Status DecodeDocids(uint32_t block, uint32_t* docids, uint32_t* freqs_offset) const;
  absl::Status DecodeFreqs(uint32_t block, uint32_t freqs_offset, uint32_t* freqs) const;

 private:
  uint32_t base_ = 0;
  uint32_t num_blocks_ = 0;
  const char* headers_ = nullptr;
  std::string_view data_;
};

// A parsed view of a positions chunk (same lifetime rule as above).
class PositionsChunkView {
 public:
  static absl::StatusOr<PositionsChunkView> Parse(std::string_view chunk);
  PositionsChunkView() = default;
  uint32_t num_blocks() const noexcept { return num_blocks_; }
  // The encoded positions of block `block`.
  std::string_view block_data(uint32_t block) const noexcept;

  // Decodes the positions of block `block`, whose postings have term
  // frequencies freqs[0, count): sum(freqs) positions into the front of *out
  // (grown if too small; entries past them are unspecified),
  // doc after doc, each doc's positions ascending. DataLoss if corrupt.
  absl::Status DecodeBlock(uint32_t block, const uint32_t* freqs, uint32_t count,
                           std::vector<uint32_t>* out) const;

  // As DecodeBlock, but leaves each doc's positions as stored (the first
  // one, then gaps minus 1), for callers that need the positions of a few
  // of the block's documents only: they call UndoGaps on those.
  absl::Status DecodeBlockGaps(uint32_t block, const uint32_t* freqs, uint32_t count,
                               std::vector<uint32_t>* out) const;

  // Turns the f stored values of one document at p into its positions, in
  // place. DataLoss if they would pass 2^32 - 1 (corrupt data).
  static absl::Status UndoGaps(uint32_t* p, uint32_t f);

 private:
  uint32_t num_blocks_ = 0;
  const char* ends_ = nullptr;
  std::string_view data_;
};

}  // namespace scry::storage

#endif  // SCRY_STORAGE_POSTING_FORMAT_H_
