// File: storage/status.h
//
// Error propagation helpers shared by every scry library (storage is the
// lowest one). Abseil 20220623 has no status macros, so these are ours.
//
//   SCRY_RETURN_IF_ERROR(DoThing());
//   SCRY_ASSIGN_OR_RETURN(auto reader, ShardReader::Open(path));
#ifndef SCRY_STORAGE_STATUS_H_
#define SCRY_STORAGE_STATUS_H_

#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace scry {

// Debian's Abseil is built with its own absl::string_view (not an alias of
// std::string_view), so std::string_view must be converted explicitly before
// it goes to absl::StrCat or an absl::Status constructor.
inline absl::string_view AsAbsl(std::string_view s) noexcept { return {s.data(), s.size()}; }

}  // namespace scry

#define SCRY_STATUS_CONCAT_INNER_(a, b) a##b
#define SCRY_STATUS_CONCAT_(a, b) SCRY_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the caller if not OK.
#define SCRY_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status scry_status_ = (expr);        \
    if (!scry_status_.ok()) return scry_status_; \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status from
// the caller, otherwise moves the value into `lhs` (which may declare it).
#define SCRY_ASSIGN_OR_RETURN(lhs, rexpr) \
  SCRY_ASSIGN_OR_RETURN_IMPL_(SCRY_STATUS_CONCAT_(scry_statusor_, __LINE__), lhs, rexpr)

#define SCRY_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr)  \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(*statusor)

#endif  // SCRY_STORAGE_STATUS_H_
