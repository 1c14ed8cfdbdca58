// File: query/deleted_docs.cc
#include "query/deleted_docs.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace scry::query {

absl::StatusOr<std::shared_ptr<const DeletedDocs>> DeletedDocs::Create(std::vector<uint32_t> docids,
                                                                       uint32_t doc_count) {
  std::sort(docids.begin(), docids.end());
  docids.erase(std::unique(docids.begin(), docids.end()), docids.end());
  if (!docids.empty() && docids.back() >= doc_count) {
    return absl::InvalidArgumentError(absl::StrCat("deleted docid ", docids.back(),
                                                   " is not below the document count ", doc_count));
  }
  std::shared_ptr<DeletedDocs> out(new DeletedDocs(doc_count));
  for (const uint32_t d : docids) out->bits_.Set(d);
  out->docids_ = std::move(docids);
  return std::shared_ptr<const DeletedDocs>(std::move(out));
}

}  // namespace scry::query
