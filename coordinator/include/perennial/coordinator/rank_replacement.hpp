#pragma once
// RankReplacement: fresh worker processes for lost ones. Spawns wait until the lost processes
// on this host have exited and go out one at a time, a node's worth of losses together (Open
// MPI 4.1.4 was seen to hang a new job's MPI_Init when it was launched while the last process
// of an earlier spawned job was still exiting). Spares (add_spares) replace nothing and wait
// for nothing. A spawn that never answers is bounded: its half-started processes on
// this host are ended and replacement stops for the run. Thin glue over Respawner and /proc.

#include <perennial/coordinator/respawner.hpp>
#include <perennial/coordinator/worker_pools.hpp>

#include <cstddef>
#include <map>
#include <optional>
#include <utility>
#include <string>
#include <vector>

namespace perennial {

class RankReplacement {
 public:
  /// `respawner` may be null: lost ranks are then never replaced.
  RankReplacement(WorkerPools& workers, Respawner* respawner, double spawn_timeout_seconds);

  /// Whether lost ranks are being replaced (a respawner, and no spawn has failed).
  bool active() const { return respawner_ && !broken_; }
  /// Asks for as many new workers as `lost`. Only when active().
  void replace(const std::vector<int>& lost, double now);
  /// Asks for `count` new workers that replace nothing (spares), without the settle.
  void add_spares(std::size_t count, double now);
  /// Workers asked for that have not joined yet: until they do, no stage is judged too large.
  std::size_t expected() const { return expected_; }
  /// Nothing asked for is pending.
  bool idle() const { return spawning_.empty() && deferred_.empty(); }

  /// What happened since the last poll.
  struct Progress {
    std::optional<std::pair<std::size_t, int>> requested;  ///< a spawn went out: (ranks, first id)
    std::vector<std::pair<std::size_t, double>> joined;    ///< pools that joined: (pool index, seconds)
    std::optional<std::string> failed;                     ///< replacement stopped for good, and why
  };
  Progress poll(double now);

 private:
  void start_deferred(double now, Progress& progress);
  void fail(const std::string& error, Progress& progress);
  std::size_t kill_unconnected_workers() const;

  struct Deferred {
    std::size_t count = 0;
    std::vector<int> pids;  ///< lost processes on this host, to see exit first
    double asked_at = 0.0;
    std::optional<double> gone_at;
  };
  WorkerPools& workers_;
  Respawner* respawner_;
  double spawn_timeout_;
  std::string own_host_;
  std::vector<Deferred> deferred_;
  std::map<std::uint64_t, std::size_t> spawning_;  ///< respawn ticket -> ranks asked for
  std::optional<double> last_spawn_done_;
  std::size_t expected_ = 0;
  int next_spawn_id_ = 0;
  bool broken_ = false;
};

/// State and parent of a local process, from /proc/<pid>/stat; nullopt when it is gone.
struct ProcessStat {
  char state = 'Z';
  long parent = 0;
};
std::optional<ProcessStat> process_stat(const std::filesystem::path& proc_dir);
/// Gone and reaped by its parent (mpirun or orted): a zombie is not gone.
bool process_gone(int pid);
/// Still running: it exists and is not a zombie (ended, reaped or not).
bool process_running(int pid);
/// The local processes whose parent is `parent`, zombies included: (pid, stat) of each, from a
/// walk of /proc that skips what ends under it and never throws.
std::vector<std::pair<int, ProcessStat>> child_processes(long parent);

}  // namespace perennial
