// File: tests/fuzz/decoder_checks.h
//
// The decoder safety checks shared by the randomized test
// (tests/storage/decoder_fuzz_test.cc), the libFuzzer target
// (tests/fuzz/posting_decoder_fuzz.cc) and its seed corpus generator
// (tests/fuzz/make_seed_corpus.cc). Only the public storage API is used:
// BlockCodec Decode/DecodeDelta, PostingChunkView (Parse, DecodeBlock,
// DecodeDocids/DecodeFreqs, BlockImpacts), PositionsChunkView (Parse,
// DecodeBlock, DecodeBlockGaps/UndoGaps), TermInfo::Decode with
// ExpandInlinePostings/ExpandInlinePositions, and DecodeImpacts.
//
// The property: on any bytes, a decoder returns OK (having consumed at most
// the bytes it was given) or a DataLoss status, and never reads outside its
// input (every input is copied into an exactly sized heap buffer, so that
// AddressSanitizer reports a read even one byte past the end), never writes
// past its output, and never allocates more than its input can describe.
// A violation is recorded in a Checker (the test reports it, the fuzzer
// aborts); a memory error is ASan's to report.
//
// Fuzz input format (RunFuzzInput): byte 0 selects what the rest is.
//   0  a posting chunk: Parse, then every block's impacts and DecodeBlock
//      (with and without frequencies, and in two halves), then the same
//      bytes as a positions chunk
//   1  a positions chunk with made-up frequencies: rest[0] is the count
//      (1..128 from its low 7 bits + 1), rest[1] the frequency of every
//      posting (1..256), the remainder the chunk
//   2  an encoded TermInfo (and, if inline, its expanded posting and
//      positions chunks)
//   3  a posting chunk and its positions chunk: rest[0..1] is the posting
//      chunk's length L (little-endian u16), then L bytes of posting chunk,
//      then the positions chunk
//   4  an impact list (DecodeImpacts)
//   5.. one block of one codec: s = byte - 5; codec CodecNames()[s % C],
//      n = kFuzzSizes[(s / C) % 12], prev = kFuzzPrevs[s / (12 * C) % 5];
//      the rest goes to Decode(n) and DecodeDelta(n, prev)
#ifndef SCRY_TESTS_FUZZ_DECODER_CHECKS_H_
#define SCRY_TESTS_FUZZ_DECODER_CHECKS_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/block_codec.h"
#include "storage/posting_format.h"

namespace scry::fuzz {

using storage::BlockCodec;
using storage::kBlockSize;

// Block sizes that exercise every code path: empty, the partial groups of
// 4 and 8, one word of lanes, full blocks.
inline constexpr size_t kFuzzSizes[] = {0, 1, 2, 3, 4, 5, 31, 32, 33, 64, 127, 128};
inline constexpr size_t kNumFuzzSizes = sizeof(kFuzzSizes) / sizeof(kFuzzSizes[0]);
// `prev` values for DecodeDelta: the list start (0 - 1), zero, and wrap-prone.
inline constexpr uint32_t kFuzzPrevs[] = {0xffffffffu, 0u, 1000u, 0x7fffffffu, 0xfffffff0u};
inline constexpr size_t kNumFuzzPrevs = sizeof(kFuzzPrevs) / sizeof(kFuzzPrevs[0]);
inline constexpr uint8_t kFirstCodecSelector = 5;

// Positions a DecodeBlock may allocate per byte of block data (every
// position takes at least one bit), plus one group of slack, rounded up to
// whole groups.
inline constexpr size_t kMaxPositionsPerByte = 8;

// An exactly sized heap copy of `bytes` (a std::string has slack capacity
// and a NUL past its end, which would hide a one-byte overread from ASan).
class ExactBytes {
 public:
  explicit ExactBytes(std::string_view bytes) : size_(bytes.size()), data_(new char[bytes.size()]) {
    if (size_ > 0) std::memcpy(data_.get(), bytes.data(), size_);
  }
  std::string_view view() const { return std::string_view(data_.get(), size_); }

 private:
  size_t size_;
  std::unique_ptr<char[]> data_;
};

// Counts outcomes and keeps the first few violations of the property.
class Checker {
 public:
  // `context` is prefixed to every violation message (seed, codec, mutation).
  void set_context(std::string context) { context_ = std::move(context); }

