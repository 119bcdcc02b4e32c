#pragma once
// The campaign forecast: when the campaign will finish and how many core-hours it will still
// take, per project, grant and scenario, each with an 80% interval. Plain C++, no MPI.
//
// It runs the accelerated mode (simulator.hpp) from where the campaign stands: the stages its
// journal holds as completed are kept, the others resume from their newest checkpoint, and
// each stage's step takes what the books measured of it. A stage not measured yet takes what
// its ensemble siblings (the stages of its template) measured, else its declared step time
// corrected by how far the measured stages were from theirs. Each of several draws varies
// what is not known (the measured rates' spread, the unmeasured stages' correction, node
// failures at the campaign's MTBF, with a seed per draw); the interval is the draws' 10th to
// 90th percentile, the expectation their median.
//
// What it cannot see, it does not pretend to: rates that drift later in the campaign, a
// machine that changes, stages added to the campaign file. forecast_accuracy (tests/bench)
// measures how far off that leaves it.

#include <perennial/coordinator/machine.hpp>
#include <perennial/coordinator/resume.hpp>
#include <perennial/coordinator/scheduling_policy.hpp>
#include <perennial/coordinator/stage_graph.hpp>

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

// The rows themselves, not forward declarations: a default argument of
// std::vector<CheckpointRow> needs the whole type under clang (ci/fuzz.sh builds with it).
#include <perennial/accounting/store.hpp>

namespace perennial {

/// What the campaign's runs measured of one stage.
struct StageMeasurement {
  std::optional<double> step_seconds;  ///< median wall seconds per step (checkpoints and output apart)
  double spread = 0.0;                 ///< relative spread of that rate between its runs (std of log)
  int samples = 0;                     ///< rates it was measured over: segments and intervals between commits
  std::optional<double> checkpoint_seconds;  ///< mean cost of one checkpoint
  std::uint64_t steps_done = 0;        ///< the newest step computed, in any run (a running one's progress)
  bool running = false;                ///< running now: it keeps its ranks
};

/// Where the campaign stands: from its journal (history) and its books (the rest).
struct CampaignState {
  std::vector<StageHistory> history;         ///< one per stage, or empty (nothing done yet)
  std::vector<StageMeasurement> measured;    ///< one per stage, or empty (nothing measured)
  std::map<std::string, double> used_core_hours_by_project;  ///< for hard caps
};

/// A row still `running` whose last update is older than this belongs to a run that died
/// (rank 0 brings open rows up to date every 30 s).
inline constexpr double kLiveRowAge = 90.0;

/// The state as a campaign's output folder holds it: the journal's `history` and the books'
/// segments. A segment's rate is its wall time less its checkpoint and output writing, over
/// the steps it computed; a stage's rate is the median of its segments', and its spread the
/// larger of the spreads between its segments and between consecutive commits of one
/// (`checkpoints`, in the books' order). Only segments still `running` say where a running
/// stage is (a lost one's steps past its checkpoint are redone); given `now_unix`, a running
/// row older than kLiveRowAge is taken for a dead run's, and a live one is moved on to now at
/// its stage's rate (the books are up to 30 s behind).
CampaignState campaign_state(const StageGraph& graph, std::vector<StageHistory> history,
                             const std::vector<accounting::Segment>& segments,
                             const std::vector<accounting::CheckpointRow>& checkpoints = {},
                             std::optional<double> now_unix = std::nullopt);

/// What the run knows now of a running stage (its newest step: from the run itself or its
/// status file) moves the books' older view on; its step time (start-up and checkpoints
/// included) is taken only where the books have none yet.
void note_running(CampaignState& state, StageId id, std::uint64_t step, std::optional<double> step_seconds);

struct ForecastOptions {
  int draws = 40;
  std::uint64_t seed = 1;
  double node_mtbf_seconds = 24.0 * 3600.0;  ///< per node; 0 or less: no failures
  /// A failed node's ranks are back after this: a respawn in a real run (seconds), a repair
  /// in a cluster that loses the node.
  double repair_seconds = 60.0;
  /// A checkpoint's cost when no stage of the campaign has measured one yet.
  double checkpoint_cost_seconds = 60.0;
  double default_step_seconds = 1.0;      ///< stages with no measurement, sibling or declaration
  /// The relative spread assumed for a stage's rate when too few stages were measured to
  /// tell (std of log): 10%. Measured spreads replace it from 3 measurements on.
  double unmeasured_spread = 0.10;
  /// A stage with neither measurement, siblings nor declaration takes what other stages of its
  /// kernel measured (core-seconds per step kept: on twice the ranks, half the time), give or
  /// take this much (std of log): their grids and parameters may differ.
  double same_kernel_spread = 0.5;
  /// How alike the templates not run yet are in what is unknown of them (0: independent, 1:
  /// all off together). Independent, the deviations of many templates average out and the
  /// interval narrows; rates that drift over a campaign move them together.
  double unmeasured_correlation = 0.5;
  /// A stage measured over fewer than 3 stretches (one segment, no commits yet) has shown no
  /// spread; it is given this much (std of log): rates change as a run goes on (a machine
  /// shared with other work, a model spinning up).
  double measured_spread_floor = 0.05;
};

/// An expected figure and its 80% interval.
struct Spread {
  double expected = 0.0;  ///< median of the draws
  double low = 0.0;       ///< 10th percentile
  double high = 0.0;      ///< 90th percentile
};

struct Forecast {
  Spread seconds_to_finish;  ///< from the campaign's current state
  Spread core_hours_to_finish;
  std::map<std::string, Spread> core_hours_to_finish_by_project;
  std::map<std::string, Spread> core_hours_to_finish_by_grant;
  std::map<std::string, Spread> core_hours_to_finish_by_scenario;  ///< keyed like the books: `{"forcing":"4.5"}`
  /// Per project: seconds from now until its use crosses its allocation, in the draws where it
  /// does; with the share of draws in which it does.
  struct Exhaustion {
    double share_of_draws = 0.0;
    Spread seconds;  ///< over the draws in which it runs out
  };
  std::map<std::string, Exhaustion> exhaustion_by_project;
  std::map<std::string, Exhaustion> exhaustion_by_grant;
  int draws = 0;
  int draws_unfinished = 0;  ///< draws in which the campaign could not finish (hard caps)
  std::size_t stages_left = 0;
  std::size_t stages_measured = 0;  ///< with a measured step rate
  std::optional<double> declared_correction;  ///< measured / declared step time, median
  std::vector<std::string> notes;  ///< how the rates were chosen, what the forecast leaves out

