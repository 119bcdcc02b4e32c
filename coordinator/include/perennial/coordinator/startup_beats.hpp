#pragma once
// StartupBeats: rank 0's beats to the workers before its loop runs (while it validates the
// campaign, reads the journal and checks earlier outputs). Workers take a silent coordinator
// for dead from the moment the ranks have met, so a rank 0 that dies while validating a
// 30,000-stage campaign ends the job instead of leaving it waiting until its walltime.
// Thin MPI glue over WorkerPools::beat_live_workers.

#include <perennial/coordinator/worker_pools.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace perennial {

class StartupBeats {
 public:
  /// Beats every `period` from a thread of its own, until stop() and for at most `limit`: a
  /// coordinator stuck in its start-up must not keep the job alive forever. The pools must
  /// not change meanwhile (nothing is spawned before the loop runs).
  StartupBeats(const WorkerPools& pools, std::chrono::milliseconds period, std::chrono::duration<double> limit);
  ~StartupBeats();  ///< stop()
  StartupBeats(const StartupBeats&) = delete;
  StartupBeats& operator=(const StartupBeats&) = delete;

  /// The coordinator loop beats from now on; returns once the thread has ended.
  void stop();

 private:
  void run();

  const WorkerPools& pools_;
  std::chrono::milliseconds period_;
  std::chrono::duration<double> limit_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace perennial
