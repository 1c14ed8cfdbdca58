// File: server/live_segments.cc
#include "server/live_segments.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <map>
#include <optional>
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

// Opens the segment at `path` for sharing between snapshots: when the last
// holder lets it go, the reader is closed and the directory removed (it is
// in no served snapshot any more: merged away, or left by a new generation).
absl::StatusOr<std::shared_ptr<const storage::ShardReader>> OpenSegment(const std::string& path) {
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<storage::ShardReader> reader,
                        storage::ShardReader::Open(path, storage::ShardReader::Options()));
  return std::shared_ptr<const storage::ShardReader>(
      reader.release(), [path](const storage::ShardReader* closing) {
        delete closing;
        std::error_code ec;
        fs::remove_all(path, ec);  // a leftover is removed at the next start
      });
}

// Builds `docs` as a segment of base shard `shard` of `current` at `path`
// and opens it. The caller removes `path` on error.
absl::StatusOr<std::shared_ptr<const storage::ShardReader>> BuildAndOpen(
    const query::Searcher& current, uint32_t shard, const std::string& path,
    const std::vector<indexer::InputDocument>& docs, const LiveSegmentsOptions& options,
    uint64_t* built_docs) {
  indexer::SegmentOptions segment_options;
  segment_options.base = current.base_shard(shard).meta();
  segment_options.stopwords = current.info().stopwords;
  segment_options.index_fields = options.index_fields;
  segment_options.stored_fields = options.stored_fields;
  segment_options.max_document_bytes = options.max_document_bytes;
  SCRY_ASSIGN_OR_RETURN(indexer::SegmentSummary built,
                        indexer::BuildSegment(path, docs, segment_options));
  *built_docs = built.docs;
  return OpenSegment(path);
}

// The tier of a segment of `size` documents: the t with size in
// [floor x m^t, floor x m^(t+1)).
int Tier(uint64_t size, uint64_t floor, uint64_t m) {
  int tier = 0;
  for (uint64_t bound = floor * m; size >= bound && bound < (~uint64_t{0} / m); bound *= m) ++tier;
  return tier;
}

// The merge (or none) of one shard's mergeable segments, `at` (indexes
// into `segments`, oldest first, none wholly deleted).
std::vector<size_t> ShardMerge(std::span<const SegmentSize> segments, const std::vector<size_t>& at,
                               const MergePolicyOptions& options) {
  const size_t at_once = std::max<size_t>(2, options.max_merge_at_once);
  std::vector<size_t> mostly_deleted;
  for (size_t i : at) {
    const SegmentSize& s = segments[i];
    if (static_cast<double>(s.deleted) >
        options.max_deleted_fraction * static_cast<double>(s.docs)) {
      mostly_deleted.push_back(i);
    }
  }
  if (!mostly_deleted.empty()) {
    mostly_deleted.resize(std::min(mostly_deleted.size(), at_once));
    return mostly_deleted;
  }
  const uint64_t floor = std::max<uint64_t>(1, options.floor_docs);
  auto size = [&](size_t i) { return std::max(segments[i].docs - segments[i].deleted, floor); };
  std::map<int, std::vector<size_t>> tiers;
  for (size_t i : at) tiers[Tier(size(i), floor, at_once)].push_back(i);
  for (auto& [tier, members] : tiers) {
    if (members.size() <= std::max<size_t>(1, options.segments_per_tier)) continue;
    std::stable_sort(members.begin(), members.end(),
                     [&](size_t a, size_t b) { return size(a) < size(b); });
    members.resize(std::min(members.size(), at_once));
    std::sort(members.begin(), members.end());
    return members;
  }
  return {};
}

}  // namespace

