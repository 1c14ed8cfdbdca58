// File: query/bm25.h
//
// Okapi BM25 with index-wide statistics (so that scores do not depend on how
// the index is sharded):
//
//   idf(t)      = ln(1 + (N - df + 0.5) / (df + 0.5))
//   score(t, d) = idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
//
// N = documents in the index, df = documents containing t (summed over
// shards), tf = occurrences of t in d, dl = length of d in tokens, avgdl =
// total length / N. A phrase scores like a term whose tf is the number of
// times the phrase occurs in d and whose idf is the sum of its terms' idfs.
// k1 = 1.2, b = 0.75 (Lucene's and Xapian's defaults in our peer runs).
#ifndef SCRY_QUERY_BM25_H_
#define SCRY_QUERY_BM25_H_

#include <cmath>
#include <cstdint>

namespace scry::query {

struct Bm25 {
  static constexpr double kK1 = 1.2;
  static constexpr double kB = 0.75;

  Bm25(uint64_t total_docs, uint64_t total_length)
      : total_docs_(static_cast<double>(total_docs)),
        avgdl_(total_docs == 0
                   ? 1.0
                   : static_cast<double>(total_length) / static_cast<double>(total_docs)) {
    if (avgdl_ <= 0) avgdl_ = 1.0;
  }

  [[nodiscard]] double Idf(uint64_t df) const noexcept {
    const double d = static_cast<double>(df);
    return std::log(1.0 + (total_docs_ - d + 0.5) / (d + 0.5));
  }

  // tf is a count, or a sloppy phrase's weighted count (query/scorer.h).
  [[nodiscard]] double Score(double idf, double tf, uint32_t doc_length) const noexcept {
    const double f = tf;
    const double norm = kK1 * (1.0 - kB + kB * static_cast<double>(doc_length) / avgdl_);
    return idf * f * (kK1 + 1.0) / (f + norm);
  }

  [[nodiscard]] double avgdl() const noexcept { return avgdl_; }

 private:
  double total_docs_;
  double avgdl_;
};

}  // namespace scry::query

#endif  // SCRY_QUERY_BM25_H_
