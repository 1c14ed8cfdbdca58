// File: tools/write_commands.cc
//
// scry write, delete, refresh, commit: clients of scry.v1.IndexService.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpcpp/grpcpp.h"
#include "indexer/input.h"
#include "indexer/progress.h"
#include "scry/v1/index.grpc.pb.h"
#include "tools/commands.h"

namespace scry::tools {
namespace {

// Lines longer than this are refused here: the server's default largest
// request is 4 MiB (--max-message-bytes), and a message it refuses would end
// the whole stream.
constexpr size_t kMaxLineBytes = (size_t{4} << 20) - (size_t{64} << 10);
// A message is sent once it holds batch_ops documents or this many bytes.
constexpr size_t kMaxBatchBytes = size_t{1} << 20;

int FailRpc(const grpc::Status& status) {
  std::cerr << "scry: "
            << absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())) << ": "
            << status.error_message() << "\n";
  return 1;
}

void Prepare(grpc::ClientContext* context, const std::string& token, int timeout_ms) {
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  if (timeout_ms > 0) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  }
}

// Splits a ByteSource into lines (without '\n' or a final '\r').
class LineReader {
 public:
  explicit LineReader(std::unique_ptr<indexer::ByteSource> source)
      : source_(std::move(source)), buf_(1 << 20) {}

  // Next line into *line; false at the end (or on an error: status()).
  // *too_long if it exceeded kMaxLineBytes (*line is then empty).
  bool Next(std::string* line, bool* too_long) {
    line->clear();
    *too_long = false;
    bool any = false;
    for (;;) {
      if (pos_ == len_) {
        absl::StatusOr<size_t> got = source_->Read(buf_.data(), buf_.size());
        if (!got.ok()) status_ = got.status();
        pos_ = 0;
        len_ = got.ok() ? *got : 0;
        if (len_ == 0) return any && status_.ok();
      }
      any = true;
      const char* start = buf_.data() + pos_;
      const void* nl = std::memchr(start, '\n', len_ - pos_);
      const size_t take =
          nl != nullptr ? static_cast<size_t>(static_cast<const char*>(nl) - start) : len_ - pos_;
      if (!*too_long && line->size() + take > kMaxLineBytes) {
        *too_long = true;
        line->clear();
      }
      if (!*too_long) line->append(start, take);
      pos_ += take;
      if (nl != nullptr) {
        ++pos_;
        if (!line->empty() && line->back() == '\r') line->pop_back();
        return true;
      }
    }
  }
  const absl::Status& status() const { return status_; }

 private:
  std::unique_ptr<indexer::ByteSource> source_;
  std::vector<char> buf_;
  size_t pos_ = 0, len_ = 0;
  absl::Status status_;
};

// Where each operation of the stream came from: the file of an index range
// and the line of each operation.
struct Origins {
  std::vector<std::pair<uint64_t, std::string>> files;  // first index, path
  std::vector<uint64_t> lines;                          // per operation
  std::string Of(uint64_t index) const {
    std::string path;
    for (const auto& [first, name] : files) {
      if (first <= index) path = name;
    }
    return absl::StrCat(path, ":", index < lines.size() ? lines[index] : 0);
  }
};

}  // namespace

