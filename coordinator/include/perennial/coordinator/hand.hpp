#pragma once
// The scientist's hand: what `perennial priority DIR STAGE (VALUE | --pause | --resume | --stop)`
// asks of one stage, as a request and as the journal's `hand` record, how it is checked against
// the campaign, and how it is applied to a run: live by the coordinator, and again, in journal
// order, at the start of every later run (so a pause or a priority outlives the run). Plain C++.

#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/journal.hpp>
#include <perennial/coordinator/stage_graph.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace perennial {

enum class HandAction { priority, pause, resume, stop };
std::string_view hand_action_name(HandAction action);
std::optional<HandAction> hand_action_from(std::string_view name);

struct HandRequest {
  std::string stage;
  HandAction action = HandAction::pause;
  std::optional<int> value;  ///< the new priority (priority only)
  double unix = 0.0;         ///< when the scientist asked
  /// Who journaled it: "cli" (the campaign was not running: applied at the next run's start)
  /// or "run" (the coordinator applied it live).
  std::string source;

  /// `{"type":"hand","stage":...,"action":...,"value":...,"unix":...,"source":...}`: the journal
  /// record, and the request file's content.
  nlohmann::json to_json() const;
  /// Throws Error naming the field that is missing or wrong.
  static HandRequest from_json(const nlohmann::json& j);
};

/// What is wrong with the request for this campaign, whatever the run's state: an unknown
/// stage (with the closest names), a priority without a value or out of range (±limits::
/// kPriority, as `priority:` in the campaign file), a value with another action, a pause or
/// stop of a protected stage. Empty when it fits.
std::string hand_request_problem(const StageGraph& graph, const HandRequest& request);

struct HandOutcome {
  bool accepted = false;
  std::string message;            ///< what was done, or why not
  std::optional<StopOrder> stop;  ///< for the driver: a running stage to checkpoint and stop
};

/// Checks the request (hand_request_problem) and applies it to the run.
HandOutcome apply_hand(CampaignRun& run, const HandRequest& request, double now);

/// The journal's `hand` records, applied after reuse_earlier_work and before begin(): what they
/// leave in journal order (the newest hold or release, the newest priority), once per stage.
/// Returns one line per record the campaign file no longer fits (a stage renamed, one now
/// protected), for the log; records the run's state makes moot (a stage completed since) are
/// passed over quietly.
std::vector<std::string> replay_hand_records(CampaignRun& run, const JournalContents& journal, double now);

}  // namespace perennial
