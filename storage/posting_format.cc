// File: storage/posting_format.cc
//
// On-disk grammar (fixed32 little-endian, varint LEB128; see coding.h):
//
//   term_info       := df:varint32 total_tf:varint64 max_tf:varint32
//                      n_chunks:varint32 chunk_last:varint32{n_chunks}
//                      (chunk_last: first absolute, then the difference to
//                      the previous chunk's last docid)
//                      flags:varint32 (bit 0: inline, bit 1: impacts)
//                      [postings:lp positions:lp]  when inline: the one
//                      posting_chunk and positions_chunk below, compacted:
//                      postings  := docid_codec:u8 freq_codec:u8 block_data
//                      positions := block_positions
//                      (base 0, one block, no impacts, count = df, last
//                      docid = the chunk_last, data ends = value sizes)
//                      [impacts:lp]                 when bit 1: the list's
//                      impact frontier (only lists of more than one block)
//
//   impacts         := (tf_delta:varint32 dl_delta:varint32)+
//                      the frontier, tf and dl strictly ascending: the first
//                      pair as tf-1 and dl, the next ones as the differences
//                      to the previous pair minus 1. At most 8 pairs per
//                      block and 16 per list (see posting_format.h).
//
//   posting_chunk   := base_docid:varint32 n_blocks:varint32
//                      block_header{n_blocks} block_data{n_blocks}
//   block_header    := last_docid:fixed32 data_end:fixed32 count_minus_1:u8
//                      docid_codec:u8 freq_codec:u8 impact_bytes:u8  (12 bytes)
//   block_data      := impacts{impact_bytes} docid_codec.encode(gap{count})
//                      freq_codec.encode(tf-1{count})
//                      impacts: the block's frontier, present (impact_bytes
//                      > 0) when the list has more than one block; a cursor
//                      bounds a block's BM25 scores from it without decoding.
//                      gap: docid - base for the first posting, where base is
//                      the chunk's base_docid for block 0 and the previous
//                      block's last_docid + 1 otherwise; then
//                      docid - previous docid - 1.
//                      data_end is the end offset of the block's bytes,
//                      counted from the first block_data byte.
//   base_docid      := 0 for chunk 0, else the previous chunk's last docid + 1
//
//   positions_chunk := n_blocks:varint32 block_end:fixed32{n_blocks}
//                      block_positions{n_blocks}
//   block_positions := codec:u8 group{ceil(total / 128)}
//                      the block's positions, doc after doc, as values: each
//                      doc's first position, then position - previous - 1;
//                      cut into groups of 128 (the last shorter), each
//                      encoded with the block codec `codec`. total = sum of
//                      the block's term frequencies.
#include "storage/posting_format.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "storage/coding.h"
#include "storage/status.h"

