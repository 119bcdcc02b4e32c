#pragma once
// HeartbeatThread: a worker's second thread (MPI_THREAD_MULTIPLE). Every period it tells
// rank 0 this process is alive, on a communicator of its own; and it obeys an abort: when
// rank 0 declares a member of this worker's stage group dead, the main thread may be stuck
// in a collective with it forever (Open MPI 4.1 has no ULFM), so this thread flushes the
// logs and ends the process with _exit.

#include <boost/mpi/communicator.hpp>

#include <atomic>
#include <chrono>
#include <thread>

namespace perennial {

class HeartbeatThread {
 public:
  HeartbeatThread(const boost::mpi::communicator& heartbeat, std::chrono::milliseconds period);
  ~HeartbeatThread();  ///< stops and joins the thread
  HeartbeatThread(const HeartbeatThread&) = delete;
  HeartbeatThread& operator=(const HeartbeatThread&) = delete;

  /// The exit status of a process ended by an abort.
  static constexpr int kAbortedExitCode = 70;

 private:
  void run();

  boost::mpi::communicator comm_;
  std::chrono::milliseconds period_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace perennial
