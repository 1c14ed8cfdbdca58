// File: indexer/builder.cc
//
// The streaming bulk build (see builder.h):
//
//   reader (calling thread)     workers (options.threads)          per shard
//   parse + validate a line ──► batch of documents ──► analyse ──► in-memory
//   claim its id (duplicates),  (a bounded queue: back-  invert      inverted index,
//   route to a shard, give it   pressure on the reader)  (parallel)  appended in
//   the shard's next docid                                           batch order
//                                                                        │ over --memory-mb
//                                                       sorted run file ◄┘
//   after the input: per shard, k-way merge of its runs (each run holds a
//   contiguous docid range, so a term's lists concatenate in docid order),
//   on several threads each a range of the keys, a list in several runs
//   encoded piece by piece ──► ShardWriter (SST files of each range,
//   ingested) ──► commit the generation.
//
// Memory: the inverted batches waiting to be appended, the shards'
// in-memory indexes (flushed to a run when all together pass the cap), and
// per document the bytes that every shard needs anyway (its length in each
// field, for BM25 and impacts); ids go into the shard's RocksDB as they
// come, and where each document came from into a file beside the runs.
#include "indexer/builder.h"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <mutex>
#include <queue>
#include <span>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analysis/analyzer.h"
#include "analysis/checkpoints.h"
#include "indexer/input.h"
#include "indexer/jsonl_reader.h"
#include "storage/coding.h"
#include "storage/hash.h"
#include "storage/index_dir.h"
#include "storage/keys.h"
#include "storage/shard.h"
#include "storage/status.h"

