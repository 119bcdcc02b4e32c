#include <perennial/coordinator/promise_ucb.hpp>

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace perennial {

UcbGroup::UcbGroup(std::string metric, PromiseDirection direction, UpperConfidence rules)
    : metric_(std::move(metric)), direction_(direction), rules_(rules) {}

// The least-squares line through the member's recent values, read at its newest progress.
void UcbGroup::refit(Member& m) {
  pooled_ssr_ -= m.ssr;
  pooled_dof_ -= m.dof;
  const auto n = static_cast<double>(m.recent.size());
  double sx = 0, sy = 0;
  for (const auto& [x, y] : m.recent) {
    sx += x;
    sy += y;
  }
  const double mx = sx / n, my = sy / n;
  double sxx = 0, sxy = 0;
  for (const auto& [x, y] : m.recent) {
    sxx += (x - mx) * (x - mx);
    sxy += (x - mx) * (y - my);
  }
  const double slope = sxx > 0 ? sxy / sxx : 0.0;
  m.level = my + slope * (m.recent.back().first - mx);
  m.ssr = 0.0;
  m.dof = 0;
  if (m.recent.size() >= 3) {
    for (const auto& [x, y] : m.recent) {
      const double r = y - (my + slope * (x - mx));
      m.ssr += r * r;
    }
    m.dof = static_cast<int>(m.recent.size()) - 2;
  }
  pooled_ssr_ += m.ssr;
  pooled_dof_ += m.dof;
}

double UcbGroup::sigma() const {
  if (pooled_dof_ > 0) return std::sqrt(std::max(0.0, pooled_ssr_) / pooled_dof_);
  if (firsts_ < 2) return 0.0;
  const double mean = first_sum_ / firsts_;
  return std::sqrt(std::max(0.0, first_sumsq_ / firsts_ - mean * mean));
}

std::pair<int, int> UcbGroup::standing(const Member& who) const {
  int rank = 1, of = 0;
  for (const auto& [name, m] : members_) {
    if (m.done) continue;
    ++of;
    if (&m != &who && bound(m) > bound(who)) ++rank;
  }
  return {rank, of};
}

double UcbGroup::bound(const Member& m) const {
  return m.level + rules_.exploration * sigma() / std::sqrt(static_cast<double>(std::max(1, m.values)));
}

std::vector<PromiseMove> UcbGroup::report(const std::string& stage, double progress, double value, Room room) {
  std::vector<PromiseMove> out;
  Member& me = members_[stage];
  if (me.done || me.paused) return out;  // a late value of a member that gave way: it waits
  const double score = score_of(value);
  if (me.values == 0) {
    first_sum_ += score;
    first_sumsq_ += score * score;
    ++firsts_;
  }
  ++me.values;
  me.recent.emplace_back(progress, score);
  while (static_cast<int>(me.recent.size()) > rules_.window) me.recent.pop_front();
  refit(me);
  if (room.stopping > 0) return out;  // one exchange at a time

  // The running member with the lowest bound that has run long enough since it started, and
  // the paused member with the highest. Ties: by name, so that arrival order does not matter.
  const Member* low = nullptr;
  const std::string* low_name = nullptr;
  const Member* high = nullptr;
  const std::string* high_name = nullptr;
  int running = 0;
  for (const auto& [name, m] : members_) {
    if (m.done) continue;
    if (m.paused) {
      if (!high || bound(m) > bound(*high)) high = &m, high_name = &name;
      continue;
    }
    ++running;
    if (!low || bound(m) < bound(*low) || (bound(m) == bound(*low) && name > *low_name)) low = &m, low_name = &name;
  }
  // The lowest gives way only once it has run its dwell: until then, nothing moves.
  if (!low || low->values - low->at_start < rules_.min_values) return out;
  if (room.untried_waiting > 0) {
    const auto [rank, of] = standing(*low);
    out.push_back(move(PromiseMove::Kind::pause, *low_name, *low, rank, of, std::numeric_limits<double>::infinity(),
                       fmt::format("{} scenario(s) wait to be tried; the lowest bound of the {} running gives way",
                                   room.untried_waiting, running)));
    members_[*low_name].paused = true;
    return out;
  }
  if (high && bound(*high) > bound(*low)) {
    const auto [low_rank, of] = standing(*low);
    const auto [high_rank, of_high] = standing(*high);
    const std::string low_stage = *low_name, high_stage = *high_name;
    out.push_back(move(PromiseMove::Kind::pause, low_stage, *low, low_rank, of, bound(*high),
                       fmt::format("{} (paused) has the higher bound {:.4g}: they change places", high_stage,
                                   value_of(bound(*high)))));
    out.push_back(move(PromiseMove::Kind::promote, high_stage, *high, high_rank, of_high, bound(*low),
                       fmt::format("above {}'s bound {:.4g}: they change places", low_stage, value_of(bound(*low)))));
    Member& l = members_[low_stage];
    Member& h = members_[high_stage];
    l.paused = true;
    h.paused = false;
    h.at_start = h.values;
  }
  return out;
}

PromiseMove UcbGroup::move(PromiseMove::Kind kind, const std::string& stage, const Member& m, int rank, int of,
                           double other, const std::string& why) const {
  PromiseMove p;
  p.kind = kind;
  p.stage = stage;
  p.metric = metric_;
  p.value = value_of(m.level);
  p.rank = rank;
  p.of = of;
  p.bar = std::isfinite(other) ? value_of(other) : 0.0;
  p.reason = fmt::format("{} {} by upper confidence bound: {} trend {:.4g}, bound {:.4g} ({} values), {} of {}; {}", stage,
                         kind == PromiseMove::Kind::promote ? "promoted" : "paused", metric_, value_of(m.level),
                         value_of(bound(m)), m.values, rank, of, why);
  return p;
}

void UcbGroup::undo(const PromiseMove& move) {
  const auto it = members_.find(move.stage);
  if (it == members_.end()) return;
  it->second.paused = move.kind == PromiseMove::Kind::promote;  // a promotion not made: still paused
}

SuccessiveHalvingGroup::State UcbGroup::state(const std::string& stage) const {
  const auto it = members_.find(stage);
  return it != members_.end() && it->second.paused ? SuccessiveHalvingGroup::State::paused
                                                   : SuccessiveHalvingGroup::State::running;
}

std::optional<PromiseMove> UcbGroup::finished(const std::string& stage, const std::set<std::string>& held) {
  // Its scatter stays in the pool: it still says how noisy the metric is.
  if (const auto it = members_.find(stage); it != members_.end()) it->second.done = true;
  const std::string* best = nullptr;
  for (const auto& [name, m] : members_) {
    if (m.done || !m.paused || held.count(name)) continue;
    if (!best || bound(m) > bound(members_.at(*best))) best = &name;
  }
  if (!best) return std::nullopt;
  Member& m = members_.at(*best);
  const auto [rank, of] = standing(m);
  PromiseMove p = move(PromiseMove::Kind::promote, *best, m, rank, of, std::numeric_limits<double>::infinity(),
                       fmt::format("{} completed: the best bound among the paused takes its place", stage));
  m.paused = false;
  m.at_start = m.values;
  return p;
}

std::optional<std::pair<double, double>> UcbGroup::estimate(const std::string& stage) const {
  const auto it = members_.find(stage);
  if (it == members_.end() || it->second.values == 0) return std::nullopt;
  return std::pair(value_of(it->second.level), value_of(bound(it->second)));
}

}  // namespace perennial
