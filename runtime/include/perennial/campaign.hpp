#pragma once
// Campaign: the parsed campaign file: projects and the expanded list of stages, each field
// remembering where it was written so that every later error can point at the line.

#include <perennial/boxed.hpp>
#include <perennial/calendar.hpp>
#include <perennial/cluster.hpp>
#include <perennial/dtype.hpp>
#include <perennial/external_model.hpp>
#include <perennial/kernel.hpp>
#include <perennial/output_metadata.hpp>
#include <perennial/parameters.hpp>
#include <perennial/serialization.hpp>
#include <perennial/source_location.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace perennial {

/// A declared output array of a stage: `temperature: {dtype: float64, dims: [lat, lon], units: K}`.
struct OutputSpec {
  std::string name;
  DType dtype = DType::float64;
  std::vector<std::string> dims;
  std::string units;
  SourceLocation where;
  std::string long_name;      ///< CF `long_name:`, "" when not given
  std::string standard_name;  ///< CF `standard_name:` (checked for its form only), "" when not given

  template <class Archive> void serialize(Archive& ar, unsigned) {
    ar & name & dtype & dims & units & where & long_name & standard_name;
  }
};

/// An input as written: `initial: spinup.temperature` or a glob `ssp-*.temperature`, with
/// optional expectations in the long form `{from: ..., dtype: ..., dims: ..., units: ...}`.
struct InputBinding {
  std::string name;           ///< the name the kernel asks for
  std::string stage_pattern;  ///< upstream stage name or glob (`*`, `?`, `[...]`)
  std::string output;         ///< upstream output name
  ArraySchema expect;
  SourceLocation where;
};

/// `checkpoint:` settings, at the top level and per stage (a stage's fields override).
struct CheckpointSpec {
  bool enabled = true;                          ///< `checkpoint: {enabled: false}` turns them off
  int keep = 3;                                 ///< committed epochs kept per stage
  double node_mtbf_seconds = 24.0 * 3600.0;     ///< `mtbf:` per node
  double max_lost_work_seconds = 15.0 * 60.0;   ///< `max_lost_work:` cap on the interval
  std::optional<double> interval_seconds;       ///< `interval: 10min` overrides Young/Daly
  std::optional<std::uint64_t> interval_steps;  ///< `interval: 50 steps`
  /// `async: true`: the stage steps on while a copy of its state is written, synced and
  /// verified (twice the state's memory meanwhile); by default it waits for each epoch.
  bool async = false;

  template <class Archive> void serialize(Archive& ar, unsigned) {
    ar & enabled & keep & node_mtbf_seconds & max_lost_work_seconds & interval_seconds & interval_steps & async;
  }
};

/// `scheduling:`: the policy's knobs, after Slurm's multifactor priority and PreemptExemptTime.
struct SchedulingSpec {
  double priority_weight = 1000.0;    ///< `weights: {priority: ...}`: the stage's own priority
  double fairshare_weight = 10000.0;  ///< `weights: {fairshare: ...}`: the project's fair-share factor
  double age_weight = 1000.0;         ///< `weights: {age: ...}`: time waited, full at `max_age`
  double max_age_seconds = 7 * 86400.0;
  double fairshare_half_life_seconds = 7 * 86400.0;  ///< `fairshare_half_life:` usage decay
  std::optional<double> preempt_exempt_after_seconds;  ///< running this long: never preempted
  /// `end_margin:` with the allocation's end known, running stages stop this long before it
  /// (besides a step and two checkpoints), and nothing starts that would end inside it.
  double end_margin_seconds = 60.0;
  bool backfill = true;
  std::size_t backfill_depth = 1000;  ///< `backfill_depth:` stages tried behind the reserved one
  bool preemption = true;
  SourceLocation where;
};

struct ProjectSpec {
  std::string name;
  std::string grant;
  double allocation_core_hours = 0.0;
  double share = 1.0;  ///< fair-share weight against the other projects
  /// `hard_cap: true`: once the allocation is used (every run of the campaign counted), its
  /// stages start no more; running ones finish.
  bool hard_cap = false;
  SourceLocation where;
};

/// `promise:` on a stage or a `for_each` template: the metric its scenarios are judged by, and
/// the rule (successive halving) that pauses, shrinks or stops the least promising.
struct PromiseSpec {
  std::string metric;
  bool maximise = true;            ///< `direction: max` (default) or `min`
  std::optional<double> first_rung;  ///< `rungs: {first: 100 steps | 2 years}`; default: a tenth of the steps
  bool rungs_in_years = false;     ///< the rungs count simulated years (the kernel advances model time)
  double reduction = 3.0;          ///< `rungs: {reduction: 3}`: the top 1/3 go on at each rung
  std::string bottom = "pause";    ///< `pause`, `shrink` or `stop`
  double weight = 1.0;             ///< promise against the stage's own `priority:`
  bool ucb = false;                ///< `policy: ucb` (upper confidence bounds) rather than `halving`
  double exploration = 1.0;        ///< ucb: the bound's width in noise standard errors
  int min_values = 3;              ///< ucb: values a scenario reports after each start before it may give way
  SourceLocation where;
};

