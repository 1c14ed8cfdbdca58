// File: server/live_index.cc
#include "server/live_index.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "storage/index_dir.h"
#include "storage/status.h"
#include "storage/verify.h"

namespace scry::server {

LiveIndex::LiveIndex(const LiveIndexOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<LiveIndex>> LiveIndex::Open(const LiveIndexOptions& options) {
  std::unique_ptr<LiveIndex> live(new LiveIndex(options));
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<query::Searcher> searcher, live->OpenGeneration());
  live->info_.generation = searcher->generation();
  live->info_.loaded_at = absl::Now();
  live->current_ = live->Share(std::move(searcher));
  // Leftovers of an earlier server or build that nobody reads any more.
  live->CloseReleased();
  live->watcher_ = std::thread([l = live.get()] { l->Watch(); });
  return live;
}

LiveIndex::~LiveIndex() {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->stop = true;
  }
  shared_->wake.notify_all();
  if (watcher_.joinable()) watcher_.join();
  // From here a Searcher's last release closes it on the releasing thread.
  std::vector<std::unique_ptr<const query::Searcher>> released;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    released.swap(shared_->released);
  }
}

std::shared_ptr<const query::Searcher> LiveIndex::Share(std::unique_ptr<query::Searcher> searcher) {
  std::weak_ptr<Shared> shared = shared_;
  return std::shared_ptr<const query::Searcher>(searcher.release(),
                                                [shared](const query::Searcher* s) {
                                                  std::unique_ptr<const query::Searcher> owned(s);
                                                  if (std::shared_ptr<Shared> sh = shared.lock()) {
                                                    std::unique_lock<std::mutex> lock(sh->mu);
                                                    if (!sh->stop) {
                                                      // Closing RocksDB takes milliseconds: not on
                                                      // a request's thread.
                                                      sh->released.push_back(std::move(owned));
                                                      lock.unlock();
                                                      sh->wake.notify_all();
                                                    }
                                                  }
                                                  // Otherwise `owned` closes it here.
                                                });
}

absl::StatusOr<std::unique_ptr<query::Searcher>> LiveIndex::OpenGeneration() const {
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<query::Searcher> searcher,
                        query::Searcher::Open(options_.index_dir, options_.searcher));
  if (!options_.verify_on_open) return searcher;
  // The Searcher leases the generation: it cannot be removed while read.
  const absl::Time start = absl::Now();
  SCRY_ASSIGN_OR_RETURN(
      const storage::VerifyReport report,
      storage::VerifyGeneration(absl::StrCat(options_.index_dir, "/", searcher->generation())));
  if (!report.ok()) {
    return absl::DataLossError(absl::StrCat(searcher->generation(), " failed verification (",
                                            report.Summary(), "), first: ", report.problems[0]));
  }
  Log(absl::StrCat("verified ", searcher->generation(), " in ",
                   absl::FormatDuration(absl::Now() - start), ": ", report.Summary()));
  return searcher;
}

std::shared_ptr<const query::Searcher> LiveIndex::Acquire() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

LiveIndexInfo LiveIndex::info() const {
  std::lock_guard<std::mutex> lock(mu_);
  return info_;
}

void LiveIndex::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

