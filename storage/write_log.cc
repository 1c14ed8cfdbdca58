// File: storage/write_log.cc
#include "storage/write_log.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"
#include "storage/coding.h"
#include "storage/rocks_util.h"
#include "storage/status.h"

namespace scry::storage {
namespace {

// Records under 'r' ‖ seq (big-endian, so key order is sequence order); the
// applied sequence under 'a'.
constexpr char kRecordPrefix = 'r';
const char kAppliedKey[] = "a";
// The next sequence, as of the last Drop: what keeps sequences from going
// back when the newest records were dropped.
const char kNextKey[] = "n";

std::string RecordKey(uint64_t seq) {
  std::string key(1, kRecordPrefix);
  PutBigEndian32(&key, static_cast<uint32_t>(seq >> 32));
  PutBigEndian32(&key, static_cast<uint32_t>(seq));
  return key;
}

uint64_t SeqOfKey(std::string_view key) {
  return (uint64_t{DecodeBigEndian32(key.data() + 1)} << 32) | DecodeBigEndian32(key.data() + 5);
}

bool IsRecordKey(std::string_view key) { return key.size() == 9 && key[0] == kRecordPrefix; }

}  // namespace

struct WriteLog::Impl {
  std::unique_ptr<rocksdb::DB> db;
  std::string path;
  std::mutex append_mu;  // sequence order is log order
  std::atomic<uint64_t> next_seq{1};
  std::atomic<uint64_t> applied{0};
  // Records kept (counted at open, then kept up to date; an estimate if a
  // caller drops sequences that are not there) and dropped since the last
  // compaction: what decides when Drop compacts.
  std::atomic<uint64_t> records{0};
  uint64_t dropped_since_compaction = 0;  // guarded by drop_mu
  std::mutex drop_mu;
};

WriteLog::WriteLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WriteLog::~WriteLog() {
  if (impl_->db != nullptr) {
    // Whatever the policy, a clean close leaves nothing unsynced.
    impl_->db->SyncWAL().PermitUncheckedError();
    impl_->db->Close().PermitUncheckedError();
  }
}

absl::StatusOr<std::unique_ptr<WriteLog>> WriteLog::Open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  rocksdb::Options options;
  options.create_if_missing = true;
  // A torn last record (a crash in the middle of a write) is dropped; any
  // other damage is an error rather than a silent loss.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  options.compression = rocksdb::kLZ4Compression;
  options.write_buffer_size = 16 << 20;
  options.max_background_jobs = 1;
  options.keep_log_file_num = 2;
  options.paranoid_checks = true;
  rocksdb::DB* db = nullptr;
  SCRY_RETURN_IF_ERROR(
      internal::FromRocks(rocksdb::DB::Open(options, path, &db), "cannot open the write log"));
  impl->db.reset(db);
  std::string applied;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), kAppliedKey, &applied);
  if (s.ok()) {
    if (applied.size() != 8) return absl::DataLossError("write log: bad applied sequence");
    impl->applied = DecodeFixed64(applied.data());
  } else if (!s.IsNotFound()) {
    return internal::FromRocks(s, "cannot read the write log");
  }
  // The next sequence follows the last record, or the applied one when
  // every record was trimmed.
  uint64_t next = impl->applied + 1;
  std::string next_value;
  s = db->Get(rocksdb::ReadOptions(), kNextKey, &next_value);
  if (s.ok()) {
    if (next_value.size() != 8) return absl::DataLossError("write log: bad next sequence");
    next = std::max(next, DecodeFixed64(next_value.data()));
  } else if (!s.IsNotFound()) {
    return internal::FromRocks(s, "cannot read the write log");
  }
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  it->SeekForPrev(RecordKey(~uint64_t{0}));
  if (it->Valid() && IsRecordKey(it->key().ToStringView())) {
    next = std::max(next, SeqOfKey(it->key().ToStringView()) + 1);
  }
  SCRY_RETURN_IF_ERROR(internal::FromRocks(it->status(), "cannot read the write log"));
  impl->next_seq = next;
  uint64_t records = 0;
  for (it->Seek(RecordKey(0)); it->Valid() && IsRecordKey(it->key().ToStringView()); it->Next()) {
    ++records;
  }
  SCRY_RETURN_IF_ERROR(internal::FromRocks(it->status(), "cannot read the write log"));
  impl->records = records;
  return std::unique_ptr<WriteLog>(new WriteLog(std::move(impl)));
}

absl::StatusOr<uint64_t> WriteLog::Append(const std::vector<std::string>& records, bool sync) {
  std::lock_guard<std::mutex> lock(impl_->append_mu);
  const uint64_t first = impl_->next_seq.load();
  if (records.empty()) return first;
  rocksdb::WriteBatch batch;
  for (size_t i = 0; i < records.size(); ++i) {
    SCRY_RETURN_IF_ERROR(
        internal::FromRocks(batch.Put(RecordKey(first + i), records[i]), "write log"));
  }
  rocksdb::WriteOptions options;
  options.sync = sync;
  SCRY_RETURN_IF_ERROR(
      internal::FromRocks(impl_->db->Write(options, &batch), "cannot append to the write log"));
  impl_->next_seq = first + records.size();
  impl_->records += records.size();
  return first;
}

