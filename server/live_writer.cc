// File: server/live_writer.cc
#include "server/live_writer.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "storage/coding.h"
#include "storage/hash.h"
#include "storage/index_dir.h"
#include "storage/status.h"

namespace scry::server {

// A record: kind byte, id, field count, then (name, value) pairs, each
// string length-prefixed.
std::string LiveWriter::EncodeOp(OpKind kind, const indexer::InputDocument& doc) {
  std::string out(1, static_cast<char>(kind));
  storage::PutLengthPrefixed(&out, doc.id);
  if (kind == OpKind::kDelete) return out;
  storage::PutVarint64(&out, doc.fields.size());
  for (const auto& [name, value] : doc.fields) {
    storage::PutLengthPrefixed(&out, name);
    storage::PutLengthPrefixed(&out, value);
  }
  if (doc.typed.empty()) return out;  // as records were before typed fields
  storage::PutVarint64(&out, doc.typed.size());
  for (const indexer::InputDocument::Typed& typed : doc.typed) {
    storage::PutLengthPrefixed(&out, typed.name);
    storage::PutVarint64(&out, typed.keywords.size());
    for (const std::string& value : typed.keywords) storage::PutLengthPrefixed(&out, value);
    storage::PutVarint64(&out, typed.keys.size());
    for (const int64_t key : typed.keys) storage::PutFixed64(&out, static_cast<uint64_t>(key));
  }
  return out;
}

namespace {

// The typed members at the end of an upsert record (absent: none).
bool DecodeTyped(std::string_view* record, indexer::InputDocument* doc) {
  if (record->empty()) return true;
  uint64_t n = 0;
  if (!storage::GetVarint64(record, &n) || n > record->size()) return false;
  for (uint64_t i = 0; i < n; ++i) {
    indexer::InputDocument::Typed& typed = doc->typed.emplace_back();
    std::string_view name;
    uint64_t count = 0;
    if (!storage::GetLengthPrefixed(record, &name) || !storage::GetVarint64(record, &count) ||
        count > record->size()) {
      return false;
    }
    typed.name.assign(name);
    for (uint64_t k = 0; k < count; ++k) {
      std::string_view value;
      if (!storage::GetLengthPrefixed(record, &value)) return false;
      typed.keywords.emplace_back(value);
    }
    if (!storage::GetVarint64(record, &count) || count > record->size() / 8) return false;
    for (uint64_t k = 0; k < count; ++k) {
      typed.keys.push_back(static_cast<int64_t>(storage::DecodeFixed64(record->data())));
      record->remove_prefix(8);
    }
  }
  return true;
}

}  // namespace

absl::Status LiveWriter::DecodeOp(std::string_view record, LiveOp* op) {
  const auto damaged = [] { return absl::DataLossError("damaged record in the write log"); };
  if (record.empty()) return damaged();
  const auto kind = static_cast<OpKind>(record[0]);
  if (kind != OpKind::kUpsert && kind != OpKind::kDelete) return damaged();
  record.remove_prefix(1);
  op->kind = kind;
  op->doc = indexer::InputDocument();
  std::string_view id;
  if (!storage::GetLengthPrefixed(&record, &id)) return damaged();
  op->doc.id.assign(id);
  if (kind == OpKind::kUpsert) {
    uint64_t n = 0;
    if (!storage::GetVarint64(&record, &n) || n > record.size()) return damaged();
    op->doc.fields.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
      std::string_view name, value;
      if (!storage::GetLengthPrefixed(&record, &name) ||
          !storage::GetLengthPrefixed(&record, &value)) {
        return damaged();
      }
      op->doc.fields.emplace_back(std::string(name), std::string(value));
    }
    if (!DecodeTyped(&record, &op->doc)) return damaged();
  }
  return record.empty() ? absl::OkStatus() : damaged();
}

LiveWriter::LiveWriter(const LiveWriterOptions& options, std::unique_ptr<storage::WriteLog> log)
    : options_(options), log_(std::move(log)) {}

LiveWriter::~LiveWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
}

absl::StatusOr<std::unique_ptr<LiveWriter>> LiveWriter::Open(const LiveWriterOptions& options) {
  if (options.num_shards == 0) return absl::InvalidArgumentError("live writer: no shards");
  if (options.sync == WalSync::kInterval && options.sync_interval_ms <= 0) {
    return absl::InvalidArgumentError("--wal-sync interval:MS needs MS > 0");
  }
  absl::StatusOr<std::unique_ptr<storage::WriteLog>> log =
      storage::WriteLog::Open(options.index_dir + "/live");
  if (!log.ok()) {
    return absl::Status(log.status().code(),
                        absl::StrCat(log.status().message(),
                                     " (is another server taking writes on this index? only one "
                                     "may; start the others with --read-only)"));
  }
  std::unique_ptr<LiveWriter> writer(new LiveWriter(options, std::move(*log)));
  // Recovery: whatever was logged after the applied sequence is pending.
  absl::Status read = writer->log_->ReadFrom(
      writer->log_->applied() + 1, [&](uint64_t seq, std::string_view record) {
        LiveOp op;
        absl::Status s = DecodeOp(record, &op);
        if (!s.ok()) return absl::DataLossError(absl::StrCat(s.message(), " (sequence ", seq, ")"));
        op.seq = seq;
        writer->pending_.push_back(std::move(op));
        return absl::OkStatus();
      });
  if (!read.ok()) return read;
  if (options.sync == WalSync::kInterval) {
    writer->syncer_ = std::thread([w = writer.get()] { w->SyncLoop(); });
  }
  return writer;
}

