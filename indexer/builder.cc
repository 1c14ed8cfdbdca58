// File: indexer/builder.cc
//
// The foundation pipeline (bounded-memory, streaming builds come later):
//   1. read and validate every input line, routing documents to shards;
//   2. per shard: sort documents by id (docid order = id order), analyse and
//      invert them on all threads (each thread a contiguous docid range, so
//      the per-thread lists concatenate in docid order), write the shard;
//   3. commit the generation.
#include "indexer/builder.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <span>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "indexer/analyzer.h"
#include "indexer/checkpoints.h"
#include "indexer/jsonl_reader.h"
#include "storage/hash.h"
#include "storage/index_dir.h"
#include "storage/keys.h"
#include "storage/shard.h"
#include "storage/status.h"

namespace scry::indexer {
namespace {

using Clock = std::chrono::steady_clock;

struct ParsedDoc {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;
};

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

struct SourcePos {
  uint32_t input;
  uint64_t line;
};

absl::Status ReadInputs(const BuildOptions& options, Progress* progress,
                        std::vector<std::vector<ParsedDoc>>* shards, BuildSummary* summary) {
  absl::flat_hash_map<std::string, SourcePos> seen;
  uint64_t bytes_before = 0;
  // Total input size for the ETA (0 if any input is a pipe).
  uint64_t total_bytes = 0;
  for (const auto& path : options.inputs) {
    std::error_code ec;
    const auto size = path == "-" ? 0 : std::filesystem::file_size(path, ec);
    if (ec || size == 0) {
      total_bytes = 0;
      break;
    }
    total_bytes += size;
  }
  for (uint32_t input = 0; input < options.inputs.size(); ++input) {
    const std::string& path = options.inputs[input];
    SCRY_ASSIGN_OR_RETURN(auto reader, JsonlReader::Open(path, options.max_document_bytes));
    InputDocument doc;
    for (;;) {
      absl::Status s = reader->Next(&doc);
      if (absl::IsOutOfRange(s)) break;
      if (s.ok()) {
        auto [it, inserted] = seen.try_emplace(doc.id, SourcePos{input, doc.line});
        if (!inserted) {
          s = absl::InvalidArgumentError(
              absl::StrCat(path, ":", doc.line, ": duplicate id \"", doc.id, "\" (first seen at ",
                           options.inputs[it->second.input], ":", it->second.line, ")"));
        }
      }
      if (absl::IsInvalidArgument(s) && options.skip_invalid) {
        ++summary->skipped;
        if (options.warn) options.warn(absl::StrCat(s.message(), " (skipped)"));
        continue;
      }
      SCRY_RETURN_IF_ERROR(s);
      const uint32_t shard = storage::ShardForId(doc.id, options.num_shards);
      // Title first, then body, then the rest in input order.
      std::stable_sort(doc.fields.begin(), doc.fields.end(), [](const auto& a, const auto& b) {
        auto rank = [](const std::string& name) {
          return name == "title" ? 0 : name == "body" ? 1 : 2;
        };
        return rank(a.first) < rank(b.first);
      });
      (*shards)[shard].push_back(ParsedDoc{std::move(doc.id), std::move(doc.fields)});
      ++summary->docs;
      if (progress->Due()) {
        const uint64_t bytes = bytes_before + reader->bytes_read();
        const double secs = progress->Elapsed();
        std::string line = absl::StrFormat("reading: %d docs, %.1f MB, %.0f docs/s", summary->docs,
                                           bytes / 1e6, summary->docs / std::max(secs, 1e-9));
        if (total_bytes > bytes && bytes > 0) {
          absl::StrAppendFormat(&line, ", %.0f%%, reading ETA %.0f s", 100.0 * bytes / total_bytes,
                                secs * static_cast<double>(total_bytes - bytes) / bytes);
        }
        progress->Report(line);
      }
    }
    bytes_before += reader->bytes_read();
  }
  summary->input_bytes = bytes_before;
  if (summary->docs == 0) return absl::InvalidArgumentError("no valid documents in the input");
  return absl::OkStatus();
}

struct Partial {
  // Keyed by storage::TermKey(field, term), so that sorting the keys orders
  // the lists by field, then term, as the shard writer wants them.
  absl::flat_hash_map<std::string, storage::PostingList> terms;
  std::vector<uint32_t> lengths;  // per document of the range, num_fields each
  // Per document of the range, per member: its position checkpoints.
  std::vector<std::vector<std::vector<uint32_t>>> checkpoints;
};

// Appends document d's posting to `list`: the positions of tokens[order[i]]
// for i in [begin, end) whose field is `field` (every one for the
// catch-all), shifted by -shift[field].
void AddPosting(uint32_t d, const std::vector<Token>& tokens, const std::vector<uint8_t>& fields,
                const std::vector<uint32_t>& order, size_t begin, size_t end, uint8_t field,
                const std::vector<uint32_t>& shift, storage::PostingList* list) {
  list->docids.push_back(d);
  uint32_t freq = 0;
  for (size_t i = begin; i < end; ++i) {
    const uint32_t t = order[i];
    if (field != storage::kTextField && fields[t] != field) continue;
    list->positions.push_back(tokens[t].position - shift[field]);
    ++freq;
  }
  list->freqs.push_back(freq);
}

// Analyses docs[begin, end) (docids begin..end-1) into *out. `field_ids`
// maps a member name to its named field id (members not in it are in the
// catch-all only); num_fields counts the catch-all.
void InvertRange(Analyzer* analyzer, const std::vector<ParsedDoc>& docs, size_t begin, size_t end,
                 const absl::flat_hash_map<std::string, uint8_t>& field_ids, size_t num_fields,
                 Partial* out) {
  std::vector<Token> tokens;
  std::vector<uint8_t> token_fields;  // named field of each token, 0 if none
  std::vector<uint32_t> order;
  std::vector<uint32_t> shift(num_fields);  // first catch-all position of each field
  std::vector<uint8_t> run_fields;
  std::string key;
  for (size_t d = begin; d < end; ++d) {
    tokens.clear();
    token_fields.clear();
    const size_t lengths_at = out->lengths.size();
    out->lengths.resize(lengths_at + num_fields, 0);
    std::fill(shift.begin(), shift.end(), 0);
    uint32_t next_position = 0;
    auto& checkpoints = out->checkpoints.emplace_back();
    for (const auto& field : docs[d].fields) {
      const uint32_t start = next_position == 0 ? 0 : next_position + kFieldPositionGap;
      const size_t first_token = tokens.size();
      next_position = analyzer->Analyze(field.second, start, &tokens);
      checkpoints.push_back(PositionCheckpointsFromTokens(
          field.second,
          absl::Span<const Token>(tokens.data() + first_token, tokens.size() - first_token), start,
          next_position, analyzer));
      auto it = field_ids.find(field.first);
      const uint8_t f = it == field_ids.end() ? storage::kTextField : it->second;
      if (f != storage::kTextField) {
        // A repeated member continues its field after the gap.
        if (out->lengths[lengths_at + f] == 0) shift[f] = start;
        out->lengths[lengths_at + f] += static_cast<uint32_t>(tokens.size() - first_token);
      }
      token_fields.resize(tokens.size(), f);
    }
    out->lengths[lengths_at] = static_cast<uint32_t>(tokens.size());
    order.resize(tokens.size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return tokens[a].term < tokens[b].term; });
    for (size_t i = 0; i < order.size();) {
      const std::string& term = tokens[order[i]].term;
      size_t j = i;
      run_fields.clear();
      for (; j < order.size() && tokens[order[j]].term == term; ++j) {
        const uint8_t f = token_fields[order[j]];
        if (f != storage::kTextField &&
            std::find(run_fields.begin(), run_fields.end(), f) == run_fields.end()) {
          run_fields.push_back(f);
        }
      }
      for (uint8_t f : run_fields) {
        key = storage::TermKey(f, term);
        AddPosting(static_cast<uint32_t>(d), tokens, token_fields, order, i, j, f, shift,
                   &out->terms[key]);
      }
      key = storage::TermKey(storage::kTextField, term);
      AddPosting(static_cast<uint32_t>(d), tokens, token_fields, order, i, j, storage::kTextField,
                 shift, &out->terms[key]);
      i = j;
    }
  }
}

absl::Status BuildShard(const BuildOptions& options, uint32_t shard_index,
                        std::vector<ParsedDoc>* docs, const Analyzer& analyzer,
                        const std::vector<std::string>& field_names, storage::IndexBuild* build,
                        Progress* progress, BuildSummary* summary) {
  absl::flat_hash_map<std::string, uint8_t> field_ids;
  for (size_t i = 0; i < field_names.size(); ++i) {
    field_ids[field_names[i]] = static_cast<uint8_t>(i + 1);
  }
  const size_t num_fields = field_names.size() + 1;
  std::sort(docs->begin(), docs->end(),
            [](const ParsedDoc& a, const ParsedDoc& b) { return a.id < b.id; });
  unsigned threads = options.threads != 0 ? options.threads : std::thread::hardware_concurrency();
  threads = std::max(1u, std::min<unsigned>(threads, std::max<size_t>(1, docs->size() / 64)));
  std::vector<Partial> partials(threads);
  {
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t) {
      const size_t begin = docs->size() * t / threads;
      const size_t end = docs->size() * (t + 1) / threads;
      workers.emplace_back([&, t, begin, end] {
        std::unique_ptr<Analyzer> local = analyzer.Clone();
        InvertRange(local.get(), *docs, begin, end, field_ids, num_fields, &partials[t]);
      });
    }
    for (auto& w : workers) w.join();
  }
  progress->Report(absl::StrFormat("shard %d/%d: writing", shard_index + 1, options.num_shards));

