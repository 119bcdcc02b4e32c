#pragma once
// BackgroundIo: one piece of HDF5 work (an asynchronous checkpoint epoch) on a thread of its
// own, while the thread that started it goes on computing.
//
// HDF5 1.10 as Debian builds it is not thread-safe. While a job runs, every other thread
// that enters this library waits in ensure_hdf5_quiet() (which each entry point calls
// first) until the job has ended; so restores, output writes, input reads and the next
// checkpoint serialise with the one in flight instead of corrupting HDF5's state. At most
// one job runs per process. The job's own MPI calls need MPI_THREAD_MULTIPLE and a
// communicator no other thread uses (a duplicate made before the job starts).

#include <atomic>
#include <exception>
#include <functional>
#include <thread>

namespace perennial::checkpoint {

class BackgroundIo {
 public:
  /// Starts `job` on a new thread. Throws std::logic_error when another job is running.
  explicit BackgroundIo(std::function<void()> job);
  /// Waits for the job (a thread must not outlive the state it writes from).
  ~BackgroundIo();
  BackgroundIo(const BackgroundIo&) = delete;
  BackgroundIo& operator=(const BackgroundIo&) = delete;

  /// Whether the job has ended. Local, never blocks.
  bool done() const { return done_.load(std::memory_order_acquire); }
  /// Waits for the job to end; rethrows what it threw, once. Call from the starting thread.
  void wait();

 private:
  std::atomic<bool> done_{false};
  std::exception_ptr error_;
  std::thread thread_;
};

namespace detail {
/// Returns at once on the job's own thread or when no job runs; else waits for it to end.
void wait_for_background_io();
}  // namespace detail

}  // namespace perennial::checkpoint
