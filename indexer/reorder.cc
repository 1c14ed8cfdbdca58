// File: indexer/reorder.cc
#include "indexer/reorder.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <numeric>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "indexer/inverter.h"
#include "storage/doc_values.h"
#include "storage/keys.h"
#include "storage/posting_cursor.h"
#include "storage/status.h"

namespace scry::indexer {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A term of the shard and its encoded TermInfo.
struct TermEntry {
  uint8_t field;
  std::string term;
  std::string info;
  uint64_t weight;  // postings and positions: the work of rewriting it
};

// Every term of every field of `shard`, pairs of words included, in key
// order.
absl::StatusOr<std::vector<TermEntry>> ListTerms(const storage::ShardReader& shard) {
  std::vector<TermEntry> terms;
  absl::Status status;
  for (size_t f = 0; f < shard.meta().field_names.size() && status.ok(); ++f) {
    SCRY_RETURN_IF_ERROR(shard.ScanTerms(
        static_cast<uint8_t>(f), "",
        [&](std::string_view term, std::string_view info) {
          absl::StatusOr<storage::TermInfo> decoded = storage::TermInfo::Decode(info);
          if (!decoded.ok()) {
            status = decoded.status();
            return false;
          }
          terms.push_back(TermEntry{static_cast<uint8_t>(f), std::string(term), std::string(info),
                                    decoded->df + decoded->total_tf});
          return true;
        },
        /*with_pairs=*/true));
  }
  SCRY_RETURN_IF_ERROR(status);
  return terms;
}

// `list` with its docids mapped through new_of_old and its postings (tfs
// and positions with them) sorted by the new docids.
storage::PostingList Permute(const storage::PostingList& list,
                             const std::vector<uint32_t>& new_of_old) {
  const size_t n = list.docids.size();
  std::vector<uint64_t> starts(n + 1, 0);  // where each posting's positions start
  for (size_t i = 0; i < n; ++i) starts[i + 1] = starts[i] + list.freqs[i];
  std::vector<std::pair<uint32_t, uint32_t>> by_new(n);  // (new docid, posting)
  for (size_t i = 0; i < n; ++i) by_new[i] = {new_of_old[list.docids[i]], static_cast<uint32_t>(i)};
  std::sort(by_new.begin(), by_new.end());
  storage::PostingList out;
  out.docids.reserve(n);
  out.freqs.reserve(n);
  out.positions.reserve(list.positions.size());
  for (const auto& [docid, i] : by_new) {
    out.docids.push_back(docid);
    out.freqs.push_back(list.freqs[i]);
    out.positions.insert(out.positions.end(),
                         list.positions.begin() + static_cast<ptrdiff_t>(starts[i]),
                         list.positions.begin() + static_cast<ptrdiff_t>(starts[i + 1]));
  }
  return out;
}

// Rewrites terms[begin, end) into list part `part` of `writer`.
absl::Status RewriteLists(const storage::ShardReader& from, std::span<const TermEntry> terms,
                          const std::vector<uint32_t>& new_of_old, size_t part,
                          storage::ShardWriter* writer) {
  storage::PostingList list;
  for (const TermEntry& entry : terms) {
    SCRY_ASSIGN_OR_RETURN(const storage::TermInfo info, storage::TermInfo::Decode(entry.info));
    SCRY_RETURN_IF_ERROR(from.ReadPostingList(entry.field, entry.term, info, &list));
    SCRY_RETURN_IF_ERROR(
        writer->AddPostingList(entry.field, entry.term, Permute(list, new_of_old), part));
  }
  return absl::OkStatus();
}

// Cuts `terms` into at most `parts` ranges of about equal weight: the
// ranges' ends.
std::vector<size_t> SplitByWeight(std::span<const TermEntry> terms, size_t parts) {
  uint64_t total = 0;
  for (const TermEntry& t : terms) total += t.weight;
  std::vector<size_t> ends;
  uint64_t seen = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    seen += terms[i].weight;
    // Part p ends once it holds (p + 1) / parts of the weight.
    if (ends.size() + 1 < parts && seen * parts >= total * (ends.size() + 1)) ends.push_back(i + 1);
  }
  if (ends.empty() || ends.back() != terms.size()) ends.push_back(terms.size());
  return ends;
}