  SCRY_ASSIGN_OR_RETURN(const storage::BlockCodec* docid_codec,
                        storage::CodecByName(options.docid_codec));
  SCRY_ASSIGN_OR_RETURN(const storage::BlockCodec* freq_codec,
                        storage::CodecByName(options.freq_codec));
  SCRY_ASSIGN_OR_RETURN(const storage::BlockCodec* positions_codec,
                        storage::CodecByName(options.positions_codec));
  storage::ShardWriterOptions writer_options;
  writer_options.codecs = {docid_codec, freq_codec, positions_codec};
  writer_options.field_names = field_names;
  SCRY_ASSIGN_OR_RETURN(
      auto writer, storage::ShardWriter::Create(build->ShardPath(shard_index), writer_options));
  const bool store_all = std::find(options.stored_fields.begin(), options.stored_fields.end(),
                                   "*") != options.stored_fields.end();
  uint32_t docid = 0;
  for (Partial& p : partials) {
    for (size_t at = 0; at < p.lengths.size(); at += num_fields) {
      storage::StoredDocument stored;
      ParsedDoc& doc = (*docs)[docid];
      auto& checkpoints = p.checkpoints[at / num_fields];
      stored.id = std::move(doc.id);
      for (size_t i = 0; i < doc.fields.size(); ++i) {
        if (store_all || std::find(options.stored_fields.begin(), options.stored_fields.end(),
                                   doc.fields[i].first) != options.stored_fields.end()) {
          stored.fields.push_back(std::move(doc.fields[i]));
          stored.checkpoints.push_back(std::move(checkpoints[i]));
        }
      }
      checkpoints = {};
      SCRY_RETURN_IF_ERROR(writer->AddDocument(
          docid, stored, std::span<const uint32_t>(p.lengths.data() + at, num_fields)));
      ++docid;
    }
  }
  docs->clear();
  docs->shrink_to_fit();

