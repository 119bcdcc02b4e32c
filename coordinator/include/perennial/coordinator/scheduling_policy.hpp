#pragma once
// SchedulingPolicy: decides which waiting stage starts where, which running stage yields, and
// why each waiting stage waits. Plain C++ over a Machine and a time in seconds (from a Clock):
// the coordinator of a real run and `perennial simulate` drive the same object.
//
// The policy, after Slurm's, with the two rules none of the batch schedulers has:
//  * Order: Slurm's multifactor priority (the stage's `priority:`, its project's fair-share
//    factor with decaying usage, and age), recomputed on every pass.
//  * EASY backfill: the first waiting stage that cannot start gets a reservation (the
//    earliest time, from the running stages' expected ends, at which it fits, and the nodes
//    it would use then). A later stage may start before it only if it ends before that time
//    or touches none of those nodes, so a backfilled stage never delays the reservation
//    (as long as the walltime estimates hold).
//  * Preemption that loses nothing: a stage that cannot start may make lower-priority
//    stages yield if it is protected or of higher `priority:`. A yielding stage checkpoints
//    at its next step boundary and releases its ranks; it waits in the queue and resumes from
//    that checkpoint, possibly elsewhere. Protected stages, and stages that have run longer
//    than `preempt_exempt_after` (Slurm's PreemptExemptTime), never yield; nor do stages that
//    write no checkpoints (a stop must follow a committed epoch, or the work is lost).
//  * The allocation's end: with an end time known, nothing starts that cannot reach its next
//    checkpoint before it, and running stages are told to checkpoint and stop in time.

#include <perennial/coordinator/fair_share.hpp>
#include <perennial/coordinator/machine.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace perennial {

using JobId = std::uint32_t;  ///< the stage id in real runs

constexpr double kUnknown = std::numeric_limits<double>::infinity();

/// A stage as the policy sees it.
struct JobSpec {
  JobId id = 0;
  std::string name;
  std::string project;
  int priority = 0;
  bool protected_run = false;
  std::optional<double> preempt_exempt_after;  ///< seconds of running after which it never yields
  ResourceRequest request;
  double remaining_seconds = kUnknown;    ///< expected run time still to go (kUnknown if not known)
  /// It writes checkpoints, so it can stop at one (yield, or stop before the allocation's
  /// end) and lose nothing; a stage that writes none is never told to stop.
  bool checkpoints = true;
  double checkpoint_interval = 0.0;       ///< seconds between checkpoints; 0: none, or not known yet
  double checkpoint_cost = 0.0;           ///< seconds one checkpoint takes
  double step_seconds = 0.0;              ///< one step: how long a stop request may wait for a boundary
  double queued_since = 0.0;              ///< when it first became ready (age counts from here)
  /// How long runs like this one took so far in this run (same kernel or command, steps and
  /// cores; kUnknown until a few have run): decides whether another stage may be queued on
  /// its worker behind it (PolicyConfig::queue_behind_short_runs).
  double typical_seconds = kUnknown;
};

struct PolicyConfig {
  PriorityWeights weights;
  double fairshare_half_life = 7 * 86400.0;
  std::optional<double> preempt_exempt_after;  ///< campaign-wide default
  bool backfill = true;
  /// Waiting stages a pass tries behind the first that cannot start (Slurm's
  /// bf_max_job_test): bounds a pass over a queue of tens of thousands.
  std::size_t backfill_depth = 1000;
  bool preemption = true;
  std::optional<double> end_time;  ///< the allocation's end, on the policy's clock
  double end_margin = 60.0;        ///< stop this long before the end, besides a step and two checkpoints
  /// Real runs: when nothing fits, a one-rank stage may be sent to the worker of a one-rank
  /// stage whose kind's recent runs (JobSpec::typical_seconds) each ended within
  /// kQueueBehindSeconds, and waits there (in the worker's message queue) until that one
  /// ends. The worker then goes from one stage to the next without waiting for rank 0's
  /// reply: for thousands of stages of a few milliseconds, the round trip to rank 0 was a
  /// large share of each. The queued stage holds no resources and is charged nothing until
  /// it begins (SchedulingPolicy::finished returns it).
  bool queue_behind_short_runs = false;
};

/// The longest the recent runs of a stage's kind may have taken for another stage to be queued
/// behind it on its worker: the queued one may wait about this long where a free rank
/// elsewhere could have taken it.
constexpr double kQueueBehindSeconds = 0.05;

enum class WaitReason { none, priority, resources, reservation, preempting, end_of_allocation, allocation_used };
std::string_view reason_name(WaitReason r);

struct StartOrder {
  JobId job;
  Allocation allocation;
  bool backfilled = false;  ///< started ahead of a reserved stage
  /// Queued on the worker of this running stage (queue_behind_short_runs): sent now, it
  /// begins when that one ends. Its allocation is that worker's.
  std::optional<JobId> behind;
};

