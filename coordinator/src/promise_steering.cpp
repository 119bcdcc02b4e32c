#include <perennial/coordinator/promise_steering.hpp>
#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/resources.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace perennial {

SuccessiveHalving halving_rules(const StageSpec& s) {
  SuccessiveHalving rules;
  const PromiseSpec& p = *s.promise;
  rules.grace = p.first_rung ? *p.first_rung : std::max(1.0, static_cast<double>(s.steps) / 10.0);
  rules.reduction = p.reduction;
  rules.bottom = p.bottom == "stop" ? BottomAction::stop : p.bottom == "shrink" ? BottomAction::shrink : BottomAction::pause;
  return rules;
}

PromiseSteering::PromiseSteering(CampaignRun& run, SteeringOptions options)
    : run_(run), options_(options), newest_(run.graph().size()) {
  const StageGraph& graph = run.graph();
  if (options_.year_seconds <= 0) options_.year_seconds = graph.campaign().calendar.seconds_per_year();
  for (StageId id = 0; id < graph.size(); ++id) {
    const StageSpec& s = graph.stage(id);
    if (!s.promise) continue;
    auto [it, fresh] = groups_.try_emplace(s.template_name);
    if (fresh) {
      const auto direction = s.promise->maximise ? PromiseDirection::max : PromiseDirection::min;
      if (s.promise->ucb) {
        it->second.ucb.emplace(s.promise->metric, direction,
                               UpperConfidence{s.promise->exploration, s.promise->min_values, 8});
      } else {
        it->second.halving.emplace(s.promise->metric, direction, halving_rules(s));
      }
    }
    it->second.members.push_back(id);
  }
}

PromiseSteering::Group* PromiseSteering::group_of(StageId id) {
  const StageSpec& s = run_.graph().stage(id);
  if (!s.promise) return nullptr;
  const auto it = groups_.find(s.template_name);
  return it == groups_.end() ? nullptr : &it->second;
}

const PromiseSteering::Group* PromiseSteering::group_of(StageId id) const {
  return const_cast<PromiseSteering*>(this)->group_of(id);
}

std::vector<PromiseMove> PromiseSteering::Group::report(const std::string& stage, double progress, double value,
                                                        UcbGroup::Room room) {
  return ucb ? ucb->report(stage, progress, value, room) : halving->report(stage, progress, value);
}

SuccessiveHalvingGroup::State PromiseSteering::Group::state(const std::string& stage) const {
  return ucb ? ucb->state(stage) : halving->state(stage);
}

UcbGroup::Room PromiseSteering::room(const Group& group) const {
  UcbGroup::Room room;
  if (!group.ucb) return room;
  std::optional<StageId> untried;
  for (StageId id : group.members) {
    const StageState state = run_.progress().state(id);
    if (state == StageState::ready && !newest_[id] && !run_.held_by_hand(id)) {
      ++room.untried_waiting;
      untried = id;
    }
    if (const ActiveRun* r = run_.active(id); r && r->told_to_stop) ++room.stopping;
  }
  // Untried members that fit on free ranks start anyway: no one need give way for them.
  if (untried) {
    Machine& machine = run_.machine();
    const StageSpec& s = run_.graph().stage(*untried);
    if (machine.fits_now(request_for(s, machine, 1).per_rank) >= static_cast<std::size_t>(run_.ranks_of(*untried))) {
      room.untried_waiting = 0;
    }
  }
  return room;
}

bool PromiseSteering::steers(StageId id, const std::string& name) const {
  const StageSpec& s = run_.graph().stage(id);
  return s.promise && s.promise->metric == name;
}

std::optional<SuccessiveHalvingGroup::State> PromiseSteering::state(StageId id) const {
  const Group* g = group_of(id);
  if (!g) return std::nullopt;
  return g->state(run_.graph().stage(id).name);
}