  /// `{seconds_to_finish: {expected, low, high}, core_hours_to_finish, ...}`.
  nlohmann::json to_json() const;
};

/// Use so far, forecast and allocation of one project or grant.
struct AllocationOutlook {
  std::string name;
  std::string grant;  ///< a project's grant; a grant's own name
  double used_core_hours = 0.0;
  Spread to_finish;
  std::optional<double> allocation_core_hours;
  std::optional<Forecast::Exhaustion> exhaustion;  ///< seconds from now, when it runs out in some draws
  int projects = 1;  ///< a grant's projects in the campaign
  double total() const { return used_core_hours + to_finish.expected; }
};

/// Each project's (or, with `grants`, each grant's) outlook: the state's use, the forecast,
/// the campaign file's allocations. Projects the file does not declare (stages without one)
/// are listed when they used something.
std::vector<AllocationOutlook> allocation_outlooks(const Campaign& campaign, const Forecast& forecast,
                                                   const CampaignState& state, bool grants);

/// One warning per project or grant whose expected use (used plus to finish) is over its
/// allocation ("is projected to overrun"), or whose 80% interval reaches past it ("may
/// overrun"), with the figures and, when it runs out in most draws, the date (`now_unix`
/// plus the forecast's seconds). A grant of a single project is that project: not repeated.
std::vector<std::string> overrun_warnings(const std::vector<AllocationOutlook>& outlooks, double now_unix);

/// The machine to forecast on: the campaign's declared cluster (with its feature tags), else
/// the nodes a run had (their names, cores, GPUs and memory). Throws Error when there is neither.
Machine forecast_machine(const Campaign& campaign, const std::vector<NodeSpec>& run_nodes);

/// Forecasts the campaign from `state`. `used_core_hours_by_project` in the state only limits
/// hard-capped projects; the core-hours returned are those still to come.
Forecast forecast_campaign(const StageGraph& graph, const Machine& machine, const PolicyConfig& config,
                           const CampaignState& state, const ForecastOptions& options);

/// The step rates the draws start from: one per stage, with its relative spreads and where it
/// came from. Exposed for tests.
struct StageRate {
  enum class Basis { measured, siblings, declared_corrected, declared, same_kernel, fallback };
  double step_seconds = 1.0;
  /// Relative spreads (std of log). `shared` is drawn once per template and draw: the stages
  /// of one template are alike, so what is unknown about them is mostly unknown for all of
  /// them together (it does not average out over an ensemble); `own` once per stage.
  double shared = 0.0;
  double own = 0.0;
  Basis basis = Basis::fallback;
  std::string text;  ///< `measured`, `3 sibling(s) of ssp-{forcing}`, `declared x 1.130`, ...
};
std::vector<StageRate> stage_rates(const StageGraph& graph, const CampaignState& state, const ForecastOptions& options,
                                   std::optional<double>* correction = nullptr);

}  // namespace perennial
