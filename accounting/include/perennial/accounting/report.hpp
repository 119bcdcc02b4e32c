#pragma once
// Report: what one or more campaigns used, per grant, project, scenario and stage, over a time
// window, with efficiency figures and recommendations backed by numbers. It is a value built
// from the accounting stores of output folders (a grant spans several campaigns, so several
// folders merge); report_format.hpp renders it as Markdown, CSV, JSON or HTML and charts.hpp
// draws its charts. The same stores and options give the same Report, to the bit: nothing in
// it depends on the current time (its "as of" is the newest segment end), and every list is
// in a fixed order. Plain C++; times are unix seconds, dates are printed in UTC.

#include <perennial/accounting/burn.hpp>
#include <perennial/accounting/climate_figures.hpp>
#include <perennial/accounting/scenario_table.hpp>
#include <perennial/accounting/store.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace perennial::accounting {

/// A report that cannot be made as asked: a folder without books, an unknown project or
/// grant, a bad date. Says which.
class ReportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The books of one output folder, read once (`<folder>/accounting.db`, read-only).
struct Books {
  std::filesystem::path folder;
  std::vector<RunRecord> runs;
  std::vector<Segment> segments;
  std::vector<CheckpointRow> checkpoints;
  std::vector<AllocationRow> allocations;
  std::vector<MetricRow> metrics;
  /// The scenario ranking's other inputs: the campaign's stages as its file declares them and
  /// the events log's stage moves. read_books reads no campaign file, so it leaves them empty
  /// (no ranking); `perennial report` fills them from the campaign file of the folder's newest
  /// run when that campaign has a `promise:` metric.
  std::vector<ScenarioStage> stages;
  std::vector<StageEvent> events;
};

/// Reads `<folder>/accounting.db`. Throws ReportError when the folder or its store is
/// missing, AccountingError when the store cannot be read.
Books read_books(const std::filesystem::path& folder);

/// `--from`/`--to`: unix seconds (`1764000000`), a date (`2026-11-25`, its 00:00) or a
/// date-time (`2026-11-25T18:00:00`, optionally ending in `Z`), all UTC. Absent when the
/// text is none of these.
std::optional<double> parse_report_time(const std::string& text);

/// [from, to): segments are clipped to it proportionally by wall time.
struct ReportWindow {
  std::optional<double> from;
  std::optional<double> to;
};

struct ReportOptions {
  std::optional<std::string> project;  ///< only this project
  std::optional<std::string> grant;    ///< only this grant's projects
  ReportWindow window;
  /// MTBF of one node, for the checkpoint-interval advice (the campaign default, 24 h).
  double node_mtbf_seconds = 24.0 * 3600.0;
  /// The exhaustion projection; empty: burn_rate_forecast.
  ExhaustionForecaster forecaster;
  /// What the caller wants the reader to know about the data (e.g. a folder it could not
  /// forecast); added to the report's notes.
  std::vector<std::string> notes;
};

/// Use of the reserved resources and where the time went, over some segments.
struct Efficiency {
  int segments = 0;
  double core_hours = 0.0;
  /// CPU-hours / core-hours over the segments whose CPU use is known; absent when none is.
  std::optional<double> reserved_use;
  int cpu_unknown_segments = 0;  ///< segments without a CPU figure (a rank lost before it reported)
  double checkpoint_core_hours = 0.0;
  double checkpoint_share = 0.0;  ///< of core-hours
  double lost_core_hours = 0.0;   ///< work recomputed after failures, lost epochs, preemptions
  std::uint64_t lost_steps = 0;
  double lost_share = 0.0;  ///< of core-hours
  double queue_wait_hours = 0.0;
  double max_queue_wait_seconds = 0.0;
  std::optional<double> energy_joules;  ///< only when every segment's energy is known
  int energy_unknown_segments = 0;
  std::vector<std::pair<std::string, int>> energy_sources;  ///< source -> segments, by source
};

/// Allocation, use, burn rate and exhaustion of one project or one grant.
struct AllocationUse {
  std::string name;
  std::string grant;  ///< the project's grant (for a grant: itself)
  std::optional<double> allocation_core_hours;
  double core_hours = 0.0;  ///< allocated (wall x reserved cores) in the window
  double node_hours = 0.0;
  double gpu_hours = 0.0;
  /// Use from the first segment up to the window's end: what counts against the allocation.
  double used_to_date_core_hours = 0.0;
  BurnRate burn;
  ExhaustionForecast exhaustion;
  UsageHistory history;  ///< to date; the burn-down chart's curve
};

struct ProjectReport : AllocationUse {
  Efficiency efficiency;
};

struct GrantReport : AllocationUse {
  std::vector<std::string> projects;
};

