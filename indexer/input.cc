// File: indexer/input.cc
#include "indexer/input.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "simdjson.h"

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
    if (file_.text_id.empty() || file_.text_id.size() > kMaxIdBytes) {
      return Invalid(absl::StrCat("its path cannot be an id (1 to ", kMaxIdBytes, " bytes)"));
    }
    doc->id = file_.text_id;
    doc->fields.clear();
    doc->fields.emplace_back("body", std::move(text));
    doc->line = 1;
    return absl::OkStatus();
  }
  uint64_t raw_bytes() const override { return in_->raw_bytes(); }

 private:
  absl::Status Invalid(absl::string_view why) const {
    return absl::InvalidArgumentError(absl::StrCat(file_.path, ": ", why));
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

}  // namespace

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

absl::StatusOr<std::vector<InputFile>> ExpandInputs(const std::vector<std::string>& inputs) {
  std::vector<InputFile> out;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (input == "-" || !fs::is_directory(input, ec)) {
      if (input != "-" && !fs::exists(input, ec)) {
        return absl::NotFoundError(absl::StrCat("cannot open ", input, ": no such file"));
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
    std::vector<InputFile> found;
    fs::recursive_directory_iterator it(input, fs::directory_options::follow_directory_symlink, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      const std::string name = it->path().filename().string();
      if (!IsText(name) && !IsJsonl(name)) continue;
      InputFile file;
      file.path = it->path().string();
      if (IsText(name)) {
        file.kind = InputFile::Kind::kText;
        file.text_id =
            std::string(Uncompressed(it->path().lexically_relative(input).generic_string()));
      }
      found.push_back(std::move(file));
    }
    if (ec) return absl::InternalError(absl::StrCat("cannot list ", input, ": ", ec.message()));
    if (found.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "directory ", input, " holds no *.jsonl or *.txt file (or .gz/.zst of one)"));
    }
    std::sort(found.begin(), found.end(),
              [](const InputFile& a, const InputFile& b) { return a.path < b.path; });
    for (auto& f : found) out.push_back(std::move(f));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<DocumentSource>> OpenDocuments(const InputFile& file,
                                                              size_t max_document_bytes) {
  absl::StatusOr<std::unique_ptr<ByteSource>> bytes = OpenByteSource(file.path);
  if (!bytes.ok()) return bytes.status();
  if (file.kind == InputFile::Kind::kText) {
    return std::unique_ptr<DocumentSource>(
        new TextDocument(file, std::move(*bytes), max_document_bytes));
  }
  return std::unique_ptr<DocumentSource>(new JsonlDocuments(
      JsonlReader::FromSource(file.path, std::move(*bytes), max_document_bytes)));
}

}  // namespace scry::indexer
