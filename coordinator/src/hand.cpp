#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/hand.hpp>
#include <perennial/errors.hpp>
#include <perennial/text.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

namespace perennial {

std::string_view hand_action_name(HandAction action) {
  switch (action) {
    case HandAction::priority: return "priority";
    case HandAction::pause: return "pause";
    case HandAction::resume: return "resume";
    case HandAction::stop: return "stop";
  }
  return "?";
}

std::optional<HandAction> hand_action_from(std::string_view name) {
  for (HandAction a : {HandAction::priority, HandAction::pause, HandAction::resume, HandAction::stop}) {
    if (hand_action_name(a) == name) return a;
  }
  return std::nullopt;
}

nlohmann::json HandRequest::to_json() const {
  nlohmann::json j = {{"type", "hand"}, {"stage", stage}, {"action", hand_action_name(action)}, {"unix", unix}};
  if (value) j["value"] = *value;
  if (!source.empty()) j["source"] = source;
  return j;
}

HandRequest HandRequest::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw Error("a hand request is a JSON object");
  if (j.value("type", "") != "hand") throw Error("field 'type': must be \"hand\"");
  HandRequest r;
  if (!j.contains("stage") || !j["stage"].is_string()) throw Error("field 'stage': missing or not a string");
  r.stage = j["stage"].get<std::string>();
  if (!j.contains("action") || !j["action"].is_string()) throw Error("field 'action': missing or not a string");
  const auto action = hand_action_from(j["action"].get<std::string>());
  if (!action) {
    throw Error(fmt::format("field 'action': '{}' is none of priority, pause, resume, stop", j["action"].get<std::string>()));
  }
  r.action = *action;
  if (j.contains("value")) {
    // A priority is an integer: 2.5 or 1e12 must not be rounded into one quietly.
    if (!j["value"].is_number_integer()) throw Error(fmt::format("field 'value': {} is not an integer", j["value"].dump()));
    const auto v = j["value"].get<long long>();
    if (v < -limits::kPriority || v > limits::kPriority) {
      throw Error(fmt::format("field 'value': {} is outside -{} .. {}", v, limits::kPriority, limits::kPriority));
    }
    r.value = static_cast<int>(v);
  }
  if (j.contains("unix")) {
    if (!j["unix"].is_number()) throw Error("field 'unix': not a number");
    r.unix = j["unix"].get<double>();
  }
  r.source = j.value("source", "");
  return r;
}

std::string hand_request_problem(const StageGraph& graph, const HandRequest& request) {
  const auto id = graph.find(request.stage);
  if (!id) {
    std::vector<std::string> names;
    for (StageId s = 0; s < graph.size(); ++s) names.push_back(graph.stage(s).name);
    std::string message = fmt::format("stage '{}' is not in campaign '{}'", request.stage, graph.campaign().name);
    if (const auto near = nearest_names(request.stage, names, 3); !near.empty()) {
      message += fmt::format("; did you mean '{}'?", fmt::join(near, "', '"));
    }
    return message;
  }
  if (request.action == HandAction::priority) {
    if (!request.value) return "a priority needs a VALUE (an integer)";
    if (*request.value < -limits::kPriority || *request.value > limits::kPriority) {
      return fmt::format("priority {} is outside -{} .. {} (the range of a stage's priority:)", *request.value,
                         limits::kPriority, limits::kPriority);
    }
    return {};
  }
  if (request.value) return fmt::format("a value ({}) goes with a priority, not with --{}", *request.value,
                                        hand_action_name(request.action));
  const StageSpec& s = graph.stage(*id);
  if ((request.action == HandAction::pause || request.action == HandAction::stop) && s.protected_run) {
    return fmt::format("{} is protected: never paused", s.name);
  }
  return {};
}

HandOutcome apply_hand(CampaignRun& run, const HandRequest& request, double now) {
  if (auto problem = hand_request_problem(run.graph(), request); !problem.empty()) return {false, problem, std::nullopt};
  const StageId id = *run.graph().find(request.stage);
  const std::string& name = run.graph().stage(id).name;
  if (request.action == HandAction::priority) {
    const StageState state = run.progress().state(id);
    if (state == StageState::completed || state == StageState::failed || state == StageState::blocked) {
      return {false, fmt::format("{} is {}: its priority no longer matters", name, state_name(state)), std::nullopt};
    }
    const int before = run.priority_of(id);
    run.set_priority(id, *request.value);
    return {true, fmt::format("{}: priority {} (was {})", name, *request.value, before), std::nullopt};
  }
  CampaignRun::HandResult r;
  switch (request.action) {
    case HandAction::pause: r = run.hold_by_hand(id, CampaignRun::Hold::paused, now); break;
    case HandAction::stop: r = run.hold_by_hand(id, CampaignRun::Hold::stopped, now); break;
    case HandAction::resume: r = run.release_by_hand(id, now); break;
    case HandAction::priority: break;
  }
  if (!r.refused.empty()) return {false, r.refused, std::nullopt};
  return {true, fmt::format("{}: {}", name, r.note), r.stop};
}

std::vector<std::string> replay_hand_records(CampaignRun& run, const JournalContents& journal, double now) {
  // Folded per stage first, in journal order: what the records leave is applied once, so a
  // pause lifted long ago does not pause and resume the stage (events, log) at every start.
  struct Net {
    std::optional<HandAction> hold;  ///< the newest pause, stop or resume
    std::optional<int> priority;     ///< the newest priority
  };
  std::map<StageId, Net> net;
  std::vector<std::string> notes;
  for (const auto& record : journal.records) {
    if (record.value("type", "") != "hand") continue;
    try {
      const HandRequest request = HandRequest::from_json(record);
      // The campaign file changed under it (a stage renamed, now protected): say so.
      if (auto problem = hand_request_problem(run.graph(), request); !problem.empty()) {
        std::string what(hand_action_name(request.action));
        if (request.value) what += fmt::format(" {}", *request.value);
        notes.push_back(fmt::format("the journal's hand record '{} {}' no longer applies: {}", request.stage, what, problem));
        continue;
      }
      Net& n = net[*run.graph().find(request.stage)];
      if (request.action == HandAction::priority) {
        n.priority = request.value;
      } else {
        n.hold = request.action;
      }
    } catch (const Error& e) {
      notes.push_back(fmt::format("a hand record of the journal is unreadable ({}): skipped", e.what()));
    }
  }
  // A record the run's state makes moot (a stage completed since) is refused quietly.
  for (const auto& [id, n] : net) {
    const std::string& stage = run.graph().stage(id).name;
    if (n.priority) apply_hand(run, HandRequest{stage, HandAction::priority, n.priority, 0.0, {}}, now);
    if (n.hold && n.hold != HandAction::resume) apply_hand(run, HandRequest{stage, *n.hold, std::nullopt, 0.0, {}}, now);
    // The scientist's newest word was resume: a stage the promise replay paused again (it ran
    // before this) is resumed, as it was in the run that took the request.
    if (n.hold == HandAction::resume && run.progress().state(id) == StageState::paused) {
      run.resume(id, "resumed by hand in an earlier run", now);
    }
  }
  return notes;
}

}  // namespace perennial
