// File: storage/verify.cc
//
// The checks of storage/verify.h. A shard is opened twice, read-only: once
// as a ShardReader (meta, document lengths and the id table, which it
// validates as it loads them) and once as a bare RocksDB, whose files are
// checked one by one and whose column families are walked in key order: the
// chunks of `postings` and `positions` in step with the keys of `terms`
// (a chunk key is its term's key, 0x00, the chunk number), so each value is
// read once, in file order, and a chunk of no term shows up as a key left
// over between two terms.
#include "storage/verify.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rocksdb/db.h"
#include "rocksdb/metadata.h"
#include "rocksdb/sst_file_reader.h"
#include "storage/coding.h"
#include "storage/index_dir.h"
#include "storage/keys.h"
#include "storage/posting_format.h"
#include "storage/rocks_util.h"
#include "storage/shard.h"
#include "storage/status.h"
#include "storage/stored_document.h"

namespace scry::storage {
namespace {

namespace fs = std::filesystem;
using internal::FromRocks;

// Readers of a shard being verified share the process's block cache; the
// checks themselves do not fill it.
constexpr size_t kCacheBytes = 8 << 20;

std::string Hex(std::string_view bytes) { return absl::CHexEscape(AsAbsl(bytes)); }

rocksdb::ReadOptions CheckedReads() {
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  read.fill_cache = false;
  return read;
}

// Reads every block of the SST file at `path` against its checksum.
absl::Status CheckSstFile(const std::string& path, const std::string& cf) {
  rocksdb::Options options;
  if (!cf.empty())
    options = rocksdb::Options(rocksdb::DBOptions(), internal::CfOptions(cf, kCacheBytes));
  rocksdb::SstFileReader reader(options);
  rocksdb::Status s = reader.Open(path);
  if (s.ok()) s = reader.VerifyChecksum(CheckedReads());
  return FromRocks(s, "");
}

// Strips FromRocks' empty context (": ") from a message.
std::string Message(const absl::Status& s) {
  std::string_view m(s.message().data(), s.message().size());
  if (m.starts_with(": ")) m.remove_prefix(2);
  return std::string(m);
}

// A shard whose RocksDB is open: walks its column families.
class ShardChecker {
 public:
  ShardChecker(const std::string& label, rocksdb::DB* db,
               const std::vector<rocksdb::ColumnFamilyHandle*>& cfs, const ShardReader& reader,
               VerifyReport* report)
      : label_(label), db_(db), cfs_(cfs), reader_(reader), report_(report) {}

  void CheckLists();
  void CheckDocs();
  // Documents [begin, end) have no `docs` entry: they must have no title.
  void CheckNoTitles(int64_t begin, uint64_t end);

 private:
  // The printable name of a term of field `field`: "apple", "title:apple".
  std::string TermName(uint8_t field, std::string_view term) const {
    const auto& names = reader_.meta().field_names;
    const std::string prefix = field == kTextField    ? ""
                               : field < names.size() ? names[field] + ":"
                                                      : absl::StrCat("#", field, ":");
    return absl::StrCat("\"", prefix, Hex(term), "\"");
  }
  void Problem(std::string_view cf, std::string_view what) {
    report_->Add(absl::StrCat(label_, " ", AsAbsl(cf), " ", AsAbsl(what)));
  }
  // The value of chunk key `key` from `it` (which walks its column family
  // in step with the terms); keys before it belong to no term. False (and a
  // problem) if the chunk is missing.
  bool TakeChunk(rocksdb::Iterator* it, const char* cf, const std::string& key,
                 const std::string& term_name, uint32_t chunk, std::string* value);
  // Reports the keys of `it` before `limit` (all of them if empty) as
  // belonging to no term.
  void SkipOrphans(rocksdb::Iterator* it, const char* cf, const std::string& limit);
  // Checks one list; "" if sound, else what is wrong with it.
  std::string CheckList(uint8_t field, const TermInfo& info,
                        const std::vector<std::string>& posting_chunks,
                        const std::vector<std::string>& position_chunks, uint64_t* postings);

