// File: storage/posting_format.cc
//
// On-disk grammar (fixed32 little-endian, varint LEB128; see coding.h):
//
//   term_info       := df:varint32 total_tf:varint64 max_tf:varint32
//                      n_chunks:varint32 chunk_last:varint32{n_chunks}
//                      (chunk_last: first absolute, then the difference to
//                      the previous chunk's last docid)
//                      flags:varint32 (bit 0: inline)
//                      [postings:lp positions:lp]  when inline: the one
//                      posting_chunk and positions_chunk below, in place
//
//   posting_chunk   := base_docid:varint32 n_blocks:varint32
//                      block_header{n_blocks} block_data{n_blocks}
//   block_header    := last_docid:fixed32 data_end:fixed32 count_minus_1:u8
//                      docid_codec:u8 freq_codec:u8 reserved:u8      (12 bytes)
//   block_data      := docid_codec.encode(gap{count}) freq_codec.encode(tf-1{count})
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

}  // namespace

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
  PutVarint32(&out, is_inline() ? 1 : 0);
  if (is_inline()) {
    PutLengthPrefixed(&out, inline_postings);
    PutLengthPrefixed(&out, inline_positions);
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
  if (!GetVarint32(&data, &flags) || flags > 1) return Corrupt("bad term info flags");
  if (flags & 1) {
    std::string_view postings, positions;
    if (n_chunks != 1 || !GetLengthPrefixed(&data, &postings) ||
        !GetLengthPrefixed(&data, &positions) || postings.empty()) {
      return Corrupt("bad inline posting list");
    }
    info.inline_postings.assign(postings.data(), postings.size());
    info.inline_positions.assign(positions.data(), positions.size());
  }
  if (!data.empty()) return Corrupt("trailing bytes in term info");
  return info;
}

absl::StatusOr<EncodedPostingList> EncodePostingList(const PostingList& list,
                                                     const PostingCodecs& codecs) {
  const size_t n = list.docids.size();
  if (n == 0 || list.freqs.size() != n) {
    return absl::InvalidArgumentError("posting list is empty or freqs size differs");
  }
  EncodedPostingList out;
  TermInfo& info = out.info;
  info.df = static_cast<uint32_t>(n);
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (list.freqs[i] == 0) return absl::InvalidArgumentError("zero term frequency");
    if (i > 0 && list.docids[i] <= list.docids[i - 1]) {
      return absl::InvalidArgumentError("docids not strictly ascending");
    }
    total += list.freqs[i];
    info.max_tf = std::max(info.max_tf, list.freqs[i]);
  }
  if (list.positions.size() != total) {
    return absl::InvalidArgumentError("positions size differs from sum of freqs");
  }
  info.total_tf = total;

  const size_t postings_per_chunk = kBlockSize * kBlocksPerChunk;
  const BlockCodec* pos_codec = codecs.positions != nullptr ? codecs.positions : codecs.freqs;
  std::vector<uint32_t> pos_values;
  size_t pos_index = 0;
  uint32_t base = 0;
  uint32_t values[kBlockSize];
  for (size_t chunk_start = 0; chunk_start < n; chunk_start += postings_per_chunk) {
    const size_t chunk_end = std::min(n, chunk_start + postings_per_chunk);
    const uint32_t n_blocks =
        static_cast<uint32_t>((chunk_end - chunk_start + kBlockSize - 1) / kBlockSize);
    std::string headers, data, pos_ends, pos_data;
    PutVarint32(&headers, base);
    PutVarint32(&headers, n_blocks);
    PutVarint32(&pos_ends, n_blocks);
    uint32_t block_base = base;
    for (size_t b = chunk_start; b < chunk_end; b += kBlockSize) {
      const size_t count = std::min(kBlockSize, chunk_end - b);
      codecs.docids->EncodeDelta(&list.docids[b], count, block_base - 1, &data);
      for (size_t i = 0; i < count; ++i) values[i] = list.freqs[b + i] - 1;
      codecs.freqs->Encode(values, count, &data);
      const uint32_t last = list.docids[b + count - 1];
      PutFixed32(&headers, last);
      PutFixed32(&headers, static_cast<uint32_t>(data.size()));
      headers.push_back(static_cast<char>(count - 1));
      headers.push_back(static_cast<char>(codecs.docids->id()));
      headers.push_back(static_cast<char>(codecs.freqs->id()));
      headers.push_back('\0');
      block_base = last + 1;
      pos_values.clear();
      for (size_t i = 0; i < count; ++i) {
        uint32_t prev = 0;
        for (uint32_t k = 0; k < list.freqs[b + i]; ++k) {
          const uint32_t p = list.positions[pos_index++];
          if (k > 0 && p <= prev) {
            return absl::InvalidArgumentError("positions not strictly ascending");
          }
          pos_values.push_back(k == 0 ? p : p - prev - 1);
          prev = p;
        }
      }
      pos_data.push_back(static_cast<char>(pos_codec->id()));
      for (size_t g = 0; g < pos_values.size(); g += kBlockSize) {
        pos_codec->Encode(&pos_values[g], std::min(kBlockSize, pos_values.size() - g), &pos_data);
      }
      PutFixed32(&pos_ends, static_cast<uint32_t>(pos_data.size()));
    }
    const uint32_t chunk_last = list.docids[chunk_end - 1];
    info.chunk_last_docids.push_back(chunk_last);
    base = chunk_last + 1;
    out.posting_chunks.push_back(headers + data);
    out.position_chunks.push_back(pos_ends + pos_data);
  }
  return out;
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
    if (h.data_end < prev_end || h.data_end > view.data_.size()) {
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
  return BlockHeader{DecodeFixed32(p), DecodeFixed32(p + 4),
                     static_cast<uint32_t>(static_cast<uint8_t>(p[8])) + 1,
                     static_cast<uint8_t>(p[9]), static_cast<uint8_t>(p[10])};
}