namespace scry::indexer {
namespace {

using analysis::Analyzer;
using analysis::AnalyzerOptions;
using analysis::PositionCheckpointsFromTokens;
using analysis::Token;

using Clock = std::chrono::steady_clock;

// Documents per batch handed to a worker, and the text bytes that end a
// batch early.
constexpr size_t kBatchDocs = 256;
constexpr size_t kBatchBytes = 1 << 20;
// Bytes counted per (field, term) list of an in-memory index besides its
// arrays and its slot in the hash map: malloc's header and rounding of the
// three arrays.
constexpr size_t kListOverhead = 3 * 16;

// Calls the progress callback at most every 250 ms.
class Progress {
 public:
  explicit Progress(const BuildOptions& options) : fn_(options.progress) {}
  bool Due() {
    if (!fn_) return false;
    const auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(250)) return false;
    last_ = now;
    return true;
  }
  void Report(const std::string& line) {
    if (fn_) fn_(line);
  }
  double Elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  std::function<void(const std::string&)> fn_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_ = Clock::time_point::min();
};

struct Document {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;  // title, body, rest
  std::vector<uint8_t> field_ids;                           // named field of each member, or 0
};

struct Batch {
  uint32_t shard = 0;
  uint64_t seq = 0;  // per shard, from 0
  uint32_t first_docid = 0;
  std::vector<Document> docs;
  size_t bytes = 0;
};

// A batch analysed: its postings grouped by TermKey(field, term), in flat
// arrays (a few allocations a batch, not three a term), and the per-field
// lengths and stored form of each document.
struct Inverted {
  const Batch* batch = nullptr;
  // Distinct keys in first-seen order. Key k's postings are
  // [ends[k-1], ends[k]) of docids and freqs (docids ascending), and its
  // positions [pos_ends[k-1], pos_ends[k]) of positions (ends[-1] = 0).
  std::vector<std::string> keys;
  std::vector<uint32_t> ends, pos_ends;
  std::vector<uint32_t> docids, freqs, positions;
  std::vector<std::vector<uint32_t>> lengths;  // per document, by field id
  std::vector<storage::StoredDocument> stored;
};

// A posting as the batch is analysed, before grouping by key.
struct RawPosting {
  uint32_t key;  // index into Inverted::keys
  uint32_t docid;
  uint32_t freq;
  uint32_t pos;  // its first position in the raw positions
};

// Appends to `positions` the positions of tokens[order[i]] for i in
// [begin, end) whose field is `field` (every one for the catch-all),
// shifted by -shift[field]; returns how many.
uint32_t AddPositions(const std::vector<Token>& tokens, const std::vector<uint8_t>& fields,
                      const std::vector<uint32_t>& order, size_t begin, size_t end, uint8_t field,
                      const std::vector<uint32_t>& shift, std::vector<uint32_t>* positions) {
  uint32_t freq = 0;
  for (size_t i = begin; i < end; ++i) {
    const uint32_t t = order[i];
    if (field != storage::kTextField && fields[t] != field) continue;
    positions->push_back(tokens[t].position - shift[field]);
    ++freq;
  }
  return freq;
}

// Groups the raw postings of a batch by key into `out` (a counting sort:
// stable, so docids stay ascending within a key).
void GroupByKey(const std::vector<RawPosting>& raw, const std::vector<uint32_t>& raw_positions,
                Inverted* out) {
  const size_t num_keys = out->keys.size();
  std::vector<uint32_t> next(num_keys + 1, 0), pos_next(num_keys + 1, 0);
  for (const RawPosting& r : raw) {
    ++next[r.key + 1];
    pos_next[r.key + 1] += r.freq;
  }
  for (size_t k = 0; k < num_keys; ++k) {
    next[k + 1] += next[k];
    pos_next[k + 1] += pos_next[k];
  }
  out->docids.resize(raw.size());
  out->freqs.resize(raw.size());
  out->positions.resize(raw_positions.size());
  for (const RawPosting& r : raw) {
    const uint32_t at = next[r.key]++;
    out->docids[at] = r.docid;
    out->freqs[at] = r.freq;
    uint32_t* to = out->positions.data() + pos_next[r.key];
    const uint32_t* from = raw_positions.data() + r.pos;
    for (uint32_t i = 0; i < r.freq; ++i) to[i] = from[i];  // mostly 1 or 2: no memmove call
    pos_next[r.key] += r.freq;
  }
  // Each start has moved to its key's end.
  out->ends.assign(next.begin(), next.end() - 1);
  out->pos_ends.assign(pos_next.begin(), pos_next.end() - 1);
}

void Invert(const BuildOptions& options, Analyzer* analyzer, const Batch& batch, Inverted* out) {
  out->batch = &batch;
  std::vector<Token> tokens;
  std::vector<uint8_t> token_fields;  // named field of each token, 0 if none
  std::vector<uint32_t> order;
  absl::flat_hash_map<std::string_view, uint32_t> group_of;  // term -> group
  std::vector<uint32_t> group_id, group_size;
  std::vector<uint32_t> shift;  // first catch-all position of each field
  std::vector<uint8_t> run_fields;
  std::string key;
  absl::flat_hash_map<std::string, uint32_t> key_index;  // key -> index in out->keys
  std::vector<RawPosting> raw;
  std::vector<uint32_t> raw_positions;
  auto add = [&](uint32_t d, size_t a, size_t b, uint8_t f) {
    auto it = key_index.find(key);
    if (it == key_index.end()) {
      it = key_index.emplace(key, static_cast<uint32_t>(out->keys.size())).first;
      out->keys.push_back(key);
    }
    const uint32_t pos = static_cast<uint32_t>(raw_positions.size());
    const uint32_t freq = AddPositions(tokens, token_fields, order, a, b, f, shift, &raw_positions);
    raw.push_back(RawPosting{it->second, d, freq, pos});
  };
  const bool store_all = std::find(options.stored_fields.begin(), options.stored_fields.end(),
                                   "*") != options.stored_fields.end();
  for (size_t i = 0; i < batch.docs.size(); ++i) {
    const Document& doc = batch.docs[i];
    const uint32_t d = batch.first_docid + static_cast<uint32_t>(i);
    tokens.clear();
    token_fields.clear();
    const uint8_t max_field =
        doc.field_ids.empty() ? 0 : *std::max_element(doc.field_ids.begin(), doc.field_ids.end());
    std::vector<uint32_t>& lengths = out->lengths.emplace_back(size_t{max_field} + 1, 0);
    shift.assign(size_t{max_field} + 1, 0);
    storage::StoredDocument& stored = out->stored.emplace_back();
    stored.id = doc.id;
    uint32_t next_position = 0;
    for (size_t m = 0; m < doc.fields.size(); ++m) {
      const std::string& text = doc.fields[m].second;
      const uint32_t start = next_position == 0 ? 0 : next_position + kFieldPositionGap;
      const size_t first_token = tokens.size();
      next_position = analyzer->Analyze(text, start, &tokens);
      const uint8_t f = doc.field_ids[m];
      if (f != storage::kTextField) {
        // A repeated member continues its field after the gap.
        if (lengths[f] == 0) shift[f] = start;
        lengths[f] += static_cast<uint32_t>(tokens.size() - first_token);
      }
      token_fields.resize(tokens.size(), f);
      if (store_all || std::find(options.stored_fields.begin(), options.stored_fields.end(),
                                 doc.fields[m].first) != options.stored_fields.end()) {
        stored.fields.push_back(doc.fields[m]);
        stored.checkpoints.push_back(PositionCheckpointsFromTokens(
            text, absl::Span<const Token>(tokens.data() + first_token, tokens.size() - first_token),
            start, next_position, analyzer));
      }
    }
    lengths[0] = static_cast<uint32_t>(tokens.size());
    // Group the tokens by term (a counting sort on a hash of the terms, in
    // position order within each group: no string sort).
    group_of.clear();
    group_size.clear();
    group_id.resize(tokens.size());
    for (uint32_t t = 0; t < tokens.size(); ++t) {
      auto [it, inserted] =
          group_of.try_emplace(std::string_view(tokens[t].term), uint32_t(group_size.size()));
      if (inserted) group_size.push_back(0);
      group_id[t] = it->second;
      ++group_size[it->second];
    }
    uint32_t at = 0;
    for (uint32_t& n : group_size) {  // sizes become start offsets
      const uint32_t size = n;
      n = at;
      at += size;
    }
    order.resize(tokens.size());
    for (uint32_t t = 0; t < tokens.size(); ++t) order[group_size[group_id[t]]++] = t;
    for (size_t a = 0; a < order.size();) {
      const std::string& term = tokens[order[a]].term;
      const uint32_t group = group_id[order[a]];
      size_t b = a;
      run_fields.clear();
      for (; b < order.size() && group_id[order[b]] == group; ++b) {
        const uint8_t f = token_fields[order[b]];
        if (f != storage::kTextField &&
            std::find(run_fields.begin(), run_fields.end(), f) == run_fields.end()) {
          run_fields.push_back(f);
        }
      }
      for (uint8_t f : run_fields) {
        key = storage::TermKey(f, term);
        add(d, a, b, f);
      }
      key = storage::TermKey(storage::kTextField, term);
      add(d, a, b, storage::kTextField);
      a = b;
    }
  }
  GroupByKey(raw, raw_positions, out);
}

// ---- sorted runs -------------------------------------------------------------
//
// A run file holds the lists of an in-memory index in key order:
//   record := key:lp n:varint32 (docid_delta:varint32){n} (freq:varint32){n}
//             (position_delta:varint32){sum of freqs, restarting per document}
// Runs are temporary (inside the unfinished generation) and read back by the
// merge only; a damaged one fails the build. Beside each file, in memory, a
// mark (key and offset of a record) every kRunMarkBytes lets a merge of a
// range of keys start reading near the range.

constexpr uint64_t kRunMarkBytes = 256 << 10;

struct RunFile {
  struct Mark {
    std::string key;
    uint64_t offset;
  };
  std::string path;
  std::vector<Mark> marks;  // ascending by key and offset; the first record's first
  uint64_t bytes = 0;
};

class RunWriter {
 public:
  static absl::StatusOr<std::unique_ptr<RunWriter>> Open(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return absl::InternalError(absl::StrCat("cannot create run file ", path));
    return std::unique_ptr<RunWriter>(new RunWriter(path, f));
  }
  ~RunWriter() {
    if (file_ != nullptr) std::fclose(file_);
  }
  // Adds the list of `key`, given in pieces (docids ascending across them).
  // REQUIRES: keys strictly ascending across calls.
  absl::Status Add(std::string_view key, std::span<const storage::PostingList* const> pieces) {
    const uint64_t offset = run_.bytes + buffer_.size();
    if (run_.marks.empty() || offset >= run_.marks.back().offset + kRunMarkBytes) {
      run_.marks.push_back(RunFile::Mark{std::string(key), offset});
    }
    storage::PutLengthPrefixed(&buffer_, key);
    size_t n = 0;
    for (const auto* l : pieces) n += l->docids.size();
    storage::PutVarint32(&buffer_, static_cast<uint32_t>(n));
    uint32_t prev = 0;
    for (const auto* l : pieces) {
      for (uint32_t d : l->docids) {
        storage::PutVarint32(&buffer_, d - prev);
        prev = d;
      }
    }
    for (const auto* l : pieces) {
      for (uint32_t f : l->freqs) storage::PutVarint32(&buffer_, f);
    }
    for (const auto* l : pieces) {
      size_t p = 0;
      for (uint32_t f : l->freqs) {
        uint32_t last = 0;
        for (uint32_t k = 0; k < f; ++k, ++p) {
          storage::PutVarint32(&buffer_, l->positions[p] - last);
          last = l->positions[p];
        }
      }
    }
    return buffer_.size() >= (1 << 20) ? Flush() : absl::OkStatus();
  }
  absl::StatusOr<RunFile> Close() {
    SCRY_RETURN_IF_ERROR(Flush());
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (rc != 0) return absl::InternalError(absl::StrCat("cannot write run file ", run_.path));
    return std::move(run_);
  }