MergePlan SelectMerges(std::span<const SegmentSize> segments, const MergePolicyOptions& options) {
  MergePlan plan;
  std::map<uint32_t, std::vector<size_t>> by_shard;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (!segments[i].mergeable) continue;
    if (segments[i].deleted >= segments[i].docs) {
      plan.drop.push_back(i);
    } else {
      by_shard[segments[i].shard].push_back(i);
    }
  }
  for (const auto& [shard, at] : by_shard) {
    std::vector<size_t> merge = ShardMerge(segments, at, options);
    if (!merge.empty()) plan.merges.push_back(std::move(merge));
  }
  return plan;
}

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
    if (at->segment >= 0) {
      const auto& seqs = old.segments[at->segment].seqs;
      if (seqs != nullptr && at->docid < seqs->size() && (*seqs)[at->docid] != 0) {
        out.superseded.push_back((*seqs)[at->docid]);
      }
    }
  }
  for (const LiveOp& op : ops) {
    if (last[op.doc.id] != &op && op.seq != 0) out.superseded.push_back(op.seq);
  }

  // The surviving upserts, by the shard their ids route to, in log order.
  std::vector<std::vector<indexer::InputDocument>> by_shard(num_shards);
  std::vector<std::vector<uint64_t>> seqs(num_shards);  // per document
  for (const LiveOp& op : ops) {
    if (op.kind != OpKind::kUpsert || last[op.doc.id] != &op) continue;
    const uint32_t shard = storage::ShardForId(op.doc.id, num_shards);
    // A shard this server does not serve (an operation logged before it
    // served a subset) is not opened here: nothing to apply it to.
    if (!current.serves(shard)) continue;
    by_shard[shard].push_back(op.doc);
    seqs[shard].push_back(op.seq);
  }

  query::Snapshot next;
  next.base_deleted.resize(num_shards);
  for (uint32_t s = 0; s < num_shards; ++s) {
    const auto& was = s < old.base_deleted.size() ? old.base_deleted[s] : nullptr;
    if (!current.serves(s)) continue;  // not opened (Locate found nothing there)
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
    uint64_t built = 0;
    SCRY_ASSIGN_OR_RETURN(std::shared_ptr<const storage::ShardReader> reader,
                          BuildAndOpen(current, s, path, by_shard[s], options, &built));
    // Sequence 0 is no log record (a caller without a log): never merged.
    std::shared_ptr<const std::vector<uint64_t>> segment_seqs;
    if (std::find(seqs[s].begin(), seqs[s].end(), 0) == seqs[s].end()) {
      segment_seqs = std::make_shared<const std::vector<uint64_t>>(std::move(seqs[s]));
    }
    next.segments.push_back(query::Segment{s, std::move(reader), nullptr, std::move(segment_seqs)});
    out.upserted += built;
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
                                                                 ReadLog read_log,
                                                                 ReadRecord read_record,
                                                                 DropRecords drop_records) {
  if (options.merge.segments_per_tier < 1 || options.merge.max_merge_at_once < 2) {
    return absl::InvalidArgumentError(
        "merges need segments_per_tier >= 1 and max_merge_at_once >= 2");
  }
  std::error_code ec;
  fs::remove_all(options.dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot empty segment directory ", options.dir, ": ", ec.message()));
  }
  return std::unique_ptr<LiveApplier>(new LiveApplier(index, std::move(options),
                                                      std::move(read_log), std::move(read_record),
                                                      std::move(drop_records)));
}

LiveApplier::LiveApplier(LiveIndex* index, LiveSegmentsOptions options, ReadLog read_log,
                         ReadRecord read_record, DropRecords drop_records)
    : index_(index),
      options_(std::move(options)),
      read_log_(std::move(read_log)),
      read_record_(std::move(read_record)),
      drop_records_(std::move(drop_records)) {
  generation_ = index_->Acquire()->generation();
  // Names no other applier of this process uses: a segment's reader removes
  // its directory by name when it closes, maybe after an applier of a
  // restarted server has emptied the directory and started again.
  static std::atomic<uint64_t> appliers{0};
  next_segment_ = next_merge_ = (appliers.fetch_add(1, std::memory_order_relaxed) << 32) + 1;
  if (options_.merge.background) merger_ = std::thread([this] { MergeLoop(); });
  index_->SetRebase(
      [this](std::unique_ptr<query::Searcher> fresh, const LiveIndex::ServeSearcher& serve) {
        return Rebase(std::move(fresh), serve);
      });
}

LiveApplier::~LiveApplier() { Stop(); }

void LiveApplier::Stop() {
  index_->SetRebase(nullptr);
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    stop_ = true;
  }
  wake_.notify_all();
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (merger_.joinable()) merger_.join();
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
  ApplySummary summary;
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
        return ApplyOperations(served, ops, options_, &next_segment_, &summary);
      }));
  generation_ = applied_to;
  applied_seq_ = std::max(applied_seq_, last_seq);
  Supersede(std::move(summary.superseded));
  NotifyMerger();
  return absl::OkStatus();
}

