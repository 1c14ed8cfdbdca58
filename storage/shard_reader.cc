// File: storage/shard_reader.cc
//
// Read-only shard access. The shard is opened with every SST file kept open
// (max_open_files = -1), so a shard whose generation directory is replaced by
// a later build keeps serving from its open files until the process restarts.
#include <algorithm>
#include <filesystem>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/metadata.h"
#include "storage/coding.h"
#include "storage/doc_values.h"
#include "storage/keys.h"
#include "storage/memory_lists.h"
#include "storage/rocks_util.h"
#include "storage/shard.h"
#include "storage/status.h"

namespace scry::storage {

using internal::FromRocks;

PinnedValue::PinnedValue() = default;
PinnedValue::~PinnedValue() = default;
PinnedValue::PinnedValue(PinnedValue&&) noexcept = default;
PinnedValue& PinnedValue::operator=(PinnedValue&&) noexcept = default;

void PinnedValue::Unpin() {
  if (slice_ != nullptr) slice_->Reset();
  view_ = {};
}

rocksdb::PinnableSlice* PinnedValue::ResetSlice() {
  Unpin();
  if (slice_ == nullptr) slice_ = std::make_unique<rocksdb::PinnableSlice>();
  return slice_.get();
}

struct PinnedDocuments::Impl {
  std::vector<rocksdb::PinnableSlice> values;
  std::vector<absl::Status> statuses;  // of reading each value (OK if read)
  // Documents with only an id stored (no `docs` entry): their external id.
  std::vector<std::optional<std::string_view>> id_only;
};

PinnedDocuments::PinnedDocuments() : impl_(std::make_unique<Impl>()) {}
PinnedDocuments::~PinnedDocuments() = default;
PinnedDocuments::PinnedDocuments(PinnedDocuments&&) noexcept = default;
PinnedDocuments& PinnedDocuments::operator=(PinnedDocuments&&) noexcept = default;
size_t PinnedDocuments::size() const { return impl_->values.size(); }

absl::StatusOr<StoredDocumentView> PinnedDocuments::Get(size_t i) const {
  if (!impl_->statuses[i].ok()) return impl_->statuses[i];
  if (impl_->id_only[i].has_value()) return StoredDocumentView::IdOnly(*impl_->id_only[i]);
  const rocksdb::PinnableSlice& value = impl_->values[i];
  return StoredDocumentView::Parse({value.data(), value.size()});
}

ShardReader::~ShardReader() {
  if (db_ != nullptr) {
    for (auto* h : cfs_) {
      if (h != nullptr) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
  }
}

absl::StatusOr<std::unique_ptr<ShardReader>> ShardReader::Open(const std::string& path,
                                                               const Options& options) {
  std::error_code ec;
  if (!std::filesystem::exists(path + "/CURRENT", ec)) {
    return absl::NotFoundError(absl::StrCat("no shard at ", path));
  }
  rocksdb::DBOptions db_options;
  db_options.max_open_files = -1;
  // With max_open_files -1 RocksDB opens every table file at DB::Open, with
  // this many new threads per column family (default 16: ~130 thread starts
  // per shard open, most of a live refresh's time). A shard holds a few
  // files per column family, so one thread opens them as fast.
  db_options.max_file_opening_threads = 1;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // Shards of earlier formats lack the later column families (titles before
  // format 6): their handles stay null.
  std::unique_ptr<ShardReader> reader(new ShardReader());
  SCRY_RETURN_IF_ERROR(internal::OpenShardReadOnly(db_options, path, options.block_cache_bytes,
                                                   &reader->cfs_, &reader->db_));
  SCRY_RETURN_IF_ERROR(reader->LoadMeta());
  if (reader->meta_.format_version >= 6 && reader->cfs_[kTitlesCfIndex] == nullptr) {
    return absl::DataLossError(absl::StrCat("shard ", path, " has no column family titles"));
  }
  SCRY_RETURN_IF_ERROR(reader->LoadIds());
  SCRY_RETURN_IF_ERROR(reader->LoadTitles());
  reader->LoadMemoryLists(options);
  return reader;
}

void ShardReader::LoadMemoryLists(const Options& options) {
  if (!options.memory_dictionary) return;
  // Memory holds only what reads whole: a shard with a damaged block or a
  // list that lies reads that column family through RocksDB instead, so
  // the damage is found per read as before (DataLoss for the queries that
  // meet it; `scry verify` names it), and the shard still opens.
  absl::StatusOr<std::unique_ptr<internal::MemoryDictionary>> dictionary =
      internal::MemoryDictionary::Load(db_.get(), cfs_[kTermsCfIndex]);
  if (!dictionary.ok()) return;
  dictionary_ = std::move(*dictionary);
  uint64_t max_bytes = options.memory_lists_bytes;
  // Postings first: every query reads them; positions only for phrases.
  for (const bool positions : {false, true}) {
    rocksdb::ColumnFamilyHandle* cf = cfs_[positions ? kPositionsCfIndex : kPostingsCfIndex];
    rocksdb::ColumnFamilyMetaData md;
    db_->GetColumnFamilyMetaData(cf, &md);
    // The files are compressed: when they alone pass the budget, the
    // values would too.
    if (md.size > max_bytes) break;
    absl::StatusOr<std::unique_ptr<internal::MemoryChunks>> chunks =
        internal::MemoryChunks::Load(db_.get(), cf, *dictionary_, max_bytes);
    if (!chunks.ok() || *chunks == nullptr) break;
    max_bytes -= std::min<uint64_t>(max_bytes, (*chunks)->bytes());
    (positions ? positions_memory_ : postings_memory_) = std::move(*chunks);
  }
}

absl::Status ShardReader::LoadMeta() {
  rocksdb::ColumnFamilyHandle* meta_cf = cfs_[kMetaCfIndex];
  auto get = [&](const std::string& key, std::string* value) {
    return FromRocks(db_->Get(rocksdb::ReadOptions(), meta_cf, key, value), "meta " + key);
  };
  std::string v;
  SCRY_RETURN_IF_ERROR(get(kMetaFormatVersion, &v));
  if (v.size() != 4) return absl::DataLossError("bad format_version");
  meta_.format_version = DecodeFixed32(v.data());
  if (meta_.format_version < kMinFormatVersion || meta_.format_version > kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("index format version ", meta_.format_version, " is not ", kFormatVersion,
                     ", the one this scry reads; rebuild the index"));
  }
  SCRY_RETURN_IF_ERROR(get(kMetaShard, &v));
  if (v.size() != 8) return absl::DataLossError("bad shard meta");
  meta_.shard_index = DecodeFixed32(v.data());
  meta_.num_shards = DecodeFixed32(v.data() + 4);
  SCRY_RETURN_IF_ERROR(get(kMetaLanguage, &meta_.language));
  struct {
    const char* key;
    uint64_t* out;
  } counts[] = {{kMetaDocCount, &meta_.doc_count},
                {kMetaTotalLength, &meta_.total_length},
                {kMetaTermCount, &meta_.term_count},
                {kMetaPostingCount, &meta_.posting_count}};
  for (const auto& c : counts) {
    SCRY_RETURN_IF_ERROR(get(c.key, &v));
    if (v.size() != 8) return absl::DataLossError(absl::StrCat("bad meta ", c.key));
    *c.out = DecodeFixed64(v.data());
  }
  if (meta_.doc_count > 0xffffffffULL) return absl::DataLossError("doc_count too large");
  meta_.field_names = {""};
  meta_.field_lengths = {meta_.total_length};
  if (meta_.format_version >= 5) {
    SCRY_RETURN_IF_ERROR(get(kMetaFields, &v));
    std::string_view in = v;
    while (!in.empty()) {
      const uint8_t id = static_cast<uint8_t>(in[0]);
      in.remove_prefix(1);
      std::string_view name;
      if (id != meta_.field_names.size() || !GetLengthPrefixed(&in, &name) || name.empty()) {
        return absl::DataLossError("bad meta fields");
      }
      meta_.field_names.emplace_back(name);
      std::string length;
      SCRY_RETURN_IF_ERROR(get(FieldLengthKey(id), &length));
      if (length.size() != 8) return absl::DataLossError("bad meta field_length");
      meta_.field_lengths.push_back(DecodeFixed64(length.data()));
    }
  }
  if (meta_.format_version >= 7) {
    SCRY_RETURN_IF_ERROR(get(kMetaPairs, &v));
    std::string_view in = v;
    uint32_t flags = 0;
    if (!GetVarint32(&in, &meta_.pair_min_df) || !GetVarint32(&in, &flags) || flags > 1) {
      return absl::DataLossError("bad meta pairs");
    }
    meta_.pairs_need_both = flags == 1;
    while (!in.empty()) {
      std::string_view term;
      if (!GetLengthPrefixed(&in, &term) || term.empty()) {
        return absl::DataLossError("bad meta pairs");
      }
      meta_.common_terms.emplace_back(term);
    }
    common_.insert(meta_.common_terms.begin(), meta_.common_terms.end());
  }
  if (meta_.format_version >= 8) SCRY_RETURN_IF_ERROR(LoadTypedFields());
  doc_lengths_.resize(meta_.field_names.size());
  for (size_t f = 0; f < doc_lengths_.size(); ++f) {
    auto& lengths = doc_lengths_[f];
    lengths.reserve(meta_.doc_count);
    for (uint32_t chunk = 0; lengths.size() < meta_.doc_count; ++chunk) {
      SCRY_RETURN_IF_ERROR(get(DocLenKey(chunk, static_cast<uint8_t>(f)), &v));
      const size_t expect = std::min<uint64_t>(kDocLenChunk, meta_.doc_count - lengths.size());
      if (v.size() != expect * 4) return absl::DataLossError("bad document length chunk");
      for (size_t i = 0; i < expect; ++i) lengths.push_back(DecodeFixed32(v.data() + 4 * i));
    }
  }
  return absl::OkStatus();
}

absl::Status ShardReader::LoadTypedFields() {
  rocksdb::ColumnFamilyHandle* meta_cf = cfs_[kMetaCfIndex];
  std::string v;
  SCRY_RETURN_IF_ERROR(
      FromRocks(db_->Get(rocksdb::ReadOptions(), meta_cf, kMetaTyped, &v), "meta typed"));
  std::string_view in = v;
  while (!in.empty()) {
    std::string_view name;
    if (!GetLengthPrefixed(&in, &name) || name.empty() || in.empty() ||
        static_cast<uint8_t>(in[0]) > static_cast<uint8_t>(FieldType::kDate)) {
      return absl::DataLossError("bad meta typed");
    }
    const auto type = static_cast<FieldType>(in[0]);
    in.remove_prefix(1);
    meta_.typed_fields.emplace_back(std::string(name), type);
    if (!IsNumeric(type)) continue;
    const std::string key = absl::StrCat(kMetaDocValuesPrefix, AsAbsl(name));
    std::string bytes;
    SCRY_RETURN_IF_ERROR(
        FromRocks(db_->Get(rocksdb::ReadOptions(), meta_cf, key, &bytes), "meta " + key));
    absl::StatusOr<DocValuesColumn> column = DocValuesColumn::Decode(bytes);
    if (!column.ok() || column->num_docs() != meta_.doc_count) {
      return absl::DataLossError(absl::StrCat("bad doc values of field \"", AsAbsl(name), "\""));
    }
    doc_values_.emplace(std::string(name), std::make_unique<DocValuesColumn>(std::move(*column)));
  }
  return absl::OkStatus();
}

FieldType ShardReader::TypeOf(std::string_view name) const {
  for (const auto& [typed, type] : meta_.typed_fields) {
    if (typed == name) return type;
  }
  return FieldType::kText;
}

const DocValuesColumn* ShardReader::doc_values(std::string_view name) const {
  const auto it = doc_values_.find(name);
  return it == doc_values_.end() ? nullptr : it->second.get();
}

std::optional<uint8_t> ShardReader::FieldId(std::string_view name) const {
  for (size_t f = 1; f < meta_.field_names.size(); ++f) {
    if (meta_.field_names[f] == name) return static_cast<uint8_t>(f);
  }
  return std::nullopt;
}

absl::Status ShardReader::ScanTerms(
    uint8_t field, std::string_view prefix,
    const std::function<bool(std::string_view term, std::string_view info)>& fn,
    bool with_pairs) const {
  const std::string start = TermKey(field, prefix);
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, cfs_[kTermsCfIndex]));
  for (it->Seek(start); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    if (key.substr(0, start.size()) != start || (!with_pairs && IsPairTerm(key.substr(1)))) break;
    if (!fn(key.substr(1), std::string_view(it->value().data(), it->value().size()))) break;
  }
  return FromRocks(it->status(), "scan terms");
}

