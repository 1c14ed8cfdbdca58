// File: tests/indexer/input_test.cc
//
// The directory walk of a build (indexer/input.h ExpandInputs) on real
// directories with symbolic links: loops are walked once, links are not
// followed out of the input directory unless asked, no file is read twice;
// and text files whose path cannot be an id (not UTF-8) are reported and
// skipped as bad documents are.
#include "indexer/input.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "query/searcher.h"
#include "tests/test_util.h"

namespace scry::indexer {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;
using ::scry::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

// The text ids (or paths, for JSON Lines files) that ExpandInputs lists for
// `dir`, in reading order; *notes gets its notes.
std::vector<std::string> Listed(const std::string& dir, bool follow_symlinks,
                                std::vector<std::string>* notes = nullptr) {
  ExpandOptions options;
  options.follow_symlinks = follow_symlinks;
  absl::StatusOr<std::vector<InputFile>> files = ExpandInputs({dir}, options, notes);
  EXPECT_THAT(files, IsOk());
  std::vector<std::string> out;
  if (!files.ok()) return out;
  for (const InputFile& f : *files) {
    out.push_back(f.kind == InputFile::Kind::kText ? f.text_id : f.path);
  }
  return out;
}

// Runs `fn` in a child process; true if it exited 0 within `limit` (a walk
// that never ends fails the test instead of hanging it).
template <typename Fn>
bool FinishesWithin(std::chrono::seconds limit, Fn fn) {
  const pid_t pid = fork();
  if (pid == 0) _exit(fn() ? 0 : 1);
  const auto until = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > until) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

class InputWalkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    in_ = dir_.Sub("in");
    fs::create_directories(in_ + "/sub");
    WriteFile(in_ + "/a.txt", "alpha");
    WriteFile(in_ + "/sub/b.txt", "beta");
  }
  TempDir dir_;
  std::string in_;
};

// `ln -s .. sub/loop`: with or without following links, each file once.
TEST_F(InputWalkTest, DirectorySymlinkLoopIsWalkedOnce) {
  fs::create_directory_symlink("..", in_ + "/sub/loop");
  std::vector<std::string> notes;
  EXPECT_THAT(Listed(in_, false, &notes), ElementsAre("a.txt", "sub/b.txt"));
  EXPECT_THAT(notes, ElementsAre(HasSubstr("sub/loop: a symbolic link, not followed")));
  notes.clear();
  EXPECT_THAT(Listed(in_, true, &notes), ElementsAre("a.txt", "sub/b.txt"));
  EXPECT_THAT(notes,
              ElementsAre(HasSubstr("sub/loop: a symbolic link to a directory walked already")));

  // The build indexes each file once.
  BuildOptions o;
  o.inputs = {in_};
  o.index_dir = dir_.Sub("idx");
  o.follow_symlinks = true;
  auto summary = BuildIndex(o);
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->docs, 2u);
}

// Two links to "." make the number of paths through them grow as 2^depth:
// the walk must still end at once.
TEST_F(InputWalkTest, TwoDotSymlinksFinishFast) {
  fs::create_directory_symlink(".", in_ + "/x");
  fs::create_directory_symlink(".", in_ + "/y");
  fs::create_directory_symlink(".", in_ + "/sub/z");
  for (bool follow : {false, true}) {
    SCOPED_TRACE(follow ? "following links" : "not following links");
    EXPECT_TRUE(FinishesWithin(std::chrono::seconds(20), [&] {
      ExpandOptions options;
      options.follow_symlinks = follow;
      absl::StatusOr<std::vector<InputFile>> files = ExpandInputs({in_}, options);
      return files.ok() && files->size() == 2;
    })) << "the walk did not end within 20 s, or did not list the 2 files once";
    EXPECT_THAT(Listed(in_, follow), ElementsAre("a.txt", "sub/b.txt"));
  }
}

// A link out of the input directory: not followed unless asked.
TEST_F(InputWalkTest, SymlinkOutOfTheTreeIsFollowedOnlyWhenAsked) {
  fs::create_directories(dir_.Sub("outside"));
  WriteFile(dir_.Sub("outside/secret.txt"), "not for the index");
  WriteFile(dir_.Sub("outside.jsonl"), "{\"id\":\"o\",\"body\":\"outside\"}\n");
  fs::create_directory_symlink("../outside", in_ + "/out");
  fs::create_symlink(dir_.Sub("outside.jsonl"), in_ + "/sub/o.jsonl");
  std::vector<std::string> notes;
  EXPECT_THAT(Listed(in_, false, &notes), ElementsAre("a.txt", "sub/b.txt"));
  EXPECT_THAT(notes, ElementsAre(HasSubstr("in/out: a symbolic link, not followed"),
                                 HasSubstr("in/sub/o.jsonl: a symbolic link, not followed")));
  notes.clear();
  EXPECT_THAT(Listed(in_, true, &notes),
              ElementsAre("a.txt", "out/secret.txt", "sub/b.txt", in_ + "/sub/o.jsonl"));
  EXPECT_THAT(notes, ElementsAre());

  // Through the build: the outside documents only with follow_symlinks, and
  // the links not followed are reported.
  BuildOptions o;
  o.inputs = {in_};
  o.index_dir = dir_.Sub("idx");
  std::vector<std::string> warned;
  o.warn = [&](const std::string& line) { warned.push_back(line); };
  auto summary = BuildIndex(o);
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->docs, 2u);
  EXPECT_EQ(summary->skipped, 0u);
  EXPECT_EQ(warned.size(), 2u) << absl::StrJoin(warned, "\n");
  o.follow_symlinks = true;
  summary = BuildIndex(o);
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->docs, 4u);
  auto searcher = query::Searcher::Open(o.index_dir, query::SearcherOptions());
  ASSERT_THAT(searcher, IsOk());
  EXPECT_THAT((*searcher)->GetDocument("out/secret.txt"), IsOk());
}

