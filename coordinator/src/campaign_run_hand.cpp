// CampaignRun: the scientist's hand (`perennial priority`): holds, releases and priorities set
// by hand. Apart from campaign_run.cpp because it is a concern of its own, on top of pause(),
// resume() and submit().

#include <perennial/coordinator/campaign_run.hpp>

#include <fmt/format.h>

namespace perennial {

namespace {

std::string_view hold_name(CampaignRun::Hold hold) { return hold == CampaignRun::Hold::stopped ? "stopped" : "paused"; }

}  // namespace

std::optional<CampaignRun::Hold> CampaignRun::hand_hold(StageId id) const {
  const auto it = hand_.find(id);
  return it == hand_.end() ? std::nullopt : std::optional<Hold>(it->second);
}

CampaignRun::HandResult CampaignRun::hold_by_hand(StageId id, Hold hold, double now) {
  const StageSpec& s = graph_.stage(id);
  const std::string what(hold_name(hold));
  if (s.protected_run) return {std::nullopt, fmt::format("{} is protected: never paused", s.name), {}};
  if (const auto held = hand_hold(id)) {
    // Asked again (or a pause turned into a stop): the stage is held already, nothing to stop.
    hand_[id] = hold;
    resume_when_stopped_.erase(id);
    return {std::nullopt, {}, *held == hold ? fmt::format("already {} by hand", what) : fmt::format("now {} by hand", what)};
  }
  const StageState state = progress_.state(id);
  const std::string reason = fmt::format("{} by hand", what);
  switch (state) {
    case StageState::waiting:
      // Not ready yet: held when its upstream stages complete (submit_unless_held).
      hand_[id] = hold;
      return {std::nullopt, {}, fmt::format("{} by hand: it will not start when its upstream stages complete", what)};
    case StageState::paused:
      // Paused by the promise policy: now the scientist's to release, not the policy's.
      hand_[id] = hold;
      return {std::nullopt, {}, fmt::format("{} by hand (it was paused already)", what)};
    case StageState::ready:
    case StageState::running: {
      PauseResult p = pause(id, reason, now);
      if (!p.refused.empty()) return {std::nullopt, p.refused, {}};
      hand_[id] = hold;
      resume_when_stopped_.erase(id);
      if (state == StageState::running) {
        return {p.stop, {}, fmt::format("{} by hand: it checkpoints at its next step and stops", what)};
      }
      return {std::nullopt, {}, fmt::format("{} by hand: taken out of the queue", what)};
    }
    case StageState::completed:
    case StageState::failed:
    case StageState::blocked:
    case StageState::suspended:
      break;
  }
  return {std::nullopt, fmt::format("{} is {}: nothing to {}", s.name, state_name(state), what == "stopped" ? "stop" : "pause"), {}};
}

CampaignRun::HandResult CampaignRun::release_by_hand(StageId id, double now) {
  const StageSpec& s = graph_.stage(id);
  const bool held = hand_.erase(id) != 0;
  const StageState state = progress_.state(id);
  if (state == StageState::paused) {
    resume(id, "by hand", now);
    return {std::nullopt, {}, "resumed by hand: it waits for ranks again"};
  }
  if (state == StageState::running && pause_reasons_.count(id) != 0) {
    // Told to stop for a pause already: it stops at its checkpoint, then is queued again.
    resume_when_stopped_.insert(id);
    return {std::nullopt, {}, "resumed by hand: it is checkpointing for its pause and is queued again once stopped"};
  }
  if (held) return {std::nullopt, {}, fmt::format("released by hand: it starts when its upstream stages complete")};
  return {std::nullopt, fmt::format("{} is {}: neither paused nor held, nothing to resume", s.name, state_name(state)), {}};
}

void CampaignRun::set_priority(StageId id, int priority) {
  progress_.set_priority(id, priority);
  policy_.set_priority(id, priority);
  changed_ = true;
}

void CampaignRun::submit_unless_held(StageId id, double now) {
  const auto held = hand_hold(id);
  if (!held) {
    submit(id, now);
    return;
  }
  const std::string reason = fmt::format("{} by hand", hold_name(*held));
  progress_.pause(id, fmt::format("paused: {}", reason));
  tell([&](CampaignObserver& o) { o.stage_paused(id, std::nullopt, reason, now); });
}

}  // namespace perennial
