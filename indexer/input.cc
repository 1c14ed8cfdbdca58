// File: indexer/input.cc
#include "indexer/input.h"

#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "simdjson.h"
#include "storage/status.h"

namespace scry::indexer {
namespace {

namespace fs = std::filesystem;

constexpr size_t kChunk = 1 << 18;

// A plain file or standard input, with the first bytes (read to find the
// magic number) handed out again before the rest.
class FileSource : public ByteSource {
 public:
  FileSource(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  ~FileSource() override {
    if (file_ != stdin) std::fclose(file_);
  }
  // Reads up to 4 bytes to look at, which later reads return first.
  absl::StatusOr<std::string_view> Peek() {
    while (peeked_.size() < 4) {
      char c[4];
      const size_t got = std::fread(c, 1, 4 - peeked_.size(), file_);
      if (got == 0) break;
      peeked_.append(c, got);
    }
    if (std::ferror(file_)) return Error();
    return std::string_view(peeked_);
  }
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    size_t got = 0;
    if (peek_pos_ < peeked_.size()) {
      got = std::min(n, peeked_.size() - peek_pos_);
      std::memcpy(buf, peeked_.data() + peek_pos_, got);
      peek_pos_ += got;
      raw_ += got;
      if (got == n) return got;
    }
    const size_t more = std::fread(buf + got, 1, n - got, file_);
    if (more == 0 && std::ferror(file_)) return Error();
    raw_ += more;
    return got + more;
  }
  uint64_t raw_bytes() const override { return raw_; }
  const std::string& path() const { return path_; }

 private:
  absl::Status Error() const {
    return absl::InternalError(absl::StrCat("error reading ", path_, ": ", std::strerror(errno)));
  }
  std::string path_;
  std::FILE* file_;
  std::string peeked_;
  size_t peek_pos_ = 0;
  uint64_t raw_ = 0;
};

// What both decompressors have: the compressed file and a buffer of it.
class Decompressor : public ByteSource {
 public:
  Decompressor(std::unique_ptr<FileSource> in, size_t buffer) : in_(std::move(in)), buf_(buffer) {}
  uint64_t raw_bytes() const override { return in_->raw_bytes(); }

 protected:
  absl::Status Damaged(absl::string_view why) const {
    return absl::DataLossError(absl::StrCat(in_->path(), ": ", why));
  }
  // Refills buf_ from the file; sets eof_ when it has nothing more.
  absl::StatusOr<size_t> Refill() {
    absl::StatusOr<size_t> got = in_->Read(buf_.data(), buf_.size());
    if (got.ok() && *got == 0) eof_ = true;
    return got;
  }
  std::unique_ptr<FileSource> in_;
  std::vector<char> buf_;
  bool eof_ = false;
};

// Decompresses `in` with zlib (gzip members, one after the other).
class GzipSource : public Decompressor {
 public:
  explicit GzipSource(std::unique_ptr<FileSource> in) : Decompressor(std::move(in), kChunk) {
    std::memset(&z_, 0, sizeof(z_));
    ok_ = inflateInit2(&z_, 16 + MAX_WBITS) == Z_OK;
  }
  ~GzipSource() override { inflateEnd(&z_); }
  absl::StatusOr<size_t> Read(char* out, size_t n) override {
    if (!ok_) return absl::ResourceExhaustedError("cannot start zlib");
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    while (z_.avail_out > 0) {
      if (z_.avail_in == 0 && !eof_) {
        auto got = Refill();
        if (!got.ok()) return got.status();
        z_.next_in = reinterpret_cast<Bytef*>(buf_.data());
        z_.avail_in = static_cast<uInt>(*got);
      }
      if (!in_member_) {
        if (z_.avail_in == 0) break;  // the end, between two members
        inflateReset(&z_);            // a member begins
        in_member_ = true;
      }
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        in_member_ = false;
      } else if (rc == Z_BUF_ERROR) {
        // No progress: more input is needed (avail_out > 0 here).
        if (z_.avail_in == 0 && eof_) return Damaged("ends inside a gzip member (truncated?)");
      } else if (rc != Z_OK) {
        return Damaged(z_.msg != nullptr ? z_.msg : "bad gzip data");
      }
    }
    return n - z_.avail_out;
  }

