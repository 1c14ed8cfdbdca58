// File: tests/fuzz/jsonl_fuzz.cc
//
// libFuzzer target for JSON Lines ingestion and document analysis (issue 8):
// the input is a file of lines; every line is a document or an
// InvalidArgument naming its line, the reader always reaches the end (or,
// for input that starts like gzip or zstd but is damaged, a DataLoss naming
// the file), and every accepted field goes through the analyser (Unicode
// tokenizing, case folding, stemming). Never a crash, a hang or another
// error code.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "analysis/analyzer.h"
#include "indexer/jsonl_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<scry::analysis::Analyzer> analyzer = [] {
    auto a = scry::analysis::Analyzer::Create("english");
    if (!a.ok()) std::abort();
    return std::move(*a);
  }();
  // The reader takes a path: the input goes into an in-memory file.
  const int fd = memfd_create("jsonl_fuzz", 0);
  if (fd < 0) std::abort();
  if (size > 0 && write(fd, data, size) != static_cast<ssize_t>(size)) std::abort();
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto reader = scry::indexer::JsonlReader::Open(path, /*max_line_bytes=*/4096);
  if (!reader.ok()) std::abort();
  scry::indexer::InputDocument doc;
  for (uint64_t docs = 0;; ++docs) {
    const absl::Status s = (*reader)->Next(&doc);
    if (s.code() == absl::StatusCode::kOutOfRange) break;
    if (s.code() == absl::StatusCode::kDataLoss) {
      // A damaged compressed stream (magic number of gzip or zstd): stops.
      if (s.message().find(path) == std::string::npos) {
        std::fprintf(stderr, "error without its place: %s\n", s.ToString().c_str());
        std::abort();
      }
      break;
    }
    if (s.code() == absl::StatusCode::kInvalidArgument) {
      if (s.message().find(path) == std::string::npos) {
        std::fprintf(stderr, "error without its place: %s\n", s.ToString().c_str());
        std::abort();
      }
      continue;
    }
    if (!s.ok()) {
      std::fprintf(stderr, "unexpected error: %s\n", s.ToString().c_str());
      std::abort();
    }
    if (doc.id.empty() || docs > size) std::abort();
    std::vector<scry::analysis::Token> tokens;
    for (const auto& [name, value] : doc.fields) {
      tokens.clear();
      const uint32_t end = analyzer->Analyze(value, 0, &tokens);
      for (size_t i = 0; i < tokens.size(); ++i) {
        const scry::analysis::Token& t = tokens[i];
        if (t.term.empty() || t.term.size() > scry::analysis::kMaxTokenBytes || t.position >= end ||
            (i > 0 && t.position < tokens[i - 1].position) || t.begin >= t.end ||
            t.end > value.size()) {
          std::fprintf(stderr, "bad token %zu of field %s\n", i, name.c_str());
          std::abort();
        }
      }
    }
  }
  close(fd);
  return 0;
}