  // Merge the per-thread lists term by term, in term order.
  std::vector<std::string> terms;
  for (const Partial& p : partials) {
    for (const auto& [term, list] : p.terms) terms.push_back(term);
  }
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
  storage::PostingList merged;
  for (const std::string& term : terms) {
    merged.docids.clear();
    merged.freqs.clear();
    merged.positions.clear();
    for (Partial& p : partials) {
      auto it = p.terms.find(term);
      if (it == p.terms.end()) continue;
      const storage::PostingList& l = it->second;
      merged.docids.insert(merged.docids.end(), l.docids.begin(), l.docids.end());
      merged.freqs.insert(merged.freqs.end(), l.freqs.begin(), l.freqs.end());
      merged.positions.insert(merged.positions.end(), l.positions.begin(), l.positions.end());
      p.terms.erase(it);
    }
    const uint8_t field = static_cast<uint8_t>(term[0]);
    SCRY_RETURN_IF_ERROR(writer->AddPostingList(field, std::string_view(term).substr(1), merged));
    if (field == storage::kTextField) {
      summary->postings += merged.docids.size();
      ++summary->terms;
    }
  }
  storage::ShardMeta meta;
  meta.shard_index = shard_index;
  meta.num_shards = options.num_shards;
  meta.language = analyzer.language();
  return writer->Finish(meta);
}