absl::StatusOr<std::string> LiveIndex::Reload(bool* switched) {
  if (switched != nullptr) *switched = false;
  std::lock_guard<std::mutex> switch_lock(switch_mu_);
  std::string served;
  {
    std::lock_guard<std::mutex> lock(mu_);
    served = info_.generation;
  }
  const std::string live = storage::CurrentGenerationName(options_.index_dir);
  if (live.empty()) {
    // The directory vanished or CURRENT is unreadable: keep what we have.
    return absl::FailedPreconditionError(
        absl::StrCat("no index at ", options_.index_dir,
                     " any more (no readable CURRENT); still serving ", served));
  }
  if (live == served) return served;
  absl::StatusOr<std::unique_ptr<query::Searcher>> opened = OpenGeneration();
  std::string now;
  bool was_damaged = false;
  // Serves `next` (at most once).
  const ServeSearcher serve = [&](std::unique_ptr<query::Searcher> next) {
    if (!now.empty()) return;
    now = next->generation();
    std::shared_ptr<const query::Searcher> old;
    std::lock_guard<std::mutex> reload_lock(reload_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    old = std::move(current_);
    current_ = Share(std::move(next));
    info_.generation = now;
    info_.loaded_at = absl::Now();
    ++info_.reloads;
    refused_.clear();
    was_damaged = info_.damaged;
    info_.damaged = false;
    info_.damage.clear();
  };  // `old` goes when its last search does
  absl::Status status = opened.status();
  if (opened.ok()) {
    if (rebase_ != nullptr) {
      status = rebase_(std::move(*opened), serve);
      if (status.ok() && now.empty()) status = absl::InternalError("the rebase served nothing");
    } else {
      serve(std::move(*opened));
    }
  }
  if (now.empty()) {
    // CURRENT may have moved on while we opened: the generation named is
    // the one we tried.
    const std::string error =
        absl::StrCat("cannot serve ", live, " (still serving ", served, "): ", status.message());
    {
      std::lock_guard<std::mutex> lock(mu_);
      refused_ = live;
      ++info_.failed_reloads;
      info_.last_error = error;
    }
    Log(error);
    return absl::Status(status.code(), error);
  }
  if (!status.ok()) Log(absl::StrCat("after serving ", now, ": ", status.message()));
  // CURRENT may have moved on while we opened: we serve what we opened (it
  // is leased and whole); the next reload takes the newer one.
  Log(absl::StrCat("now serving ", now, " (was ", served, ")"));
  if (was_damaged && options_.on_health) options_.on_health(true);
  if (switched != nullptr) *switched = true;
  return now;
}

void LiveIndex::SetRebase(Rebase rebase) {
  std::lock_guard<std::mutex> switch_lock(switch_mu_);
  rebase_ = std::move(rebase);
}

absl::Status LiveIndex::Refresh(const MakeSearcher& make, RefreshKind kind) {
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  const std::shared_ptr<const query::Searcher> served = Acquire();
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<query::Searcher> next, make(*served));
  if (next->generation() != served->generation()) {
    return absl::InternalError(absl::StrCat("a refresh of ", served->generation(),
                                            " made a Searcher of ", next->generation()));
  }
  std::shared_ptr<const query::Searcher> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = std::move(current_);
    current_ = Share(std::move(next));
    ++(kind == RefreshKind::kMerge ? info_.merges : info_.refreshes);
  }
  return absl::OkStatus();  // `old` goes when its last search does
}

void LiveIndex::ReportDamage(const query::Searcher& searcher, const absl::Status& status) {
  std::string generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_.get() != &searcher || info_.damaged) return;
    info_.damaged = true;
    info_.damage = std::string(status.message());
    generation = info_.generation;
  }
  Log(absl::StrCat(generation, " is damaged (", status.message(),
                   "); health NOT_SERVING until a new generation is served (scry verify "
                   "--index says what else is)"));
  if (options_.on_health) options_.on_health(false);
}

void LiveIndex::ReloadSoon() {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->reload_requested = true;
  }
  shared_->wake.notify_all();
}

void LiveIndex::CloseReleased() {
  std::vector<std::unique_ptr<const query::Searcher>> released;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    released.swap(shared_->released);
  }
  released.clear();  // closes them: their leases end
  absl::StatusOr<std::vector<std::string>> removed =
      storage::RemoveUnusedGenerations(options_.index_dir);
  if (!removed.ok()) {
    Log(absl::StrCat("cannot remove old generations: ", removed.status().message()));
  } else if (!removed->empty()) {
    Log(absl::StrCat("removed ", absl::StrJoin(*removed, ", ")));
  }
}

void LiveIndex::Watch() {
  const auto poll = std::chrono::milliseconds(options_.poll_ms > 0 ? options_.poll_ms : 3600000);
  bool vanished = false;  // logged once per disappearance
  for (;;) {
    bool requested = false, closing = false;
    {
      std::unique_lock<std::mutex> lock(shared_->mu);
      shared_->wake.wait_for(lock, poll, [&] {
        return shared_->stop || shared_->reload_requested || !shared_->released.empty();
      });
      if (shared_->stop) return;
      requested = shared_->reload_requested;
      shared_->reload_requested = false;
      closing = !shared_->released.empty();
    }
    if (closing) CloseReleased();
    std::string served, refused;
    {
      std::lock_guard<std::mutex> lock(mu_);
      served = info_.generation;
      refused = refused_;
    }
    const std::string live = storage::CurrentGenerationName(options_.index_dir);
    if (live.empty() != vanished) {
      vanished = live.empty();
      Log(vanished ? absl::StrCat("no readable CURRENT in ", options_.index_dir, "; still serving ",
                                  served)
                   : absl::StrCat("CURRENT in ", options_.index_dir, " is back"));
    }
    // A refused generation waits for a new CURRENT or an explicit request.
    if (requested || (options_.poll_ms > 0 && !live.empty() && live != served && live != refused)) {
      (void)Reload();  // logged
    }
  }
}

}  // namespace scry::server
