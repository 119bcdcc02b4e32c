#pragma once
// Scheduler: places ready stages on free worker ranks. Policy for now: strict priority order
// (a stage never overtakes a more urgent one that does not fit yet), each stage on the
// lowest-numbered free ranks. Plain C++, no MPI; the scheduling issue adds backfill,
// preemption and fair share here.

#include <perennial/coordinator/campaign_progress.hpp>

#include <set>
#include <vector>

namespace perennial {

/// The worker ranks of the job and which of them are free.
class RankPool {
 public:
  explicit RankPool(std::vector<int> ranks);
  std::size_t usable() const { return usable_; }
  std::size_t free_count() const { return free_.size(); }
  bool is_free(int rank) const { return free_.count(rank) != 0; }
  /// Takes the `n` lowest free ranks; precondition: n <= free_count().
  std::vector<int> acquire(std::size_t n);
  void release(const std::vector<int>& ranks);
  /// A rank that stopped answering: never handed out again.
  void retire(int rank);

 private:
  std::set<int> free_;
  std::size_t usable_;
};

struct Placement {
  StageId stage;
  std::vector<int> ranks;
};

struct ScheduleDecision {
  std::vector<Placement> placements;  ///< stages to start now (already marked running)
  std::vector<StageId> impossible;    ///< stages failed because they can never fit
};

/// Assigns ready stages to free ranks and marks them running. Stages needing more ranks than
/// the pool will ever have are failed with that reason instead of waiting forever.
ScheduleDecision schedule(const StageGraph& graph, CampaignProgress& progress, RankPool& pool);

}  // namespace perennial