  const std::string& label_;
  rocksdb::DB* db_;
  const std::vector<rocksdb::ColumnFamilyHandle*>& cfs_;
  const ShardReader& reader_;
  VerifyReport* report_;
};

void ShardChecker::SkipOrphans(rocksdb::Iterator* it, const char* cf, const std::string& limit) {
  for (; it->Valid() && (limit.empty() || it->key().compare(limit) < 0); it->Next()) {
    Problem(cf, absl::StrCat("key \"", Hex(std::string_view(it->key().data(), it->key().size())),
                             "\" belongs to no term"));
  }
}

bool ShardChecker::TakeChunk(rocksdb::Iterator* it, const char* cf, const std::string& key,
                             const std::string& term_name, uint32_t chunk, std::string* value) {
  SkipOrphans(it, cf, key);
  if (it->Valid() && it->key() == rocksdb::Slice(key)) {
    value->assign(it->value().data(), it->value().size());
    it->Next();
    return true;
  }
  if (it->status().ok()) Problem(cf, absl::StrCat(term_name, " chunk ", chunk, ": missing"));
  return false;
}

// Whether some impact bounds the posting (tf, dl): tf' >= tf and dl' <= dl.
bool Dominated(const std::vector<Impact>& impacts, uint32_t tf, uint32_t dl) {
  for (const Impact& i : impacts) {
    if (i.tf >= tf && i.dl <= dl) return true;
  }
  return false;
}

std::string ShardChecker::CheckList(uint8_t field, const TermInfo& info,
                                    const std::vector<std::string>& posting_chunks,
                                    const std::vector<std::string>& position_chunks,
                                    uint64_t* postings) {
  const uint64_t doc_count = reader_.meta().doc_count;
  uint32_t docids[kBlockSize], freqs[kBlockSize];
  std::vector<uint32_t> positions;
  std::vector<Impact> block_impacts;
  uint64_t n = 0, total_tf = 0;
  uint32_t max_tf = 0;
  int64_t previous = -1;
  for (size_t c = 0; c < posting_chunks.size(); ++c) {
    absl::StatusOr<PostingChunkView> view = PostingChunkView::Parse(posting_chunks[c]);
    if (!view.ok()) return absl::StrCat("postings chunk ", c, ": ", view.status().message());
    absl::StatusOr<PositionsChunkView> pview = PositionsChunkView::Parse(position_chunks[c]);
    if (!pview.ok()) return absl::StrCat("positions chunk ", c, ": ", pview.status().message());
    if (pview->num_blocks() != view->num_blocks()) {
      return absl::StrCat("chunk ", c, ": ", view->num_blocks(), " posting blocks but ",
                          pview->num_blocks(), " position blocks");
    }
    for (uint32_t b = 0; b < view->num_blocks(); ++b) {
      const BlockHeader header = view->header(b);
      const std::string where = absl::StrCat("chunk ", c, " block ", b);
      absl::Status s = view->DecodeBlock(b, docids, freqs);
      if (!s.ok()) return absl::StrCat(where, ": ", s.message());
      s = view->BlockImpacts(b, &block_impacts);
      if (!s.ok()) return absl::StrCat(where, " impacts: ", s.message());
      s = pview->DecodeBlock(b, freqs, header.count, &positions);
      if (!s.ok()) return absl::StrCat(where, " positions: ", s.message());
      size_t p = 0;
      for (uint32_t i = 0; i < header.count; ++i) {
        const uint32_t docid = docids[i], tf = freqs[i];
        if (static_cast<int64_t>(docid) <= previous) {
          return absl::StrCat(where, ": docid ", docid, " not above ", previous);
        }
        if (docid >= doc_count) {
          return absl::StrCat(where, ": docid ", docid, " not below doc_count ", doc_count);
        }
        if (tf == 0) return absl::StrCat(where, ": docid ", docid, " has tf 0");
        const uint32_t dl = reader_.doc_length(field, docid);
        if (!block_impacts.empty() && !Dominated(block_impacts, tf, dl)) {
          return absl::StrCat(where, ": docid ", docid, " (tf ", tf, ", length ", dl,
                              ") above the block's impacts");
        }
        if (!info.impacts.empty() && !Dominated(info.impacts, tf, dl)) {
          return absl::StrCat(where, ": docid ", docid, " (tf ", tf, ", length ", dl,
                              ") above the list's impacts");
        }
        for (uint32_t k = 1; k < tf; ++k) {
          if (positions[p + k] <= positions[p + k - 1]) {
            return absl::StrCat(where, ": positions of docid ", docid, " not ascending");
          }
        }
        p += tf;
        previous = docid;
        ++n;
        total_tf += tf;
        max_tf = std::max(max_tf, tf);
      }
      if (header.count == 0 || header.last_docid != docids[header.count - 1]) {
        return absl::StrCat(where, ": header's last docid ", header.last_docid,
                            " is not the block's");
      }
    }
    if (!info.is_inline() && c < info.chunk_last_docids.size() &&
        static_cast<int64_t>(info.chunk_last_docids[c]) != previous) {
      return absl::StrCat("chunk ", c, ": ends at docid ", previous, ", the TermInfo says ",
                          info.chunk_last_docids[c]);
    }
  }
  *postings += n;
  if (n != info.df) return absl::StrCat("df ", info.df, " but ", n, " postings");
  if (total_tf != info.total_tf) {
    return absl::StrCat("total tf ", info.total_tf, " but the postings sum to ", total_tf);
  }
  if (max_tf != info.max_tf) return absl::StrCat("max tf ", info.max_tf, " but ", max_tf);
  return "";
}

void ShardChecker::CheckLists() {
  const rocksdb::ReadOptions read = CheckedReads();
  std::unique_ptr<rocksdb::Iterator> terms(db_->NewIterator(read, cfs_[kTermsCfIndex]));
  std::unique_ptr<rocksdb::Iterator> postings(db_->NewIterator(read, cfs_[kPostingsCfIndex]));
  std::unique_ptr<rocksdb::Iterator> positions(db_->NewIterator(read, cfs_[kPositionsCfIndex]));
  postings->SeekToFirst();
  positions->SeekToFirst();
  const ShardMeta& meta = reader_.meta();
  uint64_t term_count = 0, posting_count = 0;
  std::vector<std::string> posting_chunks, position_chunks;
  for (terms->SeekToFirst(); terms->Valid(); terms->Next()) {
    const std::string_view key(terms->key().data(), terms->key().size());
    const uint8_t field = key.empty() ? 0 : static_cast<uint8_t>(key[0]);
    const std::string_view term = key.empty() ? key : key.substr(1);
    const std::string name = TermName(field, term);
    ++report_->terms;
    if (term.empty() || term.find('\0') != std::string_view::npos ||
        field >= meta.field_names.size()) {
      Problem(kTermsCf, absl::StrCat(name, ": not a term of a field of this shard"));
      continue;
    }
    absl::StatusOr<TermInfo> info =
        TermInfo::Decode(std::string_view(terms->value().data(), terms->value().size()));
    if (!info.ok()) {
      Problem(kTermsCf, absl::StrCat(name, ": ", info.status().message()));
      continue;
    }
    posting_chunks.assign(1, "");
    position_chunks.assign(1, "");
    bool whole = true;
    if (info->is_inline()) {
      absl::Status s = ExpandInlinePostings(*info, &posting_chunks[0]);
      if (s.ok()) s = ExpandInlinePositions(*info, &position_chunks[0]);
      if (!s.ok()) {
        Problem(kTermsCf, absl::StrCat(name, ": inline list: ", s.message()));
        continue;
      }
    } else {
      const uint32_t chunks = static_cast<uint32_t>(info->chunk_last_docids.size());
      if (chunks == 0) {
        Problem(kTermsCf, absl::StrCat(name, ": no chunks and not inline"));
        continue;
      }
      posting_chunks.resize(chunks);
      position_chunks.resize(chunks);
      for (uint32_t c = 0; c < chunks; ++c) {
        const std::string chunk_key = ChunkKey(field, term, c);
        whole &= TakeChunk(postings.get(), kPostingsCf, chunk_key, name, c, &posting_chunks[c]);
        whole &= TakeChunk(positions.get(), kPositionsCf, chunk_key, name, c, &position_chunks[c]);
      }
    }
    if (!postings->status().ok() || !positions->status().ok()) break;
    if (!whole) continue;
    uint64_t n = 0;
    const std::string problem = CheckList(field, *info, posting_chunks, position_chunks, &n);
    if (!problem.empty()) Problem(kPostingsCf, absl::StrCat(name, ": ", problem));
    report_->postings += n;
    if (field == kTextField && !IsPairTerm(term)) {
      ++term_count;
      posting_count += info->df;
    }
  }
  bool read_all = true;
  const std::pair<rocksdb::Iterator*, const char*> walked[] = {
      {terms.get(), kTermsCf}, {postings.get(), kPostingsCf}, {positions.get(), kPositionsCf}};
  for (const auto& [it, cf] : walked) {
    if (!it->status().ok()) {
      Problem(cf, absl::StrCat("unreadable: ", Message(FromRocks(it->status(), ""))));
      read_all = false;
    }
  }
  if (!read_all) return;
  SkipOrphans(postings.get(), kPostingsCf, "");
  SkipOrphans(positions.get(), kPositionsCf, "");
  if (term_count != meta.term_count || posting_count != meta.posting_count) {
    Problem(kMetaCf,
            absl::StrCat("term_count ", meta.term_count, " and posting_count ", meta.posting_count,
                         ", but the lists hold ", term_count, " and ", posting_count));
  }
}

void ShardChecker::CheckDocs() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(CheckedReads(), cfs_[kDocsCfIndex]));
  const uint64_t doc_count = reader_.meta().doc_count;
  int64_t previous = -1;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    if (key.size() != 4) {
      Problem(kDocsCf, absl::StrCat("key \"", Hex(key), "\" is not a docid"));
      continue;
    }
    const uint32_t docid = DecodeBigEndian32(key.data());
    if (docid >= doc_count || static_cast<int64_t>(docid) <= previous) {
      Problem(kDocsCf, absl::StrCat("docid ", docid, " out of range or order"));
      continue;
    }
    CheckNoTitles(previous + 1, docid);
    previous = docid;
    absl::StatusOr<StoredDocumentView> doc =
        StoredDocumentView::Parse(std::string_view(it->value().data(), it->value().size()));
    if (!doc.ok()) {
      Problem(kDocsCf, absl::StrCat("docid ", docid, ": ", doc.status().message()));
    } else if (doc->id() != reader_.external_id(docid)) {
      Problem(kDocsCf, absl::StrCat("docid ", docid, ": stored id \"", Hex(doc->id()),
                                    "\" is not the ids column family's \"",
                                    Hex(reader_.external_id(docid)), "\""));
    } else if (reader_.has_titles() && reader_.title(docid) != doc->Field("title")) {
      Problem(kTitlesCf, absl::StrCat("docid ", docid, ": the title is not the stored document's"));
    }
  }
  if (!it->status().ok()) {
    Problem(kDocsCf, absl::StrCat("unreadable: ", Message(FromRocks(it->status(), ""))));
    return;
  }
  CheckNoTitles(previous + 1, doc_count);
}

