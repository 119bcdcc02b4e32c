#pragma once
// HeartbeatMonitor: when each worker rank was last heard from, and which have been silent
// too long. Open MPI 4.1 raises no error for a dead peer (it just goes quiet), so silence
// is how rank 0 learns of a death. Plain C++, times in seconds on any monotonic clock.

#include <map>
#include <vector>

namespace perennial {

class HeartbeatMonitor {
 public:
  HeartbeatMonitor(const std::vector<int>& ranks, double now, double timeout_seconds);

  /// Beats from ranks not watched are ignored: a rank forgotten stays forgotten.
  void beat(int rank, double now);
  /// Starts watching a rank (one spawned later), as if it had just beaten.
  void watch(int rank, double now) { last_[rank] = now; }
  /// Ranks silent for at least the timeout, not reported before; each is reported once.
  std::vector<int> newly_silent(double now);
  /// Stop watching a rank (it was ended on purpose).
  void forget(int rank) { last_.erase(rank); }
  double silence(int rank, double now) const;
  double timeout() const { return timeout_; }

 private:
  std::map<int, double> last_;
  double timeout_;
};

}  // namespace perennial
