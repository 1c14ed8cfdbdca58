// File: storage/shard_writer.cc
//
// Bulk writing of one shard: every column family gets one SST file written in
// key order with rocksdb::SstFileWriter, then a fresh RocksDB is created and
// the files are ingested (moved, not copied) at the bottom level, so a built
// shard needs no compaction. Key order is guaranteed by the callers'
// REQUIRES clauses and checked here.
#include <algorithm>
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/sst_file_writer.h"
#include "storage/coding.h"
#include "storage/doc_values.h"
#include "storage/keys.h"
#include "storage/rocks_util.h"
#include "storage/shard.h"
#include "storage/status.h"

namespace scry::storage {

using internal::FromRocks;

namespace {

// Writes one column family's SST file lazily (an empty CF gets no file).
class CfFile {
 public:
  CfFile(std::string name, std::string path, rocksdb::Env* env)
      : name_(std::move(name)), path_(std::move(path)), env_(env) {}

  absl::Status Put(std::string_view key, std::string_view value) {
    if (writer_ == nullptr) {
      rocksdb::Options options(rocksdb::DBOptions(), internal::CfOptions(name_, 8 << 20));
      if (env_ != nullptr) options.env = env_;
      writer_ = std::make_unique<rocksdb::SstFileWriter>(rocksdb::EnvOptions(), options);
      SCRY_RETURN_IF_ERROR(FromRocks(writer_->Open(path_), "open " + path_));
    } else if (key <= last_key_) {
      return absl::InvalidArgumentError(absl::StrCat("keys out of order in column family ", name_));
    }
    last_key_.assign(key.data(), key.size());
    return FromRocks(writer_->Put(rocksdb::Slice(key.data(), key.size()),
                                  rocksdb::Slice(value.data(), value.size())),
                     "write " + path_);
  }

  // Finishes the file; returns whether there is one to ingest.
  absl::StatusOr<bool> Finish() {
    if (writer_ == nullptr) return false;
    SCRY_RETURN_IF_ERROR(FromRocks(writer_->Finish(), "finish " + path_));
    writer_.reset();
    return true;
  }

  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }

 private:
  std::string name_;
  std::string path_;
  rocksdb::Env* env_;  // nullptr: the default
  std::string last_key_;
  std::unique_ptr<rocksdb::SstFileWriter> writer_;
};

}  // namespace

struct ShardWriter::Impl {
  std::string path;
  std::string ingest_dir;
  rocksdb::Env* env = nullptr;  // nullptr: the default
  PostingCodecs codecs;
  uint32_t pair_min_df = 1;
  bool pairs_need_both = false;
  std::map<std::string, std::unique_ptr<CfFile>> files;  // by CF name
  std::unique_ptr<rocksdb::DB> db;                       // open from Create on
  std::vector<rocksdb::ColumnFamilyHandle*> handles;     // kColumnFamilies order
  std::vector<std::string> field_names;                  // by field id; [0] = ""
  std::vector<std::vector<uint32_t>> doc_lengths;        // by field id, then docid
  std::vector<uint64_t> field_lengths;                   // by field id
  uint32_t doc_count = 0;
  std::map<std::string, std::string, std::less<>> doc_values;  // name -> encoded column
  // Posting lists go to parts: part 0 writes the files above; SetListParts
  // adds parts with files of their own, each for a later range of keys.
  struct ListPart {
    CfFile* terms = nullptr;
    CfFile* postings = nullptr;
    CfFile* positions = nullptr;
    std::vector<std::unique_ptr<CfFile>> own;
    uint64_t term_count = 0;
    uint64_t posting_count = 0;