 private:
  z_stream z_;
  bool ok_ = false;
  bool in_member_ = false;
};

// Decompresses `in` with zstd (frames one after the other).
class ZstdSource : public Decompressor {
 public:
  explicit ZstdSource(std::unique_ptr<FileSource> in)
      : Decompressor(std::move(in), ZSTD_DStreamInSize()), dctx_(ZSTD_createDCtx()) {}
  ~ZstdSource() override { ZSTD_freeDCtx(dctx_); }
  absl::StatusOr<size_t> Read(char* out, size_t n) override {
    if (dctx_ == nullptr) return absl::ResourceExhaustedError("cannot start zstd");
    ZSTD_outBuffer output{out, n, 0};
    while (output.pos < output.size) {
      if (input_.pos == input_.size && !eof_) {
        auto got = Refill();
        if (!got.ok()) return got.status();
        input_ = ZSTD_inBuffer{buf_.data(), *got, 0};
      }
      const bool no_input = input_.pos == input_.size;
      if (no_input && !flush_) {
        // The end of the file: it must also be the end of a frame.
        if (last_rc_ != 0) return Damaged("ends inside a zstd frame (truncated?)");
        break;
      }
      const size_t before = output.pos;
      const size_t rc = ZSTD_decompressStream(dctx_, &output, &input_);
      if (ZSTD_isError(rc)) return Damaged(ZSTD_getErrorName(rc));
      last_rc_ = rc;
      // A full output buffer may leave decoded bytes inside the decoder;
      // a call on no input that gave nothing has emptied it.
      flush_ = output.pos == output.size && !(no_input && output.pos == before);
    }
    return output.pos;
  }

 private:
  ZSTD_DCtx* dctx_;
  ZSTD_inBuffer input_{nullptr, 0, 0};
  size_t last_rc_ = 0;  // 0: the last frame is complete
  bool flush_ = false;  // the decoder may hold output
};

// One text file as one document.
class TextDocument : public DocumentSource {
 public:
  TextDocument(InputFile file, std::unique_ptr<ByteSource> in, size_t max_bytes)
      : file_(std::move(file)), in_(std::move(in)), max_bytes_(max_bytes) {}
  absl::Status Next(InputDocument* doc) override {
    if (done_) return absl::OutOfRangeError("end of input");
    done_ = true;
    // The id first: a file whose path cannot be an id is not read.
    if (file_.text_id.empty() || file_.text_id.size() > kMaxIdBytes) {
      return Invalid(absl::StrCat("its path cannot be an id (1 to ", kMaxIdBytes, " bytes)"));
    }
    if (!simdjson::validate_utf8(file_.text_id.data(), file_.text_id.size())) {
      return Invalid("its path cannot be an id (not valid UTF-8)");
    }
    std::string text;
    std::vector<char> buf(kChunk);
    for (;;) {
      auto got = in_->Read(buf.data(), buf.size());
      if (!got.ok()) return got.status();
      if (*got == 0) break;
      if (text.size() + *got > max_bytes_) {
        return Invalid(absl::StrCat("longer than ", max_bytes_, " bytes"));
      }
      text.append(buf.data(), *got);
    }
    if (!simdjson::validate_utf8(text.data(), text.size())) return Invalid("invalid UTF-8");
    doc->id = file_.text_id;
    doc->fields.clear();
    doc->fields.emplace_back("body", std::move(text));
    doc->line = 1;
    return absl::OkStatus();
  }
  uint64_t raw_bytes() const override { return in_->raw_bytes(); }

 private:
  absl::Status Invalid(absl::string_view why) const {
    return absl::InvalidArgumentError(absl::StrCat(DisplayPath(file_.path), ": ", why));
  }
  InputFile file_;
  std::unique_ptr<ByteSource> in_;
  size_t max_bytes_;
  bool done_ = false;
};

class JsonlDocuments : public DocumentSource {
 public:
  explicit JsonlDocuments(std::unique_ptr<JsonlReader> reader) : reader_(std::move(reader)) {}
  absl::Status Next(InputDocument* doc) override { return reader_->Next(doc); }
  uint64_t raw_bytes() const override { return reader_->raw_bytes(); }