absl::Status LiveWriter::ReadOps(uint64_t upto, std::vector<LiveOp>* ops) const {
  return log_->ReadFrom(1, [&](uint64_t seq, std::string_view record) {
    if (seq > upto) return absl::OkStatus();
    LiveOp op;
    SCRY_RETURN_IF_ERROR(DecodeOp(record, &op));
    op.seq = seq;
    ops->push_back(std::move(op));
    return absl::OkStatus();
  });
}

absl::StatusOr<LiveOp> LiveWriter::ReadOp(uint64_t seq) const {
  SCRY_ASSIGN_OR_RETURN(const std::string record, log_->Get(seq));
  LiveOp op;
  SCRY_RETURN_IF_ERROR(DecodeOp(record, &op));
  op.seq = seq;
  return op;
}

void LiveWriter::SyncLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_cv_.wait_for(lock, std::chrono::milliseconds(options_.sync_interval_ms),
                            [this] { return stop_; })) {
    lock.unlock();
    // A failed sync is retried at the next tick; Commit reports its own.
    log_->Sync().IgnoreError();
    lock.lock();
  }
}

namespace {

absl::Status CheckId(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("the id is empty");
  if (id.size() > indexer::kMaxIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the id is longer than ", indexer::kMaxIdBytes, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LiveWriter::CheckServed(std::string_view id) const {
  const uint32_t shard = storage::ShardForId(id, options_.num_shards);
  if (std::binary_search(options_.shards.begin(), options_.shards.end(), shard)) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "document \"", std::string(id), "\" belongs to shard ", shard, " of ", options_.num_shards,
      ", which this server does not serve (shards ", absl::StrJoin(options_.shards, ","),
      "): write through a broker (scry broker) or a server of that shard"));
}

absl::Status LiveWriter::Write(std::vector<WriteOp>* ops, bool sync,
                               std::vector<absl::Status>* results, uint64_t* first_seq) {
  // Parsed outside any lock; one parser per thread (it keeps its buffers).
  thread_local indexer::DocumentParser parser;
  results->assign(ops->size(), absl::OkStatus());
  std::vector<LiveOp> valid;
  std::vector<std::string> records;
  valid.reserve(ops->size());
  records.reserve(ops->size());
  for (size_t i = 0; i < ops->size(); ++i) {
    WriteOp& in = (*ops)[i];
    LiveOp op;
    op.kind = in.kind;
    if (in.kind == OpKind::kUpsert) {
      parser.set_schema(&options_.schema);
      (*results)[i] = parser.Parse(&in.document, &op.doc);
    } else {
      (*results)[i] = CheckId(in.id);
      op.doc.id = in.id;
    }
    if ((*results)[i].ok() && !options_.shards.empty()) (*results)[i] = CheckServed(op.doc.id);
    if (!(*results)[i].ok()) continue;
    records.push_back(EncodeOp(op.kind, op.doc));
    valid.push_back(std::move(op));
  }
  // A write during a bulk build would fall between the build's input and
  // its switch: refused (docs/ARCHITECTURE.md, "Live writes").
  absl::StatusOr<bool> building = storage::BuildInProgress(options_.index_dir);
  if (!building.ok()) return building.status();
  if (*building) {
    return absl::FailedPreconditionError(
        "a bulk build of this index is running; writes are refused until it ends");
  }
  std::lock_guard<std::mutex> write_lock(write_mu_);
  absl::StatusOr<uint64_t> first = log_->Append(records, sync || options_.sync == WalSync::kAlways);
  if (!first.ok()) return first.status();
  if (first_seq != nullptr) *first_seq = *first;
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < valid.size(); ++i) {
    valid[i].seq = *first + i;
    pending_.push_back(std::move(valid[i]));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> LiveWriter::Refresh() {
  if (!options_.apply) {
    return absl::UnimplementedError(
        "refresh: live writes are logged but not yet applied to the index by this server");
  }
  std::lock_guard<std::mutex> refresh_lock(refresh_mu_);
  std::vector<LiveOp> ops;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ops.swap(pending_);
  }
  if (ops.empty()) return 0;
  const uint64_t last_seq = ops.back().seq;
  const uint64_t count = ops.size();
  std::vector<std::vector<LiveOp>> by_shard(options_.num_shards);
  for (LiveOp& op : ops) {
    by_shard[storage::ShardForId(op.doc.id, options_.num_shards)].push_back(op);
  }
  absl::Status applied = options_.apply(std::move(by_shard), last_seq);
  if (!applied.ok()) {
    // Pending again, before anything written since.
    std::lock_guard<std::mutex> lock(mu_);
    ops.insert(ops.end(), std::make_move_iterator(pending_.begin()),
               std::make_move_iterator(pending_.end()));
    pending_.swap(ops);
    return applied;
  }
  return count;
}

absl::Status LiveWriter::Commit() { return log_->Sync(); }

uint64_t LiveWriter::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.size();
}

}  // namespace scry::server