    // Stores chunks first, first + 1, ... of (field, term).
    absl::Status PutChunks(uint8_t field, std::string_view term, uint32_t first,
                           const std::vector<std::string>& posting_chunks,
                           const std::vector<std::string>& position_chunks) {
      for (size_t c = 0; c < posting_chunks.size(); ++c) {
        const std::string key = ChunkKey(field, term, first + static_cast<uint32_t>(c));
        SCRY_RETURN_IF_ERROR(postings->Put(key, posting_chunks[c]));
        SCRY_RETURN_IF_ERROR(positions->Put(key, position_chunks[c]));
      }
      return absl::OkStatus();
    }
    // Stores the TermInfo of (field, term) and its chunks not stored yet,
    // first_chunk, first_chunk + 1, ...; counts the list.
    absl::Status PutList(uint8_t field, std::string_view term, uint32_t first_chunk,
                         const EncodedPostingList& enc) {
      SCRY_RETURN_IF_ERROR(terms->Put(TermKey(field, term), enc.info.Encode()));
      SCRY_RETURN_IF_ERROR(
          PutChunks(field, term, first_chunk, enc.posting_chunks, enc.position_chunks));
      // The counts are the catch-all's distinct terms (words, not pairs).
      if (field == kTextField && !IsPairTerm(term)) {
        ++term_count;
        posting_count += enc.info.df;
      }
      return absl::OkStatus();
    }
  };
  std::vector<ListPart> parts;
  bool finished = false;

  CfFile& File(const char* cf) { return *files.at(cf); }

  ~Impl() {
    if (db != nullptr) {
      for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
      db->Close().PermitUncheckedError();
    }
  }
};

ShardWriter::ShardWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ShardWriter::~ShardWriter() = default;

absl::StatusOr<std::unique_ptr<ShardWriter>> ShardWriter::Create(
    const std::string& path, const ShardWriterOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_empty(path, ec)) {
    return absl::FailedPreconditionError(absl::StrCat("shard directory not empty: ", path));
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->ingest_dir = path + "/ingest";
  fs::create_directories(impl->ingest_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", impl->ingest_dir, ": ", ec.message()));
  }
  impl->field_names.push_back("");
  impl->doc_lengths.resize(1);
  impl->field_lengths.resize(1);
  std::unique_ptr<ShardWriter> writer(new ShardWriter(std::move(impl)));
  if (options.field_names.size() >= kMaxFields) {
    return absl::InvalidArgumentError(absl::StrCat(
        "at most ", kMaxFields - 1, " named fields, got ", options.field_names.size()));
  }
  for (size_t i = 0; i < options.field_names.size(); ++i) {
    SCRY_RETURN_IF_ERROR(writer->DeclareField(static_cast<uint8_t>(i + 1), options.field_names[i]));
  }
  if (options.pair_min_df > kBlockSize * kBlocksPerChunk) {
    return absl::InvalidArgumentError(
        absl::StrCat("pair_min_df must be at most ", kBlockSize * kBlocksPerChunk));
  }
  Impl* w = writer->impl_.get();
  w->env = options.env;
  w->pair_min_df = std::max<uint32_t>(1, options.pair_min_df);
  w->pairs_need_both = options.pairs_need_both;
  w->codecs = options.codecs;
  if (w->codecs.docids == nullptr) w->codecs.docids = CodecById(uint8_t(CodecId::kSimdBp128));
  if (w->codecs.freqs == nullptr) w->codecs.freqs = CodecById(uint8_t(CodecId::kPFor));
  if (w->codecs.positions == nullptr) w->codecs.positions = w->codecs.freqs;
  for (int i = 1; i < kNumColumnFamilies; ++i) {
    const std::string name = kColumnFamilies[i];
    if (i == kIdsCfIndex) continue;  // written into the database directly
    w->files.emplace(name,
                     std::make_unique<CfFile>(name, w->ingest_dir + "/" + name + ".sst", w->env));
  }
  Impl::ListPart& first = w->parts.emplace_back();
  first.terms = &w->File(kTermsCf);
  first.postings = &w->File(kPostingsCf);
  first.positions = &w->File(kPositionsCf);
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.error_if_exists = true;
  db_options.max_file_opening_threads = 1;  // as ShardReader::Open: no thread storm per open
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  if (w->env != nullptr) db_options.env = w->env;
  rocksdb::DB* raw = nullptr;
  SCRY_RETURN_IF_ERROR(
      FromRocks(rocksdb::DB::Open(db_options, path, internal::CfDescriptors(8 << 20, true),
                                  &w->handles, &raw),
                "create shard " + path));
  w->db.reset(raw);
  return writer;
}