void PromiseSteering::stage_completed(StageId id, const ActiveRun&, double now) {
  Group* g = group_of(id);
  if (!g) return;
  forget_value(*g, id);
  const std::string& name = run_.graph().stage(id).name;
  if (g->halving) {
    g->halving->finished(name);
    return;
  }
  std::set<std::string> held;
  for (StageId member : g->members) {
    if (run_.held_by_hand(member)) held.insert(run_.graph().stage(member).name);
  }
  if (auto promotion = g->ucb->finished(name, held)) {
    SteeringMove m = carry_out(*promotion, now);
    m.rule = "upper_confidence_bound";
    if (!m.made) g->ucb->undo(*promotion);
    meanwhile_.push_back(std::move(m));
  }
}

std::vector<SteeringMove> PromiseSteering::metric(StageId id, std::uint64_t step, double simulated,
                                                  const std::string& name, double value, double now) {
  std::vector<SteeringMove> out;
  Group* g = group_of(id);
  if (!g || !steers(id, name)) return out;
  const StageSpec& s = run_.graph().stage(id);
  note_value(*g, id, s.promise->maximise ? value : -value);
  // Progress in the rungs' unit: steps done (the reporting step included), or model years.
  const double progress = s.promise->rungs_in_years ? simulated / options_.year_seconds : static_cast<double>(step + 1);
  bool exchange_broken = false;
  for (const PromiseMove& move : g->report(s.name, progress, value, room(*g))) {
    // A ucb exchange is a pause then a promotion: when the pause is not made, neither is the
    // promotion (the promoted member would wait for ranks that do not come free).
    if (exchange_broken && move.kind == PromiseMove::Kind::promote) {
      SteeringMove skipped;
      skipped.kind = move_name(move.kind);
      skipped.why = move;
      if (const auto target = run_.graph().find(move.stage)) skipped.stage = *target;
      skipped.not_made = "the member it was to replace goes on";
      g->ucb->undo(move);
      out.push_back(std::move(skipped));
      continue;
    }
    out.push_back(carry_out(move, now));
    if (!out.back().made && g->ucb) {
      g->ucb->undo(move);
      exchange_broken = move.kind != PromiseMove::Kind::promote;
    }
  }
  weigh(*g, id);
  for (SteeringMove& m : out) {
    m.rule = g->ucb ? "upper_confidence_bound" : "successive_halving";
    if (m.made && m.kind == "promote") weigh(*g, m.stage);
  }
  if (auto grown = grow(*g, now)) out.push_back(std::move(*grown));
  return out;
}

void PromiseSteering::note_value(Group& group, StageId id, double score) {
  forget_value(group, id);
  newest_[id] = score;
  group.scores.insert(std::upper_bound(group.scores.begin(), group.scores.end(), score), score);
}

void PromiseSteering::forget_value(Group& group, StageId id) {
  if (!newest_[id]) return;
  const auto it = std::lower_bound(group.scores.begin(), group.scores.end(), *newest_[id]);
  if (it != group.scores.end() && *it == *newest_[id]) group.scores.erase(it);
  newest_[id].reset();
}

std::pair<int, int> PromiseSteering::standing(const Group& group, double score) const {
  const auto above = group.scores.end() - std::upper_bound(group.scores.begin(), group.scores.end(), score);
  return {static_cast<int>(above), static_cast<int>(group.scores.size())};
}

void PromiseSteering::weigh(const Group& group, StageId id) {
  const StageSpec& s = run_.graph().stage(id);
  const auto& mine = newest_[id];
  if (s.promise->weight <= 0 || !mine) return;
  // The scientist's hand took over: a priority neither declared nor given here.
  const auto given = weighed_.find(id);
  if (run_.priority_of(id) != (given != weighed_.end() ? given->second : s.priority)) return;
  const auto [above, of] = standing(group, *mine);
  const int rank = above + 1;
  const auto bonus = of > 1 ? std::lround(s.promise->weight * (of - rank) / static_cast<double>(of - 1)) : 0L;
  const int priority = static_cast<int>(std::clamp<long>(s.priority + bonus, -limits::kPriority, limits::kPriority));
  if (priority == run_.priority_of(id)) return;
  run_.set_priority(id, priority);
  weighed_[id] = priority;
}