absl::Status WriteLog::Sync() {
  return internal::FromRocks(impl_->db->SyncWAL(), "cannot sync the write log");
}

absl::Status WriteLog::ReadFrom(
    uint64_t from, const std::function<absl::Status(uint64_t, std::string_view)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(RecordKey(from)); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (!IsRecordKey(key)) break;
    SCRY_RETURN_IF_ERROR(fn(SeqOfKey(key), it->value().ToStringView()));
  }
  return internal::FromRocks(it->status(), "cannot read the write log");
}

absl::StatusOr<std::string> WriteLog::Get(uint64_t seq) const {
  std::string record;
  const rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), RecordKey(seq), &record);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("write log: no record of sequence ", seq));
  }
  SCRY_RETURN_IF_ERROR(internal::FromRocks(s, "cannot read the write log"));
  return record;
}

absl::Status WriteLog::Drop(std::span<const uint64_t> seqs) {
  if (seqs.empty()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  for (const uint64_t seq : seqs) {
    SCRY_RETURN_IF_ERROR(internal::FromRocks(batch.Delete(RecordKey(seq)), "write log"));
  }
  std::string next;
  PutFixed64(&next, impl_->next_seq.load());
  SCRY_RETURN_IF_ERROR(internal::FromRocks(batch.Put(kNextKey, next), "write log"));
  SCRY_RETURN_IF_ERROR(internal::FromRocks(impl_->db->Write(rocksdb::WriteOptions(), &batch),
                                           "cannot drop records of the write log"));
  const uint64_t kept = impl_->records.load();
  impl_->records = kept > seqs.size() ? kept - seqs.size() : 0;
  // A dropped record's bytes stay in the WAL and the memtable, then as a
  // tombstone beside the value in SST files, until a flush and a
  // compaction meet them. Left to RocksDB's own triggers (a 16 MB
  // memtable, 4 level-0 files) the log would hold several times the live
  // records; so once as many records were dropped as are kept (and at
  // least kCompactAfter), flush and compact the whole log: each compaction
  // rewrites at most about twice the live records, so its cost is
  // amortized over the drops that made it due.
  constexpr uint64_t kCompactAfter = 1024;
  std::lock_guard<std::mutex> lock(impl_->drop_mu);
  impl_->dropped_since_compaction += seqs.size();
  if (impl_->dropped_since_compaction < std::max(kCompactAfter, impl_->records.load())) {
    return absl::OkStatus();
  }
  impl_->dropped_since_compaction = 0;
  SCRY_RETURN_IF_ERROR(
      internal::FromRocks(impl_->db->Flush(rocksdb::FlushOptions()), "cannot flush the write log"));
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  return internal::FromRocks(impl_->db->CompactRange(compact, nullptr, nullptr),
                             "cannot compact the write log");
}

absl::Status WriteLog::MarkApplied(uint64_t seq) {
  std::lock_guard<std::mutex> lock(impl_->append_mu);
  if (seq <= impl_->applied) return absl::OkStatus();
  if (seq >= impl_->next_seq) {
    return absl::InvalidArgumentError(
        absl::StrCat("write log: sequence ", seq, " was never appended"));
  }
  std::string value;
  PutFixed64(&value, seq);
  rocksdb::WriteOptions options;
  options.sync = true;  // recovery must never replay less than was applied
  SCRY_RETURN_IF_ERROR(internal::FromRocks(impl_->db->Put(options, kAppliedKey, value),
                                           "cannot write the write log"));
  impl_->applied = seq;
  return absl::OkStatus();
}

absl::Status WriteLog::Trim(uint64_t seq) {
  seq = std::min<uint64_t>(seq, impl_->applied);
  if (seq == 0) return absl::OkStatus();
  rocksdb::WriteOptions options;
  SCRY_RETURN_IF_ERROR(
      internal::FromRocks(impl_->db->DeleteRange(options, impl_->db->DefaultColumnFamily(),
                                                 RecordKey(0), RecordKey(seq + 1)),
                          "cannot trim the write log"));
  uint64_t records = 0;
  SCRY_RETURN_IF_ERROR(ReadFrom(seq + 1, [&](uint64_t, std::string_view) {
    ++records;
    return absl::OkStatus();
  }));
  impl_->records = records;
  return absl::OkStatus();
}

uint64_t WriteLog::applied() const { return impl_->applied; }

uint64_t WriteLog::records() const { return impl_->records; }

uint64_t WriteLog::next_seq() const { return impl_->next_seq; }

}  // namespace scry::storage