absl::Status ShardWriter::ClaimId(std::string_view id, uint32_t docid, uint32_t* earlier) {
  if (id.empty()) return absl::InvalidArgumentError("empty document id");
  rocksdb::ColumnFamilyHandle* ids = impl_->handles[kIdsCfIndex];
  const rocksdb::Slice key(id.data(), id.size());
  rocksdb::PinnableSlice existing;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), ids, key, &existing);
  if (s.ok()) {
    if (earlier != nullptr && existing.size() == 4) *earlier = DecodeBigEndian32(existing.data());
    return absl::AlreadyExistsError(absl::StrCat("duplicate id \"", AsAbsl(id), "\""));
  }
  if (!s.IsNotFound()) return FromRocks(s, "look up id");
  rocksdb::WriteOptions write;
  write.disableWAL = true;  // a build that dies is discarded whole
  return FromRocks(impl_->db->Put(write, ids, key, DocKey(docid)), "write id");
}

absl::Status ShardWriter::DeclareField(uint8_t id, std::string_view name) {
  if (id == kTextField || name.empty()) {
    return absl::InvalidArgumentError("field ids start at 1 and names are not empty");
  }
  if (id < impl_->field_names.size() && !impl_->field_names[id].empty()) {
    return absl::InvalidArgumentError(absl::StrCat("field id ", id, " declared twice"));
  }
  if (std::find(impl_->field_names.begin(), impl_->field_names.end(), name) !=
      impl_->field_names.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad or repeated field name \"", AsAbsl(name), "\""));
  }
  if (id >= impl_->field_names.size()) {
    impl_->field_names.resize(id + 1);
    impl_->doc_lengths.resize(id + 1, std::vector<uint32_t>(impl_->doc_count, 0));
    impl_->field_lengths.resize(id + 1, 0);
  }
  impl_->field_names[id] = std::string(name);
  return absl::OkStatus();
}

absl::Status ShardWriter::AddDocument(uint32_t docid, const StoredDocument& doc,
                                      std::span<const uint32_t> lengths) {
  if (docid != impl_->doc_count) {
    return absl::InvalidArgumentError("documents must be added with docids 0, 1, 2, ...");
  }
  // A document with nothing stored but its id needs no `docs` entry: the
  // reader has every id in memory (from `ids`).
  if (!doc.fields.empty()) {
    SCRY_RETURN_IF_ERROR(impl_->File(kDocsCf).Put(DocKey(docid), doc.Encode()));
    // The title again, alone: what every hit returns, read without the
    // document (the reader keeps them all in memory).
    const std::string_view title = doc.Field("title");
    if (!title.empty()) SCRY_RETURN_IF_ERROR(impl_->File(kTitlesCf).Put(DocKey(docid), title));
  }
  if (lengths.size() > impl_->doc_lengths.size()) {
    return absl::InvalidArgumentError("document lengths given for fields not declared");
  }
  for (size_t f = 0; f < impl_->doc_lengths.size(); ++f) {
    const uint32_t length = f < lengths.size() ? lengths[f] : 0;
    impl_->doc_lengths[f].push_back(length);
    impl_->field_lengths[f] += length;
  }
  ++impl_->doc_count;
  return absl::OkStatus();
}

