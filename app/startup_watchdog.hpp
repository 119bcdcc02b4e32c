#pragma once
// StartupWatchdog: a bound on the collective start-up of a job (duplicating the control
// communicators, the hello all-gather). Open MPI 4.1 without ULFM returns no error to ranks
// waiting in a collective with a rank that died (under --enable-recovery): without a bound,
// a rank 0 that dies while the job starts would leave every worker waiting until walltime.

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include <unistd.h>

namespace perennial {

class StartupWatchdog {
 public:
  /// Ends the process (exit status 71, like a worker that lost its coordinator) unless
  /// disarm() comes within `limit`.
  explicit StartupWatchdog(std::chrono::duration<double> limit)
      : thread_([this, limit] {
          std::unique_lock lock(mutex_);
          if (wake_.wait_for(lock, limit, [this] { return disarmed_; })) return;
          std::fprintf(stderr,
                       "perennial: the job's ranks did not all meet within %.0f s of starting (a rank died or "
                       "hangs at start-up); this rank ends\n",
                       limit.count());
          std::fflush(stderr);
          ::_exit(71);
        }) {}
  ~StartupWatchdog() { disarm(); }
  StartupWatchdog(const StartupWatchdog&) = delete;
  StartupWatchdog& operator=(const StartupWatchdog&) = delete;

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
  std::thread thread_;
};

}  // namespace perennial