absl::Status LiveApplier::Rebase(std::unique_ptr<query::Searcher> fresh,
                                 const LiveIndex::ServeSearcher& serve) {
  std::lock_guard<std::mutex> lock(mu_);
  ApplySummary summary;
  if (applied_seq_ > 0) {
    std::vector<LiveOp> all;
    SCRY_RETURN_IF_ERROR(read_log_(applied_seq_, &all));
    SCRY_ASSIGN_OR_RETURN(fresh, ApplyOperations(*fresh, all, options_, &next_segment_, &summary));
  }
  generation_ = fresh->generation();
  serve(std::move(fresh));
  Supersede(std::move(summary.superseded));
  NotifyMerger();
  return absl::OkStatus();
}

void LiveApplier::Supersede(std::vector<uint64_t> superseded) {
  if (drop_records_ == nullptr || superseded.empty()) return;
  std::lock_guard<std::mutex> lock(drop_mu_);
  superseded_.insert(superseded_.end(), superseded.begin(), superseded.end());
}

absl::Status LiveApplier::DropSuperseded() {
  std::vector<uint64_t> seqs;
  {
    std::lock_guard<std::mutex> lock(drop_mu_);
    seqs.swap(superseded_);
  }
  if (seqs.empty()) return absl::OkStatus();
  std::sort(seqs.begin(), seqs.end());
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  // On failure the records stay: replaying them changes nothing. (Not
  // handed back for another try: a Drop may fail after its batch was
  // written, and the log would count those records dropped twice.)
  return drop_records_(seqs);
}

void LiveApplier::NotifyMerger() {
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    wake_pending_ = true;
  }
  wake_.notify_all();
}

void LiveApplier::MergeLoop() {
  std::unique_lock<std::mutex> lock(wake_mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || wake_pending_; });
    if (stop_) return;
    wake_pending_ = false;
    lock.unlock();
    // Until the policy is content (each merge may make another due).
    for (bool more = true; more;) {
      absl::StatusOr<bool> merged = MergeOnce();
      if (!merged.ok()) {
        // The next refresh tries again; the snapshot served is unchanged.
        std::fprintf(stderr, "scry: merge of live segments failed: %s\n",
                     merged.status().ToString().c_str());
        std::fflush(stderr);
      }
      std::lock_guard<std::mutex> stopping(wake_mu_);
      more = merged.ok() && *merged && !stop_;
    }
    lock.lock();
  }
}