 private:
  RunWriter(std::string path, std::FILE* file) : file_(file) { run_.path = std::move(path); }
  absl::Status Flush() {
    if (!buffer_.empty() &&
        std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
      return absl::InternalError(
          absl::StrCat("cannot write run file ", run_.path, " (disk full?)"));
    }
    run_.bytes += buffer_.size();
    buffer_.clear();
    return absl::OkStatus();
  }
  std::FILE* file_;
  RunFile run_;  // bytes: those written to the file so far
  std::string buffer_;
};

// A sorted run being merged: a run file, or the last part of a shard's
// index, still in memory.
class RunSource {
 public:
  virtual ~RunSource() = default;
  virtual bool done() const = 0;
  virtual const std::string& key() const = 0;
  virtual const storage::PostingList& list() const = 0;
  virtual absl::Status Next() = 0;
};

// The records of a run file whose keys are in [lo, hi) (hi empty: to the
// end).
class RunReader : public RunSource {
 public:
  static absl::StatusOr<std::unique_ptr<RunReader>> Open(const RunFile& run, std::string lo = "",
                                                         std::string hi = "") {
    std::FILE* f = std::fopen(run.path.c_str(), "rb");
    if (f == nullptr) return absl::InternalError(absl::StrCat("cannot open run file ", run.path));
    auto reader = std::unique_ptr<RunReader>(new RunReader(run.path, f));
    // Every record of a key >= lo is at or after the last mark of a key <= lo.
    auto after =
        std::upper_bound(run.marks.begin(), run.marks.end(), lo,
                         [](const std::string& k, const RunFile::Mark& m) { return k < m.key; });
    const uint64_t start = after == run.marks.begin() ? 0 : std::prev(after)->offset;
    if (start > 0 && fseeko(f, static_cast<off_t>(start), SEEK_SET) != 0) return reader->Corrupt();
    reader->lo_ = std::move(lo);
    reader->hi_ = std::move(hi);
    SCRY_RETURN_IF_ERROR(reader->Next());
    return reader;
  }
  ~RunReader() override { std::fclose(file_); }
  bool done() const override { return done_; }
  const std::string& key() const override { return key_; }
  const storage::PostingList& list() const override { return list_; }

  // Moves to the next record in range (done() past the range or the file).
  absl::Status Next() override {
    do {
      SCRY_RETURN_IF_ERROR(Read());
    } while (!done_ && key_ < lo_);
    if (!done_ && !hi_.empty() && key_ >= hi_) done_ = true;
    return absl::OkStatus();
  }

 private:
  RunReader(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  absl::Status Corrupt() const {
    return absl::DataLossError(absl::StrCat("run file ", path_, " is damaged"));
  }
  // Reads the next record (done_ at the end of the file).
  absl::Status Read() {
    if (!Fill(16)) {
      if (pos_ == data_.size()) {
        done_ = true;
        return absl::OkStatus();
      }
    }
    uint32_t key_size = 0;
    SCRY_RETURN_IF_ERROR(Varint(&key_size));
    if (!Fill(key_size)) return Corrupt();
    key_.assign(data_, pos_, key_size);
    pos_ += key_size;
    uint32_t n = 0;
    SCRY_RETURN_IF_ERROR(Varint(&n));
    // A long list's buffers go with it, or every reader of every thread
    // would keep the size of the longest record it has seen.
    if (list_.positions.capacity() > kKeptListValues) list_ = storage::PostingList();
    list_.docids.resize(n);
    list_.freqs.resize(n);
    list_.positions.clear();
    uint32_t doc = 0;
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t delta = 0;
      SCRY_RETURN_IF_ERROR(Varint(&delta));
      doc += delta;
      list_.docids[i] = doc;
    }
    for (uint32_t i = 0; i < n; ++i) SCRY_RETURN_IF_ERROR(Varint(&list_.freqs[i]));
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t p = 0;
      for (uint32_t k = 0; k < list_.freqs[i]; ++k) {
        uint32_t delta = 0;
        SCRY_RETURN_IF_ERROR(Varint(&delta));
        p += delta;
        list_.positions.push_back(p);
      }
    }
    return absl::OkStatus();
  }
  // Makes at least `want` bytes available after pos_ if the file has them.
  bool Fill(size_t want) {
    if (data_.size() - pos_ >= want) return true;
    data_.erase(0, pos_);
    pos_ = 0;
    if (data_.capacity() > 4 * kReadBytes && want < kReadBytes) data_.shrink_to_fit();
    char buf[kReadBytes];
    while (data_.size() < want) {
      const size_t got = std::fread(buf, 1, sizeof(buf), file_);
      if (got == 0) break;
      data_.append(buf, got);
    }
    return data_.size() >= want;
  }
  absl::Status Varint(uint32_t* v) {
    Fill(5);
    const char* p = data_.data() + pos_;
    const char* end = storage::GetVarint32Ptr(p, data_.data() + data_.size(), v);
    if (end == nullptr) return Corrupt();
    pos_ += static_cast<size_t>(end - p);
    return absl::OkStatus();
  }
  static constexpr size_t kReadBytes = 1 << 16;
  static constexpr size_t kKeptListValues = 1 << 16;
  std::string path_;
  std::FILE* file_;
  std::string lo_, hi_;
  std::string data_;
  size_t pos_ = 0;
  std::string key_;
  storage::PostingList list_;
  bool done_ = false;
};

using Lists = absl::flat_hash_map<std::string, storage::PostingList>;
using ListEntry = Lists::value_type;

// The entries of an in-memory index in key order.
std::vector<const ListEntry*> SortedEntries(const Lists& lists) {
  std::vector<const ListEntry*> entries;
  entries.reserve(lists.size());
  for (const auto& e : lists) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  return entries;
}

// Sorted entries of an in-memory index as a run (the lists are not copied).
class MemoryRun : public RunSource {
 public:
  explicit MemoryRun(std::span<const ListEntry* const> entries) : entries_(entries) {}
  bool done() const override { return at_ == entries_.size(); }
  const std::string& key() const override { return entries_[at_]->first; }
  const storage::PostingList& list() const override { return entries_[at_]->second; }
  absl::Status Next() override {
    ++at_;
    return absl::OkStatus();
  }

 private:
  std::span<const ListEntry* const> entries_;
  size_t at_ = 0;
};