// The smallest df of at least min_df whose terms (those of `dfs` at or
// above it) hold at most max_bytes of forward index (0: min_df itself).
uint32_t BoundedMinDf(std::vector<uint32_t> dfs, uint32_t min_df, uint64_t max_bytes) {
  if (max_bytes == 0) return min_df;
  std::sort(dfs.begin(), dfs.end(), std::greater<>());
  uint64_t bytes = 0;
  for (size_t i = 0; i < dfs.size(); ++i) {
    bytes += uint64_t{dfs[i]} * kForwardBytesPerPosting;
    // Over the bound: every term of this df is left out with it.
    if (bytes > max_bytes) return std::max(min_df, dfs[i] + 1);
  }
  return min_df;
}

}  // namespace

absl::StatusOr<ForwardIndex> ReadForwardIndex(const storage::ShardReader& shard, uint32_t min_df,
                                              uint64_t max_forward_bytes, uint32_t* used_min_df) {
  const uint64_t num_docs = shard.meta().doc_count;
  min_df = std::max<uint32_t>(min_df, 1);
  std::vector<std::pair<std::string, storage::TermInfo>> chosen;
  absl::Status status;
  SCRY_RETURN_IF_ERROR(
      shard.ScanTerms(storage::kTextField, "", [&](std::string_view term, std::string_view info) {
        absl::StatusOr<uint32_t> df = storage::TermInfo::DecodeDf(info);
        if (!df.ok()) {
          status = df.status();
          return false;
        }
        if (*df < min_df) return true;
        absl::StatusOr<storage::TermInfo> decoded = storage::TermInfo::Decode(info);
        if (!decoded.ok()) {
          status = decoded.status();
          return false;
        }
        chosen.emplace_back(std::string(term), *std::move(decoded));
        return true;
      }));
  SCRY_RETURN_IF_ERROR(status);
  std::vector<uint32_t> dfs;
  dfs.reserve(chosen.size());
  for (const auto& term : chosen) dfs.push_back(term.second.df);
  const uint32_t bounded = BoundedMinDf(std::move(dfs), min_df, max_forward_bytes);
  if (used_min_df != nullptr) *used_min_df = bounded;
  std::erase_if(chosen, [bounded](const auto& term) { return term.second.df < bounded; });
  // The lists' docids, through a cursor (no tfs or positions decoded).
  std::vector<std::vector<uint32_t>> lists(chosen.size());
  for (size_t t = 0; t < chosen.size(); ++t) {
    storage::PostingCursor cursor(&shard, storage::kTextField, chosen[t].first,
                                  std::move(chosen[t].second));
    lists[t].reserve(cursor.df());
    for (; cursor.docid() != storage::kEndDocid; cursor.Next()) {
      if (cursor.docid() >= num_docs)
        return absl::DataLossError("docid past the shard's documents");
      lists[t].push_back(cursor.docid());
    }
    SCRY_RETURN_IF_ERROR(cursor.status());
  }
  return ForwardIndex::FromLists(static_cast<uint32_t>(num_docs), lists);
}

