// File: server/live_index.h
//
// The index a server answers from, one generation at a time, switched
// without a restart. A build (scry index / scry assemble) writes a new
// generation beside the served one and replaces CURRENT
// (storage/index_dir.h); LiveIndex notices it (a watcher thread reads
// CURRENT every `poll_ms`; Reload() checks at once, for an admin call or
// SIGHUP), opens the new generation and, only if that succeeds, makes it the
// one handed out. A generation that fails to open (damaged, wrong format) is
// refused with a logged error and the old one goes on serving; the same
// generation is not tried again until CURRENT changes or Reload() is called.
//
// A search takes the served Searcher once (Acquire) and runs on it to the
// end, so it never mixes shards of two generations; searches in flight when
// the switch happens finish on the old one. The old Searcher is closed on the
// watcher thread once the last search lets it go, which releases its
// generation lease (storage::GenerationLease), and the generations no reader
// leases any more are then removed from disk (RemoveUnusedGenerations).
//
// Thread safety: every method is safe to call concurrently.
#ifndef SCRY_SERVER_LIVE_INDEX_H_
#define SCRY_SERVER_LIVE_INDEX_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "query/searcher.h"

namespace scry::server {

struct LiveIndexOptions {
  std::string index_dir;
  query::SearcherOptions searcher;
  // How often the watcher reads CURRENT, in milliseconds; 0: never (only
  // Reload switches).
  int poll_ms = 500;
  // Receives one line per switch, refused generation and clean-up (no
  // newline); nullptr: silent.
  std::function<void(const std::string&)> log;
  // Check every generation before serving it (storage/verify.h: every block
  // checksum and posting list; it reads the whole index): one with damage is
  // refused like one that fails to open (DataLoss naming the first problem).
  bool verify_on_open = false;
  // Called with false when a search finds the served generation damaged
  // (ReportDamage), and with true when a new generation replaces a damaged
  // one: what the health service should say. nullptr: not called.
  std::function<void(bool healthy)> on_health;
};

// What is served now.
struct LiveIndexInfo {
  std::string generation;       // "gen-000007"
  absl::Time loaded_at;         // when it began to be served
  uint64_t reloads = 0;         // generations switched to after the first
  uint64_t failed_reloads = 0;  // generations refused
  uint64_t refreshes = 0;       // snapshots of live writes served (Refresh)
  uint64_t merges = 0;          // snapshots of merged live segments served
  std::string last_error;       // why the last refused one was refused ("" if none)
  // Whether a search found the served generation damaged (ReportDamage),
  // and what it found; cleared when another generation is served.
  bool damaged = false;
  std::string damage;
};

class LiveIndex {
 public:
  // Opens the generation CURRENT names and starts the watcher. The errors of
  // query::Searcher::Open (FailedPrecondition if there is no index).
  static absl::StatusOr<std::unique_ptr<LiveIndex>> Open(const LiveIndexOptions& options);

  // Stops the watcher. Searchers still held by callers stay valid; each is
  // closed when its last holder lets it go.
  ~LiveIndex();
  LiveIndex(const LiveIndex&) = delete;
  LiveIndex& operator=(const LiveIndex&) = delete;

  // The Searcher of the generation served now; hold it for one request.
  std::shared_ptr<const query::Searcher> Acquire() const;

  // Switches to the generation CURRENT names if it is not the one served.
  // Returns the generation served afterwards. On a failure to open the new
  // generation, the error (its message names the generation), and the old
  // one is still served. Concurrent calls (and the watcher) take turns: a
  // call that finds another reload running waits for it, then looks again.
  // *switched (if given) tells whether this call made the switch.
  absl::StatusOr<std::string> Reload(bool* switched = nullptr);

  // A live index's refresh (server/live_segments.h): serves `make(served)`,
  // a Searcher of the same generation with other segments and deletes,
  // instead of the Searcher served now. Takes turns with Reload, so `make`
  // always starts from what is served and a refresh never brings back a
  // generation a reload has just left. If `make` fails, its error, and
  // nothing changes. Searches in flight finish on the Searcher they hold.
  // `kind` says which count of info() it adds to.
  using MakeSearcher =
      std::function<absl::StatusOr<std::unique_ptr<query::Searcher>>(const query::Searcher&)>;
  enum class RefreshKind { kWrites, kMerge };
  absl::Status Refresh(const MakeSearcher& make, RefreshKind kind = RefreshKind::kWrites);

  // How a live index carries its writes onto a new generation before it is
  // served (LiveApplier): `rebase` gets the new generation's Searcher as
  // opened and must call `serve` (at most once) with what to serve instead,
  // the log's writes applied onto it, while it keeps writes from being
  // applied meanwhile. So a reload never serves a generation without the
  // writes acknowledged and refreshed before it: no search sees them vanish
  // and come back. If `rebase` fails without serving, the old generation
  // stays served and the new one counts as refused. nullptr (the default):
  // served as opened. Waits for a running reload; the hook is not called
  // after this returns with another one.
  using ServeSearcher = std::function<void(std::unique_ptr<query::Searcher>)>;
  using Rebase = std::function<absl::Status(std::unique_ptr<query::Searcher> fresh,
                                            const ServeSearcher& serve)>;
  void SetRebase(Rebase rebase);

  // Asks the watcher to Reload soon, without waiting (for a signal handler's
  // thread). No-op after destruction began.
  void ReloadSoon();

  // Tells that a read of `searcher`'s generation met damage (DataLoss:
  // a block checksum, a missing or truncated file). If that generation is
  // still served, it is marked damaged (logged once, on_health(false))
  // until a new generation is served; searches go on being answered (the
  // damage may touch only some of them), but the health service says
  // NOT_SERVING so that load balancers and brokers prefer a sound replica.
  void ReportDamage(const query::Searcher& searcher, const absl::Status& status);

  LiveIndexInfo info() const;

 private:
  // What the Searchers' deleters share with the watcher: it may outlive the
  // LiveIndex (a request may hold a Searcher past the server's shutdown).
  struct Shared {
    std::mutex mu;
    std::condition_variable wake;  // any member below changed
    std::vector<std::unique_ptr<const query::Searcher>> released;
    bool stop = false;
    bool reload_requested = false;
  };

  explicit LiveIndex(const LiveIndexOptions& options);
  // Opens the generation CURRENT names, verified if options_.verify_on_open.
  absl::StatusOr<std::unique_ptr<query::Searcher>> OpenGeneration() const;
  // Wraps `searcher` so that its last release hands it to the watcher.
  std::shared_ptr<const query::Searcher> Share(std::unique_ptr<query::Searcher> searcher);
  void Watch();
  // Closes the searchers let go, then removes unused generations.
  void CloseReleased();
  void Log(const std::string& line) const;

  const LiveIndexOptions options_;
  const std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();

  mutable std::mutex mu_;  // guards current_, info_ and refused_
  std::shared_ptr<const query::Searcher> current_;
  LiveIndexInfo info_;
  std::string refused_;  // a generation that failed to open: not retried by the watcher

  // Lock order: switch_mu_, then the rebase hook's own locks, then
  // reload_mu_, then mu_.
  std::mutex switch_mu_;  // one Reload at a time; guards rebase_
  Rebase rebase_;
  std::mutex reload_mu_;  // one change of current_ at a time (Reload's switch, Refresh)
  std::thread watcher_;
};

}  // namespace scry::server

#endif  // SCRY_SERVER_LIVE_INDEX_H_
