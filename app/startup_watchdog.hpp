#pragma once
// StartupWatchdog: a bound on the collective start-up of a job (duplicating the control
// communicators, the hello all-gather). Open MPI 4.1 without ULFM returns no error to ranks
// waiting in a collective with a rank that died (under --enable-recovery): without a bound,
// a rank 0 that dies while the job starts would leave every worker waiting until walltime.
//
// Besides the bound, it watches the job's other processes on this host: the siblings that
// share this process's parent (mpirun, or the node's orted) and its command line, which is
// how mpirun starts the ranks of one job or of one spawn. One that ends before this process
// has met the others cannot meet them either, so the start-up is over at once rather than at
// the bound (120 s by default; PMIx does not report the death here, see the README). A
// spawned worker also watches the rank 0 that spawned it, when on the same host. Ranks on
// other hosts are still found by the bound alone.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <unistd.h>

#include <perennial/coordinator/rank_replacement.hpp>
#include <perennial/proc_file.hpp>

namespace perennial {

namespace startup_detail {

/// Pids of the processes that share this one's parent and command line, this one left out.
/// Empty when the kernel does not list children (/proc/PID/task/PID/children).
inline std::set<int> siblings() {
  const int parent = static_cast<int>(::getppid());
  const int self = static_cast<int>(::getpid());
  const std::string mine = read_proc_file("/proc/self/cmdline");
  std::set<int> out;
  std::ifstream children("/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) + "/children");
  int pid = 0;
  while (children >> pid) {
    if (pid != self && read_proc_file("/proc/" + std::to_string(pid) + "/cmdline") == mine) out.insert(pid);
  }
  return out;
}

}  // namespace startup_detail

class StartupWatchdog {
 public:
  /// How often the siblings are looked at: a tenth of a second for a start-up that takes
  /// seconds, a few hundred microseconds of CPU each time.
  static constexpr std::chrono::milliseconds kLookEvery{100};

  /// Ends the process (exit status 71, like a worker that lost its coordinator) unless
  /// disarm() comes within `limit`, or as soon as a sibling on this host ends first.
  explicit StartupWatchdog(std::chrono::duration<double> limit)
      : thread_([this, limit] {
          const auto deadline =
              std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(limit);
          std::set<int> watched;
          std::unique_lock lock(mutex_);
          while (!disarmed_) {
            // Siblings are added as mpirun starts them; one seen once and now gone has ended.
            for (const int pid : startup_detail::siblings()) watched.insert(pid);
            watched.insert(also_watched_.begin(), also_watched_.end());
            for (const int pid : watched) {
              if (!process_running(pid)) {
                std::fprintf(stderr,
                             "perennial: process %d of this job on this host ended while the job's ranks were "
                             "starting; they cannot meet, so this rank ends\n",
                             pid);
                std::fflush(stderr);
                ::_exit(71);
              }
            }
            const auto now = std::chrono::steady_clock::now();
            if (now >= deadline) {
              std::fprintf(stderr,
                           "perennial: the job's ranks did not all meet within %.0f s of starting (a rank died or "
                           "hangs at start-up); this rank ends\n",
                           limit.count());
              std::fflush(stderr);
              ::_exit(71);
            }
            wake_.wait_until(lock, std::min(deadline, now + kLookEvery), [this] { return disarmed_; });
          }
        }) {}
  ~StartupWatchdog() { disarm(); }
  StartupWatchdog(const StartupWatchdog&) = delete;
  StartupWatchdog& operator=(const StartupWatchdog&) = delete;

  /// Watches `pid` too, as a sibling (a spawned worker watches the rank 0 that spawned it,
  /// when it runs on the same host). A pid that is not running now is ignored.
  void watch(int pid) {
    if (pid <= 0 || !process_running(pid)) return;
    std::lock_guard lock(mutex_);
    also_watched_.insert(pid);
  }

  void disarm() {
    {
      std::lock_guard lock(mutex_);
      disarmed_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool disarmed_ = false;
  std::set<int> also_watched_;  ///< watch()'s pids
  std::thread thread_;  ///< last: started once the rest is built
};

}  // namespace perennial