absl::Status ShardReader::LoadIds() {
  // The ids column family maps id -> docid in id order; docids were given in
  // input order. Two passes: the length of each docid's id, then the bytes
  // at their offsets (no copy of the whole table).
  const uint64_t n = meta_.doc_count;
  std::vector<uint32_t> lengths(n, 0);
  std::vector<bool> seen(n, false);
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  uint64_t entries = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, cfs_[kIdsCfIndex]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const rocksdb::Slice value = it->value();
      if (value.size() != 4) return absl::DataLossError("bad ids entry");
      const uint32_t docid = DecodeBigEndian32(value.data());
      if (docid >= n || seen[docid]) {
        return absl::DataLossError("ids column family does not match doc_count");
      }
      seen[docid] = true;
      lengths[docid] = static_cast<uint32_t>(it->key().size());
      ++entries;
    }
    SCRY_RETURN_IF_ERROR(FromRocks(it->status(), "read ids"));
  }
  if (entries != n) return absl::DataLossError("ids column family does not match doc_count");
  id_offsets_.resize(n + 1);
  id_offsets_[0] = 0;
  for (uint64_t d = 0; d < n; ++d) id_offsets_[d + 1] = id_offsets_[d] + lengths[d];
  ids_arena_.resize(id_offsets_[n]);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, cfs_[kIdsCfIndex]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const uint32_t docid = DecodeBigEndian32(it->value().data());
    if (it->key().size() != lengths[docid]) return absl::DataLossError("ids changed while read");
    std::copy(it->key().data(), it->key().data() + lengths[docid],
              ids_arena_.begin() + static_cast<ptrdiff_t>(id_offsets_[docid]));
  }
  return FromRocks(it->status(), "read ids");
}

