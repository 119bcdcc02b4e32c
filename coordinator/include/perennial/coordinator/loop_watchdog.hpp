#pragma once
// LoopWatchdog: a bound on rank 0's own loop. Every wait the loop makes is bounded, but Open
// MPI can run blocking work from inside any MPI call's progress engine: the soak caught rank
// 0 in MPI_Iprobe -> (spawn's connect/accept) -> PMIx_Lookup, waiting up to the 10 minutes
// Open MPI 4.1 hard-codes for the port of replacement ranks that had died before connecting.
// Rank 0 then sends no beats, the workers end themselves, and the job would sit there. A
// loop that has not come round within `limit` ends rank 0 (exit status 72), so the job ends
// and the same command resumes the campaign from its journal (synced every 20 ms).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include <unistd.h>

namespace perennial {

class LoopWatchdog {
 public:
  explicit LoopWatchdog(std::chrono::duration<double> limit)
      : last_(now_ns()), thread_([this, limit] {
          const auto limit_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(limit).count();
          std::unique_lock lock(mutex_);
          while (!stopped_) {
            wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopped_; });
            if (stopped_) return;
            const auto silent = now_ns() - last_.load(std::memory_order_relaxed);
            if (silent < limit_ns) continue;
            std::fprintf(stderr,
                         "perennial: the coordinator's loop has not come round for %.0f s (stuck inside an MPI call, "
                         "typically a respawn whose new ranks died before they connected); ending it so that the job "
                         "ends: run the same command again to resume from the journal\n",
                         static_cast<double>(silent) / 1e9);
            std::fflush(stderr);
            ::_exit(72);
          }
        }) {}
  ~LoopWatchdog() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  LoopWatchdog(const LoopWatchdog&) = delete;
  LoopWatchdog& operator=(const LoopWatchdog&) = delete;

  /// The loop came round.
  void alive() { last_.store(now_ns(), std::memory_order_relaxed); }

 private:
  static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  std::atomic<std::int64_t> last_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace perennial