// The named fields of the index, sorted: the members chosen by
// options.index_fields that occur in the input.
absl::StatusOr<std::vector<std::string>> ChooseFields(
    const BuildOptions& options, const std::vector<std::vector<ParsedDoc>>& shards) {
  const bool all = std::find(options.index_fields.begin(), options.index_fields.end(), "*") !=
                   options.index_fields.end();
  std::set<std::string> names;
  if (all) {
    for (const auto& docs : shards) {
      for (const ParsedDoc& doc : docs) {
        for (const auto& field : doc.fields) {
          if (storage::IsFieldName(field.first)) names.insert(field.first);
        }
      }
    }
  } else {
    for (const std::string& name : options.index_fields) {
      if (!storage::IsFieldName(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", name,
                         "\" cannot be an indexed field: a name is a letter or '_' then letters, "
                         "digits or '_'"));
      }
      names.insert(name);
    }
  }
  if (names.size() >= storage::kMaxFields) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the input has ", names.size(), " distinct members, more than the ",
        storage::kMaxFields - 1, " fields an index can have; choose some with --index-fields"));
  }
  return std::vector<std::string>(names.begin(), names.end());
}

uint64_t DirectoryBytes(const std::string& path) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(path, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

}  // namespace

absl::StatusOr<BuildSummary> BuildIndex(const BuildOptions& options) {
  if (options.inputs.empty()) return absl::InvalidArgumentError("no input files given");
  if (options.index_dir.empty()) return absl::InvalidArgumentError("no index directory given");
  if (options.num_shards == 0 || options.num_shards > 1024) {
    return absl::InvalidArgumentError("the number of shards must be between 1 and 1024");
  }
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<Analyzer> analyzer,
                        Analyzer::Create(AnalyzerOptions{options.language, options.stopwords}));
  SCRY_RETURN_IF_ERROR(storage::CodecByName(options.docid_codec).status());
  SCRY_RETURN_IF_ERROR(storage::CodecByName(options.freq_codec).status());
  SCRY_RETURN_IF_ERROR(storage::CodecByName(options.positions_codec).status());
  // Take the directory lock before the (long) read, so that a concurrent
  // build fails at once.
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<storage::IndexBuild> build,
                        storage::IndexBuild::Begin(options.index_dir));
  Progress progress(options);
  BuildSummary summary;
  std::vector<std::vector<ParsedDoc>> shards(options.num_shards);
  SCRY_RETURN_IF_ERROR(ReadInputs(options, &progress, &shards, &summary));
  SCRY_ASSIGN_OR_RETURN(const std::vector<std::string> field_names, ChooseFields(options, shards));
  for (uint32_t s = 0; s < options.num_shards; ++s) {
    progress.Report(absl::StrFormat("shard %d/%d: analysing %d docs", s + 1, options.num_shards,
                                    shards[s].size()));
    SCRY_RETURN_IF_ERROR(BuildShard(options, s, &shards[s], *analyzer, field_names, build.get(),
                                    &progress, &summary));
  }
  storage::IndexManifest manifest;
  manifest.format_version = storage::kFormatVersion;
  manifest.num_shards = options.num_shards;
  manifest.language = analyzer->language();
  manifest.stopwords = analyzer->stopwords();
  manifest.docs = summary.docs;
  SCRY_RETURN_IF_ERROR(build->Commit(manifest));
  SCRY_ASSIGN_OR_RETURN(summary.generation_path, storage::LiveGeneration(options.index_dir));
  summary.index_bytes = DirectoryBytes(summary.generation_path);
  summary.seconds = progress.Elapsed();
  return summary;
}

}  // namespace scry::indexer
