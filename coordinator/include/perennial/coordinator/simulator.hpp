#pragma once
// The accelerated mode (`perennial simulate`): a whole campaign through the real scheduling
// policy on a virtual clock. Stages take their `walltime` (or steps x `step_time`); they
// checkpoint at the interval the workers would choose, each checkpoint costing a modelled
// time; nodes fail at random (exponential, from a per-node MTBF and a seed) and are repaired;
// a failed stage restarts from its last checkpoint and the work since is counted as lost.
// Preempted stages checkpoint at their next step boundary and lose nothing. Plain C++.
//
// It also starts from where a campaign stands (its journal's history, what it measured), and
// so runs the forecast (forecast.hpp): the same lifecycle and policy, on a virtual clock.

#include <perennial/coordinator/machine.hpp>
#include <perennial/coordinator/resume.hpp>
#include <perennial/coordinator/scheduling_policy.hpp>
#include <perennial/coordinator/stage_graph.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

struct SimulationOptions {
  std::optional<double> node_mtbf_seconds;  ///< node failures; none when unset
  std::uint64_t seed = 1;
  double repair_seconds = 4 * 3600.0;       ///< a failed node is back after this
  double checkpoint_cost_seconds = 60.0;    ///< each checkpoint write
  double default_step_seconds = 1.0;        ///< stages with neither walltime nor step_time
  std::optional<double> stop_at;            ///< end the simulation here (a horizon)
  std::filesystem::path trace_csv;          ///< the event trace; empty: none

  // ---- where the campaign stands (a forecast); empty: a fresh campaign -------------------------
  /// What earlier runs left (one per stage): completed stages are kept, the others resume
  /// from their newest epoch's step.
  std::vector<StageHistory> history;
  /// Per stage (empty, or one per stage): the seconds a step takes, replacing the declared
  /// walltime or step_time, and a checkpoint's cost, replacing checkpoint_cost_seconds.
  std::vector<std::optional<double>> step_seconds;
  std::vector<std::optional<double>> stage_checkpoint_cost;
  /// Stages running when the state was taken: they start first, where they fit.
  std::vector<StageId> running_at_start;
  /// Core-hours each project used already: a hard cap leaves only the rest of its allocation.
  std::map<std::string, double> used_core_hours_by_project;
};

/// One start of a stage: when, where, and how it ended.
struct SimulatedRun {
  JobId stage;
  double start = 0.0;
  double end = 0.0;
  std::vector<std::string> nodes;
  std::string ended;  ///< completed, failed, preempted, end_of_allocation, running
  bool backfilled = false;
  std::int64_t cores = 0;  ///< reserved
  double core_hours() const { return (end - start) * static_cast<double>(cores) / 3600.0; }
};

/// Where a stage stood when the simulation ended.
struct SimulatedStage {
  bool completed = false;
  std::uint64_t checkpointed_step = 0;  ///< the step its newest checkpoint (or completion) holds
  std::uint64_t computed_step = 0;      ///< the newest step computed (running: past the checkpoint)
  bool running = false;
  double step_seconds = 0.0;            ///< what one step took
  double checkpoint_cost = 0.0;
};

struct SimulationReport {
  double makespan_seconds = 0.0;
  double utilisation = 0.0;          ///< core-seconds used / (cores x makespan)
  std::uint64_t stages = 0;
  std::uint64_t completed = 0;
  std::uint64_t preemptions = 0;
  std::uint64_t protected_interruptions = 0;
  std::uint64_t backfilled = 0;
  std::uint64_t node_failures = 0;
  std::uint64_t stage_failures = 0;  ///< stage runs cut by a node failure
  std::uint64_t end_of_allocation_stops = 0;
  std::uint64_t peak_running = 0;
  double lost_core_hours = 0.0;
  std::map<std::string, double> core_hours_by_project;
  std::vector<SimulatedRun> runs;
  std::map<JobId, double> first_reserved_start;  ///< when a stage was first promised to start
  std::vector<SimulatedStage> stage_states;      ///< one per stage, at the end
  /// One per stage: its core-hours, its state at the end, and the promise moves made on it.
  struct StageOutcome {
    std::string name;
    double core_hours = 0.0;
    std::string final_state;
    std::vector<std::string> moves;  ///< `pause: <reason>`, `promote: <reason>`, ...
  };
  std::vector<StageOutcome> stage_outcomes;
  double cpu_seconds = 0.0;          ///< what the simulation itself took
  std::uint64_t peak_rss_bytes = 0;

  nlohmann::json to_json() const;
  std::string to_text() const;
};

/// Runs the campaign of `graph` on `machine` under `config` (its end_time, if any, is the
/// allocation's end on the simulated clock, which starts at 0).
SimulationReport simulate_campaign(const StageGraph& graph, Machine machine, const PolicyConfig& config,
                                   const SimulationOptions& options);

}  // namespace perennial