absl::Status RewriteShard(const storage::ShardReader& from, std::span<const uint32_t> order,
                          const std::string& to, const ReorderOptions& options) {
  const storage::ShardMeta& meta = from.meta();
  if (order.size() != meta.doc_count) {
    return absl::InvalidArgumentError("the order does not hold every document of the shard");
  }
  std::vector<uint32_t> new_of_old(order.size(), storage::kEndDocid);
  for (uint32_t i = 0; i < order.size(); ++i) {
    if (order[i] >= order.size() || new_of_old[order[i]] != storage::kEndDocid) {
      return absl::InvalidArgumentError("the order is not a permutation of the shard's documents");
    }
    new_of_old[order[i]] = i;
  }
  storage::ShardWriterOptions writer_options;
  writer_options.codecs = options.codecs;
  writer_options.env = options.env;
  writer_options.field_names.assign(meta.field_names.begin() + 1, meta.field_names.end());
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<storage::ShardWriter> writer,
                        storage::ShardWriter::Create(to, writer_options));
  // Documents first, in their new order: ids, stored documents (and
  // titles), lengths.
  const size_t num_fields = meta.field_names.size();
  std::vector<uint32_t> lengths(num_fields);
  for (uint32_t i = 0; i < order.size(); ++i) {
    const uint32_t old = order[i];
    SCRY_RETURN_IF_ERROR(writer->ClaimId(from.external_id(old), i));
    SCRY_ASSIGN_OR_RETURN(const storage::StoredDocument doc, from.GetDocument(old));
    for (size_t f = 0; f < num_fields; ++f) {
      lengths[f] = from.doc_length(static_cast<uint8_t>(f), old);
    }
    SCRY_RETURN_IF_ERROR(writer->AddDocument(i, doc, lengths));
  }
  // The doc values in the new order.
  std::vector<storage::DocValuesColumn> columns;
  for (const auto& [name, type] : meta.typed_fields) {
    if (!storage::IsNumeric(type)) continue;
    const storage::DocValuesColumn* old_column = from.doc_values(name);
    if (old_column == nullptr) return absl::DataLossError("a numeric field has no doc values");
    storage::DocValuesColumn& column = columns.emplace_back();
    for (const uint32_t old : order) {
      const std::span<const int64_t> keys = old_column->values(old);
      column.Add(std::vector<int64_t>(keys.begin(), keys.end()));
    }
  }
  SCRY_RETURN_IF_ERROR(SetDocValues(meta.typed_fields, std::move(columns), writer.get()));
  // Then the lists, ranges of the key order on threads of their own.
  SCRY_ASSIGN_OR_RETURN(const std::vector<TermEntry> terms, ListTerms(from));
  const std::vector<size_t> ends = SplitByWeight(terms, std::max<size_t>(1, options.write_threads));
  SCRY_RETURN_IF_ERROR(writer->SetListParts(ends.size()));
  std::vector<absl::Status> statuses(ends.size());
  const auto rewrite_part = [&](size_t p) {
    const size_t begin = p == 0 ? 0 : ends[p - 1];
    statuses[p] =
        RewriteLists(from, std::span<const TermEntry>(terms).subspan(begin, ends[p] - begin),
                     new_of_old, p, writer.get());
  };
  std::vector<std::thread> threads(ends.size() - 1);
  for (size_t p = 1; p < ends.size(); ++p) threads[p - 1] = std::thread(rewrite_part, p);
  rewrite_part(0);
  for (auto& t : threads) t.join();
  for (const absl::Status& s : statuses) SCRY_RETURN_IF_ERROR(s);
  return writer->Finish(meta);
}

absl::StatusOr<ReorderSummary> ReorderShard(const std::string& path,
                                            const ReorderOptions& options) {
  namespace fs = std::filesystem;
  ReorderSummary summary;
  const std::string rewritten = path + ".reorder";
  {
    storage::ShardReader::Options reader_options;
    // Every list is read once, in key order: lists in memory would only add
    // their bytes to the build's (bounded by --memory-mb).
    reader_options.memory_dictionary = false;
    SCRY_ASSIGN_OR_RETURN(std::unique_ptr<storage::ShardReader> shard,
                          storage::ShardReader::Open(path, reader_options));
    auto t0 = Clock::now();
    SCRY_ASSIGN_OR_RETURN(
        const ForwardIndex forward,
        ReadForwardIndex(*shard, options.min_df, options.max_forward_bytes, &summary.min_df));
    summary.read_seconds = SecondsSince(t0);
    summary.forward_terms = forward.num_terms;
    summary.forward_postings = forward.terms.size();
    t0 = Clock::now();
    const BisectionResult result = BisectionOrder(forward, options.bisection);
    summary.bisect_seconds = SecondsSince(t0);
    summary.cost_before = result.cost_before;
    summary.cost_after = result.cost_after;
    summary.reordered = result.reordered;
    if (!result.reordered) return summary;
    t0 = Clock::now();
    SCRY_RETURN_IF_ERROR(RewriteShard(*shard, result.order, rewritten, options));
    summary.write_seconds = SecondsSince(t0);
  }
  std::error_code ec;
  fs::remove_all(path, ec);
  if (!ec) fs::rename(rewritten, path, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot replace ", path, " by its reordered copy: ", ec.message()));
  }
  return summary;
}

}  // namespace scry::indexer
