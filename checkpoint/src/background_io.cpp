#include <perennial/checkpoint/background_io.hpp>

#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace perennial::checkpoint {

namespace {

// One per process: HDF5's state is global, so is the right to use it.
struct Gate {
  std::mutex mutex;
  std::condition_variable ended;
  std::atomic<bool> busy{false};
};

Gate& gate() {
  static Gate g;
  return g;
}

thread_local bool on_job_thread = false;

}  // namespace

BackgroundIo::BackgroundIo(std::function<void()> job) {
  Gate& g = gate();
  {
    std::lock_guard lock(g.mutex);
    if (g.busy.load()) throw std::logic_error("a background HDF5 job is already running in this process");
    g.busy.store(true, std::memory_order_release);
  }
  thread_ = std::thread([this, job = std::move(job)] {
    on_job_thread = true;
    try {
      job();
    } catch (...) {
      error_ = std::current_exception();
    }
    Gate& gg = gate();
    {
      std::lock_guard lock(gg.mutex);
      gg.busy.store(false, std::memory_order_release);
      done_.store(true, std::memory_order_release);
    }
    gg.ended.notify_all();
  });
}

BackgroundIo::~BackgroundIo() {
  if (thread_.joinable()) thread_.join();
}

void BackgroundIo::wait() {
  if (thread_.joinable()) thread_.join();
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

namespace detail {

void wait_for_background_io() {
  Gate& g = gate();
  // The common case (no job, or the job itself calling in) costs one atomic load.
  if (on_job_thread || !g.busy.load(std::memory_order_acquire)) return;
  std::unique_lock lock(g.mutex);
  g.ended.wait(lock, [&g] { return !g.busy.load(std::memory_order_acquire); });
}

}  // namespace detail

}  // namespace perennial::checkpoint
