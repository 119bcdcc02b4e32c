#include <perennial/coordinator/campaign_progress.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace perennial {

std::string_view state_name(StageState s) {
  switch (s) {
    case StageState::waiting: return "waiting";
    case StageState::ready: return "ready";
    case StageState::running: return "running";
    case StageState::completed: return "completed";
    case StageState::failed: return "failed";
    case StageState::blocked: return "never started";
    case StageState::suspended: return "suspended";
    case StageState::paused: return "paused";
  }
  return "unknown";
}

CampaignProgress::CampaignProgress(const StageGraph& graph)
    : graph_(graph), state_(graph.size(), StageState::waiting), reason_(graph.size()), waiting_on_(graph.size()),
      priority_(graph.size()) {
  for (StageId id = 0; id < graph.size(); ++id) {
    priority_[id] = graph.stage(id).priority;
    waiting_on_[id] = static_cast<std::uint32_t>(graph.upstream(id).size());
    if (waiting_on_[id] == 0) {
      state_[id] = StageState::ready;
      ready_.emplace(-priority_[id], id);
    }
  }
}

std::vector<StageId> CampaignProgress::ready() const {
  std::vector<StageId> out;
  out.reserve(ready_.size());
  for (const auto& [priority, id] : ready_) out.push_back(id);
  return out;
}

void CampaignProgress::set_priority(StageId id, int priority) {
  if (state_[id] == StageState::ready) {
    ready_.erase({-priority_[id], id});
    ready_.emplace(-priority, id);
  }
  priority_[id] = priority;
}

void CampaignProgress::start(StageId id) {
  ready_.erase({-priority_[id], id});
  state_[id] = StageState::running;
  ++running_;
}

std::vector<StageId> CampaignProgress::reuse(StageId id) {
  if (state_[id] == StageState::ready) ready_.erase({-priority_[id], id});
  return complete(id);
}

void CampaignProgress::suspend(StageId id, std::string reason) {
  if (state_[id] == StageState::running) --running_;
  state_[id] = StageState::suspended;
  reason_[id] = std::move(reason);
}

void CampaignProgress::pause(StageId id, std::string reason) {
  if (state_[id] == StageState::running) {
    --running_;
  } else if (state_[id] == StageState::ready) {
    ready_.erase({-priority_[id], id});
  } else {
    return;
  }
  state_[id] = StageState::paused;
  reason_[id] = std::move(reason);
}

void CampaignProgress::resume(StageId id, std::string reason) {
  if (state_[id] != StageState::paused) return;
  state_[id] = StageState::ready;
  ready_.insert({-priority_[id], id});
  reason_[id] = std::move(reason);
}

void CampaignProgress::requeue(StageId id, std::string reason) {
  if (state_[id] == StageState::running) --running_;
  state_[id] = StageState::ready;
  reason_[id] = std::move(reason);
  ready_.emplace(-priority_[id], id);
}

std::vector<StageId> CampaignProgress::complete(StageId id) {
  if (state_[id] == StageState::running) --running_;
  state_[id] = StageState::completed;
  ++completed_;
  std::vector<StageId> now_ready;
  for (StageId d : graph_.downstream(id)) {
    if (--waiting_on_[d] == 0 && state_[d] == StageState::waiting) {
      state_[d] = StageState::ready;
      ready_.emplace(-priority_[d], d);
      now_ready.push_back(d);
    }
  }
  return now_ready;
}

std::vector<StageId> CampaignProgress::fail(StageId id, std::string reason) {
  if (state_[id] == StageState::running) --running_;
  if (state_[id] == StageState::ready) ready_.erase({-priority_[id], id});
  state_[id] = StageState::failed;
  reason_[id] = std::move(reason);
  std::vector<StageId> blocked;
  std::vector<StageId> frontier{id};
  while (!frontier.empty()) {
    StageId at = frontier.back();
    frontier.pop_back();
    for (StageId d : graph_.downstream(at)) {
      if (state_[d] != StageState::waiting) continue;
      state_[d] = StageState::blocked;
      reason_[d] = fmt::format("upstream stage '{}' failed", graph_.stage(id).name);
      blocked.push_back(d);
      frontier.push_back(d);
    }
  }
  return blocked;
}

std::size_t CampaignProgress::count(StageState s) const {
  return static_cast<std::size_t>(std::count(state_.begin(), state_.end(), s));
}

}  // namespace perennial