 private:
  std::unique_ptr<JsonlReader> reader_;
};

bool name_ends_with(std::string_view name, std::string_view suffix) {
  return name.ends_with(suffix);
}

// The name without a trailing .gz or .zst.
std::string_view Uncompressed(std::string_view name) {
  if (name_ends_with(name, ".gz")) return name.substr(0, name.size() - 3);
  if (name_ends_with(name, ".zst")) return name.substr(0, name.size() - 4);
  return name;
}

bool IsText(std::string_view name) { return name_ends_with(Uncompressed(name), ".txt"); }
bool IsJsonl(std::string_view name) { return name_ends_with(Uncompressed(name), ".jsonl"); }

// A file's identity: (device, inode).
using FileKey = std::pair<uint64_t, uint64_t>;

// The identity of the file `path` leads to (through symbolic links);
// false if it cannot be stat'ed.
bool KeyOf(const std::string& path, FileKey* key) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  *key = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  return true;
}

// The input files under directory `root` (see ExpandInputs), sorted by
// path. Every directory is walked once, whatever number of paths lead to it
// (tracked by identity, so no link or mount loop is followed); symbolic
// links are followed only if `follow_symlinks`; a file reached by several
// paths is listed once, under the first in byte order. Entries left out that
// look meant as input go to *notes (if not null).
absl::StatusOr<std::vector<InputFile>> WalkDirectory(const std::string& root, bool follow_symlinks,
                                                     std::vector<std::string>* notes) {
  struct Found {
    std::string path;
    std::string rel;  // relative to root, '/'-separated
    FileKey key;
  };
  std::vector<Found> found;
  std::vector<std::string> left_out;
  absl::flat_hash_set<FileKey> dirs;
  FileKey root_key;
  if (!KeyOf(root, &root_key)) {
    return absl::InternalError(
        absl::StrCat("cannot list ", DisplayPath(root), ": ", std::strerror(errno)));
  }
  dirs.insert(root_key);
  // Directories still to list: (path, path relative to root).
  std::vector<std::pair<fs::path, std::string>> todo = {{fs::path(root), ""}};
  while (!todo.empty()) {
    const auto [dir, dir_rel] = std::move(todo.back());
    todo.pop_back();
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      const std::string path = it->path().string();
      const std::string name = it->path().filename().string();
      const std::string rel = dir_rel.empty() ? name : absl::StrCat(dir_rel, "/", name);
      std::error_code entry_ec;
      const bool link = it->is_symlink(entry_ec);
      // What the entry leads to (through a link too): directory, input file,
      // or nothing of ours.
      const bool is_dir = it->is_directory(entry_ec);
      const bool is_input = !is_dir && (IsText(name) || IsJsonl(name));
      if (link && !follow_symlinks) {
        if (is_dir || is_input) {
          left_out.push_back(absl::StrCat(DisplayPath(path),
                                          ": a symbolic link, not followed (--follow-symlinks "
                                          "follows links, also out of the input directory)"));
        }
        continue;
      }
      if (!is_dir && !is_input) continue;
      FileKey key;
      if (!KeyOf(path, &key)) {
        if (link && is_input) {
          left_out.push_back(absl::StrCat(DisplayPath(path), ": a symbolic link to nothing"));
        }
        continue;
      }
      if (is_dir) {
        if (dirs.insert(key).second) {
          todo.emplace_back(it->path(), rel);
        } else if (link) {
          left_out.push_back(absl::StrCat(
              DisplayPath(path), ": a symbolic link to a directory walked already, not followed"));
        }
        continue;
      }
      if (!it->is_regular_file(entry_ec)) continue;
      found.push_back({path, rel, key});
    }
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot list ", DisplayPath(dir.string()), ": ", ec.message()));
    }
  }
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.path < b.path; });
  std::vector<InputFile> out;
  absl::flat_hash_map<FileKey, size_t> files;  // -> index in `found`
  for (size_t i = 0; i < found.size(); ++i) {
    const Found& f = found[i];
    auto [first, inserted] = files.emplace(f.key, i);
    if (!inserted) {
      left_out.push_back(absl::StrCat(DisplayPath(f.path), ": the same file as ",
                                      DisplayPath(found[first->second].path), ", read once"));
      continue;
    }
    InputFile file;
    file.path = f.path;
    if (IsText(f.rel)) {
      file.kind = InputFile::Kind::kText;
      file.text_id = std::string(Uncompressed(f.rel));
    }
    out.push_back(std::move(file));
  }
  if (notes != nullptr) {
    std::sort(left_out.begin(), left_out.end());
    for (auto& note : left_out) notes->push_back(std::move(note));
  }
  return out;
}

}  // namespace

