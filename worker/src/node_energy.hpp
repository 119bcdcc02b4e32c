#pragma once
// NodeEnergy: this process's view of its node's RAPL counters (see perennial/energy.hpp), read
// at each stage's start and end, and kept up by the heartbeat thread often enough that no
// counter wraps twice unseen. The root is /sys/class/powercap, or PERENNIAL_POWERCAP_ROOT (a
// fake tree, for tests). Thread-safe: the stage runner and the heartbeat thread share it.

#include <perennial/energy.hpp>

#include <chrono>
#include <mutex>

namespace perennial {

class NodeEnergy {
 public:
  static NodeEnergy& instance();
  /// Joules since this process first read the counters, or unavailable with the reason.
  EnergyFigure sample();
  /// A sample, when the last one is older than a second (called by the heartbeat thread).
  void keep_up();

 private:
  NodeEnergy();
  std::mutex mutex_;
  PowercapCounter counter_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace perennial
