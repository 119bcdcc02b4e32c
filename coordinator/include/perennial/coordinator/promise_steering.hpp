#pragma once
// PromiseSteering: scenario promise acting on a run (issue 14, point 4). It owns one
// SuccessiveHalvingGroup per scenario group (a `for_each` template, or a stage, with a
// `promise:`), feeds it every accepted value of the group's metric, and carries out on the
// CampaignRun the moves that implies: pause, stop, shrink, promotion; and it gives ranks no
// one is waiting for to the most promising running member that allows more (`ranks: {min,
// max}`), at that member's next scheduled checkpoint, once every running member of its group
// has reported a value.
//
// Promise also weighs against the scientist's `priority:`: each member that reports is given
// its declared priority plus `weight` x its standing in the group (the best + weight, the worst
// + 0, rounded), so a promising scenario goes ahead of others in the queue and is harder to
// preempt. A priority set by hand (`perennial priority`) is left alone from then on.
//
// Two guards come before every move: a protected stage is never touched (CampaignRun refuses
// it), and a move whose checkpoint and restart cost more than it can gain in the time left is
// not made (a stage about to finish is left to finish). Every move, made or not, comes back
// with its reason (metric, value, rank in the group, rule) for the event log.
//
// Plain C++, no MPI, no clock: the coordinator and `perennial simulate` both drive it, and the
// same stream of values gives the same moves.

#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/promise_policy.hpp>
#include <perennial/coordinator/promise_ucb.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace perennial {

/// One move the steering decided, and what became of it.
struct SteeringMove {
  StageId stage = 0;
  std::string kind;    ///< pause, stop, shrink, promote or grow
  PromiseMove why;     ///< the policy's figures and sentence (grow: the value and standing)
  int ranks = 0;       ///< shrink, grow: the rank count it moves to
  /// The rule that moved it: `successive_halving`, `upper_confidence_bound` or `free_ranks`.
  std::string rule;
  bool made = false;
  std::string not_made;           ///< why not, when not
  std::optional<StopOrder> stop;  ///< for the driver: a running stage to ask to stop
};

struct SteeringOptions {
  /// Seconds a stage takes to start again from a checkpoint beyond reading it (assigning the
  /// group, building its communicator, opening inputs): the workers are up already.
  double restart_seconds = 0.5;
  /// A year of model time, for rungs in simulated years; 0: the campaign's `calendar:`.
  double year_seconds = 0.0;
};

class PromiseSteering : public CampaignObserver {
 public:
  explicit PromiseSteering(CampaignRun& run, SteeringOptions options = {});

  /// Whether the stage's metric `name` steers it.
  bool steers(StageId id, const std::string& name) const;
  /// An accepted metric value (the gate let it through) of a running stage: the moves it implies,
  /// carried out on the run. `step` is the step that reported it (0-based), `simulated` the model
  /// time then (seconds; 0 when the kernel advances none).
  std::vector<SteeringMove> metric(StageId id, std::uint64_t step, double simulated, const std::string& name,
                                   double value, double now);

  /// A resumed campaign: the values earlier runs recorded (in arrival order) rebuild the groups
  /// as they stood, without moving anything; members the groups hold paused or stopped, and not
  /// completed, are paused again (before begin(): they never queue). Returns those.
  struct EarlierValue {
    std::string stage;
    std::string name;
    std::uint64_t step = 0;
    double simulated = 0.0;
    double value = 0.0;
  };
  std::vector<StageId> replay(const std::vector<EarlierValue>& earlier, double now);

  /// The group's view of a member, for status and `perennial scenarios`.
  std::optional<SuccessiveHalvingGroup::State> state(StageId id) const;

  void stage_completed(StageId id, const ActiveRun&, double now) override;
  /// Moves made on the steering's own initiative (a ucb group filling a completed member's
  /// place), since the last call: for the driver's records.
  std::vector<SteeringMove> take_moves_made_meanwhile() { return std::exchange(meanwhile_, {}); }

 private:
  /// One scenario group and its policy: successive halving, or upper confidence bounds.
  struct Group {
    std::optional<SuccessiveHalvingGroup> halving;
    std::optional<UcbGroup> ucb;
    std::vector<StageId> members;
    std::vector<double> scores;  ///< the members' newest values as scores, ascending: standings in log time
    std::vector<PromiseMove> report(const std::string& stage, double progress, double value, UcbGroup::Room room);
    SuccessiveHalvingGroup::State state(const std::string& stage) const;
  };
  /// For a ucb group: members never tried that wait for ranks, and members told to stop.
  UcbGroup::Room room(const Group& group) const;
  Group* group_of(StageId id);
  const Group* group_of(StageId id) const;
  /// Carries out one move of the policy, behind the guards.
  SteeringMove carry_out(const PromiseMove& move, double now);
  /// Ranks no one waits for go to the best running member of the group that may grow.
  std::optional<SteeringMove> grow(Group& group, double now);
  /// The member's priority from its standing in the group (see promise `weight`).
  void weigh(const Group& group, StageId id);
  /// Wall seconds per step of a running stage (measured), or nothing yet.
  std::optional<double> step_seconds(StageId id) const;
  /// Seconds it still needs on its present ranks, or nothing while unmeasured.
  std::optional<double> time_left(StageId id) const;
  /// What a stop and a restart from a checkpoint cost it (`write_now`: a checkpoint now, not
  /// the one it writes anyway).
  double move_cost(StageId id, bool write_now) const;

  CampaignRun& run_;
  SteeringOptions options_;
  std::map<std::string, Group> groups_;          ///< by template name
  /// A member's newest value as a score (higher is better), kept in its group's scores too.
  void note_value(Group& group, StageId id, double score);
  void forget_value(Group& group, StageId id);
  /// Members of the group whose newest score is above `score`, and members with a value.
  std::pair<int, int> standing(const Group& group, double score) const;
  std::vector<std::optional<double>> newest_;    ///< by stage: its newest value as a score
  std::vector<SteeringMove> meanwhile_;          ///< see take_moves_made_meanwhile
  std::map<StageId, int> weighed_;               ///< the priority weigh() last gave each member
};

/// The rules of a stage's `promise:` as the policy takes them. Rungs in simulated years are
/// counted in the group's progress unit (years); in steps otherwise; by default at a tenth of
/// the stage's steps.
SuccessiveHalving halving_rules(const StageSpec& s);

}  // namespace perennial