std::string DisplayPath(std::string_view path) {
  std::string out;
  for (size_t i = 0; i < path.size();) {
    const auto c = static_cast<unsigned char>(path[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n > 1 && i + n <= path.size() && simdjson::validate_utf8(path.data() + i, n)) {
      out.append(path.data() + i, n);
      i += n;
      continue;
    }
    if (n == 1 && c >= 0x20 && c != 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    }
    ++i;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<ByteSource>> OpenByteSource(const std::string& path) {
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const std::string msg = absl::StrCat("cannot open ", path, ": ", std::strerror(errno));
    if (errno == ENOENT) return absl::NotFoundError(msg);
    if (errno == EACCES) return absl::PermissionDeniedError(msg);
    return absl::InternalError(msg);
  }
  auto file = std::make_unique<FileSource>(path, f);
  absl::StatusOr<std::string_view> magic = file->Peek();
  if (!magic.ok()) return magic.status();
  if (magic->size() >= 2 && (*magic)[0] == '\x1f' && (*magic)[1] == '\x8b') {
    return std::unique_ptr<ByteSource>(new GzipSource(std::move(file)));
  }
  if (*magic == std::string_view("\x28\xb5\x2f\xfd", 4)) {
    return std::unique_ptr<ByteSource>(new ZstdSource(std::move(file)));
  }
  return std::unique_ptr<ByteSource>(std::move(file));
}

absl::StatusOr<std::vector<InputFile>> ExpandInputs(const std::vector<std::string>& inputs,
                                                    const ExpandOptions& options,
                                                    std::vector<std::string>* notes) {
  std::vector<InputFile> out;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (input == "-" || !fs::is_directory(input, ec)) {
      if (input != "-" && !fs::exists(input, ec)) {
        return absl::NotFoundError(
            absl::StrCat("cannot open ", DisplayPath(input), ": no such file"));
      }
      InputFile file;
      file.path = input;
      if (input != "-" && IsText(input)) {
        file.kind = InputFile::Kind::kText;
        file.text_id = std::string(Uncompressed(input));
      }
      out.push_back(std::move(file));
      continue;
    }
    SCRY_ASSIGN_OR_RETURN(std::vector<InputFile> found,
                          WalkDirectory(input, options.follow_symlinks, notes));
    if (found.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("directory ", DisplayPath(input),
                       " holds no *.jsonl or *.txt file (or .gz/.zst of one)"));
    }
    for (auto& f : found) out.push_back(std::move(f));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<DocumentSource>> OpenDocuments(const InputFile& file,
                                                              size_t max_document_bytes,
                                                              const Schema* schema) {
  absl::StatusOr<std::unique_ptr<ByteSource>> bytes = OpenByteSource(file.path);
  if (!bytes.ok()) return bytes.status();
  if (file.kind == InputFile::Kind::kText) {
    return std::unique_ptr<DocumentSource>(
        new TextDocument(file, std::move(*bytes), max_document_bytes));
  }
  std::unique_ptr<JsonlReader> reader =
      JsonlReader::FromSource(file.path, std::move(*bytes), max_document_bytes);
  reader->set_schema(schema);
  return std::unique_ptr<DocumentSource>(new JsonlDocuments(std::move(reader)));
}

}  // namespace scry::indexer
