#include <perennial/coordinator/promise_policy.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace perennial {

const char* move_name(PromiseMove::Kind kind) {
  switch (kind) {
    case PromiseMove::Kind::pause: return "pause";
    case PromiseMove::Kind::shrink: return "shrink";
    case PromiseMove::Kind::stop: return "stop";
    case PromiseMove::Kind::promote: return "promote";
  }
  return "pause";
}

SuccessiveHalvingGroup::SuccessiveHalvingGroup(std::string metric, PromiseDirection direction, SuccessiveHalving rules)
    : metric_(std::move(metric)), direction_(direction), rules_(rules) {}

double SuccessiveHalvingGroup::rung_at(int k) const { return rules_.grace * std::pow(rules_.reduction, k); }

std::size_t SuccessiveHalvingGroup::values_at(int k) const {
  return k < static_cast<int>(rungs_.size()) ? rungs_[static_cast<std::size_t>(k)].entries.size() : 0;
}

SuccessiveHalvingGroup::State SuccessiveHalvingGroup::state(const std::string& stage) const {
  const auto it = members_.find(stage);
  return it == members_.end() ? State::running : it->second.state;
}

// The (1 - 1/reduction) quantile of the scores at the rung, interpolated linearly between
// order statistics (numpy's default), once at least `reduction` values are there.
std::optional<double> SuccessiveHalvingGroup::bar(const Rung& rung) const {
  const std::size_t n = rung.entries.size();
  if (static_cast<double>(n) < rules_.reduction) return std::nullopt;
  const double q = 1.0 - 1.0 / rules_.reduction;
  const double pos = q * static_cast<double>(n - 1);  // in ascending order
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, n - 1);
  auto ascending = [&](std::size_t i) { return rung.entries[n - 1 - i].score; };
  return ascending(lo) + (pos - static_cast<double>(lo)) * (ascending(hi) - ascending(lo));
}

int SuccessiveHalvingGroup::position(const Rung& rung, const std::string& stage) const {
  for (std::size_t i = 0; i < rung.entries.size(); ++i) {
    if (rung.entries[i].stage == stage) return static_cast<int>(i) + 1;
  }
  return 0;
}

PromiseMove SuccessiveHalvingGroup::move(PromiseMove::Kind kind, const std::string& stage, int k, double score) const {
  const Rung& rung = rungs_[static_cast<std::size_t>(k)];
  PromiseMove m;
  m.kind = kind;
  m.stage = stage;
  m.metric = metric_;
  m.value = value_of(score);
  m.rung = k;
  m.rung_at = rung_at(k);
  m.rank = position(rung, stage);
  m.of = static_cast<int>(rung.entries.size());
  m.bar = value_of(bar(rung).value_or(score));
  const char* verb = kind == PromiseMove::Kind::pause    ? "paused"
                     : kind == PromiseMove::Kind::shrink ? "shrunk"
                     : kind == PromiseMove::Kind::stop   ? "stopped"
                                                         : "promoted";
  const bool below = kind != PromiseMove::Kind::promote;
  m.reason = fmt::format("{} {} at rung {} ({:g}): {} {:.4g} is {} of {}, {} the bar {:.4g} (the top 1/{:g} go on)", stage,
                         verb, k + 1, m.rung_at, metric_, m.value, m.rank, m.of,
                         below ? "below" : "now at or above", m.bar, rules_.reduction);
  return m;
}

void SuccessiveHalvingGroup::finished(const std::string& stage) {
  const auto it = members_.find(stage);
  if (it == members_.end()) return;
  Member& m = it->second;
  m.done = true;
  if (m.live_score && m.next_rung > 0) rungs_[static_cast<std::size_t>(m.next_rung - 1)].live.erase({*m.live_score, stage});
  m.live_score.reset();
}

PromiseMove SuccessiveHalvingGroup::demote(const std::string& stage, Member& member, int k, double score, bool later) {
  Rung& rung = rungs_[static_cast<std::size_t>(k)];
  const auto kind = rules_.bottom == BottomAction::pause    ? PromiseMove::Kind::pause
                    : rules_.bottom == BottomAction::shrink ? PromiseMove::Kind::shrink
                                                            : PromiseMove::Kind::stop;
  PromiseMove m = move(kind, stage, k, score);
  if (later) m.reason += "; later values raised the bar";
  if (kind == PromiseMove::Kind::pause) {
    member.state = State::paused;
    member.paused_score = score;
    rung.paused.insert({score, stage});
  } else if (kind == PromiseMove::Kind::stop) {
    member.state = State::stopped;
  } else {
    member.state = State::shrunk;
  }
  return m;
}

std::vector<PromiseMove> SuccessiveHalvingGroup::report(const std::string& stage, double progress, double value) {
  std::vector<PromiseMove> moves;
  Member& member = members_[stage];
  if (member.state == State::paused || member.state == State::stopped || member.done) return moves;
  const double score = score_of(value);
  while (progress >= rung_at(member.next_rung)) {
    const int k = member.next_rung++;
    // It has left the rung before this one for this one.
    if (member.live_score && k > 0) rungs_[static_cast<std::size_t>(k - 1)].live.erase({*member.live_score, stage});
    member.live_score.reset();
    if (static_cast<int>(rungs_.size()) <= k) rungs_.resize(static_cast<std::size_t>(k) + 1);
    Rung& rung = rungs_[static_cast<std::size_t>(k)];
    // Best first; equal scores in stage-name order, so the order never depends on arrival.
    const Entry entry{score, stage};
    const auto at = std::lower_bound(rung.entries.begin(), rung.entries.end(), entry, BestFirst{});
    rung.entries.insert(at, entry);
    const std::optional<double> b = bar(rung);
    bool goes_on = true;
    if (b && score < *b) {
      moves.push_back(demote(stage, member, k, score, false));
      // A shrunk member goes on, on fewer ranks, and is judged at the next rungs.
      goes_on = member.state == State::shrunk;
    }
    if (goes_on) {
      rung.live.insert(entry);
      member.live_score = score;
    }
    // The new value may have raised the bar above members that went on from here earlier and
    // have not reached the next rung: they are the bottom now.
    while (b && !rung.live.empty() && rung.live.begin()->score < *b) {
      const Entry worst = *rung.live.begin();
      rung.live.erase(rung.live.begin());
      Member& wm = members_.at(worst.stage);
      wm.live_score.reset();
      if (wm.state == State::shrunk) continue;  // shrunk already: it goes on, judged at its next rung
      if (worst.stage == stage) goes_on = false;
      moves.push_back(demote(worst.stage, wm, k, worst.score, worst.stage != stage));
    }
    // The new value may have lowered the bar to or below members paused here: promoted, best
    // first (the paused are kept best first, so only those promoted are looked at).
    while (b && !rung.paused.empty() && rung.paused.begin()->score >= *b) {
      const Entry next = *rung.paused.begin();
      rung.paused.erase(rung.paused.begin());
      Member& pm = members_.at(next.stage);
      pm.state = State::running;
      pm.paused_score.reset();
      rung.live.insert(next);  // it goes on from here again
      pm.live_score = next.score;
      moves.push_back(move(PromiseMove::Kind::promote, next.stage, k, next.score));
    }
    if (!goes_on) break;
  }
  return moves;
}

}  // namespace perennial
