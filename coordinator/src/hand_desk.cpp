#include <perennial/coordinator/hand.hpp>
#include <perennial/coordinator/hand_desk.hpp>
#include <perennial/errors.hpp>

#include <fmt/format.h>

#include <chrono>

namespace perennial {

HandDesk::HandDesk(const std::filesystem::path& campaign_folder, CampaignRun& run, EventLog& events)
    : run_(run), events_(events), control_(campaign_folder) {}

void HandDesk::replay(const JournalContents& earlier, double now) {
  control_.drop_answers_older_than(std::chrono::minutes(10));  // their commands gave up long ago
  for (const auto& note : replay_hand_records(run_, earlier, now)) events_.progress(fmt::format("journal: {}", note));
}

std::vector<StopOrder> HandDesk::take_requests(Journal& journal, double now) {
  std::vector<StopOrder> stops;
  if (now < next_poll_) return stops;
  next_poll_ = now + 0.2;
  for (const auto& pending : control_.pending()) {
    ControlRequests::Answer answer{false, fmt::format("malformed request: {}", pending.problem)};
    nlohmann::json event = {{"event", "hand"}, {"request", pending.id}};
    if (pending.request) {
      const HandRequest& request = *pending.request;
      const HandOutcome outcome = apply_hand(run_, request, now);
      if (outcome.accepted) {
        HandRequest record = request;
        record.source = "run";
        journal.append(record.to_json());
        journal.sync();
        if (outcome.stop) stops.push_back(*outcome.stop);
      }
      answer = {outcome.accepted, outcome.message};
      event["stage"] = request.stage;
      event["action"] = hand_action_name(request.action);
      if (request.value) event["value"] = *request.value;
    }
    event["result"] = answer.accepted ? "accepted" : "refused";
    event["message"] = answer.message;
    events_.record(std::move(event));
    events_.progress(fmt::format("hand      {}{}", answer.accepted ? "" : "refused: ", answer.message));
    try {
      control_.answer(pending.id, answer);
    } catch (const Error& e) {
      events_.progress(fmt::format("warning: the answer to {} was not written: {}", pending.id, e.what()));
    }
  }
  return stops;
}

}  // namespace perennial