absl::Status ShardReader::LoadTitles() {
  if (cfs_[kTitlesCfIndex] == nullptr) return absl::OkStatus();  // before format 6
  // docid -> title in docid order: offsets grow as the iteration goes, so
  // one pass; a document without an entry has an empty title.
  const uint64_t n = meta_.doc_count;
  title_offsets_.assign(n + 1, 0);
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, cfs_[kTitlesCfIndex]));
  uint64_t next = 0;  // the first docid whose offset is not set yet
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 4) return absl::DataLossError("bad titles key");
    const uint32_t docid = DecodeBigEndian32(it->key().data());
    if (docid >= n || docid < next) return absl::DataLossError("titles do not match doc_count");
    for (; next <= docid; ++next) title_offsets_[next] = titles_arena_.size();
    titles_arena_.append(it->value().data(), it->value().size());
  }
  SCRY_RETURN_IF_ERROR(FromRocks(it->status(), "read titles"));
  for (; next <= n; ++next) title_offsets_[next] = titles_arena_.size();
  titles_arena_.shrink_to_fit();
  has_titles_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<TermInfo>> ShardReader::FindTerm(uint8_t field,
                                                              std::string_view term) const {
  if (dictionary_ == nullptr) return FindTermStored(field, term);
  const int64_t entry = dictionary_->Find(TermKey(field, term));
  if (entry < 0) return std::nullopt;
  SCRY_ASSIGN_OR_RETURN(TermInfo info, TermInfo::Decode(dictionary_->value(entry)));
  return info;
}

