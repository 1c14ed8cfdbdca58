// File: tests/fault_fs.cc
#include "tests/fault_fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <utility>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/metadata.h"
#include "rocksdb/sst_file_reader.h"
#include "rocksdb/table_properties.h"
#include "storage/keys.h"

namespace scry::testing {

// A writable file that asks its FaultFs before each append and sync, and
// tells it the size at each successful sync (which it does not make: see
// fault_fs.h).
class FaultFs::File : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  File(FaultFs* fs, std::string path, std::unique_ptr<rocksdb::FSWritableFile> target)
      : FSWritableFileOwnerWrapper(std::move(target)), fs_(fs), path_(std::move(path)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = fs_->Check(path_, Op::kAppend, data.size());
    if (s.ok()) s = FSWritableFileOwnerWrapper::Append(data, options, dbg);
    if (s.ok()) size_ += data.size();
    return s;
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& /*info*/,
                           rocksdb::IODebugContext* dbg) override {
    return Append(data, options, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = fs_->Check(path_, Op::kAppend, data.size());
    if (s.ok()) s = FSWritableFileOwnerWrapper::PositionedAppend(data, offset, options, dbg);
    if (s.ok()) size_ = std::max<uint64_t>(size_, offset + data.size());
    return s;
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     const rocksdb::DataVerificationInfo& /*info*/,
                                     rocksdb::IODebugContext* dbg) override {
    return PositionedAppend(data, offset, options, dbg);
  }
  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = FSWritableFileOwnerWrapper::Truncate(size, options, dbg);
    if (s.ok()) size_ = size;
    return s;
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& /*options*/,
                         rocksdb::IODebugContext* /*dbg*/) override {
    rocksdb::IOStatus s = fs_->Check(path_, Op::kSync, 0);
    if (s.ok()) fs_->Synced(path_, size_);
    return s;
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& /*options*/,
                          rocksdb::IODebugContext* /*dbg*/) override {
    rocksdb::IOStatus s = fs_->Check(path_, Op::kSync, 0);
    if (s.ok()) fs_->Synced(path_, size_);
    return s;
  }

 private:
  FaultFs* fs_;
  std::string path_;
  uint64_t size_ = 0;
};

// A random-access file that asks its FaultFs before each read.
class FaultFs::ReadFile : public rocksdb::FSRandomAccessFileOwnerWrapper {
 public:
  ReadFile(FaultFs* fs, std::string path, std::unique_ptr<rocksdb::FSRandomAccessFile> target)
      : FSRandomAccessFileOwnerWrapper(std::move(target)), fs_(fs), path_(std::move(path)) {}

  rocksdb::IOStatus Read(uint64_t offset, size_t n, const rocksdb::IOOptions& options,
                         rocksdb::Slice* result, char* scratch,
                         rocksdb::IODebugContext* dbg) const override {
    rocksdb::IOStatus s = fs_->Check(path_, Op::kRead, 0);
    if (!s.ok()) return s;
    return FSRandomAccessFileOwnerWrapper::Read(offset, n, options, result, scratch, dbg);
  }
  rocksdb::IOStatus MultiRead(rocksdb::FSReadRequest* reqs, size_t num_reqs,
                              const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = fs_->Check(path_, Op::kRead, 0);
    if (s.ok()) return FSRandomAccessFileOwnerWrapper::MultiRead(reqs, num_reqs, options, dbg);
    for (size_t i = 0; i < num_reqs; ++i) reqs[i].status = s;
    return s;
  }

 private:
  FaultFs* fs_;
  std::string path_;
};

// A directory whose syncs are not made (see fault_fs.h).
class UnsyncedDirectory : public rocksdb::FSDirectoryWrapper {
 public:
  using FSDirectoryWrapper::FSDirectoryWrapper;
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& /*options*/,
                          rocksdb::IODebugContext* /*dbg*/) override {
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& /*options*/,
                                        rocksdb::IODebugContext* /*dbg*/,
                                        const rocksdb::DirFsyncOptions& /*dir_options*/) override {
    return rocksdb::IOStatus::OK();
  }
};