// A file reached by several paths (links followed, hard links) is read once,
// under the first path in byte order.
TEST_F(InputWalkTest, AFileReachedTwiceIsReadOnce) {
  fs::create_symlink("../a.txt", in_ + "/sub/alias.txt");
  fs::create_hard_link(in_ + "/sub/b.txt", in_ + "/sub/c.txt");
  std::vector<std::string> notes;
  EXPECT_THAT(Listed(in_, false, &notes), ElementsAre("a.txt", "sub/b.txt"));
  EXPECT_THAT(notes, ElementsAre(HasSubstr("sub/alias.txt: a symbolic link, not followed"),
                                 HasSubstr("sub/c.txt: the same file as ")));
  notes.clear();
  EXPECT_THAT(Listed(in_, true, &notes), ElementsAre("a.txt", "sub/b.txt"));
  EXPECT_THAT(notes, ElementsAre(HasSubstr("sub/alias.txt: the same file as " + in_ + "/a.txt"),
                                 HasSubstr("sub/c.txt: the same file as ")));
}

// A text file whose name is not UTF-8 (caf\xe9.txt, Latin-1) cannot give an
// id: the build stops at it, or with skip_invalid reports it (its path
// escaped) and goes on, as for any bad document.
TEST_F(InputWalkTest, NonUtf8FileNameIsReportedAndSkipped) {
  const std::string latin1 = in_ + "/caf\xe9.txt";
  WriteFile(latin1, "coffee");
  fs::create_directories(in_ + "/d\xff");
  WriteFile(in_ + "/d\xff/x.txt", "in a directory named in Latin-1");
  // Listed as files: their names are not the problem, their ids are.
  EXPECT_EQ(Listed(in_, false).size(), 4u);

  BuildOptions o;
  o.inputs = {in_};
  o.index_dir = dir_.Sub("idx");
  std::vector<std::string> warned;
  o.warn = [&](const std::string& line) { warned.push_back(line); };
  EXPECT_THAT(BuildIndex(o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       in_ + "/caf\\xe9.txt: its path cannot be an id (not valid UTF-8)"));
  EXPECT_FALSE(fs::exists(o.index_dir + "/CURRENT"));
  o.skip_invalid = true;
  auto summary = BuildIndex(o);
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->docs, 2u);
  EXPECT_EQ(summary->skipped, 2u);
  EXPECT_THAT(warned, ElementsAre(in_ + "/caf\\xe9.txt: its path cannot be an id (not valid UTF-8) "
                                        "(skipped)",
                                  in_ + "/d\\xff/x.txt: its path cannot be an id (not valid UTF-8) "
                                        "(skipped)"));
  auto searcher = query::Searcher::Open(o.index_dir, query::SearcherOptions());
  ASSERT_THAT(searcher, IsOk());
  query::SearchRequest r;
  r.query = "coffee OR alpha OR latin";
  auto res = (*searcher)->Search(r);
  ASSERT_THAT(res, IsOk());
  ASSERT_EQ(res->hits.size(), 1u);
  EXPECT_EQ(res->hits[0].id, "a.txt");

  // Named on the command line: the same.
  o.inputs = {latin1};
  o.skip_invalid = false;
  EXPECT_THAT(BuildIndex(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                      "caf\\xe9.txt: its path cannot be an id"));
}

TEST(DisplayPath, EscapesWhatIsNotUtf8AndControlCharacters) {
  EXPECT_EQ(DisplayPath("dir/caf\xc3\xa9.txt"), "dir/caf\xc3\xa9.txt");
  EXPECT_EQ(DisplayPath("caf\xe9.txt"), "caf\\xe9.txt");
  EXPECT_EQ(DisplayPath("a\nb\x7f"), "a\\x0ab\\x7f");
  EXPECT_EQ(DisplayPath("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(DisplayPath("\xf0\x9f\x98"), "\\xf0\\x9f\\x98");  // cut short
  EXPECT_EQ(DisplayPath("東京"), "東京");
}

}  // namespace
}  // namespace scry::indexer