absl::StatusOr<std::optional<TermInfo>> ShardReader::FindTermStored(uint8_t field,
                                                                    std::string_view term) const {
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cfs_[kTermsCfIndex], TermKey(field, term), &value);
  if (s.IsNotFound()) return std::nullopt;
  SCRY_RETURN_IF_ERROR(FromRocks(s, "read term"));
  SCRY_ASSIGN_OR_RETURN(TermInfo info, TermInfo::Decode({value.data(), value.size()}));
  return info;
}

namespace {

absl::Status MissingChunk(std::string_view term, uint32_t chunk) {
  return absl::DataLossError(
      absl::StrCat("posting chunk ", chunk, " of term '", AsAbsl(term), "' is missing"));
}

}  // namespace

absl::Status ShardReader::ReadChunk(uint8_t field, std::string_view term, uint32_t chunk,
                                    bool positions, PinnedValue* out) const {
  const internal::MemoryChunks* memory = (positions ? positions_memory_ : postings_memory_).get();
  if (memory == nullptr) return ReadChunkStored(field, term, chunk, positions, out);
  out->Unpin();
  const int64_t entry = dictionary_->Find(TermKey(field, term));
  const std::optional<std::string_view> value =
      entry < 0 ? std::nullopt : memory->Chunk(static_cast<size_t>(entry), chunk);
  if (!value.has_value()) return MissingChunk(term, chunk);
  out->view_ = *value;
  return absl::OkStatus();
}