// ---- per-shard state -----------------------------------------------------------

struct SourcePos {
  uint32_t file;  // index into the expanded inputs
  uint32_t line;  // 1-based (documents past line 2^32 report it modulo that)
};

// Where each docid of a shard came from, for the message of a duplicate
// id: 8 bytes a document in a file beside the runs, not in memory.
class SourceLog {
 public:
  ~SourceLog() {
    if (fd_ >= 0) close(fd_);
  }
  absl::Status Open(const std::string& path) {
    path_ = path;
    fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return absl::InternalError(absl::StrCat("cannot create ", path));
    return absl::OkStatus();
  }
  // The position of the next docid.
  absl::Status Append(SourcePos pos) {
    storage::PutFixed32(&buffer_, pos.file);
    storage::PutFixed32(&buffer_, pos.line);
    return buffer_.size() >= (64 << 10) ? Flush() : absl::OkStatus();
  }
  absl::StatusOr<SourcePos> Get(uint32_t docid) {
    SCRY_RETURN_IF_ERROR(Flush());
    char b[8];
    if (pread(fd_, b, sizeof(b), off_t{docid} * 8) != sizeof(b)) {
      return absl::InternalError(absl::StrCat("cannot read ", path_));
    }
    return SourcePos{storage::DecodeFixed32(b), storage::DecodeFixed32(b + 4)};
  }

 private:
  absl::Status Flush() {
    for (size_t done = 0; done < buffer_.size();) {
      const ssize_t n = write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n <= 0) return absl::InternalError(absl::StrCat("cannot write ", path_, " (disk full?)"));
      done += static_cast<size_t>(n);
    }
    buffer_.clear();
    return absl::OkStatus();
  }
  std::string path_;
  int fd_ = -1;
  std::string buffer_;
};

struct ShardState {
  std::mutex mu;
  std::condition_variable turn;  // next_seq changed
  uint64_t next_seq = 0;         // the batch to append next
  uint32_t next_docid = 0;       // given by the reader
  std::unique_ptr<storage::ShardWriter> writer;
  Lists lists;                // the in-memory index
  size_t bytes = 0;           // its estimated size
  std::vector<RunFile> runs;  // in docid order
  uint32_t next_run = 0;      // names the next run file
  SourceLog sources;
  std::string run_dir;
  uint8_t declared_fields = 0;  // named fields declared to the writer so far
};

size_t ListBytes(const storage::PostingList& l) {
  return 4 * (l.docids.capacity() + l.freqs.capacity() + l.positions.capacity());
}

// Writes shard `s`'s in-memory index as a sorted run and empties it.
absl::Status FlushRun(ShardState* s) {
  if (s->lists.empty()) return absl::OkStatus();
  const std::string path = absl::StrCat(s->run_dir, "/run-", s->next_run++);
  SCRY_ASSIGN_OR_RETURN(auto writer, RunWriter::Open(path));
  for (const ListEntry* e : SortedEntries(s->lists)) {
    const storage::PostingList* list = &e->second;
    SCRY_RETURN_IF_ERROR(writer->Add(e->first, std::span(&list, 1)));
  }
  SCRY_ASSIGN_OR_RETURN(RunFile run, writer->Close());
  s->runs.push_back(std::move(run));
  Lists().swap(s->lists);
  s->bytes = 0;
  // The lists were allocated and freed by several threads: give the freed
  // pages back, or glibc keeps them in its arenas and the resident size
  // grows past the cap with every run.
  malloc_trim(0);
  return absl::OkStatus();
}

// Merges `runs` (in docid order) term by term, calling emit(key, pieces)
// for each key in key order, with the key's lists in the runs that hold it,
// in docid order (valid until emit returns).
template <class Emit>
absl::Status MergeSources(std::vector<std::unique_ptr<RunSource>> runs, Emit emit) {
  // Min-heap of run indexes by (key, run index): equal keys come out in run
  // order, which is docid order.
  auto later = [&](size_t a, size_t b) {
    const int c = runs[a]->key().compare(runs[b]->key());
    return c != 0 ? c > 0 : a > b;
  };
  std::priority_queue<size_t, std::vector<size_t>, decltype(later)> heap(later);
  for (size_t i = 0; i < runs.size(); ++i) {
    if (!runs[i]->done()) heap.push(i);
  }
  std::vector<size_t> holders;  // the runs at the current key
  std::vector<const storage::PostingList*> pieces;
  while (!heap.empty()) {
    holders.assign(1, heap.top());
    heap.pop();
    const std::string& key = runs[holders[0]]->key();
    while (!heap.empty() && runs[heap.top()]->key() == key) {
      holders.push_back(heap.top());
      heap.pop();
    }
    pieces.clear();
    for (size_t i : holders) {
      const storage::PostingList& l = runs[i]->list();
      if (!pieces.empty() && !l.docids.empty() && !pieces.back()->docids.empty() &&
          l.docids.front() <= pieces.back()->docids.back()) {
        return absl::InternalError("runs out of docid order");
      }
      pieces.push_back(&l);
    }
    SCRY_RETURN_IF_ERROR(emit(key, std::span<const storage::PostingList* const>(pieces)));
    for (size_t i : holders) {
      SCRY_RETURN_IF_ERROR(runs[i]->Next());
      if (!runs[i]->done()) heap.push(i);
    }
  }
  return absl::OkStatus();
}

// Readers of the records of `runs` in [lo, hi) (RunReader::Open).
absl::StatusOr<std::vector<std::unique_ptr<RunSource>>> OpenRuns(std::span<const RunFile> runs,
                                                                 const std::string& lo = "",
                                                                 const std::string& hi = "") {
  std::vector<std::unique_ptr<RunSource>> sources;
  for (const RunFile& run : runs) {
    SCRY_ASSIGN_OR_RETURN(auto reader, RunReader::Open(run, lo, hi));
    sources.push_back(std::move(reader));
  }
  return sources;
}

// Runs merged at once: past this, groups of runs are first merged into
// longer runs, so that the open files and read buffers stay bounded.
constexpr size_t kMaxMergeFanIn = 64;

