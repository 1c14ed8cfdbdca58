// File: indexer/merge.cc
//
// A k-way merge over RunSources with a min-heap of (key, run index): equal
// keys come out in run order, which is docid order. A key held by one run
// only (most keys) is encoded whole; a key in several runs is encoded and
// stored piece by piece (ShardWriter::ListWriter), so that the long lists
// of a large build are never whole in memory.
#include "indexer/merge.h"

#include <malloc.h>

#include <algorithm>
#include <filesystem>
#include <queue>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/files.h"
#include "storage/keys.h"
#include "storage/status.h"

namespace scry::indexer {
namespace {

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

// Removes a run file that has been merged. A failure is left alone: the
// run directory is removed whole after the merge, and with it the
// unfinished generation if the build fails.
void RemoveRun(const RunFile& run) { storage::RemoveFile(run.env, run.path).IgnoreError(); }

}  // namespace

absl::StatusOr<std::vector<std::unique_ptr<RunSource>>> OpenRuns(std::span<const RunFile> runs,
                                                                 const std::string& lo,
                                                                 const std::string& hi) {
  std::vector<std::unique_ptr<RunSource>> sources;
  for (const RunFile& run : runs) {
    SCRY_ASSIGN_OR_RETURN(auto reader, RunReader::Open(run, lo, hi));
    sources.push_back(std::move(reader));
  }
  return sources;
}

std::vector<std::string> SplitKeys(const std::vector<RunFile>& runs,
                                   std::span<const MemoryIndex::Entry* const> entries,
                                   unsigned parts) {
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

absl::Status SpillRun(MemoryIndex* index, ShardRuns* runs) {
  if (index->empty()) return absl::OkStatus();
  const std::string path = absl::StrCat(runs->dir, "/run-", runs->next_run++);
  SCRY_ASSIGN_OR_RETURN(auto writer, RunWriter::Open(path, runs->env));
  for (const MemoryIndex::Entry* e : index->SortedEntries()) {
    const storage::PostingList* list = &e->second;
    SCRY_RETURN_IF_ERROR(writer->Add(e->first, std::span(&list, 1)));
  }
  SCRY_ASSIGN_OR_RETURN(RunFile run, writer->Close());
  runs->runs.push_back(std::move(run));
  index->Clear();
  // The lists were allocated and freed by several threads: give the freed
  // pages back, or glibc keeps them in its arenas and the resident size
  // grows past the cap with every run.
  malloc_trim(0);
  return absl::OkStatus();
}

absl::Status MergeRuns(ShardRuns* runs, MemoryIndex* index, unsigned parts,
                       storage::ShardWriter* writer, uint64_t* postings, uint64_t* terms) {
  while (runs->runs.size() + 1 > kMaxMergeFanIn) {
    const std::string path = absl::StrCat(runs->dir, "/run-", runs->next_run++);
    SCRY_ASSIGN_OR_RETURN(auto run_writer, RunWriter::Open(path, runs->env));
    SCRY_ASSIGN_OR_RETURN(auto sources,
                          OpenRuns(std::span<const RunFile>(runs->runs).first(kMaxMergeFanIn)));
    SCRY_RETURN_IF_ERROR(MergeSources(
        std::move(sources),
        [&](const std::string& key, std::span<const storage::PostingList* const> pieces) {
          return run_writer->Add(key, pieces);
        }));
    SCRY_ASSIGN_OR_RETURN(RunFile merged, run_writer->Close());
    for (size_t i = 0; i < kMaxMergeFanIn; ++i) RemoveRun(runs->runs[i]);
    // The merged run covers the group's docids, which come first.
    runs->runs.erase(runs->runs.begin(), runs->runs.begin() + kMaxMergeFanIn);
    runs->runs.insert(runs->runs.begin(), std::move(merged));
  }
  const std::vector<const MemoryIndex::Entry*> entries = index->SortedEntries();
  const std::vector<std::string> splits = SplitKeys(runs->runs, entries, parts);
  const size_t n = splits.size() + 1;
  SCRY_RETURN_IF_ERROR(writer->SetListParts(n));
  std::vector<absl::Status> status(n);
  std::vector<uint64_t> part_postings(n, 0), part_terms(n, 0);
  auto merge = [&](size_t p) -> absl::Status {
    const std::string lo = p == 0 ? std::string() : splits[p - 1];
    const std::string hi = p + 1 < n ? splits[p] : std::string();
    SCRY_ASSIGN_OR_RETURN(auto sources, OpenRuns(runs->runs, lo, hi));
    auto by_key = [](const MemoryIndex::Entry* e, const std::string& k) { return e->first < k; };
    const auto begin = std::lower_bound(entries.begin(), entries.end(), lo, by_key);
    const auto end =
        hi.empty() ? entries.end() : std::lower_bound(entries.begin(), entries.end(), hi, by_key);
    sources.push_back(std::make_unique<MemoryRun>(std::span<const MemoryIndex::Entry* const>(
        entries.data() + (begin - entries.begin()), static_cast<size_t>(end - begin))));
    auto emit = [&](const std::string& key,
                    std::span<const storage::PostingList* const> pieces) -> absl::Status {
      const uint8_t field = static_cast<uint8_t>(key[0]);
      const std::string_view term = std::string_view(key).substr(1);
      uint64_t n_postings = 0;
      if (pieces.size() == 1) {
        // In one run only (most keys): encoded whole, without a copy.
        n_postings = pieces[0]->docids.size();
        SCRY_RETURN_IF_ERROR(writer->AddPostingList(field, term, *pieces[0], p));
      } else {
        // In several: encoded and stored piece by piece, so that the long
        // lists of a large build are never whole in memory.
        SCRY_ASSIGN_OR_RETURN(auto list, writer->StartList(field, term, p));
        for (const storage::PostingList* piece : pieces) {
          SCRY_RETURN_IF_ERROR(list->Add(*piece));
          n_postings += piece->docids.size();
        }
        SCRY_RETURN_IF_ERROR(list->Finish());
      }
      if (field == storage::kTextField && !storage::IsPairTerm(term)) {
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
  for (const RunFile& run : runs->runs) RemoveRun(run);
  runs->runs.clear();
  index->Clear();
  std::error_code ec;
  std::filesystem::remove_all(runs->dir, ec);
  return absl::OkStatus();
}

}  // namespace scry::indexer
