#pragma once
// Scenario promise, the successive-halving part (issue 14, point 2): asynchronous successive
// halving (ASHA, Li et al. 2020) over the members of one scenario group, with a pause that can
// be undone. Plain C++, no MPI, no clock, no randomness: the same stream of metric values gives
// the same moves (a replay reproduces them).
//
// Rungs sit at grace x reduction^k of a member's progress (steps, or simulated years). When a
// member's progress first reaches a rung, its newest metric value is recorded there. With
// fewer than `reduction` values at the rung nothing is decided (too little to compare, as
// Ray Tune's ASHA does); otherwise the member goes on if its value is at least the rung's bar,
// the (1 - 1/reduction) quantile of the values recorded there (ties go on), and the bottom
// fraction is paused, shrunk or stopped. Unlike ASHA and Optuna, a paused member is not lost:
// whenever a later arrival lowers the rung's bar to or below its value, it is promoted (it
// resumes from its checkpoint). And the other way: a member whose last rung's bar rises above
// it while it runs toward the next is paused (shrunk, stopped) then, so that the ranks go to
// the most promising members whatever order they started in (ASHA judges a member only on
// arrival, and a poor member that started first runs on unopposed). Wired into `perennial
// simulate`; not yet into the coordinator.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace perennial {

enum class PromiseDirection { max, min };
enum class BottomAction { pause, shrink, stop };

struct SuccessiveHalving {
  double grace = 100.0;     ///< the first rung, in the group's progress unit
  double reduction = 3.0;   ///< rungs at grace x reduction^k; the top 1/reduction go on
  BottomAction bottom = BottomAction::pause;
};

/// One move the policy asks for, with its reason.
struct PromiseMove {
  enum class Kind { pause, shrink, stop, promote };
  Kind kind = Kind::pause;
  std::string stage;
  std::string metric;
  double value = 0.0;   ///< the stage's value at the rung
  int rung = 0;         ///< 0: the first
  double rung_at = 0.0; ///< the rung's progress
  int rank = 0;         ///< 1: the best of the values at the rung
  int of = 0;           ///< values at the rung
  double bar = 0.0;     ///< the rung's bar when decided
  /// One sentence: "ssp-8.5 paused at rung 2 (300): skill 0.41 is 5 of 6, below the bar 0.55
  /// (the top 1/3 go on)".
  std::string reason;
};

const char* move_name(PromiseMove::Kind kind);

/// The members of one scenario group (a `for_each` template, or a stage on its own).
class SuccessiveHalvingGroup {
 public:
  SuccessiveHalvingGroup(std::string metric, PromiseDirection direction, SuccessiveHalving rules);

  /// A member reported `value` of the metric at `progress`. Returns the moves it implies: for
  /// the member (at the rungs it reached), and promotions of paused members the new value let
  /// through, best first. A member paused or stopped reports nothing more (its reports are
  /// ignored) until it is promoted.
  std::vector<PromiseMove> report(const std::string& stage, double progress, double value);

  enum class State { running, paused, shrunk, stopped };
  State state(const std::string& stage) const;
  /// The progress of rung k.
  double rung_at(int k) const;
  /// Values recorded at rung k, best first.
  std::size_t values_at(int k) const;
  /// The member completed: it is judged no more.
  void finished(const std::string& stage);

 private:
  struct Entry {
    double score;  ///< the value, negated for `min`: higher is better
    std::string stage;
  };
  struct BestFirst {
    bool operator()(const Entry& a, const Entry& b) const { return a.score != b.score ? a.score > b.score : a.stage < b.stage; }
  };
  struct WorstFirst {
    bool operator()(const Entry& a, const Entry& b) const { return a.score != b.score ? a.score < b.score : a.stage > b.stage; }
  };
  struct Rung {
    std::vector<Entry> entries;          ///< best first (score descending, then stage name)
    std::set<Entry, BestFirst> paused;   ///< members paused here, best first: the next to promote on top
    std::set<Entry, WorstFirst> live;    ///< members that went on from here, not past the next rung yet
  };
  struct Member {
    int next_rung = 0;
    State state = State::running;
    std::optional<double> paused_score;
    std::optional<double> live_score;  ///< its entry in rungs_[next_rung - 1].live
    bool done = false;
  };
  /// Applies the bottom action to `stage`, at rung k, with `score` recorded there.
  PromiseMove demote(const std::string& stage, Member& member, int k, double score, bool later);
  double score_of(double value) const { return direction_ == PromiseDirection::max ? value : -value; }
  double value_of(double score) const { return direction_ == PromiseDirection::max ? score : -score; }
  /// The bar (a score) at rung k, or nothing while too few values are there.
  std::optional<double> bar(const Rung& rung) const;
  int position(const Rung& rung, const std::string& stage) const;
  PromiseMove move(PromiseMove::Kind kind, const std::string& stage, int k, double score) const;

  std::string metric_;
  PromiseDirection direction_;
  SuccessiveHalving rules_;
  std::map<std::string, Member> members_;
  std::vector<Rung> rungs_;
};

}  // namespace perennial
