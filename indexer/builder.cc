// File: indexer/builder.cc
//
// The streaming bulk build (see builder.h), as a pipeline:
//
//   reader (calling thread)     workers (options.threads)          per shard
//   parse + validate a line ──► batch of documents ──► Invert ───► MemoryIndex
//   claim its id (duplicates:   (a bounded queue: back-  (inverter.h) appended in
//   SourceLog), route to a      pressure on the reader)              batch order
//   shard, give it the shard's                                           │ over --memory-mb
//   next docid                                          SpillRun ◄───────┘
//                                                       (run_file.h)
//   after the input: per shard, MergeRuns (merge.h) of its runs and its
//   in-memory rest, on the threads the shards leave over ──► ShardWriter
//   (SST files of each key range, ingested) ──► commit the generation.
//
// This file holds the reading, routing, field numbering, threads, batch
// ordering and commit; inversion, the in-memory index, the run-file format
// and the merge are in the files named above.
//
// Memory: the inverted batches waiting to be appended, the shards'
// in-memory indexes (spilled to a run when all together pass the cap), and
// per document the bytes that every shard needs anyway (its length in each
// field, for BM25 and impacts); ids go into the shard's RocksDB as they
// come, and where each document came from into a file beside the runs.
#include "indexer/builder.h"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analysis/analyzer.h"
#include "indexer/input.h"
#include "indexer/inverter.h"
#include "indexer/jsonl_reader.h"
#include "indexer/memory_index.h"
#include "indexer/merge.h"
#include "indexer/progress.h"
#include "indexer/reorder.h"
#include "indexer/source_log.h"
#include "storage/hash.h"
#include "storage/index_dir.h"
#include "storage/keys.h"
#include "storage/shard.h"
#include "storage/status.h"

