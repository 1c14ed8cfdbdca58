// File: indexer/input.h
//
// Where the documents of a bulk build come from:
//   - ByteSource: the bytes of one file or of standard input ("-"), gzip or
//     zstd compressed or not, told apart by their magic numbers (1f 8b for
//     gzip, 28 b5 2f fd for zstd), not by the file name. Concatenated gzip
//     members and zstd frames are read one after the other, as gzip -d and
//     zstd -d do; a stream that ends inside a member is DataLoss.
//   - ExpandInputs: the command line's inputs as a list of files. A directory
//     stands for every file under it (recursively, in byte order of the path)
//     named *.jsonl or *.txt, optionally followed by .gz or .zst; other files
//     in it are left out. The walk stays in the directory's own tree: it
//     follows no symbolic link unless asked (ExpandOptions::follow_symlinks),
//     walks every directory once whatever number of paths lead to it (by
//     device and inode, so a link or mount loop is walked once) and lists a
//     file reached by several paths (hard links, or links when followed) once.
//     A file named on the command line is read whatever its name: as plain
//     text if it is named *.txt[.gz|.zst], else as JSON Lines.
//   - DocumentSource: the documents of one such file. A JSON Lines file gives
//     one document per line (indexer/jsonl_reader.h). A text file is one
//     document: its id is its path relative to the directory it was found in
//     (the path as given for a file named on the command line) without the
//     .gz/.zst suffix, its body the whole text. The id must be valid UTF-8
//     (a file name need not be) and 1 to kMaxIdBytes long, the text valid
//     UTF-8 and at most max_document_bytes long, else InvalidArgument
//     "PATH: reason" (PATH as DisplayPath shows it): a bad document, which a
//     build stops at or skips.
#ifndef SCRY_INDEXER_INPUT_H_
#define SCRY_INDEXER_INPUT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "indexer/jsonl_reader.h"

namespace scry::indexer {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `n` bytes into `buf`; 0 at the end of the stream.
  // DataLoss for a damaged or truncated compressed stream, Internal for an
  // I/O error (messages name the path).
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
  // Bytes taken from the file itself so far (compressed bytes for a
  // compressed file): progress against the file's size.
  virtual uint64_t raw_bytes() const = 0;
};

// Opens `path` ("-" = standard input). NotFound / PermissionDenied /
// Internal if it cannot be opened.
absl::StatusOr<std::unique_ptr<ByteSource>> OpenByteSource(const std::string& path);

struct InputFile {
  enum class Kind { kJsonl, kText };
  std::string path;  // as opened ("-" for standard input)
  Kind kind = Kind::kJsonl;
  std::string text_id;  // kText: the document's id
};

struct ExpandOptions {
  // Follow symbolic links met in directories, also out of the directory's
  // tree (still walking each directory and listing each file once). A
  // directory named as an input is walked even if it is a link.
  bool follow_symlinks = false;
};

// The files the inputs stand for, in reading order. NotFound for an input
// that does not exist; InvalidArgument for a directory with no input file in
// it; Internal for a directory that cannot be listed. If `notes` is not
// null, it gets one line "PATH: why" for each entry of a directory left out
// that may have been meant as input: a symbolic link not followed, a link to
// a directory walked already or to nothing, a file listed already under
// another path.
absl::StatusOr<std::vector<InputFile>> ExpandInputs(const std::vector<std::string>& inputs,
                                                    const ExpandOptions& options = {},
                                                    std::vector<std::string>* notes = nullptr);

// `path` for a message: bytes that are not part of valid UTF-8, and control
// characters, are written as \xHH (a file name need not be UTF-8; a
// message must be).
std::string DisplayPath(std::string_view path);

class DocumentSource {
 public:
  virtual ~DocumentSource() = default;
  // As JsonlReader::Next: OK, OutOfRange at the end, InvalidArgument for a
  // bad document (the source stays usable), other codes to stop.
  virtual absl::Status Next(InputDocument* doc) = 0;
  virtual uint64_t raw_bytes() const = 0;
};

// The documents of `file`; a JSON Lines file's members typed as `schema`
// says (nullptr: none; it must outlive the source).
absl::StatusOr<std::unique_ptr<DocumentSource>> OpenDocuments(const InputFile& file,
                                                              size_t max_document_bytes,
                                                              const Schema* schema = nullptr);

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_INPUT_H_
