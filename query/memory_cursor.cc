// File: query/memory_cursor.cc
#include "query/memory_cursor.h"

#include <utility>

namespace scry::query {

using storage::kBlockSize;
using storage::kEndDocid;

MemoryPostings::MemoryPostings(std::vector<uint32_t> docids, std::vector<uint32_t> freqs,
                               std::span<const uint32_t> doc_lengths, uint8_t field)
    : docids_(std::move(docids)), freqs_(std::move(freqs)), lengths_(doc_lengths), field_(field) {
  const size_t n = docids_.size();
  std::vector<uint32_t> dls(n);
  for (size_t i = 0; i < n; ++i) dls[i] = lengths_[docids_[i]];
  // As storage::PostingListEncoder bounds them: the list's frontier, and each
  // block's; a list of one block is bounded by its list impacts.
  list_impacts_ = storage::ComputeImpacts(freqs_.data(), dls.data(), n, storage::kMaxTermImpacts);
  for (size_t b = 0; b < n; b += kBlockSize) {
    const size_t count = std::min(kBlockSize, n - b);
    block_last_.push_back(docids_[b + count - 1]);
    block_impacts_.push_back(n <= kBlockSize ? list_impacts_
                                             : storage::ComputeImpacts(&freqs_[b], &dls[b], count,
                                                                       storage::kMaxBlockImpacts));
  }
}

MemoryCursor::MemoryCursor(const MemoryPostings* postings)
    : postings_(postings),
      docids_(postings->docids().data()),
      lengths_(postings->doc_lengths().data()),
      size_(postings->docids().size()) {
  Enter(0);
}

void MemoryCursor::Enter(size_t i) {
  index_ = i;
  if (i >= size_) {
    index_ = size_;
    block_end_ = size_;
    docid_ = kEndDocid;
    block_last_ = kEndDocid;
    return;
  }
  block_end_ = BlockEnd(i / kBlockSize);
  block_last_ = docids_[block_end_ - 1];
  docid_ = docids_[i];
}

}  // namespace scry::query
