#pragma once
// CampaignRun: the one owner of every stage's life in a run, from ready to completed, failed
// or lost. It holds the stages' progress, the scheduling policy (and so the machine), each
// stage's attempts, restarts, measured figures and checkpoint history, and the stage groups
// at work; it applies the policy's decisions and tells its observers (event log, journal,
// trace, accounting) what happened. Plain C++, no MPI: the coordinator's MPI loop and
// `perennial simulate` both drive it, so a real run and its simulation follow the same rules.
//
// A driver calls, in any order the run produces:
//   begin() once; decide(now) whenever something changed (it returns what to start and stop);
//   restored / epoch_committed / stop_declined as a group reports them;
//   member_reported for each member's end (or stage_ended for a group seen as a whole);
//   ranks_lost when ranks die; expire_failure_grace to time out silent members.

#include <perennial/coordinator/campaign_progress.hpp>
#include <perennial/coordinator/resume.hpp>
#include <perennial/coordinator/scheduling_policy.hpp>
#include <perennial/coordinator/stage_graph.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace perennial {

/// Worker ids as the logs print them: `3,4,5`.
std::string format_ranks(const std::vector<int>& ranks);

/// A stage group at work.
struct ActiveRun {
  std::uint32_t attempt = 0;
  std::vector<int> workers;  ///< the group's members (worker ids; empty in simulations)
  Allocation allocation;
  double queued = 0.0;   ///< when it was last submitted (ready, requeued or recovering)
  double started = 0.0;
  std::uint64_t start_step = 0;                ///< the step it resumed from
  std::uint64_t last_step = 0;                 ///< the newest step known computed (epochs, progress, reports)
  std::optional<double> start_simulated;       ///< model time at start_step, when the kernel advances it
  std::optional<double> last_simulated;        ///< model time at last_step
  /// The group's first and newest progress reports (time, step): its rate once stepping,
  /// start-up (restore, reading inputs) left out.
  std::optional<std::pair<double, std::uint64_t>> first_progress;
  std::optional<std::pair<double, std::uint64_t>> last_progress;
  double cpu_seconds = 0.0;                    ///< members' reported CPU use, summed
  int cpu_reports = 0;                         ///< members whose CPU use is in cpu_seconds
  int checkpoints = 0;                         ///< epochs this run committed
  double checkpoint_seconds = 0.0;             ///< their write, sync, rename and verify time
  double output_seconds = 0.0;                 ///< writing the outputs (the slowest member's)
  std::map<int, double> node_energy;           ///< member -> its node's RAPL joules over the run
  std::string energy_note;                     ///< why a member had no reading
  std::optional<StopOrder::Why> told_to_stop;  ///< asked to checkpoint and stop
  // Members' reports, gathered until every member has reported.
  std::set<int> reported;
  std::vector<std::string> errors;
  std::optional<double> first_failure;
  std::optional<std::uint64_t> stopped_at;  ///< checkpointed and stopped at this step
  std::vector<int> lost;                    ///< members that died or were ended
  std::string model_lost;                   ///< its model executable died on its own: why
  /// Sent to a worker still busy with this stage (PolicyConfig::queue_behind_short_runs): it
  /// begins when that one ends, and observers hear of its start then (their stage_started
  /// still sees it set; it is cleared after).
  std::optional<StageId> queued_behind;
};

/// What a run measured of a stage: it replaces the declared estimates and guesses.
struct MeasuredStage {
  double step_seconds = 0.0;     ///< wall seconds per step, checkpoints included (0: not yet)
  double checkpoint_cost = 0.0;  ///< the last epoch's write, sync, rename and verify
};

/// How a stage group's run ended, as a whole.
struct RunEnd {
  enum class Kind { completed, stopped, failed };
  Kind kind = Kind::completed;
  std::uint64_t step = 0;  ///< stopped: the step of its committed epoch
  std::string error;       ///< failed: every member's error
};

/// How one run of a stage group (a segment, in the accounting) ended.
enum class SegmentEnd { completed, failed, preempted, suspended, lost };

