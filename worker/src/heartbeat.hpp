#pragma once
// HeartbeatThread: a worker's second thread (MPI_THREAD_MULTIPLE), on a communicator of its
// own. It does three things the main thread cannot, since that one may be stuck in a
// collective with a dead rank forever (Open MPI 4.1 has no ULFM):
// - every period it tells rank 0 this process is alive;
// - it obeys an abort: rank 0 declared a member of this worker's stage group dead (or this
//   worker itself), so it flushes the logs and ends the process with _exit;
// - it watches the coordinator's own beats: with rank 0 silent past a timeout the job has
//   lost its coordinator, and this process ends rather than keep the job alive forever.

#include <boost/mpi/communicator.hpp>

#include <atomic>
#include <chrono>
#include <thread>

namespace perennial {

class HeartbeatThread {
 public:
  HeartbeatThread(const boost::mpi::communicator& heartbeat, std::chrono::milliseconds period,
                  std::chrono::duration<double> coordinator_timeout);
  ~HeartbeatThread();  ///< stops and joins the thread
  HeartbeatThread(const HeartbeatThread&) = delete;
  HeartbeatThread& operator=(const HeartbeatThread&) = delete;

  /// The exit status of a process ended by an abort.
  static constexpr int kAbortedExitCode = 70;
  /// The exit status of a process that lost its coordinator.
  static constexpr int kOrphanedExitCode = 71;

 private:
  void run();

  boost::mpi::communicator comm_;
  std::chrono::milliseconds period_;
  std::chrono::duration<double> coordinator_timeout_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace perennial
