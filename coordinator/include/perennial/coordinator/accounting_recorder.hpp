#pragma once
// AccountingRecorder: the campaign's books kept from its stages' lives. An observer of
// CampaignRun that turns each run of a stage group into a segment row of the accounting
// store (see perennial/accounting/store.hpp): opened when the group starts, updated at each
// checkpoint and every half minute, closed however it ends. Work a later segment had to
// compute again (after a loss, a failure, or a restore from an older epoch) is charged to
// the segment that did it first. Plain C++: real runs and simulations feed it alike.

#include <perennial/accounting/store.hpp>
#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/energy.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

class AccountingRecorder final : public CampaignObserver {
 public:
  /// Times the run reports (`now`) are seconds since `unix_origin` (unix seconds).
  AccountingRecorder(accounting::AccountingStore& store, const CampaignRun& run, std::int64_t run_id,
                     double unix_origin);

  /// How a segment's energy is found. By default: modelled from the power its nodes declare
  /// in the campaign's `cluster:` section (model_energy_of), else unavailable.
  using EnergyEstimator = std::function<EnergyFigure(StageId, const ActiveRun&, double wall_seconds,
                                                     std::optional<double> cpu_seconds)>;
  void set_energy_estimator(EnergyEstimator e) { energy_ = std::move(e); }
  /// Where write errors go (a full disk must not end the campaign); by default they are dropped.
  void set_error_sink(std::function<void(const std::string&)> sink) { error_sink_ = std::move(sink); }
  /// The Slurm job (id, restart count) every segment from now on is recorded with.
  void set_slurm_job(accounting::SlurmJob job) { slurm_ = std::move(job); }

  void stage_started(StageId id, const ActiveRun& r, bool backfilled) override;
  void stage_restored(StageId id, std::uint64_t step) override;
  void epoch_committed(StageId id, std::uint32_t attempt, const EpochRecord& epoch, double cost, double now) override;
  void stage_progressed(StageId id, const ActiveRun& r, double now) override;
  void segment_ended(StageId id, const ActiveRun& r, SegmentEnd how, const std::string& why, double now) override;

  /// A metric a kernel reported (not part of the lifecycle: the MPI loop passes it on).
  void metric(StageId id, std::uint64_t step, const std::string& name, double value, double now,
              std::optional<double> simulated = std::nullopt);
  /// Brings open segments' end times up to `now` every `every` seconds, so a coordinator
  /// killed mid-run loses at most that much of their accounting. The writes join the store's
  /// open batch: one transaction, however many segments are open.
  void tick(double now, double every = 30.0);
  /// Started segments are inserted only here (or at their first change): a stage of
  /// microseconds that ends before then costs one insert instead of an insert and an update.
  /// Ended segments wait here too, so that the loop sends the next assignment before it pays
  /// the insert (in a chain of short stages that insert was a seventh of a stage's turn-around,
  /// and the worker now runs while it is done). Writes them once the oldest has waited
  /// `age`; `age` 0 writes them now. Returns whether it wrote (the rows are `age` old, so
  /// the caller commits them now rather than one more group later).
  bool write_new_segments(std::chrono::duration<double> age);
  /// Started or ended segments not yet in the store.
  bool unwritten() const { return unwritten_since_.has_value(); }

 private:
  struct Open {
    accounting::Segment row;
    std::vector<std::pair<std::uint64_t, double>> epochs;  ///< (step, unix time) committed in it
    double written = 0.0;                                   ///< `now` of its last write
    bool stored = false;  ///< inserted in the store (a started segment waits: see write_new_segments)
  };
  void write_open(Open& open);
  /// The ended segments waiting for write_new_segments, written now (before a read of the store),
  /// and `fresh`, started segments never written, with them.
  void write_ended(std::vector<accounting::Segment*> fresh = {});
  void fill(Open& open, const ActiveRun& r, double now);
  void write(accounting::Segment& row);
  void write_first(accounting::Segment& row, bool first);
  /// Charges earlier segments of the stage for the steps past `from` that must be computed again.
  void charge_recomputation(StageId id, std::uint64_t from, std::int64_t current_segment);
  std::optional<std::chrono::steady_clock::time_point> unwritten_since_;
  double unix(double now) const { return unix_origin_ + now; }

  accounting::AccountingStore& store_;
  const CampaignRun& run_;
  std::int64_t run_id_;
  double unix_origin_;
  std::map<StageId, Open> open_;
  std::vector<Open> ended_;  ///< ended, their rows final, in the order they ended; not yet written
  EnergyEstimator energy_;
  std::function<void(const std::string&)> error_sink_;
  accounting::SlurmJob slurm_;
  double last_tick_ = 0.0;
};

/// A segment's energy modelled from its nodes' declared power (`cluster.nodes[].power`) and
/// its CPU use, shared out over its nodes by their ranks. Unavailable, saying why, when a node
/// declares no power. `wall_seconds` and `cpu_seconds` are the segment's.
EnergyFigure model_energy_of(const Machine& machine, const ClusterSpec& cluster, const ActiveRun& run,
                             double wall_seconds, std::optional<double> cpu_seconds);

/// A segment's energy from its members' RAPL readings: each node's reading (taken by one of
/// its members over the run) shared out by the cores the segment reserved there. Unavailable,
/// saying why, when any node has no reading (a lost member, no readable counter).
EnergyFigure rapl_energy_of(const Machine& machine, const ActiveRun& run);

/// The stage's scenario (its `for_each` values) as the store keeps it: a JSON object.
std::string scenario_json(const StageSpec& stage);

}  // namespace perennial