struct StopOrder {
  /// paused: by promise or the scientist; resized: restarted on another rank count (promise)
  enum class Why { preempted, end_of_allocation, paused, resized };
  JobId job;
  Why why;
  std::string reason;  ///< for the log: for whom it yields, or the end time
};

struct Decision {
  std::vector<StartOrder> starts;
  std::vector<StopOrder> stops;
  std::vector<std::pair<JobId, std::string>> impossible;  ///< can never fit: removed from the queue
};

/// What `perennial status` shows for a waiting stage.
struct WaitingStatus {
  JobId job;
  std::string name;
  double priority_score = 0.0;
  WaitReason reason = WaitReason::none;
  std::string detail;
  double expected_start = kUnknown;
};

struct PolicyCounters {
  std::uint64_t starts = 0;
  std::uint64_t backfilled = 0;
  std::uint64_t preemptions = 0;
  std::uint64_t protected_interruptions = 0;  ///< preemptions of protected or exempt stages: must stay 0
  std::uint64_t end_of_allocation_stops = 0;
};

class SchedulingPolicy {
 public:
  SchedulingPolicy(Machine machine, PolicyConfig config);

  Machine& machine() { return machine_; }
  const Machine& machine() const { return machine_; }
  const PolicyConfig& config() const { return config_; }
  void set_share(const std::string& project, double share) { fairshare_.set_share(project, share); }
  void set_end_time(std::optional<double> end) { config_.end_time = end; }
  /// Real runs: workers are being spawned. Until they join, no stage is judged too large.
  void set_expected_workers(std::size_t n) { expected_workers_ = n; }
  /// `hard_cap:` a project that has been charged `core_seconds` in this run starts nothing
  /// more (what runs goes on to its end). Its allocation less what earlier runs used.
  void set_cap(const std::string& project, double core_seconds) { caps_[project] = core_seconds; }
  bool has_caps() const { return !caps_.empty(); }
  /// Whether the project has used what its cap allows.
  bool capped(const std::string& project) const;

  /// The stage is ready to run (for the first time, or again after it yielded or lost ranks).
  void submit(const JobSpec& job);
  /// Takes a waiting stage out of the queue (it failed, or upstream work failed).
  void withdraw(JobId id);
  /// A new `priority` for a waiting stage (it moves to its place in the queue, keeping its
  /// age) or a running one (what preemption compares from now on). Others: nothing.
  void set_priority(JobId id, int priority);
  /// One pass: what starts, what must yield, what can never run. Starts are already taken
  /// from the machine and counted as running.
  /// `typical`, when given, says how long runs like a stage took so far in this run: read as
  /// each stage starts or is queued, into its JobSpec::typical_seconds.
  Decision decide(double now, const std::function<double(JobId)>& typical = {});
  /// A running stage ended: its resources are free again and its use is charged to its
  /// project. `stopped_as_told`: it stopped at a step boundary because a stop order said so.
  /// A stage told to stop that ended otherwise (it completed first, failed, lost ranks) is
  /// taken out of the preemption or end-of-allocation count: that stop never happened.
  /// Returns the stage queued behind it on its worker, which begins now (its resources taken,
  /// charged from `now`), if any.
  std::optional<JobId> finished(JobId id, double now, bool stopped_as_told = false);
  /// A queued stage that will never begin (its worker died): back in the queue, as it was.
  void unqueue(JobId id);
  /// Stages queued behind a running one, not begun.
  std::size_t queued_count() const { return queued_.size(); }
  /// A better estimate of a running stage's remaining time (a measured step rate).
  void update_remaining(JobId id, double remaining_seconds, double now);
  /// Measured figures of a running stage: seconds per step, what one checkpoint costs and
  /// the interval its group now keeps. They replace the guesses the stop and end-of-allocation
  /// rules used. A stage that committed an epoch can be stopped again (see stop_declined).
  void update_checkpointing(JobId id, double step_seconds, double checkpoint_cost, double checkpoint_interval);
  /// A stop order the stage could not carry out (its checkpoint was not written): it keeps
  /// running, the order is taken back (not counted), and it is not told to stop again until
  /// it commits an epoch (update_checkpointing).
  void stop_declined(JobId id, double now);
  /// The earliest time at which decide() would act on its own (a stop before the end).
  double next_deadline() const;
  /// Charges the running stages' use up to `now` (decide() does it too): the accounting
  /// figures at the end of a run.
  void charge_until(double now) { charge(now); }