/// Told of every transition. Every call has a default that does nothing.
class CampaignObserver {
 public:
  virtual ~CampaignObserver() = default;
  virtual void stage_reused(StageId) {}
  virtual void output_rejected(StageId, const std::string& /*problem*/) {}
  virtual void stage_started(StageId, const ActiveRun&, bool /*backfilled*/) {}
  virtual void stage_restored(StageId, std::uint64_t /*step*/) {}
  virtual void stage_told_to_stop(StageId, const StopOrder&) {}
  virtual void stop_declined(StageId, std::uint64_t /*step*/, const std::string& /*reason*/) {}
  /// `attempt` may be an earlier one's (a late report): the epoch is durable all the same.
  virtual void epoch_committed(StageId, std::uint32_t /*attempt*/, const EpochRecord&, double /*cost_seconds*/,
                               double /*now*/) {}
  /// A running group said how far it is (at most about once a second).
  virtual void stage_progressed(StageId, const ActiveRun&, double /*now*/) {}
  /// A group's run is over, however it ended; called before the more specific call below.
  virtual void segment_ended(StageId, const ActiveRun&, SegmentEnd, const std::string& /*why*/, double /*now*/) {}
  virtual void stage_completed(StageId, const ActiveRun&, double /*now*/) {}
  /// Preempted: checkpointed at `step`, waiting to resume.
  virtual void stage_yielded(StageId, const ActiveRun&, std::uint64_t /*step*/, double /*now*/) {}
  /// Paused (by promise or the scientist): checkpointed at `step` if it was running, or taken
  /// out of the queue; it waits until resumed.
  virtual void stage_paused(StageId, std::optional<std::uint64_t> /*step*/, const std::string& /*reason*/, double /*now*/) {}
  /// A paused stage is ready again.
  virtual void stage_resumed(StageId, const std::string& /*reason*/, double /*now*/) {}
  /// Checkpointed at `step` on a stop of the whole run (a signal, the allocation's end).
  virtual void stage_suspended(StageId, const ActiveRun&, std::uint64_t /*step*/, double /*now*/) {}
  /// Lost ranks; `restart` counts this run's restarts of the stage.
  virtual void stage_lost(StageId, const ActiveRun&, int /*restart*/, double /*now*/) {}
  /// A stage queued on `worker` behind another (never begun there) waits again: that rank is gone.
  virtual void stage_requeued(StageId, int /*worker*/, double /*now*/) {}
  /// After stage_lost: it runs again from `from` ("epoch 3 (step 600)" or "its inputs").
  virtual void stage_recovering(StageId, const ActiveRun& /*lost*/, const std::string& /*from*/, int /*restart*/) {}
  /// Failed for good; `blocked` are the stages that can now never start.
  virtual void stage_failed(StageId, const std::string& /*why*/, const std::vector<StageId>& /*blocked*/) {}
  /// A stage asked to move to another rank count stopped at `step` and waits to restart on `ranks`.
  virtual void stage_resized(StageId, const ActiveRun&, std::uint64_t /*step*/, int /*ranks*/, const std::string& /*reason*/,
                             double /*now*/) {}
  virtual void stage_waits_for_ranks(StageId, int /*ranks*/) {}
  virtual void stage_shrunk(StageId, int /*ranks*/) {}
};

struct CampaignRunOptions {
  /// How often one stage may lose ranks and resume from its checkpoint in one run; past it
  /// (or with `recover` off) a loss fails the stage.
  int max_restarts = 3;
  bool recover = true;
};

class CampaignRun {
 public:
  /// `history` is what earlier runs journaled (one per stage; empty: a fresh campaign).
  CampaignRun(const StageGraph& graph, SchedulingPolicy policy, CampaignRunOptions options,
              std::vector<StageHistory> history = {});

  void add_observer(CampaignObserver& observer) { observers_.push_back(&observer); }
  /// A driver that knows better estimates than the declared ones (a simulation knows each
  /// stage's true run time) adjusts what the policy is told at every submission.
  void set_estimator(std::function<void(StageId, JobSpec&)> estimator) { estimator_ = std::move(estimator); }

  /// Stages completed in an earlier run with their definition unchanged are kept when
  /// `output_ok` (null: always) says their output is whole; returns how many were kept.
  /// `output_ok` returns the problem, or an empty string when the output verifies.
  std::size_t reuse_earlier_work(const std::function<std::string(StageId)>& output_ok = {});
  /// Submits every ready stage to the policy. Once, after reuse_earlier_work. A forecast
  /// submits the stages that were running first (`only`), lets the policy place them, then
  /// the rest (`only` null): running stages keep their ranks ahead of waiting ones.
  void begin(double now, const std::function<bool(StageId)>& only = {});

