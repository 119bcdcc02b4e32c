#pragma once
// Scheduler: places ready stages on free worker ranks. Policy for now: strict priority order
// (a stage never overtakes a more urgent one that does not fit yet), each stage on the
// lowest-numbered free ranks of one pool. Plain C++, no MPI; the scheduling issue adds
// backfill, preemption and fair share here.

#include <perennial/coordinator/campaign_progress.hpp>

#include <map>
#include <set>
#include <vector>

namespace perennial {

/// The worker ranks of the job and which of them are free. Ranks are worker ids, grouped in
/// pools (the ranks mpirun started, and each set spawned later): a stage group's ranks all
/// come from one pool, since they need a common parent communicator.
class RankPool {
 public:
  /// Pool 0 holds `ranks`.
  explicit RankPool(std::vector<int> ranks);
  /// Adds a pool of fresh ranks (all free); returns its index.
  std::size_t add_pool(const std::vector<int>& ranks);

  std::size_t usable() const { return usable_; }
  std::size_t free_count() const { return free_total_; }
  bool is_free(int rank) const;
  /// The most ranks one stage could ever get: the largest pool's usable ranks.
  std::size_t largest_pool() const;
  /// Whether some pool has `n` free ranks now.
  bool can_acquire(std::size_t n) const;
  /// Takes `n` free ranks of one pool (the first pool, by index, with enough; lowest ids
  /// first); precondition: can_acquire(n).
  std::vector<int> acquire(std::size_t n);
  void release(const std::vector<int>& ranks);
  /// A rank that stopped answering: never handed out again.
  void retire(int rank);
  /// Ranks being started (respawn) that will join as a pool: until they do, no stage is
  /// judged too large for the job.
  void expect(std::size_t ranks) { expected_ += ranks; }
  void expected_arrived(std::size_t ranks) { expected_ -= std::min(expected_, ranks); }
  std::size_t expected() const { return expected_; }

 private:
  struct Pool {
    std::set<int> free;
    std::size_t usable = 0;
  };
  std::vector<Pool> pools_;
  std::map<int, std::size_t> pool_of_;
  std::set<int> retired_;
  std::size_t usable_ = 0;
  std::size_t free_total_ = 0;
  std::size_t expected_ = 0;
};

struct Placement {
  StageId stage;
  std::vector<int> ranks;
};

struct ScheduleDecision {
  std::vector<Placement> placements;  ///< stages to start now (already marked running)
  std::vector<StageId> impossible;    ///< stages failed because they can never fit
  std::vector<StageId> blocked;       ///< stages downstream of those, now never to start
};

/// Ranks a stage runs on when not its declared `ranks` (after a failure left too few).
using RankOverrides = std::map<StageId, int>;

/// Assigns ready stages to free ranks and marks them running. Stages needing more ranks than
/// any pool will ever have are failed with that reason instead of waiting forever.
ScheduleDecision schedule(const StageGraph& graph, CampaignProgress& progress, RankPool& pool,
                          const RankOverrides& overrides = {});

}  // namespace perennial