std::vector<StageId> PromiseSteering::replay(const std::vector<EarlierValue>& earlier, double now) {
  const StageGraph& graph = run_.graph();
  std::map<std::string, std::string> why;  // each member's newest move, as it was decided then
  for (const EarlierValue& v : earlier) {
    const auto id = graph.find(v.stage);
    if (!id || !steers(*id, v.name)) continue;
    const StageSpec& s = graph.stage(*id);
    const double progress = s.promise->rungs_in_years ? v.simulated / options_.year_seconds : static_cast<double>(v.step + 1);
    // A ucb group's exchanges depended on who waited for ranks then, which the books do not
    // hold: its values are replayed without exchanges, and its bounds decide again from here.
    const UcbGroup::Room quiet{0, 1};
    for (const PromiseMove& move : group_of(*id)->report(s.name, progress, v.value, quiet)) why[move.stage] = move.reason;
    note_value(*group_of(*id), *id, s.promise->maximise ? v.value : -v.value);
  }
  std::vector<StageId> paused;
  for (auto& [name, group] : groups_) {
    for (StageId id : group.members) {
      const StageState state = run_.progress().state(id);
      if (state == StageState::completed) {
        if (group.halving) group.halving->finished(graph.stage(id).name);
        else group.ucb->finished(graph.stage(id).name, {});
        forget_value(group, id);
        continue;
      }
      const auto held = group.state(graph.stage(id).name);
      if (held != SuccessiveHalvingGroup::State::paused && held != SuccessiveHalvingGroup::State::stopped) continue;
      const auto reason = why.find(graph.stage(id).name);
      if (run_.pause(id, (reason != why.end() ? reason->second : std::string("below its rung's bar")) + " (in an earlier run)",
                     now).refused.empty()) {
        paused.push_back(id);
      }
    }
  }
  return paused;
}

SteeringMove PromiseSteering::carry_out(const PromiseMove& move, double now) {
  SteeringMove m;
  m.kind = move_name(move.kind);
  m.why = move;
  const auto id = run_.graph().find(move.stage);
  if (!id) {
    m.not_made = "no such stage";
    return m;
  }
  m.stage = *id;
  const StageSpec& s = run_.graph().stage(*id);
  const bool running = run_.progress().state(*id) == StageState::running;
  // A stage that finishes before a checkpoint and a restart would pay off is left alone: the
  // ranks come back sooner if it finishes than if it stops.
  if (move.kind != PromiseMove::Kind::promote && running) {
    const auto left = time_left(*id);
    const double cost = move_cost(*id, move.kind != PromiseMove::Kind::shrink);
    if (left && *left <= cost) {
      m.not_made = fmt::format("it finishes in about {:.0f} s, less than the {:.0f} s a checkpoint and restart cost",
                               *left, cost);
      return m;
    }
  }
  CampaignRun::PauseResult result;
  switch (move.kind) {
    case PromiseMove::Kind::pause:
    case PromiseMove::Kind::stop:
      result = run_.pause(*id, move.reason, now);
      break;
    case PromiseMove::Kind::shrink:
      m.ranks = s.ranks;
      result = run_.ranks_of(*id) > s.ranks ? run_.resize(*id, s.ranks, move.reason, now)
                                            : run_.pause(*id, move.reason + " (on its fewest ranks already: paused)", now);
      break;
    case PromiseMove::Kind::promote:
      if (run_.held_by_hand(*id)) {
        result.refused = fmt::format("{} is held by hand (perennial priority ... --resume lifts it)", s.name);
      } else if (!run_.resume(*id, move.reason, now)) {
        result.refused = fmt::format("{} is {}, not paused", s.name, state_name(run_.progress().state(*id)));
      }
      break;
  }
  m.made = result.refused.empty();
  m.not_made = result.refused;
  m.stop = result.stop;
  return m;
}