  /// One pass of the policy. Impossible stages fail, stop orders are recorded, starts become
  /// running stages (a new attempt each). Returns the policy's decision for the driver to
  /// carry out (send assignments and stop requests, or model them).
  ///
  /// With `StartNotices::after_sends` the observers hear of the starts only at
  /// announce_starts() (or before anything else they are told): the driver sends the
  /// assignments first, and the records (journal, events, books) are written while the
  /// workers already run. In a chain of one-step stages those records were an eighth of a
  /// stage's turn-around.
  enum class StartNotices { at_once, after_sends };
  Decision decide(double now, StartNotices notices = StartNotices::at_once);
  /// Tells the observers of the starts decide() kept back, in their order.
  void announce_starts();
  /// Whether decide() could change anything since the last pass.
  bool changed() const { return changed_; }
  /// The driver changed the machine (workers joined) or what the policy expects of it.
  void resources_changed() { changed_ = true; }

  // ---- what the groups report ------------------------------------------------------------
  /// Each call is ignored (returns false) when `attempt` is not the stage's running attempt:
  /// a late or repeated message of an earlier attempt changes nothing.
  bool restored(StageId id, std::uint32_t attempt, std::uint64_t step, std::optional<double> simulated = {});
  /// How far the group is: its newest step and model time.
  bool progressed(StageId id, std::uint32_t attempt, std::uint64_t step, std::optional<double> simulated, double now);
  /// An epoch is durable and verified: it joins the history, and its cost and the step rate
  /// so far refine the policy's estimates. `nodes`: nodes the group spans.
  bool epoch_committed(StageId id, std::uint32_t attempt, const EpochRecord& epoch, double cost_seconds, double now,
                       int nodes);
  bool stop_declined(StageId id, std::uint32_t attempt, std::uint64_t step, const std::string& reason, double now);
  /// One member's end. When the last member has reported, the stage's run ends.
  struct MemberReport {
    bool ok = true;
    std::string error;
    std::optional<std::uint64_t> stopped_at;
    std::uint64_t steps_done = 0;          ///< the step it ended at
    std::optional<double> simulated;       ///< model time it ended at (its group's rank 0 knows)
    std::optional<double> cpu_seconds;     ///< the member's CPU use (getrusage)
    double output_seconds = 0.0;           ///< writing the stage's outputs
    std::optional<double> node_energy_joules;  ///< its node's RAPL reading over the run (whole node)
    std::string energy_note;                   ///< why there is none
    std::string model_lost;                    ///< the model executable died by a signal it was not sent
  };
  bool member_reported(StageId id, std::uint32_t attempt, int worker, const MemberReport& report, double now);
  /// The whole group's end at once (simulations).
  void stage_ended(StageId id, const RunEnd& end, double now);

  /// Worker `rank` is gone (dead, or ended on purpose). When it was in a running group, that
  /// run is lost: returns the stage and its other live members (which cannot go on without
  /// it: the driver ends them, and they count as lost too). The stage then resumes from its
  /// last epoch, up to max_restarts times, or fails.
  struct LostGroup {
    StageId stage;
    std::vector<int> mates;
  };
  std::optional<LostGroup> rank_lost(int rank, const std::string& why, double now);
  /// Several ranks of one group at once (a node): the first is the one declared.
  void stage_lost(StageId id, double now);

  /// Groups with a failed member whose other members did not report within `grace` of
  /// that failure: each silent member gets an error, the stage's run ends (failed), and the
  /// silent members are returned for the driver to end or retire.
  std::vector<int> expire_failure_grace(double now, double grace);
  /// The earliest failure-grace deadline, for the driver's wait.
  std::optional<double> next_grace_deadline(double grace) const;

  /// Lost ranks are not being replaced: recovering stages wait for free ranks, or run on the
  /// most ranks any partition can still give them (checkpoints restore on any count).
  void adapt_to_lost_ranks(double now);

