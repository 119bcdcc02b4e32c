#include <perennial/coordinator/spare_pool.hpp>

#include <algorithm>

namespace perennial {

std::size_t SparePool::fill() {
  const std::size_t want = target_ > idle_.size() + in_flight_ ? target_ - idle_.size() - in_flight_ : 0;
  in_flight_ += want;
  return want;
}

std::vector<int> SparePool::take(std::size_t lost) {
  const std::size_t n = std::min(lost, idle_.size());
  std::vector<int> taken(idle_.begin(), idle_.begin() + static_cast<std::ptrdiff_t>(n));
  idle_.erase(idle_.begin(), idle_.begin() + static_cast<std::ptrdiff_t>(n));
  owed_capacity_ += lost - n;
  in_flight_ += lost;
  return taken;
}

bool SparePool::lost_idle(int id) {
  const auto it = std::find(idle_.begin(), idle_.end(), id);
  if (it == idle_.end()) return false;
  idle_.erase(it);
  ++in_flight_;
  return true;
}

std::vector<int> SparePool::joined(const std::vector<int>& ids) {
  in_flight_ -= std::min(in_flight_, ids.size());
  std::vector<int> to_machine;
  for (int id : ids) {
    if (owed_capacity_ > 0) {
      --owed_capacity_;
      to_machine.push_back(id);
    } else if (idle_.size() < target_) {
      idle_.push_back(id);
    } else {
      to_machine.push_back(id);
    }
  }
  return to_machine;
}

void SparePool::spawns_failed(std::size_t still_coming) {
  in_flight_ = std::min(in_flight_, still_coming);
  owed_capacity_ = std::min(owed_capacity_, still_coming);
}

}  // namespace perennial