/// `simulate: {metrics: {NAME: {value: V, noise: S}}}`: what the accelerated mode reports for
/// the stage's metrics (the true level and the noise of each value).
struct SimulatedMetric {
  double value = 0.0;
  double noise = 0.0;
};

/// Where each field of a stage was written (`kernel`, `parameters.forcing`, ...): a sorted
/// array, since a stage has about ten and a campaign up to a hundred thousand stages (a
/// std::map of the same took three times the memory). The stage's fields are all in one file,
/// held once; the field names are held once per process (a campaign repeats a few dozen):
/// an entry is a pointer to its name, its line and its column, 16 bytes.
class FieldLocations {
 public:
  /// Records (or replaces) where `field` was written.
  void set(std::string_view field, const SourceLocation& where);
  /// Where `field` was written, if it was.
  std::optional<SourceLocation> find(std::string_view field) const;
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void reserve(std::size_t count) { entries_.reserve(count); }

 private:
  struct Entry {
    const std::string* field = nullptr;  // interned, never null once set
    int line = 0;
    int column = 0;
  };
  SourceFile file_;
  std::vector<Entry> entries_;  // sorted by field
};

struct StageSpec {
  std::string name;      ///< after ensemble expansion, e.g. `ssp-4.5`
  std::string template_name;  ///< as written, e.g. `ssp-{forcing}`
  /// The ensemble member's `for_each` values (`{forcing: 4.5}`): the scenario it belongs to.
  std::vector<std::pair<std::string, std::string>> scenario;
  std::string kernel;    ///< the kernel it runs; empty for a `command:` stage
  /// `command:`: an existing model executable run instead of a kernel (external_model.hpp).
  Boxed<ExternalModelSpec> command;
  std::string project;
  int ranks = 1;         ///< what it starts on: `ranks: N`, or a range's `min`
  int max_ranks = 1;     ///< `ranks: {min, max}`'s max (= ranks when fixed): what promise may grow it to
  /// The most ranks it may run on (a stage built in code may set `ranks` alone).
  int most_ranks() const { return ranks > max_ranks ? ranks : max_ranks; }
  int cores_per_rank = 1;
  std::uint64_t memory_per_rank_bytes = 0;  ///< 0: not declared
  int gpus_per_rank = 0;
  std::vector<std::string> features;        ///< node feature tags every rank's node must carry
  std::uint64_t steps = 1;
  bool protected_run = false;  ///< `protected:`; never preempted (scheduling issue)
  int priority = 0;
  std::optional<double> walltime_seconds;  ///< expected run time, when declared
  std::optional<double> step_seconds;      ///< `step_time:` expected seconds per step (else measured)
  std::optional<double> preempt_exempt_after_seconds;  ///< overrides `scheduling:`'s
  CheckpointSpec checkpoint;               ///< the campaign's settings with this stage's overrides
  Boxed<PromiseSpec> promise;              ///< its scenario group's promise rule, when it has one
  std::map<std::string, SimulatedMetric> simulated_metrics;  ///< `simulate: {metrics: ...}`
  Parameters parameters;
  std::vector<OutputSpec> outputs;
  std::vector<InputBinding> inputs;
  std::vector<std::pair<std::string, SourceLocation>> after;  ///< explicit dependency patterns
  MpiIoHints mpi_io_hints;   ///< the campaign's `mpi_io: {hints}` with this stage's overrides
  std::string start_date;    ///< `start_date:`: its outputs' time reference ("" for the campaign's)
  SourceLocation where;                                       ///< the stage's `name:` line
  FieldLocations field_where;                                 ///< each written field's position

  /// Where `field` was written, or the stage's own position when it was not.
  SourceLocation location_of(std::string_view field) const;
  const OutputSpec* find_output(const std::string& output) const;
  /// What it runs, for messages, events and grouping: the kernel's name, or `command:NAME`
  /// (NAME the program's file name) for a model executable.
  std::string what_runs() const;
};

struct Campaign {
  std::string name;
  std::filesystem::path file;        ///< the campaign file as given
  std::filesystem::path output_dir;  ///< absolute; `output_dir:` resolved against the file's folder
  std::vector<ProjectSpec> projects;
  CheckpointSpec checkpoint;         ///< campaign-wide defaults
  std::vector<std::string> faults;   ///< fault drills (FaultPlan items), checked when loaded
  ClusterSpec cluster;               ///< `cluster:`; empty when the file declares none
  SchedulingSpec scheduling;         ///< `scheduling:`; defaults when absent
  Calendar calendar;                 ///< `calendar:`: the model calendar (default 365_day)
  OutputConventions output_conventions;  ///< `conventions:`, `title:`, ..., `start_date:`
  MpiIoHints mpi_io_hints;           ///< `mpi_io: {hints}`: every stage's unless it overrides them
  std::vector<StageSpec> stages;     ///< expanded, in file order
  SourceLocation where;
};

}  // namespace perennial

PERENNIAL_MESSAGE_SERIALIZATION(perennial::OutputSpec)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::CheckpointSpec)
