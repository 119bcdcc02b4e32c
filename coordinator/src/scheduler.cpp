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
  // Called after every message: with no free rank there is nothing to decide, and walking
  // the ready queue in place keeps a 10,000-stage queue from costing a copy each time.
  if (pool.free_count() == 0 || !progress.any_ready()) return decision;
  std::vector<StageId> to_start;
  std::size_t free = pool.free_count();
  for (const auto& [priority, id] : progress.ready_queue()) {
    const auto need = static_cast<std::size_t>(graph.stage(id).ranks);
    if (need > pool.usable()) {
      decision.impossible.push_back(id);
      continue;
    }
    if (need > free) break;  // strict priority: nothing overtakes this stage
    free -= need;
    to_start.push_back(id);
    if (free == 0) break;
  }
  for (StageId id : decision.impossible) {
    progress.fail(id, fmt::format("needs {} ranks but only {} worker ranks are usable", graph.stage(id).ranks, pool.usable()));
  }
  for (StageId id : to_start) {
    progress.start(id);
    decision.placements.push_back({id, pool.acquire(static_cast<std::size_t>(graph.stage(id).ranks))});
  }
  return decision;
}

}  // namespace perennial