struct StageReport {
  std::string campaign;
  std::string name;
  std::string project;
  std::string grant;
  std::string scenario;
  ClimateFigures figures;  ///< core_hours, segments, sypd, chsy...
  double node_hours = 0.0;
  int nodes = 0;  ///< the most nodes one of its segments had
  /// CPU-hours / core-hours, when every segment's CPU use is known.
  std::optional<double> reserved_use;
  double lost_core_hours = 0.0;
  /// The median gap between consecutive commits within a segment, and the median cost.
  std::optional<double> checkpoint_interval_seconds;
  std::optional<double> checkpoint_cost_seconds;
  int checkpoint_gaps = 0;
};

/// Advice with its numbers. Advice of one kind with the same (printed) figures about several
/// stages, e.g. the members of an ensemble that all checkpoint too often, is one
/// Recommendation naming them all, its additive figures (core-hours) summed.
struct Recommendation {
  /// `allocation`, `checkpoint-interval`, `parallel-efficiency`, `reserved-use`
  std::string kind;
  /// The grant, the stage (`campaign/stage`), the `for_each` template
  /// (`campaign/member-{m}`) or, for merged advice, those joined by `, `
  std::string subject;
  std::string text;  ///< one sentence with its numbers
  std::optional<double> core_hours_back;  ///< what following it would save, when known
  std::vector<std::string> stages;  ///< the stages (`campaign/stage`) it is about; none for a grant
};

/// The folders read, for the report's header.
struct ReportSource {
  std::string folder;
  std::string campaign;  ///< of its newest run
  int runs = 0;
  int segments = 0;  ///< in the store, before filtering
};

struct Report {
  std::vector<ReportSource> sources;
  ReportOptions options;  ///< forecaster left empty
  std::optional<double> as_of;      ///< the newest segment end (window applied)
  std::optional<double> first_use;  ///< the oldest segment start in the window
  std::string calendar = "365_day";
  double days_per_year = 365.0;
  std::vector<GrantReport> grants;      ///< by name
  std::vector<ProjectReport> projects;  ///< by name
  std::vector<ClimateFigures> scenarios;  ///< by first start; `{}` is the stages outside ensembles
  std::vector<StageReport> stages;        ///< by campaign, then first start
  /// The scenarios of each folder whose campaign has a `promise:` metric, ranked as
  /// `perennial scenarios` ranks them, as of the window's end (values and moves recorded
  /// before it; core-hours in the window); by folder, then as the campaign declares them.
  std::vector<ScenarioGroup> rankings;
  Efficiency total;
  std::vector<Recommendation> recommendations;
  std::vector<std::string> notes;  ///< what the reader should know about the data
};

/// Below this many gaps between commits a stage's checkpoint interval is not judged.
inline constexpr int kMinCheckpointGaps = 3;
/// A measured interval this many times off the optimum (either way) is recommended against.
inline constexpr double kCheckpointIntervalTolerance = 2.0;
/// Reserved cores used less than this share of their time are pointed out, for a stage that
/// ran at least this long (start-up dominates shorter ones).
inline constexpr double kLowReservedUse = 0.5;
inline constexpr double kMinSecondsForReservedUseAdvice = 600.0;
/// A grant's exhaustion date is recommended on only from this many days of use (or once used up).
inline constexpr double kMinDaysForExhaustionAdvice = 1.0;
/// Parallel efficiency is judged from segments with at least this many steps and this many
/// seconds of computing (wall time less checkpoints and outputs): start-up dominates shorter ones.
inline constexpr std::uint64_t kMinStepsForEfficiencyAdvice = 10;
inline constexpr double kMinSecondsForEfficiencyAdvice = 60.0;
/// More ranks are recommended against when they cost at least this much more core-time per
/// step than the fewest the same work ran on (20%: a parallel efficiency of 83% or less).
inline constexpr double kParallelEfficiencyExtraCost = 0.2;
/// The stages of one `for_each` template are compared as one work when, at every rank count,
/// their costs per step lie within this factor of each other (and some count has two of them).
inline constexpr double kSameWorkSpread = 1.25;
/// Merged advice names this many stages, then "and N more".
inline constexpr std::size_t kStagesNamedInAdvice = 3;

/// Builds the report over `books` (one per folder). Throws ReportError for a project or
/// grant that no folder knows, or a window whose end is not after its start.
Report build_report(const std::vector<Books>& books, const ReportOptions& options);

/// Clips a segment to the window proportionally by wall time (core-hours follow from the
/// clipped wall times; CPU, checkpoint, output, lost work, energy, steps and model time are
/// scaled by the share kept; the queue wait is the part of [start - wait, start) in the
/// window). Absent when nothing of it lies in the window.
std::optional<Segment> clip_to_window(const Segment& segment, const ReportWindow& window);

/// `2026-11-25` and `2026-11-25 18:00:00 UTC`.
std::string format_utc_date(double unix_seconds);
std::string format_utc_time(double unix_seconds);
/// `40 s`, `2.5 min`, `9 min`, `3.2 h`, `12 d`.
std::string format_duration(double seconds);

}  // namespace perennial::accounting
