#pragma once
// ScenarioGroup: a campaign's scenarios ranked by promise (issue 14, point 6), gathered from
// what its output folder holds: per scenario group (a `for_each` template), each member's
// rank by its newest value of the group's metric, its trajectory (every value the books hold),
// core-hours, state and last move from the events log. `perennial scenarios` prints it and
// the accounting report carries it, so both say the same. Plain C++: the caller reads the
// campaign file and says what each stage declares (ScenarioStage), so this needs no loader.

#include <perennial/accounting/store.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace perennial::accounting {

/// What the table needs of a stage as the campaign file declares it.
struct ScenarioStage {
  std::string name;
  std::string template_name;  ///< its `for_each` template (a plain stage: its own name)
  std::string project;
  std::optional<std::string> promise_metric;  ///< `promise: {metric:}`, when it has one
  bool maximise = true;                       ///< `promise: {direction: max}`
  std::string promise_rule;                   ///< its promise policy in words ("successive halving: ...")
};

/// One line of events.jsonl that moves a stage (started, completed, paused...).
struct StageEvent {
  std::string stage;
  std::string event;   ///< `stage_started`, `stage_paused`...
  std::string reason;  ///< of a pause or a resume
  double wall = 0.0;   ///< unix seconds
};

/// Reads `<folder>/log/events.jsonl`'s stage events, in order; none when it is missing. A torn
/// last line (a run writing it) is skipped.
std::vector<StageEvent> read_stage_events(const std::filesystem::path& events_file);

struct ScenarioRow {
  std::string stage;
  std::string project;
  std::vector<MetricRow> trajectory;  ///< of the group's metric, by step
  std::optional<double> latest;       ///< the newest value: the one it is ranked by
  double core_hours = 0.0;
  std::string state = "waiting";
  int ranks = 0;          ///< running now; left 0 here (a live status says it, not the books)
  std::string last_move;  ///< `paused: <reason>`, `resumed: <reason>`
  int rank = 0;           ///< 1: the most promising
};

struct ScenarioGroup {
  std::string campaign;
  std::string name;    ///< the template
  std::string metric;
  bool maximise = true;
  bool by_promise = false;  ///< its metric is a `promise:` one (else the first its members reported)
  std::string rule;         ///< its promise policy in words; empty without promise
  std::vector<ScenarioRow> members;  ///< by rank
};

struct ScenarioInputs {
  std::string campaign;
  std::vector<ScenarioStage> stages;  ///< in the campaign file's order
  std::vector<MetricRow> metrics;
  std::vector<Segment> segments;  ///< whose core-hours count
  std::vector<StageEvent> events;
  /// Only metric values and events recorded before it (a report's window end).
  std::optional<double> until;
};

/// The groups, in the order their first stage is declared: a template with `promise:`, judged
/// by its metric; other stages whose books hold metrics, grouped by their template, by the
/// first metric a member reported (higher first). Members rank by their newest value (best
/// first, none last), ties by name.
std::vector<ScenarioGroup> scenario_groups(const ScenarioInputs& inputs);

}  // namespace perennial::accounting
