#include <perennial/coordinator/scheduler.hpp>

#include <fmt/format.h>

namespace perennial {

RankPool::RankPool(std::vector<int> ranks) : free_(ranks.begin(), ranks.end()), usable_(free_.size()) {}

std::vector<int> RankPool::acquire(std::size_t n) {
  std::vector<int> out;
  out.reserve(n);
  for (auto it = free_.begin(); it != free_.end() && out.size() < n;) {
    out.push_back(*it);
    it = free_.erase(it);
  }
  return out;
}

void RankPool::release(const std::vector<int>& ranks) { free_.insert(ranks.begin(), ranks.end()); }

void RankPool::retire(int rank) {
  free_.erase(rank);
  if (usable_ > 0) --usable_;
}

ScheduleDecision schedule(const StageGraph& graph, CampaignProgress& progress, RankPool& pool) {
  ScheduleDecision decision;
  for (StageId id : progress.ready()) {
    const auto need = static_cast<std::size_t>(graph.stage(id).ranks);
    if (need > pool.usable()) {
      progress.fail(id, fmt::format("needs {} ranks but only {} worker ranks are usable", need, pool.usable()));
      decision.impossible.push_back(id);
      continue;
    }
    if (need > pool.free_count()) break;  // strict priority: nothing overtakes this stage
    progress.start(id);
    decision.placements.push_back({id, pool.acquire(need)});
  }
  return decision;
}

}  // namespace perennial
