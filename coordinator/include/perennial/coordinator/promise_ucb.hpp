#pragma once
// Scenario promise, the upper-confidence-bound part (issue 14, point 2): continuous
// reallocation among the members of one scenario group (`promise: {policy: ucb}`). Plain C++,
// no MPI, no clock, no randomness: the same stream of values gives the same moves.
//
// Each member's promise is the trend of its own values: a least-squares line through its last
// few values (progress against value), read at its newest progress, so a scenario whose signal
// is still rising is credited for the rise and one noisy value moves it little. Its upper
// bound adds `exploration` x sigma / sqrt(n): sigma is the group's pooled scatter about those
// lines (before any member has three values, the spread of the members' first values), n the
// values it has reported. A member that has reported little has a wide bound: it gets its turn.
//
// Moves, at most one exchange per report and never while one is under way (a stop not yet
// done): when members that have never run wait for ranks, the running member with the lowest
// bound gives way (paused) so that they are tried; otherwise, when the best bound among the
// paused members is above the lowest among the running, the two change places. The lowest
// gives way only once it has reported `min_values` values since it started (no flapping; until
// then nothing moves), and a
// member the scientist holds is never promoted (the steering checks). When a member completes,
// the paused member with the best bound takes its place: every scenario runs in the end, the
// most promising first.

#include <perennial/coordinator/promise_policy.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace perennial {

struct UpperConfidence {
  double exploration = 1.0;  ///< the bound's width, in standard errors
  int min_values = 3;        ///< values after each start before a member may give way
  int window = 8;            ///< values the trend line is fitted through
};

class UcbGroup {
 public:
  UcbGroup(std::string metric, PromiseDirection direction, UpperConfidence rules);

  /// What the group's ranks look like around this report: members that never reported and
  /// wait for ranks, and members told to give way that have not stopped yet.
  struct Room {
    int untried_waiting = 0;
    int stopping = 0;
  };
  /// A member reported `value` at `progress`: the moves it implies (a pause, and a promotion
  /// when two members change places).
  std::vector<PromiseMove> report(const std::string& stage, double progress, double value, Room room);
  /// A move the driver could not make (a guard refused it): the member's state is as before.
  void undo(const PromiseMove& move);
  SuccessiveHalvingGroup::State state(const std::string& stage) const;
  /// The member completed: it is judged no more. Its ranks come free: the paused member with
  /// the best bound (not in `held`, the scientist's) is promoted, if any.
  std::optional<PromiseMove> finished(const std::string& stage, const std::set<std::string>& held = {});
  /// The member's trend and upper bound now (in the metric's own direction), for tests.
  std::optional<std::pair<double, double>> estimate(const std::string& stage) const;

 private:
  struct Member {
    std::deque<std::pair<double, double>> recent;  ///< (progress, score), the newest last
    int values = 0;
    int at_start = 0;   ///< values when it last started (or was promoted)
    double level = 0.0; ///< trend at its newest progress (score)
    double ssr = 0.0;   ///< squared residuals about its line (with >= 3 recent values)
    int dof = 0;
    bool paused = false;
    bool done = false;
  };
  double score_of(double value) const { return direction_ == PromiseDirection::max ? value : -value; }
  double value_of(double score) const { return direction_ == PromiseDirection::max ? score : -score; }
  void refit(Member& m);
  double sigma() const;
  double bound(const Member& m) const;
  /// The member's place by bound among the members not done (1: the highest), and their count.
  std::pair<int, int> standing(const Member& who) const;
  PromiseMove move(PromiseMove::Kind kind, const std::string& stage, const Member& m, int rank, int of, double other,
                   const std::string& why) const;

  std::string metric_;
  PromiseDirection direction_;
  UpperConfidence rules_;
  std::map<std::string, Member> members_;
  double pooled_ssr_ = 0.0;
  int pooled_dof_ = 0;
  // First values' running sums: the scatter before any line has residuals.
  double first_sum_ = 0.0, first_sumsq_ = 0.0;
  int firsts_ = 0;
};

}  // namespace perennial