  bool is_running(JobId id) const { return running_.count(id) != 0; }
  bool is_waiting(JobId id) const { return waiting_.count(id) != 0; }
  bool is_queued(JobId id) const { return queued_.count(id) != 0; }
  std::size_t waiting_count() const { return waiting_.size(); }
  std::size_t running_count() const { return running_.size(); }
  const Allocation* allocation(JobId id) const;

  /// Every waiting stage, in priority order, with why it waits and when it should start
  /// (an estimate from the running stages' expected ends; unknown past `horizon` stages).
  std::vector<WaitingStatus> waiting_report(double now, std::size_t horizon = 200) const;

  const PolicyCounters& counters() const { return counters_; }
  /// The start each stage was first promised by a backfill reservation (tests check that
  /// backfilling never made it later).
  const std::map<JobId, double>& first_reservations() const { return first_reservation_; }
  /// Core-seconds each project has used (not decayed): the accounting figure.
  const std::map<std::string, double>& core_seconds_by_project() const { return used_; }
  const FairShare& fair_share() const { return fairshare_; }
  double priority_score(const JobSpec& job, double now) const;

 private:
  struct Running {
    JobSpec spec;
    Allocation allocation;
    double started = 0.0;
    double expected_end = kUnknown;
    bool stopping = false;
    bool cannot_stop = false;  ///< declined a stop; no new one until its next committed epoch
    std::optional<JobId> yielding_for;
    std::multimap<double, JobId>::iterator end_entry;
  };
  struct Reservation {
    JobId job;
    double start = kUnknown;
    std::vector<bool> nodes;  ///< the nodes it will use then
  };
  struct Waiting {
    JobSpec spec;
    WaitReason reason = WaitReason::none;
    std::string detail;
  };

  void charge(double now);
  double priority_factor(int priority) const;
  void set_expected_end(JobId id, Running& r, double end);
  bool preemptible(const Running& r, double now) const;
  static bool can_stop(const Running& r) { return !r.stopping && !r.cannot_stop && r.spec.checkpoints; }
  void take_back_stop(JobId id, Running& r);
  bool try_preempt(const JobSpec& job, double now, Decision& decision);
  Reservation reserve(const JobSpec& job, double now) const;
  Reservation yielded_to(JobId job, const std::set<JobId>& yielding, double now) const;
  bool reaches_checkpoint_before_end(const JobSpec& job, double now) const;
  double stop_lead(const JobSpec& job) const;
  void start(JobId id, Allocation allocation, double now, bool backfilled, Decision& decision,
             const std::function<double(JobId)>& typical);
  void begin_running(JobId id, JobSpec spec, const Allocation& allocation, double now);
  /// A running stage this one can be queued behind (see queue_behind_short_runs), or nothing.
  std::optional<JobId> queue_spot(const JobSpec& job) const;
  void queue_behind(JobId id, JobId running, Decision& decision, const std::function<double(JobId)>& typical);
  // The waiting stages of one project and one `priority:` share every factor but age, so
  // their order never changes: oldest first. The whole queue in priority order is a merge of
  // these few lists, and a pass that stops early (the machine is full) pays only for the
  // stages it reaches, not for the 10,000 behind them.
  using QueueKey = std::pair<std::string, int>;                  ///< (project, priority)
  using Bucket = std::set<std::pair<double, JobId>>;             ///< (queued since, id)
  class QueueWalk;
  void enqueue(const JobSpec& job);
  void dequeue(const JobSpec& job);
  std::vector<JobId> queue_order(double now) const;

  Machine machine_;
  PolicyConfig config_;
  FairShare fairshare_;
  std::unordered_map<JobId, Waiting> waiting_;
  std::map<QueueKey, Bucket> buckets_;  ///< waiting_ by project and priority; empty ones stay
  std::unordered_map<JobId, Running> running_;
  struct Queued {
    JobSpec spec;
    Allocation allocation;
    JobId behind;  ///< the running stage it waits for
  };
  std::unordered_map<JobId, Queued> queued_;  ///< sent to a busy worker, not begun
  std::map<JobId, JobId> behind_running_;     ///< running stage -> the stage queued behind it
  std::multimap<double, JobId> ends_;                         ///< running stages by expected end
  std::map<JobId, std::set<JobId>> preempting_for_;          ///< waiting stage -> stages yielding to it
  std::multiset<int> running_priorities_;
  std::map<std::string, int> cores_in_use_;                  ///< per project
  std::map<std::string, double> used_;                       ///< core-seconds per project
  std::map<std::string, double> caps_;  ///< hard_cap projects: core-seconds they may use in this run
  double charged_until_ = 0.0;
  int min_priority_ = 0;
  int max_priority_ = 0;
  bool any_priority_ = false;
  PolicyCounters counters_;
  std::map<JobId, double> first_reservation_;
  std::size_t expected_workers_ = 0;
};

}  // namespace perennial