std::string_view PostingChunkView::block_data(uint32_t block) const noexcept {
  const uint32_t begin = block == 0 ? 0 : header(block - 1).data_end;
  return data_.substr(begin, header(block).data_end - begin);
}

absl::Status PostingChunkView::DecodeBlock(uint32_t block, uint32_t* docids,
                                           uint32_t* freqs) const {
  const BlockHeader h = header(block);
  const BlockCodec* dc = CodecById(h.docid_codec);
  const BlockCodec* fc = CodecById(h.freq_codec);
  if (dc == nullptr || fc == nullptr) return Corrupt("unknown codec id");
  std::string_view data = block_data(block);
  const uint32_t first = block == 0 ? base_ : header(block - 1).last_docid + 1;
  absl::StatusOr<size_t> used = dc->DecodeDelta(data, h.count, first - 1, docids);
  if (!used.ok()) return used.status();
  // Corrupt gaps wrap around 2^32 or overshoot: the docids must ascend from
  // `first` and end exactly at the header's last docid.
  if (docids[0] < first || docids[h.count - 1] != h.last_docid) {
    return Corrupt("block docids do not match the header");
  }
  for (uint32_t i = 1; i < h.count; ++i) {
    if (docids[i] <= docids[i - 1]) return Corrupt("block docids not ascending");
  }
  if (freqs != nullptr) {
    absl::StatusOr<size_t> fused = fc->Decode(data.substr(*used), h.count, freqs);
    if (!fused.ok()) return fused.status();
    for (uint32_t i = 0; i < h.count; ++i) {
      if (freqs[i] == 0xffffffffu) return Corrupt("term frequency overflow");
      freqs[i] += 1;
    }
  }
  return absl::OkStatus();
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
  if (out->size() < total) out->resize(total);
  uint32_t* values = out->data();
  for (uint64_t g = 0; g < total; g += kBlockSize) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kBlockSize, total - g));
    absl::StatusOr<size_t> used = codec->Decode(data, n, values + g);
    if (!used.ok()) return used.status();
    data.remove_prefix(*used);
  }
  if (!data.empty()) return Corrupt("trailing bytes in positions block");
  // Undo the gaps doc by doc. Positions must stay below 2^32: a wrap shows
  // as a position not above its predecessor.
  uint32_t wrapped = 0;
  uint32_t* p = values;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t f = freqs[i];
    for (uint32_t k = 1; k < f; ++k) {
      const uint32_t next = p[k - 1] + p[k] + 1;
      wrapped |= static_cast<uint32_t>(next <= p[k - 1]);
      p[k] = next;
    }
    p += f;
  }
  if (wrapped != 0) return Corrupt("position overflow");
  return absl::OkStatus();
}

}  // namespace scry::storage