// At most parts - 1 keys, ascending, that cut the keys of `runs` and
// `entries` together into ranges [split[p-1], split[p]) holding about as many
// bytes of postings as each other. Run files are weighed by their marks, the
// in-memory lists by the bytes their records would take.
std::vector<std::string> SplitKeys(const std::vector<RunFile>& runs,
                                   std::span<const ListEntry* const> entries, unsigned parts) {
  if (parts <= 1) return {};
  std::vector<std::pair<std::string_view, uint64_t>> samples;  // key, bytes from it
  for (const RunFile& run : runs) {
    for (size_t m = 0; m < run.marks.size(); ++m) {
      const uint64_t end = m + 1 < run.marks.size() ? run.marks[m + 1].offset : run.bytes;
      samples.emplace_back(run.marks[m].key, end - run.marks[m].offset);
    }
  }
  // Every 16th in-memory list, weighed with the 15 after it.
  for (size_t i = 0; i < entries.size(); i += 16) {
    uint64_t bytes = 0;
    for (size_t j = i; j < std::min(entries.size(), i + 16); ++j) {
      const storage::PostingList& l = entries[j]->second;
      bytes += entries[j]->first.size() + 2 * l.docids.size() + l.positions.size() + 2;
    }
    samples.emplace_back(entries[i]->first, bytes);
  }
  std::sort(samples.begin(), samples.end());
  uint64_t total = 0;
  for (const auto& s : samples) total += s.second;
  std::vector<std::string> splits;
  uint64_t before = 0;  // bytes of the samples before samples[i]
  for (size_t i = 0; i < samples.size() && splits.size() + 1 < parts; ++i) {
    if (i > 0 && before * parts >= total * (splits.size() + 1) &&
        (splits.empty() ? samples[i].first > samples[0].first : samples[i].first > splits.back())) {
      splits.emplace_back(samples[i].first);
    }
    before += samples[i].second;
  }
  return splits;
}

// Writes shard `s`'s lists, its runs and its in-memory index merged, on
// `parts` threads: each merges a range of the key order (SplitKeys) and
// encodes and writes it to files of its own (ShardWriter::SetListParts).
// Empties the shard's in-memory index and removes its runs.
absl::Status MergeRuns(ShardState* s, unsigned parts, uint64_t* postings, uint64_t* terms) {
  while (s->runs.size() + 1 > kMaxMergeFanIn) {
    const std::string path = absl::StrCat(s->run_dir, "/run-", s->next_run++);
    SCRY_ASSIGN_OR_RETURN(auto writer, RunWriter::Open(path));
    SCRY_ASSIGN_OR_RETURN(auto sources,
                          OpenRuns(std::span<const RunFile>(s->runs).first(kMaxMergeFanIn)));
    SCRY_RETURN_IF_ERROR(MergeSources(
        std::move(sources),
        [&](const std::string& key, std::span<const storage::PostingList* const> pieces) {
          return writer->Add(key, pieces);
        }));
    SCRY_ASSIGN_OR_RETURN(RunFile merged, writer->Close());
    for (size_t i = 0; i < kMaxMergeFanIn; ++i) std::remove(s->runs[i].path.c_str());
    // The merged run covers the group's docids, which come first.
    s->runs.erase(s->runs.begin(), s->runs.begin() + kMaxMergeFanIn);
    s->runs.insert(s->runs.begin(), std::move(merged));
  }
  const std::vector<const ListEntry*> entries = SortedEntries(s->lists);
  const std::vector<std::string> splits = SplitKeys(s->runs, entries, parts);
  const size_t n = splits.size() + 1;
  SCRY_RETURN_IF_ERROR(s->writer->SetListParts(n));
  std::vector<absl::Status> status(n);
  std::vector<uint64_t> part_postings(n, 0), part_terms(n, 0);
  auto merge = [&](size_t p) -> absl::Status {
    const std::string lo = p == 0 ? std::string() : splits[p - 1];
    const std::string hi = p + 1 < n ? splits[p] : std::string();
    SCRY_ASSIGN_OR_RETURN(auto sources, OpenRuns(s->runs, lo, hi));
    auto by_key = [](const ListEntry* e, const std::string& k) { return e->first < k; };
    const auto begin = std::lower_bound(entries.begin(), entries.end(), lo, by_key);
    const auto end =
        hi.empty() ? entries.end() : std::lower_bound(entries.begin(), entries.end(), hi, by_key);
    sources.push_back(std::make_unique<MemoryRun>(std::span<const ListEntry* const>(
        entries.data() + (begin - entries.begin()), static_cast<size_t>(end - begin))));
    auto emit = [&](const std::string& key,
                    std::span<const storage::PostingList* const> pieces) -> absl::Status {
      const uint8_t field = static_cast<uint8_t>(key[0]);
      const std::string_view term = std::string_view(key).substr(1);
      uint64_t n_postings = 0;
      if (pieces.size() == 1) {
        // In one run only (most keys): encoded whole, without a copy.
        n_postings = pieces[0]->docids.size();
        SCRY_RETURN_IF_ERROR(s->writer->AddPostingList(field, term, *pieces[0], p));
      } else {
        // In several: encoded and stored piece by piece, so that the long
        // lists of a large build are never whole in memory.
        SCRY_ASSIGN_OR_RETURN(auto list, s->writer->StartList(field, term, p));
        for (const storage::PostingList* piece : pieces) {
          SCRY_RETURN_IF_ERROR(list->Add(*piece));
          n_postings += piece->docids.size();
        }
        SCRY_RETURN_IF_ERROR(list->Finish());
      }
      if (field == storage::kTextField) {
        part_postings[p] += n_postings;
        ++part_terms[p];
      }
      return absl::OkStatus();
    };
    return MergeSources(std::move(sources), emit);
  };
  std::vector<std::thread> threads;
  for (size_t p = 1; p < n; ++p) threads.emplace_back([&, p] { status[p] = merge(p); });
  status[0] = merge(0);
  for (auto& t : threads) t.join();
  for (size_t p = 0; p < n; ++p) {
    SCRY_RETURN_IF_ERROR(status[p]);
    *postings += part_postings[p];
    *terms += part_terms[p];
  }
  for (const RunFile& run : s->runs) std::remove(run.path.c_str());
  s->runs.clear();
  Lists().swap(s->lists);
  std::error_code ec;
  std::filesystem::remove_all(s->run_dir, ec);
  return absl::OkStatus();
}

