#pragma once
// FinalizeBound: a bound on MPI_Finalize. Open MPI 4.1's MPI_Finalize ends with a fence over
// every rank of the job, and a rank that died (or left with _exit) never joins it: the others
// wait there for ever, and mpirun, `perennial launch` and the batch job with them. Rank 0 tells
// the workers to leave without MPI_Finalize when it knows of a death (msg::Shutdown), but it
// can learn of one too late: a worker on another host that dies within the heartbeat timeout
// of the campaign's end, or any rank that dies during the fence itself. Everything a rank
// writes is on disk before it reaches MPI_Finalize, so leaving without it loses nothing.
//
// Declared before boost::mpi::environment (so it outlives the environment's destructor, which
// calls MPI_Finalize) and armed just before that destructor runs.

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include <unistd.h>

namespace perennial {

class FinalizeBound {
 public:
  explicit FinalizeBound(std::chrono::duration<double> limit) : limit_(limit) {}
  ~FinalizeBound() {
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  FinalizeBound(const FinalizeBound&) = delete;
  FinalizeBound& operator=(const FinalizeBound&) = delete;

  /// Starts the clock: unless this object is destroyed within the limit (MPI_Finalize
  /// returned), the process flushes its logs and ends with `exit_code` without MPI_Finalize.
  void arm(int exit_code) {
    if (thread_.joinable()) return;
    thread_ = std::thread([this, exit_code] {
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(limit_);
      std::unique_lock lock(mutex_);
      if (wake_.wait_until(lock, deadline, [this] { return finished_; })) return;
      std::fprintf(stderr,
                   "perennial: MPI_Finalize has not ended %.0f s after this rank (pid %d) reached it: a rank of the "
                   "job ended without it; leaving without it (its results are on disk)\n",
                   limit_.count(), static_cast<int>(::getpid()));
      spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& log) { log->flush(); });
      std::fflush(nullptr);
      ::_exit(exit_code);
    });
  }

 private:
  std::chrono::duration<double> limit_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace perennial