FaultFs::FaultFs(std::string only)
    : FileSystemWrapper(rocksdb::FileSystem::Default()),
      only_(std::move(only)),
      // The composite Env does not own this file system: whoever made it does.
      env_(rocksdb::NewCompositeEnv(
          std::shared_ptr<rocksdb::FileSystem>(this, [](rocksdb::FileSystem*) {}))) {}

void FaultFs::Arm(Op op, uint64_t at, Fault fault) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_op_ = op;
  switch (op) {
    case Op::kCreate:
      fail_at_ = counts_.files + at;
      break;
    case Op::kAppend:
      fail_at_ = counts_.bytes + at + 1;  // the append that passes byte `at` fails
      break;
    case Op::kSync:
      fail_at_ = counts_.syncs + at;
      break;
    case Op::kRead:
      fail_at_ = counts_.reads + at;
      break;
  }
  fault_ = fault;
}

void FaultFs::FailAfterBytes(uint64_t n, Fault fault) { Arm(Op::kAppend, n, fault); }
void FaultFs::FailAtFile(uint64_t n, Fault fault) { Arm(Op::kCreate, n, fault); }
void FaultFs::FailAtSync(uint64_t n, Fault fault) { Arm(Op::kSync, n, fault); }
void FaultFs::FailAtRead(uint64_t n, Fault fault) { Arm(Op::kRead, n, fault); }

void FaultFs::ImageOnFault(std::string root, std::string image) {
  std::lock_guard<std::mutex> lock(mu_);
  image_root_ = std::move(root);
  image_ = std::move(image);
}

void FaultFs::Heal() {
  std::lock_guard<std::mutex> lock(mu_);
  fail_at_ = 0;
  broken_ = false;
}

FaultFs::Counts FaultFs::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

bool FaultFs::broken() const {
  std::lock_guard<std::mutex> lock(mu_);
  return broken_;
}

rocksdb::IOStatus FaultFs::Error() const {
  rocksdb::IOStatus s = fault_ == Fault::kNoSpace
                            ? rocksdb::IOStatus::NoSpace("injected: No space left on device")
                            : rocksdb::IOStatus::IOError("injected: Input/output error");
  return s;
}

rocksdb::IOStatus FaultFs::Check(const std::string& path, Op op, uint64_t bytes) {
  if (!Counted(path)) return rocksdb::IOStatus::OK();
  std::lock_guard<std::mutex> lock(mu_);
  if (broken_) {
    ++counts_.faults;
    return Error();
  }
  uint64_t reached = 0;
  switch (op) {
    case Op::kCreate:
      reached = ++counts_.files;
      break;
    case Op::kSync:
      reached = ++counts_.syncs;
      break;
    case Op::kAppend:
      reached = counts_.bytes + bytes;
      break;
    case Op::kRead:
      reached = ++counts_.reads;
      break;
  }
  if (fail_at_ != 0 && op == fail_op_ && reached >= fail_at_) {
    broken_ = true;
    ++counts_.faults;
    if (!image_.empty()) TakeImage();
    return Error();
  }
  if (op == Op::kAppend) counts_.bytes += bytes;
  return rocksdb::IOStatus::OK();
}

void FaultFs::Synced(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  synced_[path] = size;
}

rocksdb::IOStatus FaultFs::Wrap(const std::string& path, rocksdb::IOStatus s,
                                std::unique_ptr<rocksdb::FSWritableFile>* result) {
  if (!s.ok()) return s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    synced_[path] = 0;  // created (or reopened) empty: nothing of it survives yet
  }
  *result = std::make_unique<File>(this, path, std::move(*result));
  return s;
}

rocksdb::IOStatus FaultFs::NewWritableFile(const std::string& path,
                                           const rocksdb::FileOptions& options,
                                           std::unique_ptr<rocksdb::FSWritableFile>* result,
                                           rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus s = Check(path, Op::kCreate, 0);
  if (!s.ok()) return s;
  return Wrap(path, target()->NewWritableFile(path, options, result, dbg), result);
}

rocksdb::IOStatus FaultFs::ReopenWritableFile(const std::string& path,
                                              const rocksdb::FileOptions& options,
                                              std::unique_ptr<rocksdb::FSWritableFile>* result,
                                              rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus s = Check(path, Op::kCreate, 0);
  if (!s.ok()) return s;
  uint64_t synced = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = synced_.find(path);
    if (it != synced_.end()) synced = it->second;
  }
  s = target()->ReopenWritableFile(path, options, result, dbg);
  if (!s.ok()) return s;
  *result = std::make_unique<File>(this, path, std::move(*result));
  Synced(path, synced);
  return s;
}