  void Fail(std::string_view what) {
    ++violations_;
    if (messages_.size() < 10) {
      messages_.push_back(context_ + ": " + std::string(what));
    }
  }
  void Expect(bool cond, std::string_view what) {
    if (!cond) Fail(what);
  }
  // OK or DataLoss, counted; anything else is a violation.
  bool CheckStatus(const absl::Status& s, std::string_view where) {
    if (s.ok()) {
      ++ok_;
      return true;
    }
    if (s.code() == absl::StatusCode::kDataLoss) {
      ++data_loss_;
    } else {
      Fail(std::string(where) + " returned " + s.ToString() + " (want OK or DataLoss)");
    }
    return false;
  }

  bool ok() const { return violations_ == 0; }
  size_t violations() const { return violations_; }
  size_t ok_count() const { return ok_; }
  size_t data_loss_count() const { return data_loss_; }
  std::string Report() const {
    std::string out;
    for (const std::string& m : messages_) out += m + "\n";
    return out;
  }

 private:
  std::string context_;
  std::vector<std::string> messages_;
  size_t violations_ = 0;
  size_t ok_ = 0;
  size_t data_loss_ = 0;
};

// Decodes `bytes` as one block of n integers with `codec`, plain and with
// delta from `prev`. Each call must return OK with consumed <= size, or
// DataLoss; the two must agree, and DecodeDelta's values must be Decode's
// prefix sums (values[i] = prev + sum of (gap + 1), modulo 2^32). Returns
// whether the block decoded, with the decoded gaps in *gaps if so.
inline bool CheckBlock(const BlockCodec& codec, std::string_view bytes, size_t n, uint32_t prev,
                       Checker* checker, std::vector<uint32_t>* gaps = nullptr) {
  const ExactBytes in(bytes);
  // Exactly kBlockSize entries: the most a decoder may write.
  const std::unique_ptr<uint32_t[]> plain(new uint32_t[kBlockSize]);
  const std::unique_ptr<uint32_t[]> delta(new uint32_t[kBlockSize]);
  const absl::StatusOr<size_t> used = codec.Decode(in.view(), n, plain.get());
  const bool plain_ok = checker->CheckStatus(used.status(), "Decode");
  if (plain_ok) checker->Expect(*used <= bytes.size(), "Decode consumed more than its input");
  const absl::StatusOr<size_t> used_delta = codec.DecodeDelta(in.view(), n, prev, delta.get());
  const bool delta_ok = checker->CheckStatus(used_delta.status(), "DecodeDelta");
  if (delta_ok) {
    checker->Expect(*used_delta <= bytes.size(), "DecodeDelta consumed more than its input");
  }
  checker->Expect(plain_ok == delta_ok, "Decode and DecodeDelta disagree on validity");
  if (plain_ok && delta_ok) {
    checker->Expect(*used == *used_delta, "Decode and DecodeDelta consumed different lengths");
    uint32_t sum = prev;
    for (size_t i = 0; i < n; ++i) {
      sum += plain[i] + 1;
      if (delta[i] != sum) {
        checker->Fail("DecodeDelta is not the prefix sum of Decode at integer " +
                      std::to_string(i));
        break;
      }
    }
  }
  if (plain_ok && gaps != nullptr) gaps->assign(plain.get(), plain.get() + n);
  return plain_ok;
}

// Decodes block `block` of a parsed positions chunk for postings with term
// frequencies freqs[0, count), into a reused buffer *out, and checks the
// result (each document's positions strictly ascending) and the allocation
// bound.
inline void CheckPositionsBlock(const storage::PositionsChunkView& view, uint32_t block,
                                const uint32_t* freqs, uint32_t count, std::vector<uint32_t>* out,
                                Checker* checker) {
  const size_t before = out->size();
  const size_t data_size = view.block_data(block).size();
  // The most entries a decode may allocate (rounded up to whole groups of
  // kBlockSize: a codec may write that many).
  const size_t bound =
      (data_size * kMaxPositionsPerByte + 2 * kBlockSize - 1) / kBlockSize * kBlockSize;
  // The two-step form first: gaps, then UndoGaps per document.
  std::vector<uint32_t> gaps;
  const absl::Status gs = view.DecodeBlockGaps(block, freqs, count, &gaps);
  checker->Expect(gaps.size() <= bound, "positions DecodeBlockGaps allocated " +
                                            std::to_string(gaps.size()) + " entries for " +
                                            std::to_string(data_size) + " bytes");
  bool gaps_ok = checker->CheckStatus(gs, "PositionsChunkView::DecodeBlockGaps");
  if (gaps_ok) {
    uint32_t* g = gaps.data();
    for (uint32_t i = 0; i < count && gaps_ok; ++i) {
      gaps_ok = checker->CheckStatus(storage::PositionsChunkView::UndoGaps(g, freqs[i]),
                                     "PositionsChunkView::UndoGaps");
      g += freqs[i];
    }
  }
  const absl::Status s = view.DecodeBlock(block, freqs, count, out);
  checker->Expect(s.ok() == gaps_ok, "positions DecodeBlock and DecodeBlockGaps+UndoGaps disagree");
  checker->Expect(out->size() <= std::max(before, bound),
                  "positions DecodeBlock allocated " + std::to_string(out->size()) +
                      " entries for " + std::to_string(data_size) + " bytes");
  if (!checker->CheckStatus(s, "PositionsChunkView::DecodeBlock")) return;
  uint64_t total = 0;
  for (uint32_t i = 0; i < count; ++i) total += freqs[i];
  if (out->size() < total) {
    checker->Fail("positions DecodeBlock returned OK with too small an output");
    return;
  }
  const uint32_t* p = out->data();
  for (uint32_t i = 0; i < count; ++i) {
    for (uint32_t k = 1; k < freqs[i]; ++k) {
      if (p[k] <= p[k - 1]) {
        checker->Fail("positions DecodeBlock returned OK with positions not ascending");
        return;
      }
    }
    p += freqs[i];
  }
  if (gaps_ok &&
      !std::equal(out->begin(), out->begin() + static_cast<ptrdiff_t>(total), gaps.begin())) {
    checker->Fail("positions DecodeBlock and DecodeBlockGaps+UndoGaps decoded differently");
  }
}

// Decodes an impact list: OK or DataLoss; if OK, at most one impact per two
// bytes, term frequencies and document lengths strictly ascending.
inline void CheckImpacts(std::string_view bytes, Checker* checker) {
  const ExactBytes in(bytes);
  std::vector<storage::Impact> impacts;
  if (!checker->CheckStatus(storage::DecodeImpacts(in.view(), &impacts), "DecodeImpacts")) return;
  checker->Expect(impacts.size() * 2 <= bytes.size(), "DecodeImpacts made more impacts than bytes");
  for (size_t i = 1; i < impacts.size(); ++i) {
    if (impacts[i].tf <= impacts[i - 1].tf || impacts[i].dl <= impacts[i - 1].dl) {
      checker->Fail("DecodeImpacts returned OK with impacts not ascending");
      return;
    }
  }
}

// Parses a positions chunk and decodes every block with the same made-up
// frequencies (`freq` for each of `count` postings).
inline void CheckPositionsChunk(std::string_view chunk, uint32_t count, uint32_t freq,
                                Checker* checker) {
  const ExactBytes in(chunk);
  const absl::StatusOr<storage::PositionsChunkView> view =
      storage::PositionsChunkView::Parse(in.view());
  if (!checker->CheckStatus(view.status(), "PositionsChunkView::Parse")) return;
  const std::vector<uint32_t> freqs(count, freq);
  std::vector<uint32_t> out;
  for (uint32_t b = 0; b < view->num_blocks(); ++b) {
    CheckPositionsBlock(*view, b, freqs.data(), count, &out, checker);
  }
}

// Parses a posting chunk and decodes each block's impacts and postings, with
// and without frequencies, whole and in two halves (which must agree); a
// block that decodes must hold strictly ascending docids
// ending at its header's last docid, and frequencies >= 1. Then parses the
// positions chunk and decodes each of its blocks with the frequencies of the
// posting block of the same number (when that decoded), else with
// frequencies of 1 and, as a hostile caller would, 2^32 - 1 each (which must
// fail without allocating).
inline void CheckChunks(std::string_view postings, std::string_view positions, Checker* checker) {
  const ExactBytes post_in(postings);
  const ExactBytes pos_in(positions);
  const std::unique_ptr<uint32_t[]> docids(new uint32_t[kBlockSize]);
  const std::unique_ptr<uint32_t[]> freqs(new uint32_t[kBlockSize]);
  const std::unique_ptr<uint32_t[]> split_docids(new uint32_t[kBlockSize]);
  const std::unique_ptr<uint32_t[]> split_freqs(new uint32_t[kBlockSize]);
  std::vector<std::vector<uint32_t>> block_freqs;  // per block; empty if it failed
  const absl::StatusOr<storage::PostingChunkView> view =
      storage::PostingChunkView::Parse(post_in.view());
  if (checker->CheckStatus(view.status(), "PostingChunkView::Parse")) {
    block_freqs.resize(view->num_blocks());
    for (uint32_t b = 0; b < view->num_blocks(); ++b) {
      const storage::BlockHeader h = view->header(b);
      if (h.count < 1 || h.count > kBlockSize) {
        checker->Fail("Parse accepted a block of " + std::to_string(h.count) + " postings");
        return;
      }
      std::vector<storage::Impact> impacts;
      if (checker->CheckStatus(view->BlockImpacts(b, &impacts), "PostingChunkView::BlockImpacts")) {
        checker->Expect(impacts.size() * 2 <= view->block_data(b).size(),
                        "BlockImpacts made more impacts than bytes");
      }
      checker->CheckStatus(view->DecodeBlock(b, docids.get(), nullptr),
                           "PostingChunkView::DecodeBlock(no freqs)");
      // The two halves, then the whole: they must agree.
      uint32_t freqs_offset = 0;
      bool halves_ok =
          checker->CheckStatus(view->DecodeDocids(b, split_docids.get(), &freqs_offset),
                               "PostingChunkView::DecodeDocids");
      if (halves_ok) {
        checker->Expect(freqs_offset <= view->block_data(b).size(),
                        "DecodeDocids set a freqs offset past the block");
        halves_ok = checker->CheckStatus(view->DecodeFreqs(b, freqs_offset, split_freqs.get()),
                                         "PostingChunkView::DecodeFreqs");
      }
      const bool whole_ok = checker->CheckStatus(view->DecodeBlock(b, docids.get(), freqs.get()),
                                                 "PostingChunkView::DecodeBlock");
      checker->Expect(whole_ok == halves_ok, "DecodeBlock and DecodeDocids+DecodeFreqs disagree");
      if (!whole_ok) continue;
      if (halves_ok && (!std::equal(docids.get(), docids.get() + h.count, split_docids.get()) ||
                        !std::equal(freqs.get(), freqs.get() + h.count, split_freqs.get()))) {
        checker->Fail("DecodeBlock and DecodeDocids+DecodeFreqs decoded differently");
      }
      bool good = docids[h.count - 1] == h.last_docid;
      for (uint32_t i = 0; i < h.count; ++i) {
        good = good && freqs[i] >= 1 && (i == 0 || docids[i] > docids[i - 1]);
      }
      checker->Expect(good, "DecodeBlock returned OK with docids or freqs out of order");
      block_freqs[b].assign(freqs.get(), freqs.get() + h.count);
    }
  }
  const absl::StatusOr<storage::PositionsChunkView> pview =
      storage::PositionsChunkView::Parse(pos_in.view());
  if (!checker->CheckStatus(pview.status(), "PositionsChunkView::Parse")) return;
  std::vector<uint32_t> out;
  const std::vector<uint32_t> ones(kBlockSize, 1);
  const std::vector<uint32_t> huge(kBlockSize, 0xffffffffu);
  for (uint32_t b = 0; b < pview->num_blocks(); ++b) {
    if (b < block_freqs.size() && !block_freqs[b].empty()) {
      CheckPositionsBlock(*pview, b, block_freqs[b].data(),
                          static_cast<uint32_t>(block_freqs[b].size()), &out, checker);
    } else {
      CheckPositionsBlock(*pview, b, ones.data(), static_cast<uint32_t>(kBlockSize), &out, checker);
    }
    std::vector<uint32_t> fresh;
    const absl::Status s =
        pview->DecodeBlock(b, huge.data(), static_cast<uint32_t>(kBlockSize), &fresh);
    checker->Expect(s.code() == absl::StatusCode::kDataLoss,
                    "positions DecodeBlock with frequencies of 2^32-1 did not return DataLoss");
    checker->Expect(fresh.empty(), "positions DecodeBlock allocated for impossible frequencies");
  }
}

// Decodes a TermInfo; if it decodes, checks its invariants and, if inline,
// expands its compact chunks and checks those.
inline void CheckTermInfo(std::string_view bytes, Checker* checker) {
  const ExactBytes in(bytes);
  const absl::StatusOr<storage::TermInfo> info = storage::TermInfo::Decode(in.view());
  if (!checker->CheckStatus(info.status(), "TermInfo::Decode")) return;
  checker->Expect(info->df > 0 && !info->chunk_last_docids.empty() &&
                      info->chunk_last_docids.size() <= bytes.size(),
                  "TermInfo::Decode returned OK with no documents or chunks");
  for (size_t i = 1; i < info->chunk_last_docids.size(); ++i) {
    if (info->chunk_last_docids[i] <= info->chunk_last_docids[i - 1]) {
      checker->Fail("TermInfo::Decode returned OK with a chunk table not ascending");
      break;
    }
  }
  if (!info->is_inline()) return;
  std::string postings, positions;
  const bool postings_ok =
      checker->CheckStatus(storage::ExpandInlinePostings(*info, &postings), "ExpandInlinePostings");
  const bool positions_ok = checker->CheckStatus(storage::ExpandInlinePositions(*info, &positions),
                                                 "ExpandInlinePositions");
  if (postings_ok && positions_ok) CheckChunks(postings, positions, checker);
}

// The libFuzzer entry point's body (format at the top of this file).
inline void RunFuzzInput(const uint8_t* data, size_t size, Checker* checker) {
  if (size == 0) return;
  const uint8_t selector = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (selector) {
    case 0:
      CheckChunks(rest, rest, checker);
      return;
    case 1: {
      if (rest.size() < 2) return;
      const uint32_t count = (static_cast<uint8_t>(rest[0]) & 0x7f) + 1;
      const uint32_t freq = static_cast<uint8_t>(rest[1]) + 1u;
      CheckPositionsChunk(rest.substr(2), count, freq, checker);
      return;
    }
    case 2:
      CheckTermInfo(rest, checker);
      return;
    case 4:
      CheckImpacts(rest, checker);
      return;
    case 3: {
      if (rest.size() < 2) return;
      const size_t len =
          std::min<size_t>(rest.size() - 2, static_cast<uint8_t>(rest[0]) |
                                                (size_t{static_cast<uint8_t>(rest[1])} << 8));
      CheckChunks(rest.substr(2, len), rest.substr(2 + len), checker);
      return;
    }
    default: {
      static const std::vector<std::string_view> names = storage::CodecNames();
      const size_t s = selector - kFirstCodecSelector;
      const absl::StatusOr<const BlockCodec*> codec = storage::CodecByName(names[s % names.size()]);
      if (!codec.ok()) return;
      const size_t n = kFuzzSizes[(s / names.size()) % kNumFuzzSizes];
      const uint32_t prev = kFuzzPrevs[(s / (names.size() * kNumFuzzSizes)) % kNumFuzzPrevs];
      CheckBlock(**codec, rest, n, prev, checker);
      return;
    }
  }
}

// The selector byte of RunFuzzInput for one block of codec number
// `codec_index` (in CodecNames()) with n = kFuzzSizes[size_index].
inline uint8_t CodecSelector(size_t codec_index, size_t size_index) {
  return static_cast<uint8_t>(kFirstCodecSelector + codec_index +
                              storage::CodecNames().size() * size_index);
}

// --- Random posting lists ------------------------------------------------------

// A random posting list of n postings: docids strictly ascending below 2^32,
// with dense, sparse and huge gaps (sometimes ending at 2^32 - 1), term
// frequencies mostly small but some above 128 (several position groups), and
// positions with the occasional huge gap.
inline storage::PostingList RandomPostingList(std::mt19937& rng, size_t n) {
  storage::PostingList list;
  const int mode = static_cast<int>(rng() % 4);
  const double p = mode == 0 ? 0.9 : mode == 1 ? 0.1 : 0.002;  // geometric gap - 1
  std::geometric_distribution<uint32_t> gap(p);
  uint64_t d = rng() % 4 == 0 ? 0 : rng() % 1000;
  for (size_t i = 0; i < n; ++i) {
    uint64_t g = i == 0 ? 0 : 1 + gap(rng);
    if (rng() % 64 == 0) g += rng() % (uint32_t{1} << 24);
    const uint64_t room = 0xffffffffULL - (n - 1 - i);  // keep space for the rest
    if (d + g > room) g = i == 0 ? 0 : 1;
    d += g;
    list.docids.push_back(static_cast<uint32_t>(d));
  }
  if (mode == 3 && n > 0) {  // shift the list so that it ends at 2^32 - 1
    const uint32_t shift = 0xffffffffu - list.docids.back();
    for (uint32_t& x : list.docids) x += shift;
  }
  std::geometric_distribution<uint32_t> tf(rng() % 2 == 0 ? 0.6 : 0.2);
  for (size_t i = 0; i < n; ++i) {
    uint32_t f = 1 + tf(rng);
    if (rng() % 200 == 0) f += 100 + rng() % 200;
    list.freqs.push_back(f);
    uint64_t pos = rng() % 4 == 0 ? 0 : rng() % 5000;
    for (uint32_t k = 0; k < f; ++k) {
      uint64_t step = k == 0 ? 0 : 1 + rng() % 9;
      if (rng() % 500 == 0) step += rng();
      if (pos + step > 0xffffffffULL - (f - k)) step = k == 0 ? 0 : 1;
      pos += step;
      list.positions.push_back(static_cast<uint32_t>(pos));
    }
  }
  return list;
}

// EncodePostingList with random document lengths (for the impacts) when the
// docids are small enough to index a table of lengths, else unknown lengths.
inline absl::StatusOr<storage::EncodedPostingList> EncodeWithRandomLengths(
    std::mt19937& rng, const storage::PostingList& list, const storage::PostingCodecs& codecs) {
  std::vector<uint32_t> lengths;
  if (!list.docids.empty() && list.docids.back() < (uint32_t{1} << 20) && rng() % 4 != 0) {
    lengths.resize(size_t{list.docids.back()} + 1);
    for (size_t i = 0; i < list.docids.size(); ++i) {
      lengths[list.docids[i]] = list.freqs[i] + rng() % 3000;
    }
  }
  return storage::EncodePostingList(list, codecs, lengths);
}

// The TermInfo of `enc` with its one chunk inline in compact form, as the
// shard writer stores short lists. False if the list has more than one block.
inline bool MakeInline(const storage::EncodedPostingList& enc, storage::TermInfo* info) {
  if (enc.posting_chunks.size() != 1) return false;
  *info = enc.info;
  return storage::CompactInline(enc.posting_chunks[0], enc.position_chunks[0],
                                &info->inline_postings, &info->inline_positions)
      .ok();
}

// Random codecs for docids, freqs and positions (positions sometimes null:
// the same as freqs).
inline storage::PostingCodecs RandomCodecs(std::mt19937& rng) {
  static const std::vector<std::string_view> names = storage::CodecNames();
  auto pick = [&]() { return *storage::CodecByName(names[rng() % names.size()]); };
  storage::PostingCodecs codecs;
  codecs.docids = pick();
  codecs.freqs = pick();
  codecs.positions = rng() % 4 == 0 ? nullptr : pick();
  return codecs;
}

// A random block of n values for a codec: all zero, all 2^32 - 1, a random
// bit width, or mostly small with a few large outliers (pfor exceptions).
inline std::vector<uint32_t> RandomBlock(std::mt19937& rng, size_t n, int kind) {
  std::vector<uint32_t> values(n);
  const uint32_t width = kind >= 3 ? static_cast<uint32_t>(rng() % 33) : 0;
  const uint64_t mask = (uint64_t{1} << width) - 1;
  for (uint32_t& v : values) {
    switch (kind) {
      case 0:
        v = 0;
        break;
      case 1:
        v = 0xffffffffu;
        break;
      case 2:
        v = rng() % 16 == 0 ? static_cast<uint32_t>(rng()) : rng() % 8;
        break;
      default:
        v = static_cast<uint32_t>(rng() & mask);
        break;
    }
  }
  if (kind >= 3 && n > 0) values[rng() % n] = static_cast<uint32_t>(mask);  // really that wide
  return values;
}

}  // namespace scry::fuzz

#endif  // SCRY_TESTS_FUZZ_DECODER_CHECKS_H_