namespace {

// What a list must meet before it is encoded.
absl::Status CheckList(size_t part, size_t num_parts, uint8_t field, std::string_view term,
                       const std::vector<std::string>& field_names) {
  if (part >= num_parts) return absl::InvalidArgumentError("no such list part");
  if (term.empty() || term.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("term is empty or contains a NUL byte");
  }
  if (field >= field_names.size() || (field != kTextField && field_names[field].empty())) {
    return absl::InvalidArgumentError(absl::StrCat("field id ", field, " not declared"));
  }
  return absl::OkStatus();
}

// What postings (a list or a piece) must meet: docids of documents added.
absl::Status CheckDocids(const PostingList& list, uint32_t doc_count) {
  if (!list.docids.empty() && list.docids.back() >= doc_count) {
    return absl::InvalidArgumentError("posting refers to a document not added");
  }
  return absl::OkStatus();
}

// A short list goes into its TermInfo (TermInfo::inline_postings).
absl::Status MaybeInline(EncodedPostingList* enc) {
  if (enc->posting_chunks.size() == 1 && enc->info.df <= kBlockSize &&
      enc->posting_chunks[0].size() + enc->position_chunks[0].size() <= kInlineMaxBytes) {
    SCRY_RETURN_IF_ERROR(CompactInline(enc->posting_chunks[0], enc->position_chunks[0],
                                       &enc->info.inline_postings, &enc->info.inline_positions));
    enc->posting_chunks.clear();
    enc->position_chunks.clear();
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ShardWriter::SetListParts(size_t n) {
  if (n == 0 || impl_->parts.size() != 1 || impl_->parts[0].term_count != 0 ||
      impl_->parts[0].terms != &impl_->File(kTermsCf)) {
    return absl::FailedPreconditionError("SetListParts after lists were added");
  }
  for (size_t p = 1; p < n; ++p) {
    Impl::ListPart& part = impl_->parts.emplace_back();
    for (const char* cf : {kTermsCf, kPostingsCf, kPositionsCf}) {
      part.own.push_back(std::make_unique<CfFile>(
          cf, absl::StrCat(impl_->ingest_dir, "/", cf, ".", p, ".sst"), impl_->env));
    }
    part.terms = part.own[0].get();
    part.postings = part.own[1].get();
    part.positions = part.own[2].get();
  }
  return absl::OkStatus();
}

absl::Status ShardWriter::AddPostingList(uint8_t field, std::string_view term,
                                         const PostingList& list, size_t part) {
  // The whole list at once: encoded from its own arrays, without a copy.
  SCRY_RETURN_IF_ERROR(CheckList(part, impl_->parts.size(), field, term, impl_->field_names));
  SCRY_RETURN_IF_ERROR(CheckDocids(list, impl_->doc_count));
  if (IsPairTerm(term) && list.docids.size() < impl_->pair_min_df) return absl::OkStatus();
  SCRY_ASSIGN_OR_RETURN(EncodedPostingList enc,
                        EncodePostingList(list, impl_->codecs, impl_->doc_lengths[field],
                                          /*impacts=*/!IsPairTerm(term)));
  SCRY_RETURN_IF_ERROR(MaybeInline(&enc));
  return impl_->parts[part].PutList(field, term, 0, enc);
}

ShardWriter::ListWriter::ListWriter(ShardWriter* writer, size_t part, uint8_t field,
                                    std::string_view term)
    : writer_(writer),
      part_(part),
      field_(field),
      term_(term),
      // Pair lists are read by phrases only, never by a pruning evaluator:
      // their impacts would be bytes no query reads.
      encoder_(writer->impl_->codecs, writer->impl_->doc_lengths[field],
               /*impacts=*/!IsPairTerm(term)) {}

absl::StatusOr<std::unique_ptr<ShardWriter::ListWriter>> ShardWriter::StartList(
    uint8_t field, std::string_view term, size_t part) {
  SCRY_RETURN_IF_ERROR(CheckList(part, impl_->parts.size(), field, term, impl_->field_names));
  return std::unique_ptr<ListWriter>(new ListWriter(this, part, field, term));
}

absl::Status ShardWriter::ListWriter::Add(const PostingList& piece) {
  SCRY_RETURN_IF_ERROR(CheckDocids(piece, writer_->impl_->doc_count));
  SCRY_RETURN_IF_ERROR(encoder_.Add(piece));
  postings_.clear();
  positions_.clear();
  encoder_.TakeChunks(&postings_, &positions_);
  SCRY_RETURN_IF_ERROR(writer_->impl_->parts[part_].PutChunks(field_, term_, chunks_written_,
                                                              postings_, positions_));
  chunks_written_ += static_cast<uint32_t>(postings_.size());
  return absl::OkStatus();
}

absl::Status ShardWriter::ListWriter::Finish() {
  SCRY_ASSIGN_OR_RETURN(EncodedPostingList rest, encoder_.Finish());
  // A pair too rare to keep never filled a chunk (pair_min_df <= a chunk).
  if (chunks_written_ == 0 && IsPairTerm(term_) && rest.info.df < writer_->impl_->pair_min_df) {
    return absl::OkStatus();
  }
  // Only a list of one chunk, none stored yet, can be short enough.
  if (chunks_written_ == 0) SCRY_RETURN_IF_ERROR(MaybeInline(&rest));
  return writer_->impl_->parts[part_].PutList(field_, term_, chunks_written_, rest);
}

absl::Status ShardWriter::SetDocValues(std::string_view name, DocValuesColumn column) {
  impl_->doc_values[std::string(name)] = column.Encode();
  return absl::OkStatus();
}

namespace {

// The meta "typed" value, and a "dv" key per numeric field (checked against
// the columns given).
absl::Status PutTypedFields(const ShardMeta& meta,
                            const std::map<std::string, std::string, std::less<>>& columns,
                            uint32_t doc_count, std::map<std::string, std::string>* kv) {
  std::string typed;
  size_t numeric = 0;
  for (const auto& [name, type] : meta.typed_fields) {
    PutLengthPrefixed(&typed, name);
    typed.push_back(static_cast<char>(type));
    if (!IsNumeric(type)) continue;
    ++numeric;
    const auto it = columns.find(name);
    if (it == columns.end()) {
      return absl::InvalidArgumentError(absl::StrCat("no doc values for field \"", name, "\""));
    }
    SCRY_ASSIGN_OR_RETURN(const DocValuesColumn column, DocValuesColumn::Decode(it->second));
    if (column.num_docs() != doc_count) {
      return absl::InvalidArgumentError(
          absl::StrCat("the doc values of \"", name, "\" do not cover every document"));
    }
    (*kv)[absl::StrCat(kMetaDocValuesPrefix, name)] = it->second;
  }
  if (numeric != columns.size()) {
    return absl::InvalidArgumentError("doc values for a field that is not a numeric typed field");
  }
  (*kv)[kMetaTyped] = typed;
  return absl::OkStatus();
}

}  // namespace

absl::Status ShardWriter::Finish(const ShardMeta& meta) {
  if (impl_->finished) return absl::FailedPreconditionError("shard already finished");
  impl_->finished = true;
  // Meta keys, written in byte order as SstFileWriter requires.
  std::map<std::string, std::string> kv;
  auto fixed64 = [](uint64_t v) {
    std::string s;
    PutFixed64(&s, v);
    return s;
  };
  std::string v;
  PutFixed32(&v, kFormatVersion);
  kv[kMetaFormatVersion] = v;
  v.clear();
  PutFixed32(&v, meta.shard_index);
  PutFixed32(&v, meta.num_shards);
  kv[kMetaShard] = v;
  kv[kMetaLanguage] = meta.language;
  kv[kMetaDocCount] = fixed64(impl_->doc_count);
  kv[kMetaTotalLength] = fixed64(impl_->field_lengths[0]);
  uint64_t term_count = 0, posting_count = 0;
  for (const auto& part : impl_->parts) {
    term_count += part.term_count;
    posting_count += part.posting_count;
  }
  kv[kMetaTermCount] = fixed64(term_count);
  kv[kMetaPostingCount] = fixed64(posting_count);
  std::string fields;
  for (size_t f = 0; f < impl_->doc_lengths.size(); ++f) {
    if (f != kTextField) {
      if (impl_->field_names[f].empty()) {
        return absl::InvalidArgumentError(absl::StrCat("field id ", f, " has no name"));
      }
      fields.push_back(static_cast<char>(f));
      PutLengthPrefixed(&fields, impl_->field_names[f]);
      kv[FieldLengthKey(static_cast<uint8_t>(f))] = fixed64(impl_->field_lengths[f]);
    }
    const auto& lengths = impl_->doc_lengths[f];
    for (size_t start = 0; start < lengths.size(); start += kDocLenChunk) {
      std::string chunk;
      for (size_t i = start; i < lengths.size() && i < start + kDocLenChunk; ++i) {
        PutFixed32(&chunk, lengths[i]);
      }
      kv[DocLenKey(static_cast<uint32_t>(start / kDocLenChunk), static_cast<uint8_t>(f))] =
          std::move(chunk);
    }
  }
  kv[kMetaFields] = fields;
  std::string pairs;
  PutVarint32(&pairs, impl_->pair_min_df);
  PutVarint32(&pairs, impl_->pairs_need_both ? 1 : 0);
  for (const std::string& term : meta.common_terms) PutLengthPrefixed(&pairs, term);
  kv[kMetaPairs] = pairs;
  SCRY_RETURN_IF_ERROR(PutTypedFields(meta, impl_->doc_values, impl_->doc_count, &kv));
  for (const auto& [key, value] : kv) {
    SCRY_RETURN_IF_ERROR(impl_->File(kMetaCf).Put(key, value));
  }

  rocksdb::DB* db = impl_->db.get();
  absl::Status status;
  for (int i = 1; i < kNumColumnFamilies && status.ok(); ++i) {
    if (i == kIdsCfIndex) continue;
    // The column family's file, then those of the later list parts, which
    // hold later keys: ingested together.
    const std::string_view cf = kColumnFamilies[i];
    std::vector<CfFile*> files = {&impl_->File(kColumnFamilies[i])};
    for (size_t p = 1; p < impl_->parts.size(); ++p) {
      auto& part = impl_->parts[p];
      if (cf == kTermsCf) files.push_back(part.terms);
      if (cf == kPostingsCf) files.push_back(part.postings);
      if (cf == kPositionsCf) files.push_back(part.positions);
    }
    std::vector<std::string> paths;
    for (CfFile* file : files) {
      absl::StatusOr<bool> has_file = file->Finish();
      if (!has_file.ok()) {
        status = has_file.status();
        break;
      }
      if (*has_file) paths.push_back(file->path());
    }
    if (status.ok() && !paths.empty()) {
      rocksdb::IngestExternalFileOptions ingest;
      ingest.move_files = true;
      status = FromRocks(db->IngestExternalFile(impl_->handles[i], paths, ingest),
                         "ingest " + paths.front());
    }
  }
  // The ids went in with Put: flush them and compact them into one sorted
  // run at the bottom, as if they had been ingested.
  rocksdb::ColumnFamilyHandle* ids = impl_->handles[kIdsCfIndex];
  if (status.ok()) status = FromRocks(db->Flush(rocksdb::FlushOptions(), ids), "flush ids");
  if (status.ok()) {
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    status = FromRocks(db->CompactRange(compact, ids, nullptr, nullptr), "compact ids");
  }
  for (auto* h : impl_->handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  impl_->handles.clear();
  if (status.ok()) status = FromRocks(db->Close(), "close shard " + impl_->path);
  impl_->db.reset();
  std::error_code ec;
  std::filesystem::remove_all(impl_->ingest_dir, ec);
  return status;
}

}  // namespace scry::storage