  /// Pauses a stage (promise, or the scientist's hand): a waiting one leaves the queue now; a
  /// running one is told to checkpoint and stop at its next step (the order is returned for
  /// the driver to carry out) and is paused once it has. Refused (the reason returned, nothing
  /// changed) for a protected stage, one that cannot checkpoint while running, or one that
  /// neither waits nor runs.
  struct PauseResult {
    std::optional<StopOrder> stop;  ///< for the driver: a running stage to stop
    std::string refused;            ///< why nothing was done; empty when it was
  };
  PauseResult pause(StageId id, const std::string& reason, double now);
  /// A paused stage is submitted again; it resumes from its checkpoint. False when not paused,
  /// or held by the scientist's hand (only release_by_hand lifts that).
  bool resume(StageId id, const std::string& reason, double now);
  /// Moves a stage to `ranks` ranks (within its `ranks: {min, max}`): a running one is told to
  /// stop at its next scheduled epoch (the order is returned; it costs no extra checkpoint) and
  /// is restarted on the new count from that epoch, ahead of stages of its priority; a waiting
  /// one is queued again at the new count. Refused (the reason returned) for a protected stage,
  /// one outside its range, one without checkpoints, or one already told to stop.
  PauseResult resize(StageId id, int ranks, const std::string& reason, double now);
  /// The rank count a running stage told to resize is moving to.
  std::optional<int> resizing_to(StageId id) const {
    const auto it = resize_to_.find(id);
    return it == resize_to_.end() ? std::nullopt : std::optional<int>(it->second.first);
  }

  // ---- the scientist's hand (`perennial priority`; campaign_run_hand.cpp) --------------------
  /// How the scientist holds a stage. Both keep it from running until released by hand, and
  /// the promise policy never resumes it; `stopped` says the scientist is done with it (status
  /// and events say "stopped by hand"), `paused` that it waits for a decision.
  enum class Hold { paused, stopped };
  struct HandResult {
    std::optional<StopOrder> stop;  ///< for the driver: a running stage to checkpoint and stop
    std::string refused;            ///< why nothing was done; empty when it was
    std::string note;               ///< what was done, for the answer ("paused", "already paused", ...)
  };
  /// Holds a stage: a ready one leaves the queue now, a running one checkpoints and stops
  /// first (as pause() does), a stage still waiting on upstream ones is held when it becomes
  /// ready, a stage the promise paused stays paused. Refused as pause() refuses (protected,
  /// no checkpoints while running) and for a stage that is over (completed, failed, blocked).
  HandResult hold_by_hand(StageId id, Hold hold, double now);
  /// Lifts a hold (or a promise's pause): a paused stage is submitted again, one still
  /// checkpointing for its pause is submitted again once it has stopped. Refused when the
  /// stage is neither held nor paused.
  HandResult release_by_hand(StageId id, double now);
  /// The hold on a stage, if any. The promise policy must not resume a held stage.
  std::optional<Hold> hand_hold(StageId id) const;
  bool held_by_hand(StageId id) const { return hand_hold(id).has_value(); }
  /// The stage's priority from now on: the ready order, its place in the policy's queue when
  /// it waits, what preemption compares when it runs, and every later submission.
  void set_priority(StageId id, int priority);
  /// Its priority: the campaign file's `priority:` unless set_priority changed it.
  int priority_of(StageId id) const { return progress_.priority(id); }

  /// The whole run stops (a signal, or nothing can start before the allocation's end):
  /// nothing new starts; returns the running stages to ask for a checkpointed stop.
  std::vector<StageId> stop_everything();
  bool stopping() const { return stopping_; }
  /// Past the point where anything could still start before the allocation's end, or with
  /// every waiting stage's project at its hard cap, and nothing running: stop (returns
  /// whether it did). The stages left are resumable, as after a stop for the allocation's end.
  bool stop_if_nothing_can_start(const Decision& last);

  /// Nothing runs and nothing more will start.
  bool finished() const { return stopping_ ? running_.empty() : progress_.finished(); }