absl::Status ShardReader::ReadChunkStored(uint8_t field, std::string_view term, uint32_t chunk,
                                          bool positions, PinnedValue* out) const {
  rocksdb::PinnableSlice* slice = out->ResetSlice();
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), positions ? cfs_[kPositionsCfIndex] : cfs_[kPostingsCfIndex],
               ChunkKey(field, term, chunk), slice);
  if (s.IsNotFound()) return MissingChunk(term, chunk);
  SCRY_RETURN_IF_ERROR(FromRocks(s, "read posting chunk"));
  out->view_ = std::string_view(slice->data(), slice->size());
  return absl::OkStatus();
}

namespace {

// Appends the postings of one chunk (and its positions chunk) to *out.
absl::Status AppendChunk(std::string_view posting_chunk, std::string_view positions_chunk,
                         PostingList* out) {
  SCRY_ASSIGN_OR_RETURN(const PostingChunkView view, PostingChunkView::Parse(posting_chunk));
  SCRY_ASSIGN_OR_RETURN(const PositionsChunkView pview, PositionsChunkView::Parse(positions_chunk));
  if (pview.num_blocks() != view.num_blocks()) {
    return absl::DataLossError("posting and positions chunks disagree on their blocks");
  }
  uint32_t docids[kBlockSize], freqs[kBlockSize];
  std::vector<uint32_t> positions;
  for (uint32_t b = 0; b < view.num_blocks(); ++b) {
    const uint32_t count = view.header(b).count;
    SCRY_RETURN_IF_ERROR(view.DecodeBlock(b, docids, freqs));
    SCRY_RETURN_IF_ERROR(pview.DecodeBlock(b, freqs, count, &positions));
    out->docids.insert(out->docids.end(), docids, docids + count);
    out->freqs.insert(out->freqs.end(), freqs, freqs + count);
    const uint64_t total = std::accumulate(freqs, freqs + count, uint64_t{0});
    out->positions.insert(out->positions.end(), positions.begin(),
                          positions.begin() + static_cast<ptrdiff_t>(total));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ShardReader::ReadPostingList(uint8_t field, std::string_view term,
                                          const TermInfo& info, PostingList* out) const {
  *out = PostingList();
  if (info.is_inline()) {
    std::string postings, positions;
    SCRY_RETURN_IF_ERROR(ExpandInlinePostings(info, &postings));
    SCRY_RETURN_IF_ERROR(ExpandInlinePositions(info, &positions));
    SCRY_RETURN_IF_ERROR(AppendChunk(postings, positions, out));
  } else {
    out->docids.reserve(info.df);
    out->freqs.reserve(info.df);
    out->positions.reserve(info.total_tf);
    PinnedValue postings, positions;
    for (uint32_t c = 0; c < info.chunk_last_docids.size(); ++c) {
      SCRY_RETURN_IF_ERROR(ReadChunk(field, term, c, /*positions=*/false, &postings));
      SCRY_RETURN_IF_ERROR(ReadChunk(field, term, c, /*positions=*/true, &positions));
      SCRY_RETURN_IF_ERROR(AppendChunk(postings.view(), positions.view(), out));
    }
  }
  if (out->docids.size() != info.df) {
    return absl::DataLossError(absl::StrCat("the list of term '", AsAbsl(term), "' holds ",
                                            out->docids.size(), " postings, its df is ", info.df));
  }
  return absl::OkStatus();
}

absl::StatusOr<StoredDocument> ShardReader::GetDocument(uint32_t docid) const {
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cfs_[kDocsCfIndex], DocKey(docid), &value);
  if (s.IsNotFound()) {
    // Documents with only an id stored have no `docs` entry.
    if (docid < meta_.doc_count) return StoredDocument{std::string(external_id(docid)), {}};
    return absl::NotFoundError(absl::StrCat("no document ", docid));
  }
  SCRY_RETURN_IF_ERROR(FromRocks(s, "read document"));
  return StoredDocument::Decode({value.data(), value.size()});
}

PinnedDocuments ShardReader::GetDocuments(std::span<const uint32_t> docids) const {
  const size_t n = docids.size();
  PinnedDocuments out;
  PinnedDocuments::Impl& impl = *out.impl_;
  impl.values = std::vector<rocksdb::PinnableSlice>(n);
  impl.statuses.resize(n);
  impl.id_only.resize(n);
  if (n == 0) return out;
  std::string key_bytes;
  key_bytes.reserve(4 * n);
  for (uint32_t docid : docids) PutBigEndian32(&key_bytes, docid);
  std::vector<rocksdb::Slice> keys;
  keys.reserve(n);
  for (size_t i = 0; i < n; ++i) keys.emplace_back(key_bytes.data() + 4 * i, 4);
  std::vector<rocksdb::Status> statuses(n);
  db_->MultiGet(rocksdb::ReadOptions(), cfs_[kDocsCfIndex], n, keys.data(), impl.values.data(),
                statuses.data(), std::is_sorted(docids.begin(), docids.end()));
  for (size_t i = 0; i < n; ++i) {
    if (statuses[i].IsNotFound()) {
      // Documents with only an id stored have no `docs` entry.
      if (docids[i] < meta_.doc_count) {
        impl.id_only[i] = external_id(docids[i]);
      } else {
        impl.statuses[i] = absl::NotFoundError(absl::StrCat("no document ", docids[i]));
      }
      continue;
    }
    impl.statuses[i] = FromRocks(statuses[i], "read document");
  }
  return out;
}

absl::StatusOr<std::optional<uint32_t>> ShardReader::FindDocId(std::string_view id) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cfs_[kIdsCfIndex],
                               rocksdb::Slice(id.data(), id.size()), &value);
  if (s.IsNotFound()) return std::nullopt;
  SCRY_RETURN_IF_ERROR(FromRocks(s, "read id"));
  if (value.size() != 4) return absl::DataLossError("bad id entry");
  return DecodeBigEndian32(value.data());
}

absl::StatusOr<ShardStats> ShardReader::Stats() const {
  ShardStats stats;
  stats.meta = meta_;
  for (int i = 1; i < kNumColumnFamilies; ++i) {
    if (cfs_[i] == nullptr) continue;
    rocksdb::ColumnFamilyMetaData md;
    db_->GetColumnFamilyMetaData(cfs_[i], &md);
    stats.bytes_per_cf[kColumnFamilies[i]] = md.size;
  }
  return stats;
}

}  // namespace scry::storage