int RunWrite(const std::string& address, const std::vector<std::string>& files,
             const WriteCommandOptions& options, const ClientSecurity& security) {
  std::shared_ptr<grpc::Channel> channel;
  std::string token;
  if (!Connect(address, security, &channel, &token)) return 1;
  auto stub = v1::IndexService::NewStub(channel);
  grpc::ClientContext context;
  Prepare(&context, token, options.timeout_ms);
  v1::WriteStreamResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::WriteRequest>> stream =
      stub->WriteStream(&context, &response);
  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  indexer::Progress progress(terminal ? [](const std::string& line) {
    std::fprintf(stderr, "\r%s", line.c_str());
    std::fflush(stderr);
  } : std::function<void(const std::string&)>());
  Origins origins;
  uint64_t sent = 0, skipped = 0;
  bool broken = false;  // the server ended the stream
  v1::WriteRequest batch;
  size_t batch_bytes = 0;
  const auto flush = [&] {
    if (batch.ops_size() == 0 || broken) return;
    batch.set_sync(options.sync);
    sent += static_cast<uint64_t>(batch.ops_size());
    broken = !stream->Write(batch);
    batch.Clear();
    batch_bytes = 0;
    if (progress.Due()) {
      const double secs = progress.Elapsed();
      progress.Report(absl::StrFormat("scry write: %llu documents sent, %.0f docs/s",
                                      static_cast<unsigned long long>(sent),
                                      secs > 0 ? sent / secs : 0.0));
    }
  };
  for (const std::string& path : files) {
    absl::StatusOr<std::unique_ptr<indexer::ByteSource>> source = indexer::OpenByteSource(path);
    if (!source.ok()) {
      if (terminal) std::fputc('\n', stderr);
      Fail(source.status());
      context.TryCancel();
      return 1;
    }
    origins.files.emplace_back(origins.lines.size(), path);
    LineReader reader(std::move(*source));
    std::string line;
    bool too_long = false;
    uint64_t line_number = 0;
    while (!broken && reader.Next(&line, &too_long)) {
      ++line_number;
      if (too_long) {
        std::fprintf(stderr, "%s:%llu: line longer than %zu bytes (not sent)\n", path.c_str(),
                     static_cast<unsigned long long>(line_number), kMaxLineBytes);
        ++skipped;
        continue;
      }
      if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank, as the builder
      // As bytes: a line that is not UTF-8 is refused alone, by the server.
      batch.add_ops()->mutable_upsert()->set_document_bytes(line);
      origins.lines.push_back(line_number);
      batch_bytes += line.size();
      if (batch.ops_size() >= options.batch_ops || batch_bytes >= kMaxBatchBytes) flush();
    }
    if (!reader.status().ok()) {
      if (terminal) std::fputc('\n', stderr);
      Fail(reader.status());
      context.TryCancel();
      return 1;
    }
  }
  flush();
  if (!broken) stream->WritesDone();
  const grpc::Status status = stream->Finish();
  if (terminal) std::fputc('\n', stderr);
  if (!status.ok()) return FailRpc(status);
  for (const v1::OperationFailure& f : response.failures()) {
    std::fprintf(stderr, "%s: %s\n", origins.Of(f.index()).c_str(), f.message().c_str());
  }
  if (response.refused() > static_cast<uint64_t>(response.failures_size())) {
    std::fprintf(stderr, "... and %llu more refused documents\n",
                 static_cast<unsigned long long>(response.refused() - response.failures_size()));
  }
  const double secs = progress.Elapsed();
  std::fprintf(stderr, "wrote %llu documents (%llu refused) in %.1f s, up to sequence %llu\n",
               static_cast<unsigned long long>(response.accepted()),
               static_cast<unsigned long long>(response.refused() + skipped), secs,
               static_cast<unsigned long long>(response.last_seq()));
  int exit_code = response.refused() + skipped == 0 ? 0 : 1;
  if (options.refresh) {
    const int refreshed = RunRefresh(address, options.timeout_ms, security);
    if (refreshed != 0) exit_code = refreshed;
  }
  return exit_code;
}

namespace {

// One unary IndexService call: connects, sends the token, calls
// `call(stub, context)`; prints the error and returns 1 if it fails.
template <class Call>
int CallIndexService(const std::string& address, int timeout_ms, const ClientSecurity& security,
                     const Call& call) {
  std::shared_ptr<grpc::Channel> channel;
  std::string token;
  if (!Connect(address, security, &channel, &token)) return 1;
  auto stub = v1::IndexService::NewStub(channel);
  grpc::ClientContext context;
  Prepare(&context, token, timeout_ms);
  const grpc::Status status = call(stub.get(), &context);
  return status.ok() ? 0 : FailRpc(status);
}

}  // namespace

int RunDelete(const std::string& address, const std::vector<std::string>& ids, bool sync,
              int timeout_ms, const ClientSecurity& security) {
  v1::WriteRequest request;
  request.set_sync(sync);
  for (const std::string& id : ids) request.add_ops()->mutable_delete_()->set_id(id);
  v1::WriteResponse response;
  const int rc = CallIndexService(address, timeout_ms, security,
                                  [&](v1::IndexService::Stub* stub, grpc::ClientContext* c) {
                                    return stub->Write(c, request, &response);
                                  });
  if (rc != 0) return rc;
  int exit_code = 0;
  for (int i = 0; i < response.results_size(); ++i) {
    const v1::OperationResult& r = response.results(i);
    if (r.code() != "OK") {
      std::fprintf(stderr, "%s: %s\n", ids[static_cast<size_t>(i)].c_str(), r.message().c_str());
      exit_code = 1;
    }
  }
  return exit_code;
}

int RunRefresh(const std::string& address, int timeout_ms, const ClientSecurity& security) {
  v1::RefreshResponse response;
  const int rc = CallIndexService(address, timeout_ms, security,
                                  [&](v1::IndexService::Stub* stub, grpc::ClientContext* c) {
                                    return stub->Refresh(c, v1::RefreshRequest(), &response);
                                  });
  if (rc != 0) return rc;
  std::fprintf(stderr, "refreshed: %llu operations made visible\n",
               static_cast<unsigned long long>(response.applied()));
  return 0;
}

int RunCommit(const std::string& address, int timeout_ms, const ClientSecurity& security) {
  v1::CommitResponse response;
  const int rc = CallIndexService(address, timeout_ms, security,
                                  [&](v1::IndexService::Stub* stub, grpc::ClientContext* c) {
                                    return stub->Commit(c, v1::CommitRequest(), &response);
                                  });
  if (rc != 0) return rc;
  std::fprintf(stderr, "committed: every operation up to sequence %llu is on disk\n",
               static_cast<unsigned long long>(response.last_seq()));
  return 0;
}

}  // namespace scry::tools