namespace scry::storage {
namespace {

absl::Status Corrupt(std::string_view what) {
  return absl::DataLossError(absl::StrCat("corrupt posting data: ", AsAbsl(what)));
}

// The Pareto frontier of `pairs` (reordered), then capped (see the header);
// cap 0: no cap.
std::vector<Impact> Frontier(std::vector<Impact>& pairs, size_t cap) {
  // By tf descending, then dl ascending, a pair survives if its dl is below
  // every dl seen so far (those all have a tf at least as large).
  std::vector<Impact> frontier;
  uint32_t max_tf = 0;
  for (const Impact& p : pairs) max_tf = std::max(max_tf, p.tf);
  constexpr uint32_t kSmallTf = 256;
  if (max_tf <= kSmallTf) {
    // Small tfs (nearly every block): the least dl of each tf, no sort.
    uint32_t least[kSmallTf + 1];
    std::fill_n(least, max_tf + 1, UINT32_MAX);
    bool seen[kSmallTf + 1] = {};
    for (const Impact& p : pairs) {
      least[p.tf] = std::min(least[p.tf], p.dl);
      seen[p.tf] = true;
    }
    for (uint32_t tf = max_tf; tf > 0; --tf) {
      if (seen[tf] && (frontier.empty() || least[tf] < frontier.back().dl)) {
        frontier.push_back(Impact{tf, least[tf]});
      }
    }
    if (seen[0] && (frontier.empty() || least[0] < frontier.back().dl)) {
      frontier.push_back(Impact{0, least[0]});
    }
  } else {
    std::sort(pairs.begin(), pairs.end(), [](const Impact& a, const Impact& b) {
      return a.tf != b.tf ? a.tf > b.tf : a.dl < b.dl;
    });
    for (const Impact& p : pairs) {
      if (frontier.empty() || p.dl < frontier.back().dl) frontier.push_back(p);
    }
  }
  std::reverse(frontier.begin(), frontier.end());  // tf and dl ascending
  if (cap == 0 || frontier.size() <= cap) return frontier;
  const size_t group = (frontier.size() + cap - 1) / cap;
  std::vector<Impact> capped;
  for (size_t g = 0; g < frontier.size(); g += group) {
    const size_t last = std::min(frontier.size(), g + group) - 1;
    capped.push_back(Impact{frontier[last].tf, frontier[g].dl});
  }
  return capped;
}

}  // namespace

std::vector<Impact> ComputeImpacts(const uint32_t* tfs, const uint32_t* dls, size_t n, size_t cap) {
  std::vector<Impact> pairs(n);
  for (size_t i = 0; i < n; ++i) pairs[i] = Impact{tfs[i], dls == nullptr ? 0 : dls[i]};
  return Frontier(pairs, cap);
}

std::vector<Impact> MergeImpacts(const std::vector<Impact>& a, const std::vector<Impact>& b,
                                 size_t cap) {
  std::vector<Impact> pairs(a);
  pairs.insert(pairs.end(), b.begin(), b.end());
  return Frontier(pairs, cap);
}

void EncodeImpacts(const std::vector<Impact>& impacts, std::string* out) {
  Impact prev{0, 0};
  for (size_t i = 0; i < impacts.size(); ++i) {
    const Impact& p = impacts[i];
    PutVarint32(out, p.tf - prev.tf - 1);
    PutVarint32(out, i == 0 ? p.dl : p.dl - prev.dl - 1);
    prev = p;
  }
}

absl::Status DecodeImpacts(std::string_view data, std::vector<Impact>* out) {
  out->clear();
  uint64_t tf = 0, dl = 0;
  while (!data.empty()) {
    uint32_t dtf = 0, ddl = 0;
    if (!GetVarint32(&data, &dtf) || !GetVarint32(&data, &ddl)) {
      return Corrupt("truncated impacts");
    }
    tf += uint64_t{dtf} + 1;
    dl = out->empty() ? ddl : dl + ddl + 1;
    if (tf > 0xffffffffULL || dl > 0xffffffffULL) return Corrupt("impact overflow");
    out->push_back(Impact{static_cast<uint32_t>(tf), static_cast<uint32_t>(dl)});
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> TermInfo::DecodeDf(std::string_view data) {
  uint32_t df = 0;
  if (!GetVarint32(&data, &df)) return absl::DataLossError("corrupt term info: no df");
  return df;
}

std::string TermInfo::Encode() const {
  std::string out;
  PutVarint32(&out, df);
  PutVarint64(&out, total_tf);
  PutVarint32(&out, max_tf);
  PutVarint32(&out, static_cast<uint32_t>(chunk_last_docids.size()));
  uint32_t prev = 0;
  for (uint32_t last : chunk_last_docids) {
    PutVarint32(&out, last - prev);
    prev = last;
  }
  PutVarint32(&out, (is_inline() ? 1 : 0) | (impacts.empty() ? 0 : 2));
  if (is_inline()) {
    PutLengthPrefixed(&out, inline_postings);
    PutLengthPrefixed(&out, inline_positions);
  }
  if (!impacts.empty()) {
    std::string encoded;
    EncodeImpacts(impacts, &encoded);
    PutLengthPrefixed(&out, encoded);
  }
  return out;
}

absl::StatusOr<TermInfo> TermInfo::Decode(std::string_view data) {
  TermInfo info;
  uint32_t n_chunks = 0;
  if (!GetVarint32(&data, &info.df) || !GetVarint64(&data, &info.total_tf) ||
      !GetVarint32(&data, &info.max_tf) || !GetVarint32(&data, &n_chunks)) {
    return Corrupt("truncated term info");
  }
  if (n_chunks == 0 || n_chunks > data.size() || info.df == 0) {
    return Corrupt("bad chunk count in term info");
  }
  info.chunk_last_docids.reserve(n_chunks);
  uint64_t last = 0;
  for (uint32_t i = 0; i < n_chunks; ++i) {
    uint32_t delta = 0;
    if (!GetVarint32(&data, &delta)) return Corrupt("truncated chunk table");
    if (i > 0 && delta == 0) return Corrupt("chunk table not ascending");
    last += delta;
    if (last > 0xffffffffULL) return Corrupt("chunk table overflow");
    info.chunk_last_docids.push_back(static_cast<uint32_t>(last));
  }
  uint32_t flags = 0;
  if (!GetVarint32(&data, &flags) || flags > 3) return Corrupt("bad term info flags");
  if (flags & 1) {
    std::string_view postings, positions;
    if (n_chunks != 1 || info.df > kBlockSize || !GetLengthPrefixed(&data, &postings) ||
        !GetLengthPrefixed(&data, &positions) || postings.size() < 2 || positions.empty()) {
      return Corrupt("bad inline posting list");
    }
    info.inline_postings.assign(postings.data(), postings.size());
    info.inline_positions.assign(positions.data(), positions.size());
  }
  if (flags & 2) {
    std::string_view impacts;
    if (!GetLengthPrefixed(&data, &impacts) || impacts.empty()) {
      return Corrupt("bad term impacts");
    }
    SCRY_RETURN_IF_ERROR(DecodeImpacts(impacts, &info.impacts));
    if (info.impacts.size() > kMaxTermImpacts) return Corrupt("too many term impacts");
  }
  if (!data.empty()) return Corrupt("trailing bytes in term info");
  return info;
}

PostingListEncoder::PostingListEncoder(const PostingCodecs& codecs,
                                       std::span<const uint32_t> doc_lengths, bool impacts)
    : codecs_(codecs), doc_lengths_(doc_lengths), impacts_(impacts) {}

absl::Status PostingListEncoder::Check(const PostingList& list) {
  const size_t n = list.docids.size();
  if (list.freqs.size() != n) {
    return absl::InvalidArgumentError("posting list is empty or freqs size differs");
  }
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (list.freqs[i] == 0) return absl::InvalidArgumentError("zero term frequency");
    if (i > 0 ? list.docids[i] <= list.docids[i - 1]
              : count_ > 0 && list.docids[0] <= last_docid_) {
      return absl::InvalidArgumentError("docids not strictly ascending");
    }
    total += list.freqs[i];
    max_tf_ = std::max(max_tf_, list.freqs[i]);
  }
  if (list.positions.size() != total) {
    return absl::InvalidArgumentError("positions size differs from sum of freqs");
  }
  if (n > 0 && !doc_lengths_.empty() && list.docids.back() >= doc_lengths_.size()) {
    return absl::InvalidArgumentError("posting refers to a document without a length");
  }
  if (count_ + n > 0xffffffffULL) return absl::InvalidArgumentError("posting list too long");
  if (n > 0) last_docid_ = list.docids.back();
  count_ += n;
  total_tf_ += total;
  return absl::OkStatus();
}

absl::Status PostingListEncoder::EncodeChunk(View v, size_t count, bool with_impacts,
                                             size_t* positions_used) {
  const BlockCodec* pos_codec = codecs_.positions != nullptr ? codecs_.positions : codecs_.freqs;
  const uint32_t n_blocks = static_cast<uint32_t>((count + kBlockSize - 1) / kBlockSize);
  std::string headers, data, pos_ends, pos_data;
  PutVarint32(&headers, base_);
  PutVarint32(&headers, n_blocks);
  PutVarint32(&pos_ends, n_blocks);
  uint32_t block_base = base_;
  uint32_t values[kBlockSize];
  uint32_t dls[kBlockSize];
  size_t pos_index = 0;
  for (size_t b = 0; b < count; b += kBlockSize) {
    const size_t block_count = std::min(kBlockSize, count - b);
    const size_t impacts_begin = data.size();
    if (with_impacts) {
      const bool lengths = !doc_lengths_.empty();
      if (lengths) {
        for (size_t i = 0; i < block_count; ++i) dls[i] = doc_lengths_[v.docids[b + i]];
      }
      const std::vector<Impact> frontier =
          ComputeImpacts(&v.freqs[b], lengths ? dls : nullptr, block_count, 0);
      block_frontiers_.insert(block_frontiers_.end(), frontier.begin(), frontier.end());
      EncodeImpacts(MergeImpacts(frontier, {}, kMaxBlockImpacts), &data);
    }
    const size_t impact_bytes = data.size() - impacts_begin;  // <= 8 * 10
    codecs_.docids->EncodeDelta(&v.docids[b], block_count, block_base - 1, &data);
    for (size_t i = 0; i < block_count; ++i) values[i] = v.freqs[b + i] - 1;
    codecs_.freqs->Encode(values, block_count, &data);
    const uint32_t last = v.docids[b + block_count - 1];
    PutFixed32(&headers, last);
    PutFixed32(&headers, static_cast<uint32_t>(data.size()));
    headers.push_back(static_cast<char>(block_count - 1));
    headers.push_back(static_cast<char>(codecs_.docids->id()));
    headers.push_back(static_cast<char>(codecs_.freqs->id()));
    headers.push_back(static_cast<char>(impact_bytes));
    block_base = last + 1;
    pos_values_.clear();
    for (size_t i = 0; i < block_count; ++i) {
      uint32_t prev = 0;
      for (uint32_t k = 0; k < v.freqs[b + i]; ++k) {
        const uint32_t p = v.positions[pos_index++];
        if (k > 0 && p <= prev) {
          return absl::InvalidArgumentError("positions not strictly ascending");
        }
        pos_values_.push_back(k == 0 ? p : p - prev - 1);
        prev = p;
      }
    }
    pos_data.push_back(static_cast<char>(pos_codec->id()));
    for (size_t g = 0; g < pos_values_.size(); g += kBlockSize) {
      pos_codec->Encode(&pos_values_[g], std::min(kBlockSize, pos_values_.size() - g), &pos_data);
    }
    PutFixed32(&pos_ends, static_cast<uint32_t>(pos_data.size()));
  }
  const uint32_t chunk_last = v.docids[count - 1];
  out_.info.chunk_last_docids.push_back(chunk_last);
  base_ = chunk_last + 1;
  out_.posting_chunks.push_back(headers + data);
  out_.position_chunks.push_back(pos_ends + pos_data);
  *positions_used = pos_index;
  return absl::OkStatus();
}

absl::Status PostingListEncoder::EncodePending(bool with_impacts) {
  size_t used = 0;
  SCRY_RETURN_IF_ERROR(
      EncodeChunk(View{pending_.docids.data(), pending_.freqs.data(), pending_.positions.data()},
                  pending_.docids.size(), with_impacts, &used));
  pending_ = PostingList();
  return absl::OkStatus();
}

absl::Status PostingListEncoder::Add(const PostingList& piece) {
  SCRY_RETURN_IF_ERROR(Check(piece));
  const size_t n = piece.docids.size();
  size_t i = 0, pi = 0;              // postings and positions of `piece` used
  auto append = [&](size_t count) {  // postings [i, i + count) to pending_
    size_t positions = 0;
    for (size_t k = i; k < i + count; ++k) positions += piece.freqs[k];
    pending_.docids.insert(pending_.docids.end(), piece.docids.begin() + i,
                           piece.docids.begin() + i + count);
    pending_.freqs.insert(pending_.freqs.end(), piece.freqs.begin() + i,
                          piece.freqs.begin() + i + count);
    pending_.positions.insert(pending_.positions.end(), piece.positions.begin() + pi,
                              piece.positions.begin() + pi + positions);
    i += count;
    pi += positions;
  };
  // A full chunk is encoded at once (the list then has more than one block,
  // so its blocks carry impacts, as the whole list's would).
  if (!pending_.docids.empty()) {
    append(std::min(kChunk - pending_.docids.size(), n));
    if (pending_.docids.size() < kChunk) return absl::OkStatus();
    SCRY_RETURN_IF_ERROR(EncodePending(impacts_));
  }
  while (n - i >= kChunk) {
    size_t used = 0;
    SCRY_RETURN_IF_ERROR(EncodeChunk(
        View{piece.docids.data() + i, piece.freqs.data() + i, piece.positions.data() + pi}, kChunk,
        impacts_, &used));
    i += kChunk;
    pi += used;
  }
  append(n - i);
  return absl::OkStatus();
}

void PostingListEncoder::TakeChunks(std::vector<std::string>* postings,
                                    std::vector<std::string>* positions) {
  for (auto& c : out_.posting_chunks) postings->push_back(std::move(c));
  for (auto& c : out_.position_chunks) positions->push_back(std::move(c));
  out_.posting_chunks.clear();
  out_.position_chunks.clear();
}

absl::StatusOr<EncodedPostingList> PostingListEncoder::Finish() {
  if (count_ == 0) return absl::InvalidArgumentError("posting list is empty or freqs size differs");
  // Impacts only for lists of more than one block: a single block is bounded
  // from its own decoded postings, which a cursor has at hand anyway.
  const bool with_impacts = impacts_ && count_ > kBlockSize;
  if (!pending_.docids.empty()) SCRY_RETURN_IF_ERROR(EncodePending(with_impacts));
  out_.info.df = static_cast<uint32_t>(count_);
  out_.info.total_tf = total_tf_;
  out_.info.max_tf = max_tf_;
  if (with_impacts) out_.info.impacts = Frontier(block_frontiers_, kMaxTermImpacts);
  return std::move(out_);
}

absl::StatusOr<EncodedPostingList> EncodePostingList(const PostingList& list,
                                                     const PostingCodecs& codecs,
                                                     std::span<const uint32_t> doc_lengths,
                                                     bool impacts) {
  // The whole list at once: encoded from its own arrays, without copies.
  PostingListEncoder e(codecs, doc_lengths, impacts);
  SCRY_RETURN_IF_ERROR(e.Check(list));
  if (e.count_ == 0) return e.Finish();  // the error
  const bool with_impacts = impacts && e.count_ > kBlockSize;
  const size_t n = list.docids.size();
  size_t pi = 0;
  for (size_t i = 0; i < n; i += PostingListEncoder::kChunk) {
    size_t used = 0;
    SCRY_RETURN_IF_ERROR(
        e.EncodeChunk(PostingListEncoder::View{list.docids.data() + i, list.freqs.data() + i,
                                               list.positions.data() + pi},
                      std::min(PostingListEncoder::kChunk, n - i), with_impacts, &used));
    pi += used;
  }
  return e.Finish();
}

absl::Status CompactInline(std::string_view posting_chunk, std::string_view positions_chunk,
                           std::string* postings, std::string* positions) {
  absl::StatusOr<PostingChunkView> view = PostingChunkView::Parse(posting_chunk);
  absl::StatusOr<PositionsChunkView> pos = PositionsChunkView::Parse(positions_chunk);
  if (!view.ok() || !pos.ok() || view->base_docid() != 0 || view->num_blocks() != 1 ||
      pos->num_blocks() != 1 || view->header(0).impact_bytes != 0) {
    return absl::InvalidArgumentError("only a chunk of one block without impacts is inlined");
  }
  const BlockHeader h = view->header(0);
  postings->clear();
  postings->push_back(static_cast<char>(h.docid_codec));
  postings->push_back(static_cast<char>(h.freq_codec));
  postings->append(view->block_data(0));
  positions->assign(pos->block_data(0));
  return absl::OkStatus();
}

absl::Status ExpandInlinePostings(const TermInfo& info, std::string* chunk) {
  const std::string_view compact = info.inline_postings;
  if (compact.size() < 2 || info.df == 0 || info.df > kBlockSize ||
      info.chunk_last_docids.size() != 1) {
    return Corrupt("bad inline posting list");
  }
  chunk->clear();
  PutVarint32(chunk, 0);  // base docid
  PutVarint32(chunk, 1);  // one block
  PutFixed32(chunk, info.chunk_last_docids[0]);
  PutFixed32(chunk, static_cast<uint32_t>(compact.size() - 2));
  chunk->push_back(static_cast<char>(info.df - 1));
  chunk->append(compact.substr(0, 2));  // docid and freq codec ids
  chunk->push_back('\0');               // no impacts
  chunk->append(compact.substr(2));
  return absl::OkStatus();
}

absl::Status ExpandInlinePositions(const TermInfo& info, std::string* chunk) {
  if (info.inline_positions.empty()) return Corrupt("bad inline positions");
  chunk->clear();
  PutVarint32(chunk, 1);  // one block
  PutFixed32(chunk, static_cast<uint32_t>(info.inline_positions.size()));
  chunk->append(info.inline_positions);
  return absl::OkStatus();
}

absl::StatusOr<PostingChunkView> PostingChunkView::Parse(std::string_view chunk) {
  PostingChunkView view;
  if (!GetVarint32(&chunk, &view.base_) || !GetVarint32(&chunk, &view.num_blocks_)) {
    return Corrupt("truncated chunk header");
  }
  if (view.num_blocks_ == 0 || view.num_blocks_ > kBlocksPerChunk ||
      chunk.size() < size_t{view.num_blocks_} * kBlockHeaderBytes) {
    return Corrupt("bad block count");
  }
  view.headers_ = chunk.data();
  view.data_ = chunk.substr(size_t{view.num_blocks_} * kBlockHeaderBytes);
  uint64_t prev_end = 0;
  uint64_t prev_last_plus_one = view.base_;
  for (uint32_t b = 0; b < view.num_blocks_; ++b) {
    const BlockHeader h = view.header(b);
    if (h.count > kBlockSize) return Corrupt("block holds more than 128 postings");
    if (h.data_end < prev_end || h.data_end > view.data_.size() ||
        h.data_end - prev_end < h.impact_bytes) {
      return Corrupt("block offset out of range");
    }
    // The last docid of a block of `count` postings is at least base+count-1.
    if (uint64_t{h.last_docid} + 1 < prev_last_plus_one + h.count) {
      return Corrupt("block last docids not ascending");
    }
    prev_end = h.data_end;
    prev_last_plus_one = uint64_t{h.last_docid} + 1;
  }
  if (prev_end != view.data_.size()) return Corrupt("trailing bytes in chunk");
  return view;
}

BlockHeader PostingChunkView::header(uint32_t block) const noexcept {
  const char* p = headers_ + size_t{block} * kBlockHeaderBytes;
  return BlockHeader{DecodeFixed32(p),
                     DecodeFixed32(p + 4),
                     static_cast<uint32_t>(static_cast<uint8_t>(p[8])) + 1,
                     static_cast<uint8_t>(p[9]),
                     static_cast<uint8_t>(p[10]),
                     static_cast<uint8_t>(p[11])};
}

std::string_view PostingChunkView::block_data(uint32_t block) const noexcept {
  const uint32_t begin = block == 0 ? 0 : header(block - 1).data_end;
  return data_.substr(begin, header(block).data_end - begin);
}

absl::Status PostingChunkView::BlockImpacts(uint32_t block, std::vector<Impact>* out) const {
  SCRY_RETURN_IF_ERROR(DecodeImpacts(block_data(block).substr(0, header(block).impact_bytes), out));
  if (out->size() > kMaxBlockImpacts) return Corrupt("too many block impacts");
  return absl::OkStatus();
}

absl::Status PostingChunkView::DecodeDocids(uint32_t block, uint32_t* docids,
                                            uint32_t* freqs_offset) const {
  const BlockHeader h = header(block);
  const BlockCodec* dc = CodecById(h.docid_codec);
  if (dc == nullptr) return Corrupt("unknown codec id");
  std::string_view data = block_data(block).substr(h.impact_bytes);
  const uint32_t first = block == 0 ? base_ : header(block - 1).last_docid + 1;
  absl::StatusOr<size_t> used = dc->DecodeDelta(data, h.count, first - 1, docids);
  if (!used.ok()) return used.status();
  // Corrupt gaps wrap around 2^32 or overshoot: the docids must ascend from
  // `first` and end exactly at the header's last docid.
  if (docids[0] < first || docids[h.count - 1] != h.last_docid) {
    return Corrupt("block docids do not match the header");
  }
  uint32_t descending = 0;
  for (uint32_t i = 1; i < h.count; ++i) descending |= uint32_t{docids[i] <= docids[i - 1]};
  if (descending != 0) return Corrupt("block docids not ascending");
  *freqs_offset = static_cast<uint32_t>(h.impact_bytes + *used);
  return absl::OkStatus();
}

absl::Status PostingChunkView::DecodeFreqs(uint32_t block, uint32_t freqs_offset,
                                           uint32_t* freqs) const {
  const BlockHeader h = header(block);
  const BlockCodec* fc = CodecById(h.freq_codec);
  if (fc == nullptr) return Corrupt("unknown codec id");
  std::string_view data = block_data(block);
  if (freqs_offset > data.size()) return Corrupt("freqs offset out of range");
  absl::StatusOr<size_t> used = fc->Decode(data.substr(freqs_offset), h.count, freqs);
  if (!used.ok()) return used.status();
  uint32_t overflow = 0;
  for (uint32_t i = 0; i < h.count; ++i) {
    overflow |= uint32_t{freqs[i] == 0xffffffffu};
    freqs[i] += 1;
  }
  if (overflow != 0) return Corrupt("term frequency overflow");
  return absl::OkStatus();
}

absl::Status PostingChunkView::DecodeBlock(uint32_t block, uint32_t* docids,
                                           uint32_t* freqs) const {
  uint32_t freqs_offset = 0;
  SCRY_RETURN_IF_ERROR(DecodeDocids(block, docids, &freqs_offset));
  if (freqs == nullptr) return absl::OkStatus();
  return DecodeFreqs(block, freqs_offset, freqs);
}

absl::StatusOr<PositionsChunkView> PositionsChunkView::Parse(std::string_view chunk) {
  PositionsChunkView view;
  if (!GetVarint32(&chunk, &view.num_blocks_)) return Corrupt("truncated positions chunk");
  if (view.num_blocks_ == 0 || view.num_blocks_ > kBlocksPerChunk ||
      chunk.size() < size_t{view.num_blocks_} * 4) {
    return Corrupt("bad positions block count");
  }
  view.ends_ = chunk.data();
  view.data_ = chunk.substr(size_t{view.num_blocks_} * 4);
  uint32_t prev = 0;
  for (uint32_t b = 0; b < view.num_blocks_; ++b) {
    const uint32_t end = DecodeFixed32(view.ends_ + 4 * size_t{b});
    if (end < prev || end > view.data_.size()) return Corrupt("positions offset out of range");
    prev = end;
  }
  if (prev != view.data_.size()) return Corrupt("trailing bytes in positions chunk");
  return view;
}

std::string_view PositionsChunkView::block_data(uint32_t block) const noexcept {
  const uint32_t begin = block == 0 ? 0 : DecodeFixed32(ends_ + 4 * size_t{block - 1});
  const uint32_t end = DecodeFixed32(ends_ + 4 * size_t{block});
  return data_.substr(begin, end - begin);
}

absl::Status PositionsChunkView::DecodeBlock(uint32_t block, const uint32_t* freqs, uint32_t count,
                                             std::vector<uint32_t>* out) const {
  SCRY_RETURN_IF_ERROR(DecodeBlockGaps(block, freqs, count, out));
  uint32_t* p = out->data();
  for (uint32_t i = 0; i < count; ++i) {
    SCRY_RETURN_IF_ERROR(UndoGaps(p, freqs[i]));
    p += freqs[i];
  }
  return absl::OkStatus();
}

absl::Status PositionsChunkView::UndoGaps(uint32_t* p, uint32_t f) {
  // A wrap past 2^32 - 1 shows as a position not above its predecessor.
  uint32_t wrapped = 0;
  for (uint32_t k = 1; k < f; ++k) {
    const uint32_t next = p[k - 1] + p[k] + 1;
    wrapped |= static_cast<uint32_t>(next <= p[k - 1]);
    p[k] = next;
  }
  if (wrapped != 0) return Corrupt("position overflow");
  return absl::OkStatus();
}

absl::Status PositionsChunkView::DecodeBlockGaps(uint32_t block, const uint32_t* freqs,
                                                 uint32_t count, std::vector<uint32_t>* out) const {
  uint64_t total = 0;
  for (uint32_t i = 0; i < count; ++i) total += freqs[i];
  std::string_view data = block_data(block);
  // Every position takes at least one bit: bound the allocation by the data.
  if (data.empty() || total > uint64_t{data.size()} * 8 + kBlockSize) {
    return Corrupt("positions block too short");
  }
  const BlockCodec* codec = CodecById(static_cast<uint8_t>(data[0]));
  if (codec == nullptr) return Corrupt("unknown positions codec");
  data.remove_prefix(1);
  // Grow only: the buffer is reused block after block, and zero-filling it
  // each time shows in profiles. Entries past `total` are left as they are.
  // Room for whole groups: a codec may write up to kBlockSize values.
  const uint64_t padded = (total + kBlockSize - 1) / kBlockSize * kBlockSize;
  if (out->size() < padded) out->resize(padded);
  uint32_t* values = out->data();
  for (uint64_t g = 0; g < total; g += kBlockSize) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kBlockSize, total - g));
    absl::StatusOr<size_t> used = codec->Decode(data, n, values + g);
    if (!used.ok()) return used.status();
    data.remove_prefix(*used);
  }
  if (!data.empty()) return Corrupt("trailing bytes in positions block");
  return absl::OkStatus();
}

}  // namespace scry::storage