std::optional<SteeringMove> PromiseSteering::grow(Group& group, double now) {
  // Only ranks no one is waiting for: fair share and the policy's reservations are the
  // policy's, and a waiting stage has not been judged yet (exploring comes first).
  if (run_.policy().waiting_count() != 0) return std::nullopt;
  std::optional<StageId> best;
  for (StageId id : group.members) {
    const ActiveRun* r = run_.active(id);
    if (!r) continue;
    // Not before every running member has a value: the first to report is not the best by default.
    if (!newest_[id]) return std::nullopt;
    const StageSpec& s = run_.graph().stage(id);
    if (r->told_to_stop || s.protected_run || !s.checkpoint.enabled || run_.ranks_of(id) >= s.most_ranks()) continue;
    if (!best || *newest_[id] > *newest_[*best]) best = id;  // ties: the first member
  }
  if (!best) return std::nullopt;
  const StageId id = *best;
  const StageSpec& s = run_.graph().stage(id);
  const int now_on = run_.ranks_of(id);
  Machine& machine = run_.machine();
  const RankShape shape = request_for(s, machine, 1).per_rank;
  // Free now, less what stages already moving to more ranks will take at their checkpoints.
  int promised = 0;
  for (const auto& [other, r] : run_.running()) {
    if (const auto to = run_.resizing_to(other)) promised += std::max(0, *to - run_.ranks_of(other));
  }
  const int free = static_cast<int>(std::min<std::size_t>(machine.fits_now(shape), 1u << 20)) - promised;
  const int target = std::min({s.most_ranks(), now_on + free, static_cast<int>(machine.capacity(shape))});
  if (target <= now_on) return std::nullopt;

  SteeringMove m;
  m.stage = id;
  m.kind = "grow";
  m.rule = "free_ranks";
  m.ranks = target;
  m.why.kind = PromiseMove::Kind::promote;
  m.why.stage = s.name;
  m.why.metric = s.promise->metric;
  m.why.value = s.promise->maximise ? *newest_[id] : -*newest_[id];
  int standing = 1, running = 0;
  for (StageId other : group.members) {
    if (!run_.active(other) || !newest_[other]) continue;
    ++running;
    if (other != id && *newest_[other] > *newest_[id]) ++standing;
  }
  m.why.rank = standing;
  m.why.of = running;
  m.why.reason = fmt::format("{} {} = {:.6g} is {} of {} running in its group, and {} rank(s) are free: {} -> {} ranks at "
                             "its next checkpoint",
                             s.name, s.promise->metric, m.why.value, standing, running, free, now_on, target);
  // Ideal scaling from the next checkpoint on: what it saves must exceed the restart.
  const auto left = time_left(id);
  const double cost = move_cost(id, false);
  if (!left) {
    m.not_made = "its step time is not measured yet";
    return m;
  }
  const double gain = *left * (1.0 - static_cast<double>(now_on) / static_cast<double>(target));
  if (gain <= cost) {
    m.not_made = fmt::format("it would save about {:.0f} s, not more than the {:.0f} s a restart costs", gain, cost);
    return m;
  }
  const auto result = run_.resize(id, target, m.why.reason, now);
  m.made = result.refused.empty();
  m.not_made = result.refused;
  m.stop = result.stop;
  return m;
}

std::optional<double> PromiseSteering::step_seconds(StageId id) const {
  if (const double measured = run_.measured(id).step_seconds; measured > 0) return measured;
  const ActiveRun* r = run_.active(id);
  if (r && r->first_progress && r->last_progress && r->last_progress->second > r->first_progress->second) {
    return (r->last_progress->first - r->first_progress->first) /
           static_cast<double>(r->last_progress->second - r->first_progress->second);
  }
  return std::nullopt;
}

std::optional<double> PromiseSteering::time_left(StageId id) const {
  const auto per_step = step_seconds(id);
  const ActiveRun* r = run_.active(id);
  if (!per_step || !r) return std::nullopt;
  const std::uint64_t steps = run_.graph().stage(id).steps;
  return *per_step * static_cast<double>(steps - std::min(steps, r->last_step));
}

double PromiseSteering::move_cost(StageId id, bool write_now) const {
  // A checkpoint's cost stands in for reading it back too (the same bytes).
  const double checkpoint = run_.measured(id).checkpoint_cost;
  return (write_now ? checkpoint : 0.0) + checkpoint + options_.restart_seconds;
}

}  // namespace perennial
