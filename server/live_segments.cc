// File: server/live_segments.cc
#include "server/live_segments.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <map>
#include <string_view>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "indexer/segment.h"
#include "query/deleted_docs.h"
#include "storage/hash.h"
#include "storage/shard.h"
#include "storage/status.h"

namespace scry::server {
namespace {

namespace fs = std::filesystem;

// `old`'s docids plus `added`, as a set of a part of `doc_count` documents;
// `old` itself if nothing is added.
absl::StatusOr<std::shared_ptr<const query::DeletedDocs>> WithDeleted(
    const std::shared_ptr<const query::DeletedDocs>& old, std::vector<uint32_t> added,
    uint64_t doc_count) {
  if (added.empty()) return old;
  if (old != nullptr) added.insert(added.end(), old->docids().begin(), old->docids().end());
  return query::DeletedDocs::Create(std::move(added), static_cast<uint32_t>(doc_count));
}

// Removes the directories made so far when a refresh fails half-way.
class MadeDirs {
 public:
  ~MadeDirs() {
    if (keep_) return;
    for (const std::string& path : paths_) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
  void Add(std::string path) { paths_.push_back(std::move(path)); }
  void Keep() { keep_ = true; }
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  std::vector<std::string> paths_;
  bool keep_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<query::Searcher>> ApplyOperations(const query::Searcher& current,
                                                                 std::span<const LiveOp> ops,
                                                                 const LiveSegmentsOptions& options,
                                                                 uint64_t* next_segment,
                                                                 ApplySummary* summary) {
  ApplySummary local;
  ApplySummary& out = summary != nullptr ? *summary : local;
  out = ApplySummary();
  const uint32_t num_shards = current.info().num_shards;

  // The last operation on each id decides (the log's order).
  std::map<std::string_view, const LiveOp*> last;
  for (const LiveOp& op : ops) last[op.doc.id] = &op;

  // Every id written or deleted loses its earlier live copy.
  const query::Snapshot& old = current.snapshot();
  std::vector<std::vector<uint32_t>> base_deleted(num_shards);
  std::vector<std::vector<uint32_t>> segment_deleted(old.segments.size());
  for (const auto& [id, op] : last) {
    SCRY_ASSIGN_OR_RETURN(std::optional<query::DocLocation> at, current.Locate(std::string(id)));
    if (!at.has_value()) continue;
    (at->segment < 0 ? base_deleted[at->shard] : segment_deleted[at->segment]).push_back(at->docid);
    ++out.deleted;
  }

  // The surviving upserts, by the shard their ids route to, in log order.
  std::vector<std::vector<indexer::InputDocument>> by_shard(num_shards);
  for (const LiveOp& op : ops) {
    if (op.kind != OpKind::kUpsert || last[op.doc.id] != &op) continue;
    by_shard[storage::ShardForId(op.doc.id, num_shards)].push_back(op.doc);
  }

  query::Snapshot next;
  next.base_deleted.resize(num_shards);
  for (uint32_t s = 0; s < num_shards; ++s) {
    const auto& was = s < old.base_deleted.size() ? old.base_deleted[s] : nullptr;
    SCRY_ASSIGN_OR_RETURN(
        next.base_deleted[s],
        WithDeleted(was, std::move(base_deleted[s]), current.base_shard(s).meta().doc_count));
  }
  next.segments = old.segments;
  for (size_t i = 0; i < next.segments.size(); ++i) {
    query::Segment& segment = next.segments[i];
    SCRY_ASSIGN_OR_RETURN(segment.deleted,
                          WithDeleted(segment.deleted, std::move(segment_deleted[i]),
                                      segment.reader->meta().doc_count));
  }

  MadeDirs made;
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create segment directory ", options.dir, ": ", ec.message()));
  }
  for (uint32_t s = 0; s < num_shards; ++s) {
    if (by_shard[s].empty()) continue;
    const std::string path =
        absl::StrFormat("%s/seg-%09d-shard-%03d", options.dir, (*next_segment)++, s);
    made.Add(path);
    indexer::SegmentOptions segment_options;
    segment_options.base = current.base_shard(s).meta();
    segment_options.stopwords = current.info().stopwords;
    segment_options.index_fields = options.index_fields;
    segment_options.stored_fields = options.stored_fields;
    segment_options.max_document_bytes = options.max_document_bytes;
    SCRY_ASSIGN_OR_RETURN(indexer::SegmentSummary built,
                          indexer::BuildSegment(path, by_shard[s], segment_options));
    SCRY_ASSIGN_OR_RETURN(std::unique_ptr<storage::ShardReader> reader,
                          storage::ShardReader::Open(path, storage::ShardReader::Options()));
    next.segments.push_back(query::Segment{s, std::move(reader), nullptr});
    out.upserted += built.docs;
    ++out.segments_built;
  }
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<query::Searcher> searcher,
                        current.WithSegments(std::move(next)));
  made.Keep();
  out.new_segment_paths = made.paths();
  return searcher;
}

absl::StatusOr<std::unique_ptr<LiveApplier>> LiveApplier::Create(LiveIndex* index,
                                                                 LiveSegmentsOptions options,
                                                                 ReadLog read_log) {
  std::error_code ec;
  fs::remove_all(options.dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot empty segment directory ", options.dir, ": ", ec.message()));
  }
  return std::unique_ptr<LiveApplier>(
      new LiveApplier(index, std::move(options), std::move(read_log)));
}

LiveApplier::LiveApplier(LiveIndex* index, LiveSegmentsOptions options, ReadLog read_log)
    : index_(index), options_(std::move(options)), read_log_(std::move(read_log)) {
  generation_ = index_->Acquire()->generation();
}

absl::Status LiveApplier::Apply(std::vector<std::vector<LiveOp>> by_shard, uint64_t last_seq) {
  std::vector<LiveOp> ops;
  for (std::vector<LiveOp>& shard : by_shard) {
    for (LiveOp& op : shard) ops.push_back(std::move(op));
  }
  std::sort(ops.begin(), ops.end(), [](const LiveOp& a, const LiveOp& b) { return a.seq < b.seq; });
  std::lock_guard<std::mutex> lock(mu_);
  return ApplyLocked(std::move(ops), last_seq);
}

absl::Status LiveApplier::CatchUp() {
  std::lock_guard<std::mutex> lock(mu_);
  if (applied_seq_ == 0 || index_->Acquire()->generation() == generation_) {
    return absl::OkStatus();
  }
  return ApplyLocked({}, applied_seq_);
}

absl::Status LiveApplier::ApplyLocked(std::vector<LiveOp> ops, uint64_t last_seq) {
  std::string applied_to;
  SCRY_RETURN_IF_ERROR(index_->Refresh(
      [&](const query::Searcher& served) -> absl::StatusOr<std::unique_ptr<query::Searcher>> {
        applied_to = served.generation();
        if (applied_to != generation_ && applied_seq_ > 0) {
          // A new base: every write so far again, then the new ones.
          std::vector<LiveOp> all;
          SCRY_RETURN_IF_ERROR(read_log_(applied_seq_, &all));
          all.insert(all.end(), std::make_move_iterator(ops.begin()),
                     std::make_move_iterator(ops.end()));
          ops.swap(all);
        }
        return ApplyOperations(served, ops, options_, &next_segment_);
      }));
  generation_ = applied_to;
  applied_seq_ = std::max(applied_seq_, last_seq);
  return absl::OkStatus();
}

}  // namespace scry::server
