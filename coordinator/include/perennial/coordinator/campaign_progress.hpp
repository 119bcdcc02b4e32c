#pragma once
// CampaignProgress: which stages wait, are ready, run, completed, failed, or will never start
// because something upstream failed. A stage becomes ready the moment its last upstream
// stage completes. Plain C++, no MPI.

#include <perennial/coordinator/stage_graph.hpp>

#include <set>
#include <string>
#include <vector>

namespace perennial {

enum class StageState { waiting, ready, running, completed, failed, blocked, suspended, paused };
std::string_view state_name(StageState s);

class CampaignProgress {
 public:
  explicit CampaignProgress(const StageGraph& graph);

  StageState state(StageId id) const { return state_[id]; }
  const std::string& reason(StageId id) const { return reason_[id]; }

  /// Ready stages, most urgent first: higher priority, then campaign-file order.
  std::vector<StageId> ready() const;
  bool any_ready() const { return !ready_.empty(); }
  /// The same order as ready(), without a copy: (-priority, id) pairs.
  const std::set<std::pair<int, StageId>>& ready_queue() const { return ready_; }

  /// The stage's priority in the ready order: its `priority:` until set_priority changes it
  /// (the scientist's hand, `perennial priority`).
  int priority(StageId id) const { return priority_[id]; }
  void set_priority(StageId id, int priority);

  void start(StageId id);
  /// Why a ready stage does not start (the policy's reason, when the run ends with it).
  void hold(StageId id, std::string reason) { reason_[id] = std::move(reason); }
  /// Marks a stage completed by an earlier run (not running now); returns stages now ready.
  std::vector<StageId> reuse(StageId id);
  /// A running stage checkpointed and stopped on request: it resumes in a later run.
  void suspend(StageId id, std::string reason);
  /// A running stage lost ranks and will run again (from its last checkpoint): ready again.
  void requeue(StageId id, std::string reason);
  /// A ready or running stage is paused (by promise or the scientist): it neither runs nor
  /// waits to, and does not keep the campaign from finishing, until it is resumed.
  void pause(StageId id, std::string reason);
  /// A paused stage is ready again.
  void resume(StageId id, std::string reason);
  /// Marks a running stage completed; returns the stages that became ready.
  std::vector<StageId> complete(StageId id);
  /// Marks a ready or running stage failed; every stage downstream becomes blocked with a
  /// reason naming it. Returns the newly blocked stages.
  std::vector<StageId> fail(StageId id, std::string reason);

  std::size_t count(StageState s) const;
  std::size_t running() const { return count(StageState::running); }
  /// Nothing runs and nothing is ready: the campaign can make no more progress.
  bool finished() const { return ready_.empty() && running_ == 0; }
  bool all_completed() const { return completed_ == state_.size(); }

 private:
  const StageGraph& graph_;
  std::vector<StageState> state_;
  std::vector<std::string> reason_;
  std::vector<std::uint32_t> waiting_on_;
  std::vector<int> priority_;                ///< the campaign file's, or the scientist's
  std::set<std::pair<int, StageId>> ready_;  // (-priority, id): begin() is the most urgent
  std::size_t running_ = 0;
  std::size_t completed_ = 0;
};

}  // namespace perennial