uint64_t DirectoryBytes(const std::string& path) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(path, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

// ---- the build -------------------------------------------------------------------

class Build {
 public:
  Build(const BuildOptions& options, const Analyzer& analyzer, storage::IndexBuild* build)
      : options_(options), analyzer_(analyzer), build_(build), progress_(options) {
    threads_ = options.threads != 0 ? options.threads : std::thread::hardware_concurrency();
    threads_ = std::max(1u, threads_);
    memory_cap_ = static_cast<size_t>(std::max<uint64_t>(options.memory_mb, 1)) << 20;
    all_fields_ = std::find(options.index_fields.begin(), options.index_fields.end(), "*") !=
                  options.index_fields.end();
  }

  absl::StatusOr<BuildSummary> Run() {
    SCRY_RETURN_IF_ERROR(ValidateFields());
    SCRY_ASSIGN_OR_RETURN(const storage::BlockCodec* docid_codec,
                          storage::CodecByName(options_.docid_codec));
    SCRY_ASSIGN_OR_RETURN(const storage::BlockCodec* freq_codec,
                          storage::CodecByName(options_.freq_codec));
    SCRY_ASSIGN_OR_RETURN(const storage::BlockCodec* positions_codec,
                          storage::CodecByName(options_.positions_codec));
    shards_.resize(options_.num_shards);
    for (uint32_t s = 0; s < options_.num_shards; ++s) {
      if (options_.only_shard < 0 || static_cast<uint32_t>(options_.only_shard) == s) {
        built_.push_back(s);
      }
    }
    for (uint32_t s : built_) {
      shards_[s] = std::make_unique<ShardState>();
      storage::ShardWriterOptions writer_options;
      writer_options.codecs = {docid_codec, freq_codec, positions_codec};
      SCRY_ASSIGN_OR_RETURN(shards_[s]->writer,
                            storage::ShardWriter::Create(build_->ShardPath(s), writer_options));
      shards_[s]->run_dir = build_->ShardPath(s) + ".runs";
      std::error_code ec;
      std::filesystem::create_directories(shards_[s]->run_dir, ec);
      if (ec) return absl::InternalError(absl::StrCat("cannot create ", shards_[s]->run_dir));
      SCRY_RETURN_IF_ERROR(shards_[s]->sources.Open(shards_[s]->run_dir + "/sources"));
    }
    pending_.resize(options_.num_shards);
    next_seq_.resize(options_.num_shards, 0);
    for (unsigned t = 0; t < threads_; ++t) workers_.emplace_back([this] { Work(); });
    absl::Status read = ReadInputs();
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      for (uint32_t s : built_) {
        if (read.ok() && !pending_[s].docs.empty()) Submit(std::move(pending_[s]), &lock);
      }
      closed_ = true;
    }
    queue_cv_.notify_all();
    for (auto& w : workers_) w.join();
    summary_.invert_seconds = progress_.Elapsed();
    SCRY_RETURN_IF_ERROR(read);
    SCRY_RETURN_IF_ERROR(FirstError());
    if (summary_.docs + summary_.other_shards == 0) {
      return absl::InvalidArgumentError("no valid documents in the input");
    }

    // Merge each shard's runs (shards in parallel, up to threads_).
    std::atomic<uint32_t> next{0};
    std::atomic<uint32_t> merged{0};
    std::vector<std::thread> mergers;
    std::mutex sum_mu;
    const uint32_t num_built = static_cast<uint32_t>(built_.size());
    for (unsigned t = 0; t < std::min<unsigned>(threads_, num_built); ++t) {
      mergers.emplace_back([&] {
        for (uint32_t i; (i = next.fetch_add(1)) < num_built;) {
          const uint32_t s = built_[i];
          uint64_t postings = 0, terms = 0;
          absl::Status status = FinishShard(s, &postings, &terms);
          std::lock_guard<std::mutex> lock(sum_mu);
          if (!status.ok()) SetError(status);
          summary_.postings += postings;
          summary_.terms += terms;
          ++merged;
        }
      });
    }
    while (merged.load() < num_built && FirstError().ok()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (progress_.Due()) {
        progress_.Report(absl::StrFormat("merging runs: %d of %d shards written, %.0f s",
                                         merged.load(), num_built, progress_.Elapsed()));
      }
    }
    for (auto& m : mergers) m.join();
    SCRY_RETURN_IF_ERROR(FirstError());

    storage::IndexManifest manifest;
    manifest.format_version = storage::kFormatVersion;
    manifest.num_shards = options_.num_shards;
    manifest.language = analyzer_.language();
    manifest.stopwords = analyzer_.stopwords();
    manifest.docs = summary_.docs;
    manifest.only_shard = options_.only_shard;
    SCRY_RETURN_IF_ERROR(build_->Commit(manifest));
    SCRY_ASSIGN_OR_RETURN(summary_.generation_path, storage::LiveGeneration(options_.index_dir));
    summary_.index_bytes = DirectoryBytes(summary_.generation_path);
    summary_.runs = runs_written_.load();
    summary_.seconds = progress_.Elapsed();
    return summary_;
  }

 private:
  absl::Status ValidateFields() {
    if (all_fields_) return absl::OkStatus();
    for (const std::string& name : options_.index_fields) {
      if (!storage::IsFieldName(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", name,
                         "\" cannot be an indexed field: a name is a letter or '_' then letters, "
                         "digits or '_'"));
      }
      SCRY_RETURN_IF_ERROR(FieldId(name).status());
    }
    return absl::OkStatus();
  }

  // The named field id of member `name` (0: catch-all only), assigned at
  // first sight. Reader thread only.
  absl::StatusOr<uint8_t> FieldId(const std::string& name) {
    auto it = field_ids_.find(name);
    if (it != field_ids_.end()) return it->second;
    const bool wanted = all_fields_
                            ? storage::IsFieldName(name)
                            : std::find(options_.index_fields.begin(), options_.index_fields.end(),
                                        name) != options_.index_fields.end();
    if (!wanted) {
      field_ids_.emplace(name, storage::kTextField);
      return storage::kTextField;
    }
    std::lock_guard<std::mutex> lock(fields_mu_);
    if (declared_names_.size() + 1 >= storage::kMaxFields) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the input has more than ", storage::kMaxFields - 1,
          " distinct members, more than the fields an index can have; choose some with "
          "--index-fields"));
    }
    declared_names_.push_back(name);
    const uint8_t id = static_cast<uint8_t>(declared_names_.size());
    field_ids_.emplace(name, id);
    return id;
  }

  absl::Status ReadInputs() {
    SCRY_ASSIGN_OR_RETURN(const std::vector<InputFile> files, ExpandInputs(options_.inputs));
    uint64_t raw_before = 0;
    uint64_t uncompressed = 0;
    uint64_t total_bytes = 0;  // for the ETA; 0 if any input is a pipe
    for (const InputFile& file : files) {
      std::error_code ec;
      const auto size = file.path == "-" ? 0 : std::filesystem::file_size(file.path, ec);
      if (ec || file.path == "-") {
        total_bytes = 0;
        break;
      }
      total_bytes += size;
    }
    InputDocument in;
    for (uint32_t file_index = 0; file_index < files.size(); ++file_index) {
      const InputFile& file = files[file_index];
      SCRY_ASSIGN_OR_RETURN(auto reader, OpenDocuments(file, options_.max_document_bytes));
      for (;;) {
        SCRY_RETURN_IF_ERROR(FirstError());
        absl::Status s = reader->Next(&in);
        if (absl::IsOutOfRange(s)) break;
        uint32_t shard = 0;
        bool ours = true;
        if (s.ok()) {
          shard = storage::ShardForId(in.id, options_.num_shards);
          ours = shards_[shard] != nullptr;
          if (ours) {
            ShardState& st = *shards_[shard];
            uint32_t earlier = 0;
            s = st.writer->ClaimId(in.id, st.next_docid, &earlier);
            if (absl::IsAlreadyExists(s)) {
              absl::StatusOr<SourcePos> first_or = st.sources.Get(earlier);
              if (!first_or.ok()) return first_or.status();
              const SourcePos& first = *first_or;
              s = absl::InvalidArgumentError(
                  absl::StrCat(file.path, ":", in.line, ": duplicate id \"", in.id,
                               "\" (first seen at ", files[first.file].path, ":", first.line, ")"));
            } else if (s.ok()) {
              s = st.sources.Append(SourcePos{file_index, static_cast<uint32_t>(in.line)});
            }
          }
        }
        if (absl::IsInvalidArgument(s) && options_.skip_invalid) {
          ++summary_.skipped;
          if (options_.warn) options_.warn(absl::StrCat(s.message(), " (skipped)"));
          continue;
        }
        SCRY_RETURN_IF_ERROR(s);
        if (ours) {
          uncompressed += DocumentBytes(in);
          SCRY_RETURN_IF_ERROR(Route(shard, std::move(in)));
          ++summary_.docs;
        } else {
          // Another shard's document: its members still number the fields,
          // so that every shard built alone numbers them as a whole build.
          for (const auto& f : in.fields) SCRY_RETURN_IF_ERROR(FieldId(f.first).status());
          ++summary_.other_shards;
        }
        if (progress_.Due()) {
          const uint64_t bytes = raw_before + reader->raw_bytes();
          const double secs = progress_.Elapsed();
          const uint64_t seen = summary_.docs + summary_.other_shards;
          std::string line = absl::StrFormat("indexing: %d docs, %.1f MB read, %.0f docs/s", seen,
                                             bytes / 1e6, seen / std::max(secs, 1e-9));
          if (total_bytes > bytes && bytes > 0) {
            absl::StrAppendFormat(&line, ", %.0f%%, ETA %.0f s", 100.0 * bytes / total_bytes,
                                  secs * static_cast<double>(total_bytes - bytes) / bytes);
          }
          absl::StrAppendFormat(&line, ", %d runs, %.0f MB in memory", runs_written_.load(),
                                memory_used_.load() / 1e6);
          progress_.Report(line);
        }
      }
      raw_before += reader->raw_bytes();
    }
    summary_.input_bytes = raw_before;
    summary_.text_bytes = uncompressed;
    return absl::OkStatus();
  }

  static uint64_t DocumentBytes(const InputDocument& doc) {
    uint64_t n = doc.id.size();
    for (const auto& f : doc.fields) n += f.second.size();
    return n;
  }

  // Gives the document its shard's next docid and adds it to the shard's
  // pending batch, submitting the batch when it is full.
  absl::Status Route(uint32_t shard, InputDocument in) {
    Document doc;
    doc.id = std::move(in.id);
    doc.fields = std::move(in.fields);
    // Title first, then body, then the rest in input order.
    std::stable_sort(doc.fields.begin(), doc.fields.end(), [](const auto& a, const auto& b) {
      auto rank = [](const std::string& name) {
        return name == "title" ? 0 : name == "body" ? 1 : 2;
      };
      return rank(a.first) < rank(b.first);
    });
    size_t bytes = doc.id.size();
    for (const auto& f : doc.fields) {
      SCRY_ASSIGN_OR_RETURN(uint8_t id, FieldId(f.first));
      doc.field_ids.push_back(id);
      bytes += f.second.size();
    }
    ShardState& st = *shards_[shard];
    Batch& batch = pending_[shard];
    if (batch.docs.empty()) {
      batch.shard = shard;
      batch.seq = next_seq_[shard]++;
      batch.first_docid = st.next_docid;
    }
    ++st.next_docid;
    batch.docs.push_back(std::move(doc));
    batch.bytes += bytes;
    if (batch.docs.size() >= kBatchDocs || batch.bytes >= kBatchBytes) {
      std::unique_lock<std::mutex> lock(queue_mu_);
      Submit(std::move(batch), &lock);
      batch = Batch();
    }
    return absl::OkStatus();
  }

  // Queues a batch, waiting while the queue is full (back-pressure).
  template <class Lock>
  void Submit(Batch batch, Lock* lock) {
    queue_space_.wait(*lock, [&] { return queue_.size() < 2 * threads_ || !errors_.empty(); });
    queue_.push_back(std::make_unique<Batch>(std::move(batch)));
    queue_cv_.notify_one();
  }
  void Submit(Batch batch, std::lock_guard<std::mutex>* /*lock*/) {
    // At the end of the input: the workers drain the queue without limit.
    queue_.push_back(std::make_unique<Batch>(std::move(batch)));
    queue_cv_.notify_one();
  }

  void Work() {
    std::unique_ptr<Analyzer> analyzer = analyzer_.Clone();
    if (analyzer == nullptr) {
      SetError(absl::ResourceExhaustedError("cannot create an analyzer"));
      return;
    }
    for (;;) {
      std::unique_ptr<Batch> batch;
      {
        std::unique_lock<std::mutex> lock(queue_mu_);
        queue_cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
        if (queue_.empty()) return;
        batch = std::move(queue_.front());
        queue_.pop_front();
      }
      queue_space_.notify_one();
      if (!FirstError().ok()) continue;  // drain without work after an error
      Inverted inverted;
      Invert(options_, analyzer.get(), *batch, &inverted);
      absl::Status s = Append(&inverted);
      if (!s.ok()) SetError(s);
    }
  }

  // Appends an inverted batch to its shard's in-memory index, in batch
  // order, and writes its stored documents; flushes a run when the shards'
  // indexes together pass the memory cap.
  absl::Status Append(Inverted* inv) {
    const Batch& batch = *inv->batch;
    ShardState& st = *shards_[batch.shard];
    std::unique_lock<std::mutex> lock(st.mu);
    st.turn.wait(lock, [&] { return st.next_seq == batch.seq || !FirstError().ok(); });
    if (st.next_seq != batch.seq) return absl::OkStatus();  // stopping after an error
    absl::Status status = AppendLocked(inv, &st);
    ++st.next_seq;
    st.turn.notify_all();
    return status;
  }

  absl::Status AppendLocked(Inverted* inv, ShardState* st) {
    const Batch& batch = *inv->batch;
    // Fields first seen in this batch: declare them to the writer.
    {
      std::lock_guard<std::mutex> lock(fields_mu_);
      while (st->declared_fields < declared_names_.size()) {
        const uint8_t id = ++st->declared_fields;
        SCRY_RETURN_IF_ERROR(st->writer->DeclareField(id, declared_names_[id - 1]));
      }
    }
    for (size_t i = 0; i < batch.docs.size(); ++i) {
      SCRY_RETURN_IF_ERROR(st->writer->AddDocument(batch.first_docid + static_cast<uint32_t>(i),
                                                   inv->stored[i], inv->lengths[i]));
    }
    size_t added = 0;
    const size_t slots_before = st->lists.capacity();
    for (size_t k = 0; k < inv->keys.size(); ++k) {
      auto [it, inserted] = st->lists.try_emplace(std::move(inv->keys[k]));
      storage::PostingList& to = it->second;
      const size_t before = ListBytes(to);
      if (inserted) {
        // A key past the short-string buffer has a heap block of its own.
        added += kListOverhead + (it->first.capacity() > 15 ? it->first.capacity() + 17 : 0);
      }
      const uint32_t b = k == 0 ? 0 : inv->ends[k - 1], e = inv->ends[k];
      const uint32_t pb = k == 0 ? 0 : inv->pos_ends[k - 1], pe = inv->pos_ends[k];
      to.docids.insert(to.docids.end(), inv->docids.begin() + b, inv->docids.begin() + e);
      to.freqs.insert(to.freqs.end(), inv->freqs.begin() + b, inv->freqs.begin() + e);
      to.positions.insert(to.positions.end(), inv->positions.begin() + pb,
                          inv->positions.begin() + pe);
      added += ListBytes(to) - before;
    }
    // The map's slot array (a slot and a control byte per capacity).
    added += (st->lists.capacity() - slots_before) * (sizeof(Lists::value_type) + 1);
    st->bytes += added;
    const size_t total = memory_used_.fetch_add(added) + added;
    if (total > memory_cap_) {
      const size_t freed = st->bytes;
      SCRY_RETURN_IF_ERROR(FlushRun(st));
      memory_used_.fetch_sub(freed);
      ++runs_written_;
    }
    return absl::OkStatus();
  }

  absl::Status FinishShard(uint32_t s, uint64_t* postings, uint64_t* terms) {
    ShardState& st = *shards_[s];
    {
      std::lock_guard<std::mutex> lock(fields_mu_);
      while (st.declared_fields < declared_names_.size()) {
        const uint8_t id = ++st.declared_fields;
        SCRY_RETURN_IF_ERROR(st.writer->DeclareField(id, declared_names_[id - 1]));
      }
    }
    // The in-memory index is merged as it is, without a last run file; the
    // threads left over by the shards merged at the same time take parts.
    const unsigned parts =
        std::max<unsigned>(1, threads_ / static_cast<unsigned>(std::max<size_t>(1, built_.size())));
    SCRY_RETURN_IF_ERROR(MergeRuns(&st, parts, postings, terms));
    memory_used_.fetch_sub(st.bytes);
    storage::ShardMeta meta;
    meta.shard_index = s;
    meta.num_shards = options_.num_shards;
    meta.language = analyzer_.language();
    SCRY_RETURN_IF_ERROR(st.writer->Finish(meta));
    st.writer.reset();
    return absl::OkStatus();
  }

  void SetError(const absl::Status& s) {
    {
      std::lock_guard<std::mutex> lock(error_mu_);
      errors_.push_back(s);
    }
    queue_space_.notify_all();
    for (auto& st : shards_) {
      if (st != nullptr) st->turn.notify_all();
    }
  }
  absl::Status FirstError() {
    std::lock_guard<std::mutex> lock(error_mu_);
    return errors_.empty() ? absl::OkStatus() : errors_.front();
  }

  const BuildOptions& options_;
  const Analyzer& analyzer_;
  storage::IndexBuild* build_;
  Progress progress_;
  unsigned threads_ = 1;
  size_t memory_cap_ = 0;
  bool all_fields_ = true;
  BuildSummary summary_;

  // Reader thread only.
  absl::flat_hash_map<std::string, uint8_t> field_ids_;
  std::vector<Batch> pending_;      // per shard
  std::vector<uint64_t> next_seq_;  // per shard

  std::vector<uint32_t> built_;                      // the shards this build writes
  std::vector<std::unique_ptr<ShardState>> shards_;  // by shard; null if not built
  std::atomic<size_t> memory_used_{0};
  std::atomic<uint32_t> runs_written_{0};

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;     // a batch was queued, or closed_
  std::condition_variable queue_space_;  // a batch was taken
  std::deque<std::unique_ptr<Batch>> queue_;
  bool closed_ = false;
  std::vector<std::thread> workers_;

  std::mutex fields_mu_;
  std::vector<std::string>
      declared_names_;  // names of field ids 1, 2, ... (assigned by the reader)

  std::mutex error_mu_;
  std::vector<absl::Status> errors_;
};

}  // namespace