namespace {

// A segment being merged: which one, its deleted documents when the merge
// began, and where each of its docids went (kGone: deleted then).
struct MergeSource {
  static constexpr uint32_t kGone = ~uint32_t{0};
  const storage::ShardReader* reader = nullptr;
  std::shared_ptr<const query::DeletedDocs> deleted;
  std::vector<uint32_t> new_docid;
};

// The merged segment of `group` (indexes into `served`'s snapshot), read
// back from the log, and its sources.
struct MergedSegment {
  query::Segment segment;
  std::vector<MergeSource> sources;
};

absl::StatusOr<MergedSegment> BuildMerged(const query::Searcher& served,
                                          const std::vector<size_t>& group,
                                          const LiveSegmentsOptions& options,
                                          const LiveApplier::ReadRecord& read_record,
                                          const std::string& path) {
  MergedSegment out;
  std::vector<indexer::InputDocument> docs;
  auto seqs = std::make_shared<std::vector<uint64_t>>();
  const uint32_t shard = served.snapshot().segments[group.front()].shard;
  for (size_t i : group) {
    const query::Segment& segment = served.snapshot().segments[i];
    MergeSource source{segment.reader.get(), segment.deleted, {}};
    const uint32_t doc_count = segment.reader->meta().doc_count;
    source.new_docid.assign(doc_count, MergeSource::kGone);
    for (uint32_t d = 0; d < doc_count; ++d) {
      if (segment.deleted != nullptr && segment.deleted->Contains(d)) continue;
      const uint64_t seq = (*segment.seqs)[d];
      SCRY_ASSIGN_OR_RETURN(LiveOp op, read_record(seq));
      if (op.kind != OpKind::kUpsert) {
        return absl::DataLossError(
            absl::StrCat("write log: record ", seq, " of a live segment is not an upsert"));
      }
      source.new_docid[d] = static_cast<uint32_t>(docs.size());
      docs.push_back(std::move(op.doc));
      seqs->push_back(seq);
    }
    out.sources.push_back(std::move(source));
  }
  MadeDirs made;
  made.Add(path);
  uint64_t built = 0;
  SCRY_ASSIGN_OR_RETURN(std::shared_ptr<const storage::ShardReader> reader,
                        BuildAndOpen(served, shard, path, docs, options, &built));
  made.Keep();
  out.segment = query::Segment{shard, std::move(reader), nullptr, std::move(seqs)};
  return out;
}

// The merged segment's deletes: what was deleted in its sources after the
// merge began (`now` holds their deleted sets as served at the swap).
absl::Status CarryDeletes(const std::vector<MergeSource>& sources,
                          const std::vector<const query::Segment*>& now, query::Segment* merged) {
  std::vector<uint32_t> carried;
  for (const MergeSource& source : sources) {
    const auto at = std::find_if(now.begin(), now.end(), [&](const query::Segment* segment) {
      return segment->reader.get() == source.reader;
    });
    if (at == now.end()) return absl::AbortedError("a merged segment is no longer served");
    const query::Segment& served = **at;
    if (served.deleted == nullptr || served.deleted == source.deleted) continue;
    for (uint32_t d : served.deleted->docids()) {
      if (source.new_docid[d] != MergeSource::kGone) carried.push_back(source.new_docid[d]);
    }
  }
  if (carried.empty()) return absl::OkStatus();
  SCRY_ASSIGN_OR_RETURN(merged->deleted, query::DeletedDocs::Create(
                                             std::move(carried), merged->reader->meta().doc_count));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<bool> LiveApplier::MergeOnce() {
  std::lock_guard<std::mutex> merge_lock(merge_mu_);
  // Superseded records go now, when no merge can be reading them: every
  // merge from here starts from a snapshot that no longer holds them.
  if (const absl::Status dropped = DropSuperseded(); !dropped.ok()) {
    std::fprintf(stderr, "scry: cannot drop superseded log records: %s\n",
                 dropped.ToString().c_str());
    std::fflush(stderr);
  }
  const std::shared_ptr<const query::Searcher> served = index_->Acquire();
  const std::vector<query::Segment>& segments = served->snapshot().segments;
  std::vector<SegmentSize> sizes;
  for (const query::Segment& segment : segments) {
    const uint64_t docs = segment.reader->meta().doc_count;
    sizes.push_back(SegmentSize{segment.shard, docs,
                                segment.deleted != nullptr ? segment.deleted->size() : 0,
                                segment.seqs != nullptr && segment.seqs->size() == docs});
  }
  const MergePlan plan = SelectMerges(sizes, options_.merge);
  if (plan.empty()) return false;
  std::vector<const storage::ShardReader*> dropped;
  for (size_t i : plan.drop) dropped.push_back(segments[i].reader.get());
  std::optional<MergedSegment> merged;
  if (!plan.merges.empty()) {
    const std::vector<size_t>& group = plan.merges.front();
    const std::string path = absl::StrFormat("%s/merge-%09d-shard-%03d", options_.dir,
                                             next_merge_++, segments[group.front()].shard);
    SCRY_ASSIGN_OR_RETURN(merged, BuildMerged(*served, group, options_, read_record_, path));
  }
  if (options_.before_merge_swap) options_.before_merge_swap();

  const absl::Status swapped = index_->Refresh(
      [&](const query::Searcher& now) -> absl::StatusOr<std::unique_ptr<query::Searcher>> {
        if (now.generation() != served->generation()) {
          return absl::AbortedError("a new generation is served");
        }
        query::Snapshot next;
        next.base_deleted = now.snapshot().base_deleted;
        std::vector<const query::Segment*> sources_now;
        for (const query::Segment& segment : now.snapshot().segments) {
          if (std::find(dropped.begin(), dropped.end(), segment.reader.get()) != dropped.end()) {
            continue;
          }
          const bool source =
              merged.has_value() &&
              std::any_of(merged->sources.begin(), merged->sources.end(),
                          [&](const MergeSource& s) { return s.reader == segment.reader.get(); });
          if (!source) {
            next.segments.push_back(segment);
          } else {
            sources_now.push_back(&segment);
            // Where its newest source was (the order does not matter to
            // answers: an id has one live copy).
            if (sources_now.size() == merged->sources.size()) {
              SCRY_RETURN_IF_ERROR(CarryDeletes(merged->sources, sources_now, &merged->segment));
              next.segments.push_back(merged->segment);
            }
          }
        }
        if (merged.has_value() && sources_now.size() != merged->sources.size()) {
          return absl::AbortedError("a merged segment is no longer served");
        }
        return now.WithSegments(std::move(next));
      },
      LiveIndex::RefreshKind::kMerge);
  if (absl::IsAborted(swapped)) return false;
  SCRY_RETURN_IF_ERROR(swapped);
  merges_.fetch_add(plan.drop.size() + (merged.has_value() ? 1 : 0), std::memory_order_relaxed);
  return true;
}

}  // namespace scry::server
