#include <perennial/coordinator/scheduler.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace perennial {

RankPool::RankPool(std::vector<int> ranks) { add_pool(ranks); }

std::size_t RankPool::add_pool(const std::vector<int>& ranks) {
  Pool p;
  for (int r : ranks) {
    p.free.insert(r);
    pool_of_[r] = pools_.size();
  }
  p.usable = p.free.size();
  usable_ += p.usable;
  free_total_ += p.free.size();
  pools_.push_back(std::move(p));
  return pools_.size() - 1;
}

bool RankPool::is_free(int rank) const {
  auto it = pool_of_.find(rank);
  return it != pool_of_.end() && pools_[it->second].free.count(rank) != 0;
}

std::size_t RankPool::largest_pool() const {
  std::size_t most = 0;
  for (const auto& p : pools_) most = std::max(most, p.usable);
  return most;
}

bool RankPool::can_acquire(std::size_t n) const {
  if (n > free_total_) return false;
  return std::any_of(pools_.begin(), pools_.end(), [n](const Pool& p) { return p.free.size() >= n; });
}

std::vector<int> RankPool::acquire(std::size_t n) {
  std::vector<int> out;
  for (auto& p : pools_) {
    if (p.free.size() < n) continue;
    for (auto it = p.free.begin(); it != p.free.end() && out.size() < n;) {
      out.push_back(*it);
      it = p.free.erase(it);
    }
    break;
  }
  free_total_ -= out.size();
  return out;
}

void RankPool::release(const std::vector<int>& ranks) {
  for (int r : ranks) {
    auto it = pool_of_.find(r);
    if (it == pool_of_.end() || retired_.count(r)) continue;
    if (pools_[it->second].free.insert(r).second) ++free_total_;
  }
}

void RankPool::retire(int rank) {
  auto it = pool_of_.find(rank);
  if (it == pool_of_.end() || !retired_.insert(rank).second) return;
  Pool& p = pools_[it->second];
  if (p.free.erase(rank)) --free_total_;
  if (p.usable > 0) --p.usable;
  if (usable_ > 0) --usable_;
}

ScheduleDecision schedule(const StageGraph& graph, CampaignProgress& progress, RankPool& pool,
                          const RankOverrides& overrides) {
  ScheduleDecision decision;
  // Called after every message: with no free rank there is nothing to decide, and walking
  // the ready queue in place keeps a 10,000-stage queue from costing a copy each time.
  if (pool.free_count() == 0 || !progress.any_ready()) return decision;
  auto needed = [&](StageId id) {
    auto it = overrides.find(id);
    return static_cast<std::size_t>(it != overrides.end() ? it->second : graph.stage(id).ranks);
  };
  std::vector<StageId> to_start;
  // Placements are made as the queue is walked, so that each next fit test sees what the
  // earlier ones took; they are marked running after the walk (which would change the queue).
  for (const auto& [priority, id] : progress.ready_queue()) {
    const std::size_t need = needed(id);
    if (need > pool.largest_pool() && pool.expected() < need) {
      decision.impossible.push_back(id);
      continue;
    }
    if (!pool.can_acquire(need)) break;  // strict priority: nothing overtakes this stage
    to_start.push_back(id);
    decision.placements.push_back({id, pool.acquire(need)});
    if (pool.free_count() == 0) break;
  }
  for (StageId id : decision.impossible) {
    auto blocked = progress.fail(id, fmt::format("needs {} ranks but at most {} worker ranks can work together in this job ({} usable)",
                                  needed(id), pool.largest_pool(), pool.usable()));
    decision.blocked.insert(decision.blocked.end(), blocked.begin(), blocked.end());
  }
  for (StageId id : to_start) progress.start(id);
  return decision;
}

}  // namespace perennial