namespace scry::indexer {
namespace {

using analysis::Analyzer;
using analysis::AnalyzerOptions;

// Documents per batch handed to a worker, and the text bytes that end a
// batch early.
constexpr size_t kBatchDocs = 256;
constexpr size_t kBatchBytes = 1 << 20;

struct ShardState {
  std::mutex mu;
  std::condition_variable turn;  // next_seq changed
  uint64_t next_seq = 0;         // the batch to append next
  uint32_t next_docid = 0;       // given by the reader
  std::unique_ptr<storage::ShardWriter> writer;
  MemoryIndex memory;  // the in-memory index
  ShardRuns runs;      // written past the memory cap
  SourceLog sources;
  uint8_t declared_fields = 0;                    // named fields declared to the writer so far
  std::vector<storage::DocValuesColumn> columns;  // by numeric field (Build::typed_fields_)
};

// The block codecs named by `options`; InvalidArgument for an unknown name.
absl::StatusOr<storage::PostingCodecs> CodecsByName(const BuildOptions& options) {
  storage::PostingCodecs codecs;
  SCRY_ASSIGN_OR_RETURN(codecs.docids, storage::CodecByName(options.docid_codec));
  SCRY_ASSIGN_OR_RETURN(codecs.freqs, storage::CodecByName(options.freq_codec));
  SCRY_ASSIGN_OR_RETURN(codecs.positions, storage::CodecByName(options.positions_codec));
  return codecs;
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
  Build(const BuildOptions& options, const storage::PostingCodecs& codecs, const Analyzer& analyzer,
        storage::IndexBuild* build)
      : options_(options),
        codecs_(codecs),
        analyzer_(analyzer),
        build_(build),
        progress_(options.progress) {
    threads_ = options.threads != 0 ? options.threads : std::thread::hardware_concurrency();
    threads_ = std::max(1u, threads_);
    memory_cap_ = static_cast<size_t>(std::max<uint64_t>(options.memory_mb, 1)) << 20;
    all_fields_ = std::find(options.index_fields.begin(), options.index_fields.end(), "*") !=
                  options.index_fields.end();
    for (const auto& [name, type] : options.schema.typed()) {
      typed_fields_.emplace_back(name, type);
      num_numeric_ += storage::IsNumeric(type) ? 1 : 0;
    }
  }

  absl::StatusOr<BuildSummary> Run() {
    SCRY_RETURN_IF_ERROR(ValidateFields());
    shards_.resize(options_.num_shards);
    for (uint32_t s = 0; s < options_.num_shards; ++s) {
      if (options_.only_shard < 0 || static_cast<uint32_t>(options_.only_shard) == s) {
        built_.push_back(s);
      }
    }
    for (uint32_t s : built_) {
      shards_[s] = std::make_unique<ShardState>();
      shards_[s]->columns.resize(num_numeric_);
      storage::ShardWriterOptions writer_options;
      writer_options.codecs = codecs_;
      writer_options.pair_min_df = options_.pair_min_df;
      writer_options.pairs_need_both = options_.pairs_need_both;
      writer_options.env = options_.env;
      SCRY_ASSIGN_OR_RETURN(shards_[s]->writer,
                            storage::ShardWriter::Create(build_->ShardPath(s), writer_options));
      const std::string& run_dir = shards_[s]->runs.dir = build_->ShardPath(s) + ".runs";
      shards_[s]->runs.env = options_.env;
      std::error_code ec;
      std::filesystem::create_directories(run_dir, ec);
      if (ec) return absl::InternalError(absl::StrCat("cannot create ", run_dir));
      SCRY_RETURN_IF_ERROR(shards_[s]->sources.Open(run_dir + "/sources", options_.env));
    }
    pending_.resize(options_.num_shards);
    next_seq_.resize(options_.num_shards, 0);
    common_ready_ = options_.common_terms == 0;
    if (!common_ready_) {
      sample_analyzer_ = analyzer_.Clone();
      if (sample_analyzer_ == nullptr)
        return absl::ResourceExhaustedError("cannot create an analyzer");
    }
    for (unsigned t = 0; t < threads_; ++t) workers_.emplace_back([this] { Work(); });
    absl::Status read = ReadInputs();
    if (read.ok() && !common_ready_) ChooseCommonTerms();  // a sample of the whole input
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
    std::condition_variable merged_cv;  // a shard was written (or failed)
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
          merged_cv.notify_all();
        }
      });
    }
    {
      // Woken as each shard is written (so a small build does not wait out
      // a poll), and every 50 ms for the progress report.
      std::unique_lock<std::mutex> lock(sum_mu);
      while (merged.load() < num_built && FirstError().ok()) {
        merged_cv.wait_for(lock, std::chrono::milliseconds(50));
        if (progress_.Due()) {
          progress_.Report(absl::StrFormat("merging runs: %d of %d shards written, %.0f s",
                                           merged.load(), num_built, progress_.Elapsed()));
        }
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
    if (!typed_fields_.empty()) manifest.schema = options_.schema.ToJson();
    // Every build, a part's too, gets an id of its own: nothing here tells
    // that two builds read the same input (files change in place), so two
    // builds are never taken for one.
    manifest.build_id = options_.build_id.empty() ? storage::NewBuildId() : options_.build_id;
    SCRY_RETURN_IF_ERROR(build_->Commit(manifest));
    summary_.build_id = manifest.build_id;
    SCRY_ASSIGN_OR_RETURN(summary_.generation_path, storage::LiveGeneration(options_.index_dir));
    summary_.index_bytes = DirectoryBytes(summary_.generation_path);
    summary_.runs = runs_written_.load();
    summary_.seconds = progress_.Elapsed();
    return summary_;
  }

 private:
  absl::Status ValidateFields() {
    // Keyword fields are numbered first, in name order, so every part of an
    // index numbers them alike whatever the input holds.
    for (const auto& [name, type] : typed_fields_) {
      if (type != storage::FieldType::kKeyword) continue;
      if (!storage::IsFieldName(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("keyword field \"", name,
                         "\" is not a field name: a letter or '_' then letters, digits or '_'"));
      }
      SCRY_RETURN_IF_ERROR(FieldId(name, /*keyword=*/true).status());
    }
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
  absl::StatusOr<uint8_t> FieldId(const std::string& name, bool keyword = false) {
    auto it = field_ids_.find(name);
    if (it != field_ids_.end()) return it->second;
    const bool wanted = keyword || all_fields_
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
    ExpandOptions expand;
    expand.follow_symlinks = options_.follow_symlinks;
    std::vector<std::string> notes;
    SCRY_ASSIGN_OR_RETURN(const std::vector<InputFile> files,
                          ExpandInputs(options_.inputs, expand, &notes));
    if (options_.warn) {
      for (const std::string& note : notes) options_.warn(note);
    }
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
      SCRY_ASSIGN_OR_RETURN(auto reader,
                            OpenDocuments(file, options_.max_document_bytes, &options_.schema));
      for (;;) {
        SCRY_RETURN_IF_ERROR(FirstError());
        absl::Status s = reader->Next(&in);
        if (absl::IsOutOfRange(s)) break;
        uint32_t shard = 0;
        bool ours = true;
        // Every parsed document is in the sample, a duplicate id too, so
        // that parts (which see only their own duplicates) sample alike.
        if (s.ok() && !common_ready_) Sample(in);
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
    OrderMembers(&doc.fields);
    SCRY_RETURN_IF_ERROR(AddTypedMembers(
        in.typed, typed_fields_, [this](const std::string& name) { return FieldId(name); }, &doc));
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
      if (common_ready_) {
        std::unique_lock<std::mutex> lock(queue_mu_);
        Submit(std::move(batch), &lock);
      } else {
        held_.push_back(std::move(batch));  // inverted once the pairs are known
      }
      batch = Batch();
    }
    return absl::OkStatus();
  }

  // Counts the documents holding each term of `doc`, until the sample is
  // complete; then chooses the common terms.
  void Sample(const InputDocument& doc) {
    sample_terms_.clear();
    for (const auto& f : doc.fields) {
      sample_tokens_.clear();
      sample_analyzer_->Analyze(f.second, 0, &sample_tokens_);
      for (auto& t : sample_tokens_) sample_terms_.insert(std::move(t.term));
    }
    for (const std::string& term : sample_terms_) ++sample_df_[term];
    sample_bytes_ += DocumentBytes(doc);
    if (sample_bytes_ >= options_.pair_sample_bytes) ChooseCommonTerms();
  }

  // The common terms: the options_.common_terms terms of the sample found
  // in the most documents (at least 2; ties in byte order). Then the
  // batches held back until now go to the workers.
  void ChooseCommonTerms() {
    std::vector<std::pair<uint32_t, std::string>> by_df;
    for (auto& [term, df] : sample_df_) {
      if (df >= 2) by_df.emplace_back(df, term);
    }
    const size_t n = std::min<size_t>(options_.common_terms, by_df.size());
    std::partial_sort(by_df.begin(), by_df.begin() + n, by_df.end(),
                      [](const auto& a, const auto& b) {
                        return a.first != b.first ? a.first > b.first : a.second < b.second;
                      });
    for (size_t i = 0; i < n; ++i) common_list_.push_back(by_df[i].second);
    std::sort(common_list_.begin(), common_list_.end());
    pairs_.common.insert(common_list_.begin(), common_list_.end());
    pairs_.need_both = options_.pairs_need_both;
    absl::flat_hash_map<std::string, uint32_t>().swap(sample_df_);
    common_ready_ = true;
    for (Batch& batch : held_) {
      std::unique_lock<std::mutex> lock(queue_mu_);
      Submit(std::move(batch), &lock);
    }
    std::vector<Batch>().swap(held_);
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
      // Batches are queued only once pairs_ is chosen (and no longer changes).
      Invert(options_.stored_fields, analyzer.get(), *batch, &inverted, &pairs_);
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
    SCRY_RETURN_IF_ERROR(DeclareNewFields(st));  // those first seen in this batch
    for (size_t i = 0; i < batch.docs.size(); ++i) {
      SCRY_RETURN_IF_ERROR(st->writer->AddDocument(batch.first_docid + static_cast<uint32_t>(i),
                                                   inv->stored[i], inv->lengths[i]));
      for (size_t c = 0; c < st->columns.size(); ++c) {
        st->columns[c].Add(batch.docs[i].numeric[c]);
      }
    }
    const size_t added = st->memory.Append(inv);
    const size_t total = memory_used_.fetch_add(added) + added;
    if (total > memory_cap_) {
      const size_t freed = st->memory.bytes();
      SCRY_RETURN_IF_ERROR(SpillRun(&st->memory, &st->runs));
      memory_used_.fetch_sub(freed);
      ++runs_written_;
    }
    return absl::OkStatus();
  }

  absl::Status FinishShard(uint32_t s, uint64_t* postings, uint64_t* terms) {
    ShardState& st = *shards_[s];
    SCRY_RETURN_IF_ERROR(DeclareNewFields(&st));
    // The in-memory index is merged as it is, without a last run file; the
    // threads left over by the shards merged at the same time take parts.
    const unsigned parts =
        std::max<unsigned>(1, threads_ / static_cast<unsigned>(std::max<size_t>(1, built_.size())));
    const size_t in_memory = st.memory.bytes();
    SCRY_RETURN_IF_ERROR(MergeRuns(&st.runs, &st.memory, parts, st.writer.get(), postings, terms));
    memory_used_.fetch_sub(in_memory);
    storage::ShardMeta meta;
    meta.shard_index = s;
    meta.num_shards = options_.num_shards;
    meta.language = analyzer_.language();
    meta.common_terms = common_list_;
    meta.typed_fields = typed_fields_;
    SCRY_RETURN_IF_ERROR(SetDocValues(typed_fields_, std::move(st.columns), st.writer.get()));
    SCRY_RETURN_IF_ERROR(st.writer->Finish(meta));
    st.writer.reset();
    if (options_.reorder == "bp") SCRY_RETURN_IF_ERROR(Reorder(s, parts));
    return absl::OkStatus();
  }

  // Reorders shard `s` (written) on `threads` threads.
  absl::Status Reorder(uint32_t s, unsigned threads) {
    ReorderOptions reorder;
    reorder.codecs = codecs_;
    reorder.env = options_.env;
    reorder.bisection.threads = threads;
    // Shards merged at once are reordered at once: each keeps to its share
    // of the memory cap. The share counts every shard of the index, not the
    // threads or the shards of this part, so that the order (which depends
    // on it only if it is reached) is the same in every build of the index.
    reorder.max_forward_bytes = memory_cap_ / options_.num_shards;
    reorder.write_threads = threads;
    SCRY_ASSIGN_OR_RETURN(const ReorderSummary done, ReorderShard(build_->ShardPath(s), reorder));
    std::lock_guard<std::mutex> lock(reorder_mu_);
    summary_.reorder_seconds += done.read_seconds + done.bisect_seconds + done.write_seconds;
    summary_.bisection_seconds += done.bisect_seconds;
    summary_.shards_reordered += done.reordered ? 1 : 0;
    summary_.reorder_cost_before += done.cost_before;
    summary_.reorder_cost_after += done.cost_after;
    return absl::OkStatus();
  }

  // Declares to shard `st`'s writer the named fields numbered since the
  // last call.
  absl::Status DeclareNewFields(ShardState* st) {
    std::lock_guard<std::mutex> lock(fields_mu_);
    while (st->declared_fields < declared_names_.size()) {
      const uint8_t id = ++st->declared_fields;
      SCRY_RETURN_IF_ERROR(st->writer->DeclareField(id, declared_names_[id - 1]));
    }
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
  const storage::PostingCodecs codecs_;
  const Analyzer& analyzer_;
  storage::IndexBuild* build_;
  Progress progress_;
  unsigned threads_ = 1;
  size_t memory_cap_ = 0;
  bool all_fields_ = true;
  // options_.schema's fields by name, and how many of them are numeric.
  std::vector<std::pair<std::string, storage::FieldType>> typed_fields_;
  size_t num_numeric_ = 0;
  BuildSummary summary_;

  // Reader thread only.
  absl::flat_hash_map<std::string, uint8_t> field_ids_;
  // The sample that chooses the common terms (Sample), and the batches held
  // back until they are chosen.
  bool common_ready_ = false;
  std::unique_ptr<Analyzer> sample_analyzer_;
  std::vector<analysis::Token> sample_tokens_;
  absl::flat_hash_set<std::string> sample_terms_;
  absl::flat_hash_map<std::string, uint32_t> sample_df_;
  uint64_t sample_bytes_ = 0;
  std::vector<Batch> held_;
  // Chosen before any batch is queued, read-only after.
  PairTerms pairs_;
  std::vector<std::string> common_list_;  // sorted
  std::vector<Batch> pending_;            // per shard
  std::vector<uint64_t> next_seq_;        // per shard

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

  std::mutex reorder_mu_;  // guards summary_'s reorder figures
};

}  // namespace

absl::StatusOr<BuildSummary> BuildIndex(const BuildOptions& options) {
  if (options.inputs.empty()) return absl::InvalidArgumentError("no input files given");
  if (options.index_dir.empty()) return absl::InvalidArgumentError("no index directory given");
  if (options.num_shards == 0 || options.num_shards > 1024) {
    return absl::InvalidArgumentError("the number of shards must be between 1 and 1024");
  }
  if (options.pair_min_df < 1 || options.pair_min_df > 8192) {
    return absl::InvalidArgumentError("pair_min_df must be between 1 and 8192");
  }
  if (options.reorder != "none" && options.reorder != "bp") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown document order \"", options.reorder, "\" (none or bp)"));
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
  SCRY_ASSIGN_OR_RETURN(const storage::PostingCodecs codecs, CodecsByName(options));
  // Take the directory lock before the (long) read, so that a concurrent
  // build fails at once.
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<storage::IndexBuild> build,
                        storage::IndexBuild::Begin(options.index_dir, options.env));
  Build run(options, codecs, *analyzer, build.get());
  return run.Run();
}

}  // namespace scry::indexer
