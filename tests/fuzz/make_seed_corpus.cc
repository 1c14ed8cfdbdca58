// File: tests/fuzz/make_seed_corpus.cc
//
// Writes the seed corpus of posting_decoder_fuzz into a directory: valid
// encodings in the fuzz input format of decoder_checks.h (a selector byte,
// then the bytes), so that the fuzzer starts from inputs that pass the
// decoders' first checks. Deterministic (fixed seeds).
//
//   posting_decoder_seeds DIR

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "storage/block_codec.h"
#include "storage/posting_format.h"
#include "tests/fuzz/decoder_checks.h"

namespace {

using namespace scry::fuzz;     // NOLINT
using namespace scry::storage;  // NOLINT

int written = 0;

void Write(const std::string& dir, const std::string& name, uint8_t selector,
           std::string_view bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out.put(static_cast<char>(selector));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s/%s\n", dir.c_str(), name.c_str());
    std::exit(1);
  }
  ++written;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const std::vector<std::string_view> names = CodecNames();

  // One block per codec, size and kind of values.
  for (size_t ci = 0; ci < names.size(); ++ci) {
    const BlockCodec* codec = *CodecByName(names[ci]);
    for (size_t si = 0; si < kNumFuzzSizes; ++si) {
      for (int kind = 0; kind < 6; ++kind) {
        std::mt19937 rng(static_cast<uint32_t>(1000 * ci + 10 * si + kind));
        const std::vector<uint32_t> values = RandomBlock(rng, kFuzzSizes[si], kind);
        std::string bytes;
        codec->Encode(values.data(), values.size(), &bytes);
        Write(dir,
              "block-" + std::string(names[ci]) + "-n" + std::to_string(kFuzzSizes[si]) + "-k" +
                  std::to_string(kind),
              CodecSelector(ci, si), bytes);
      }
    }
  }

  // Posting lists of one chunk: the chunks, the pair, the TermInfos.
  int list_no = 0;
  for (size_t n : {1, 2, 5, 31, 128, 129, 300, 1000}) {
    for (uint32_t seed = 1; seed <= 3; ++seed, ++list_no) {
      std::mt19937 rng(static_cast<uint32_t>(n) * 10 + seed);
      const PostingList list = RandomPostingList(rng, n);
      const auto enc = EncodeWithRandomLengths(rng, list, RandomCodecs(rng));
      if (!enc.ok()) {
        std::fprintf(stderr, "EncodePostingList: %s\n", enc.status().ToString().c_str());
        return 1;
      }
      const std::string& postings = enc->posting_chunks[0];
      const std::string& positions = enc->position_chunks[0];
      const std::string tag = "list" + std::to_string(list_no) + "-n" + std::to_string(n);
      Write(dir, tag + "-postings", 0, postings);
      if (postings.size() <= 0xffff) {
        std::string pair;
        pair.push_back(static_cast<char>(postings.size() & 0xff));
        pair.push_back(static_cast<char>(postings.size() >> 8));
        Write(dir, tag + "-pair", 3, pair + postings + positions);
      }
      Write(dir, tag + "-terminfo", 2, enc->info.Encode());
      TermInfo info;
      if (MakeInline(*enc, &info)) Write(dir, tag + "-terminfo-inline", 2, info.Encode());
      if (!enc->info.impacts.empty()) {
        std::string impacts;
        EncodeImpacts(enc->info.impacts, &impacts);
        Write(dir, tag + "-impacts", 4, impacts);
      }
    }
  }

  // Positions chunks of lists whose postings all have the same frequency
  // (the made-up frequencies of selector 1): full blocks of 128.
  for (uint32_t freq : {1u, 2u, 7u, 40u}) {
    std::mt19937 rng(freq);
    PostingList list;
    for (uint32_t d = 0; d < 2 * kBlockSize; ++d) {
      list.docids.push_back(3 * d + 1);
      list.freqs.push_back(freq);
      uint32_t p = rng() % 10;
      for (uint32_t k = 0; k < freq; ++k) list.positions.push_back(p += 1 + rng() % 5);
    }
    const auto enc = EncodePostingList(list, RandomCodecs(rng));
    if (!enc.ok()) return 1;
    std::string bytes;
    bytes.push_back(static_cast<char>(kBlockSize - 1));  // count 128
    bytes.push_back(static_cast<char>(freq - 1));
    Write(dir, "positions-f" + std::to_string(freq), 1, bytes + enc->position_chunks[0]);
  }
  std::printf("wrote %d seed inputs to %s\n", written, dir.c_str());
  return 0;
}