void ShardChecker::CheckNoTitles(int64_t begin, uint64_t end) {
  if (!reader_.has_titles()) return;
  for (uint64_t d = static_cast<uint64_t>(begin); d < end; ++d) {
    if (!reader_.title(static_cast<uint32_t>(d)).empty()) {
      Problem(kTitlesCf, absl::StrCat("docid ", d, " has a title but no stored document"));
    }
  }
}

// Checks the shard at `path`; *meta gets its meta if it could be read.
absl::StatusOr<VerifyReport> CheckShard(const std::string& path, const std::string& label,
                                        std::optional<ShardMeta>* meta) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return absl::NotFoundError(absl::StrCat("no shard at ", path));
  VerifyReport report;
  report.shards = 1;

  // The files: all there, whole, every block matching its checksum.
  rocksdb::DBOptions db_options;
  db_options.max_open_files = -1;  // opens every file the shard lists
  db_options.info_log_level = rocksdb::InfoLogLevel::ERROR_LEVEL;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;  // null: absent (titles before format 6)
  std::unique_ptr<rocksdb::DB> db;
  absl::Status opened = internal::OpenShardReadOnly(db_options, path, kCacheBytes, &cfs, &db);
  struct Closer {
    rocksdb::DB* db;
    std::vector<rocksdb::ColumnFamilyHandle*>* cfs;
    ~Closer() {
      if (db != nullptr) {
        for (auto* h : *cfs) {
          if (h != nullptr) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
        }
      }
    }
  } closer{db.get(), &cfs};
  if (!opened.ok()) {
    report.Add(absl::StrCat(label, ": cannot open: ", Message(opened)));
    // Say which files are damaged, if any is.
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      if (entry.path().extension() != ".sst") continue;
      ++report.files;
      report.bytes += entry.file_size(ec);
      absl::Status s = CheckSstFile(entry.path().string(), "");
      if (!s.ok()) {
        report.Add(
            absl::StrCat(label, " file ", entry.path().filename().string(), ": ", Message(s)));
      }
    }
    return report;
  }
  std::vector<rocksdb::LiveFileMetaData> files;
  db->GetLiveFilesMetaData(&files);
  for (const rocksdb::LiveFileMetaData& f : files) {
    const std::string file = absl::StrCat(path, "/", f.relative_filename);
    ++report.files;
    report.bytes += f.size;
    const uint64_t size = fs::file_size(file, ec);
    if (ec) {
      report.Add(absl::StrCat(label, " ", f.column_family_name, " file ", f.relative_filename, ": ",
                              ec.message()));
      continue;
    }
    if (size != f.size) {
      report.Add(absl::StrCat(label, " ", f.column_family_name, " file ", f.relative_filename, ": ",
                              size, " bytes, the shard lists ", f.size));
      continue;
    }
    absl::Status s = CheckSstFile(file, f.column_family_name);
    if (!s.ok()) {
      report.Add(absl::StrCat(label, " ", f.column_family_name, " file ", f.relative_filename, ": ",
                              Message(s)));
    }
  }

  // Meta, lengths and ids, as a reader loads them.
  ShardReader::Options reader_options;
  reader_options.block_cache_bytes = kCacheBytes;
  reader_options.memory_dictionary = false;  // the checker reads every list itself
  absl::StatusOr<std::unique_ptr<ShardReader>> reader = ShardReader::Open(path, reader_options);
  if (!reader.ok()) {
    report.Add(absl::StrCat(label, " meta/ids: ", reader.status().message()));
    return report;
  }
  *meta = (*reader)->meta();
  report.docs = (*reader)->meta().doc_count;

  // The lists and stored documents.
  ShardChecker checker(label, db.get(), cfs, **reader, &report);
  checker.CheckLists();
  checker.CheckDocs();
  return report;
}

}  // namespace