rocksdb::IOStatus FaultFs::RenameFile(const std::string& from, const std::string& to,
                                      const rocksdb::IOOptions& options,
                                      rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus s = target()->RenameFile(from, to, options, dbg);
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = synced_.find(from);
    if (it != synced_.end()) {
      synced_[to] = it->second;
      synced_.erase(from);
    } else {
      synced_.erase(to);
    }
  }
  return s;
}

rocksdb::IOStatus FaultFs::DeleteFile(const std::string& path, const rocksdb::IOOptions& options,
                                      rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus s = target()->DeleteFile(path, options, dbg);
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    synced_.erase(path);
  }
  return s;
}

rocksdb::IOStatus FaultFs::NewRandomAccessFile(const std::string& path,
                                               const rocksdb::FileOptions& options,
                                               std::unique_ptr<rocksdb::FSRandomAccessFile>* result,
                                               rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus s = target()->NewRandomAccessFile(path, options, result, dbg);
  if (s.ok() && Counted(path)) *result = std::make_unique<ReadFile>(this, path, std::move(*result));
  return s;
}

rocksdb::IOStatus FaultFs::NewDirectory(const std::string& path, const rocksdb::IOOptions& options,
                                        std::unique_ptr<rocksdb::FSDirectory>* result,
                                        rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus s = target()->NewDirectory(path, options, result, dbg);
  if (s.ok()) *result = std::make_unique<UnsyncedDirectory>(std::move(*result));
  return s;
}

void FaultFs::TakeImage() {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(image_, ec);
  // Other threads may be writing or removing files meanwhile: a file that
  // vanishes was removed before the crash, and one being appended to is cut
  // to its synced size below anyway.
  for (auto it = fs::recursive_directory_iterator(image_root_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string from = it->path().string();
    const std::string to = image_ + from.substr(image_root_.size());
    std::error_code file_ec;
    if (it->is_directory(file_ec)) {
      fs::create_directories(to, file_ec);
    } else if (it->is_regular_file(file_ec)) {
      fs::copy_file(from, to, fs::copy_options::overwrite_existing, file_ec);
    }
  }
  for (const auto& [path, size] : synced_) {
    if (!path.starts_with(image_root_ + "/")) continue;
    const std::string to = image_ + path.substr(image_root_.size());
    struct stat st;
    if (::stat(to.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) > size) {
      (void)::truncate(to.c_str(), static_cast<off_t>(size));
    }
  }
  image_.clear();
}

void FaultFs::DropUnsyncedData() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [path, size] : synced_) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (static_cast<uint64_t>(st.st_size) > size) {
      (void)::truncate(path.c_str(), static_cast<off_t>(size));
    }
  }
}

std::vector<SstFile> SstFilesOf(const std::string& shard_path, const std::string& cf) {
  // Files ingested from an SstFileWriter do not name their column family in
  // their properties: ask the shard's RocksDB which files are whose.
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const char* name : storage::kColumnFamilies) {
    cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::LiveFileMetaData> live;
  rocksdb::Status s =
      rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), shard_path, cfs, &handles, &raw);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return {};
  raw->GetLiveFilesMetaData(&live);
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  delete raw;
  std::vector<SstFile> out;
  for (const rocksdb::LiveFileMetaData& f : live) {
    if (f.column_family_name != cf) continue;
    SstFile file;
    file.path = shard_path + "/" + f.relative_filename;
    file.column_family = cf;
    file.size = f.size;
    rocksdb::SstFileReader reader{rocksdb::Options()};
    s = reader.Open(file.path);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (s.ok()) file.data_bytes = reader.GetTableProperties()->data_size;
    out.push_back(std::move(file));
  }
  std::sort(out.begin(), out.end(),
            [](const SstFile& a, const SstFile& b) { return a.path < b.path; });
  return out;
}

void FlipByte(const std::string& path, uint64_t offset) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path;
  char c = 0;
  ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(offset)), 1) << path;
  c = static_cast<char>(~c);
  ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(offset)), 1) << path;
  ::close(fd);
}

}  // namespace scry::testing