  // ---- what a driver and a report read ------------------------------------------------------
  const StageGraph& graph() const { return graph_; }
  const CampaignProgress& progress() const { return progress_; }
  SchedulingPolicy& policy() { return policy_; }
  const SchedulingPolicy& policy() const { return policy_; }
  Machine& machine() { return policy_.machine(); }
  const std::map<StageId, ActiveRun>& running() const { return running_; }
  const ActiveRun* active(StageId id) const;
  const StageHistory& history(StageId id) const { return history_[id]; }
  const MeasuredStage& measured(StageId id) const { return measured_[id]; }
  /// The ranks the stage runs on now: its declared `ranks`, or fewer after losses.
  int ranks_of(StageId id) const;
  /// The epoch a resume starts from, as a user reads it: "epoch 3 (step 600)" or "its inputs".
  std::string resume_point(StageId id) const;
  /// A run lost (ranks, or its model executable): resumed from its last epoch, up to
  /// max_restarts times, or failed.
  void resume_after_loss(StageId id, ActiveRun r, double now);
  /// Why the run ended as it did, per stage that did not complete.
  std::string summary() const;
  /// The stage's definition digest (see stage_definition), computed once.
  const std::string& definition(StageId id) const;
  const CampaignRunOptions& options() const { return options_; }

 private:
  void submit(StageId id, double now);
  /// A stage just made ready by its upstream stages: submitted, or paused when held by hand.
  void submit_unless_held(StageId id, double now);
  void end_run(StageId id, double now);
  /// end_run's work; returns the stage that was queued behind this one and begins now.
  std::optional<StageId> finish_run(StageId id, double now);
  /// A queued stage's worker is free of the stage ahead: it begins now.
  void begin_queued(StageId id, double now);
  /// The stage queued on `worker`, which is gone, will never begin there: it waits again.
  void unqueue_from(int worker, double now);
  /// Runs of stages like this one (kernel or command, steps, cores per rank) that completed in
  /// this run: how many, and how long the last few took. Tells the policy which stages end
  /// within milliseconds, so that the next one can be queued on their worker. The last few,
  /// not all: one slow run (a disk's hiccup) should not end queueing for the rest of a run.
  struct TypicalRun {
    std::uint64_t runs = 0;
    std::array<double, 8> recent{};
    void add(double seconds) { recent[runs++ % recent.size()] = seconds; }
    double longest() const { return *std::max_element(recent.begin(), recent.end()); }
  };
  /// The runs of the stage's kind. Each stage's kind is looked up once (its key holds a
  /// string), not on every start and completion.
  TypicalRun& typical_run(StageId id);
  std::vector<std::uint32_t> kind_of_;  ///< per stage: 1 + its index in typical_runs_; 0 not yet known
  std::map<std::tuple<std::string, std::uint64_t, int>, std::uint32_t> kinds_;
  std::vector<TypicalRun> typical_runs_;
  void fail(StageId id, const std::string& why);
  template <class F> void tell(F&& f) {
    announce_starts();  // a kept-back start comes before anything that follows it
    for (auto* o : observers_) f(*o);
  }
  struct KeptStart {
    StageId job;
    ActiveRun run;  ///< as it started (it may have ended since, with the start still untold)
    bool backfilled;
  };
  std::vector<KeptStart> kept_starts_;  ///< starts decide() has not yet told of

  const StageGraph& graph_;
  CampaignRunOptions options_;
  CampaignProgress progress_;
  SchedulingPolicy policy_;
  std::vector<StageHistory> history_;
  std::vector<MeasuredStage> measured_;
  std::vector<std::uint32_t> attempts_;
  std::vector<int> restarts_;
  std::vector<std::optional<double>> ready_since_;  ///< first time each was ready: age counts from there
  std::vector<double> queued_at_;                   ///< the latest submission: queue wait counts from there
  std::map<StageId, int> ranks_override_;           ///< after losses with no replacements
  std::set<StageId> recovering_;
  std::map<StageId, ActiveRun> running_;
  std::map<StageId, std::string> pause_reasons_;  ///< running stages told to stop for a pause
  std::map<StageId, std::pair<int, std::string>> resize_to_;  ///< running stages told to stop for a resize
  std::map<StageId, Hold> hand_;                  ///< stages the scientist holds
  std::set<StageId> resume_when_stopped_;         ///< released by hand while checkpointing for a pause
  std::vector<CampaignObserver*> observers_;
  mutable std::vector<std::string> definitions_;
  std::function<void(StageId, JobSpec&)> estimator_;
  bool stopping_ = false;
  bool changed_ = true;
  double last_pass_ = 0.0;  ///< the time of the last decide()
};

}  // namespace perennial
