#include <perennial/coordinator/startup_beats.hpp>

namespace perennial {

StartupBeats::StartupBeats(const WorkerPools& pools, std::chrono::milliseconds period,
                           std::chrono::duration<double> limit)
    : pools_(pools), period_(period), limit_(limit), thread_([this] { run(); }) {}

StartupBeats::~StartupBeats() { stop(); }

void StartupBeats::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StartupBeats::run() {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(limit_);
  std::unique_lock lock(mutex_);
  while (!stop_ && std::chrono::steady_clock::now() < until) {
    pools_.beat_live_workers();
    wake_.wait_for(lock, period_, [this] { return stop_; });
  }
}

}  // namespace perennial