void VerifyReport::Add(std::string problem) {
  if (problems.size() < kMaxListed) {
    problems.push_back(std::move(problem));
  } else {
    ++unlisted;
  }
}

void VerifyReport::Merge(const VerifyReport& other) {
  shards += other.shards;
  files += other.files;
  bytes += other.bytes;
  docs += other.docs;
  terms += other.terms;
  postings += other.postings;
  for (const std::string& p : other.problems) Add(p);
  unlisted += other.unlisted;
}

std::string VerifyReport::Summary() const {
  const std::string counts =
      absl::StrFormat("%d shards, %d files (%.1f MB), %d docs, %d lists, %d postings", shards,
                      files, bytes / 1e6, docs, terms, postings);
  if (ok()) return absl::StrCat("ok: ", counts, ", every checksum and list sound");
  return absl::StrCat("DAMAGED: ", num_problems(), num_problems() == 1 ? " problem" : " problems",
                      " in ", counts);
}

absl::StatusOr<VerifyReport> VerifyShard(const std::string& path, const std::string& label) {
  std::optional<ShardMeta> meta;
  return CheckShard(path, label, &meta);
}

absl::StatusOr<VerifyReport> VerifyGeneration(const std::string& generation_path) {
  std::error_code ec;
  if (!fs::is_directory(generation_path, ec)) {
    return absl::NotFoundError(absl::StrCat("no generation at ", generation_path));
  }
  VerifyReport report;
  report.generation_path = generation_path;
  absl::StatusOr<IndexManifest> manifest = ReadManifest(generation_path);
  if (!manifest.ok()) {
    report.Add(absl::StrCat("MANIFEST: ", manifest.status().message()));
    return report;
  }
  uint64_t docs = 0;
  for (uint32_t i = 0; i < manifest->num_shards; ++i) {
    if (manifest->only_shard >= 0 && static_cast<uint32_t>(manifest->only_shard) != i) continue;
    const std::string label = ShardDirName(i);
    std::optional<ShardMeta> meta;
    absl::StatusOr<VerifyReport> shard =
        CheckShard(absl::StrCat(generation_path, "/", label), label, &meta);
    if (!shard.ok()) {
      report.Add(absl::StrCat(label, ": missing"));
      continue;
    }
    report.Merge(*shard);
    if (!meta.has_value()) continue;
    docs += meta->doc_count;
    if (meta->shard_index != i || meta->num_shards != manifest->num_shards ||
        meta->language != manifest->language) {
      report.Add(absl::StrCat(label, " meta: shard ", meta->shard_index, " of ", meta->num_shards,
                              " (", meta->language, "), the MANIFEST says ", i, " of ",
                              manifest->num_shards, " (", manifest->language, ")"));
    }
  }
  if (report.ok() && manifest->only_shard < 0 && docs != manifest->docs) {
    report.Add(absl::StrCat("MANIFEST: ", manifest->docs, " docs, the shards hold ", docs));
  }
  return report;
}

absl::StatusOr<VerifyReport> VerifyIndex(const std::string& dir) {
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<GenerationLease> lease, GenerationLease::AcquireLive(dir));
  return VerifyGeneration(lease->path());
}

}  // namespace scry::storage
