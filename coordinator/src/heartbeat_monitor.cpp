#include <perennial/coordinator/heartbeat_monitor.hpp>

namespace perennial {

HeartbeatMonitor::HeartbeatMonitor(const std::vector<int>& ranks, double now, double timeout_seconds)
    : timeout_(timeout_seconds) {
  for (int r : ranks) last_[r] = now;
}

void HeartbeatMonitor::beat(int rank, double now) {
  auto it = last_.find(rank);
  if (it != last_.end()) it->second = now;
}

std::vector<int> HeartbeatMonitor::newly_silent(double now) {
  std::vector<int> silent;
  for (auto it = last_.begin(); it != last_.end();) {
    if (now - it->second >= timeout_) {
      silent.push_back(it->first);
      it = last_.erase(it);
    } else {
      ++it;
    }
  }
  return silent;
}

double HeartbeatMonitor::silence(int rank, double now) const {
  auto it = last_.find(rank);
  return it == last_.end() ? 0.0 : now - it->second;
}

}  // namespace perennial