absl::StatusOr<BuildSummary> BuildIndex(const BuildOptions& options) {
  if (options.inputs.empty()) return absl::InvalidArgumentError("no input files given");
  if (options.index_dir.empty()) return absl::InvalidArgumentError("no index directory given");
  if (options.num_shards == 0 || options.num_shards > 1024) {
    return absl::InvalidArgumentError("the number of shards must be between 1 and 1024");
  }
  if (options.only_shard >= static_cast<int64_t>(options.num_shards) || options.only_shard < -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard ", options.only_shard, " is not one of 0..", options.num_shards - 1));
  }
  // Blocks of 1 MiB and more (the long lists of the in-memory index, the
  // hash map's slots) straight from mmap, returned to the system when freed.
  // glibc's default threshold rises to the largest block freed, after which
  // such blocks come from the heap and pin its pages: peak RSS at 3M
  // documents and --memory-mb 64 was 314 MiB with it, 217 MiB with this.
  static std::once_flag malloc_tuned;
  std::call_once(malloc_tuned, [] { mallopt(M_MMAP_THRESHOLD, 1 << 20); });
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<Analyzer> analyzer,
                        Analyzer::Create(AnalyzerOptions{options.language, options.stopwords}));
  SCRY_RETURN_IF_ERROR(storage::CodecByName(options.docid_codec).status());
  SCRY_RETURN_IF_ERROR(storage::CodecByName(options.freq_codec).status());
  SCRY_RETURN_IF_ERROR(storage::CodecByName(options.positions_codec).status());
  // Take the directory lock before the (long) read, so that a concurrent
  // build fails at once.
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<storage::IndexBuild> build,
                        storage::IndexBuild::Begin(options.index_dir));
  Build run(options, *analyzer, build.get());
  return run.Run();
}

}  // namespace scry::indexer
