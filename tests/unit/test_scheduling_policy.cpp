// The scheduling policy (issue 6) on a virtual clock, without MPI: placement on heterogeneous
// nodes, protection, preemption, backfill, fair share, exhaustion and the allocation's end.
// The policy is driven directly where a requirement is about one decision, and through
// `simulate_campaign` (the accelerated mode) where it is about a whole run.

#include "test_support.hpp"

#include <perennial/checkpoint_interval.hpp>
#include <perennial/coordinator/campaign_progress.hpp>
#include <perennial/coordinator/clock.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/coordinator/scheduling_policy.hpp>
#include <perennial/coordinator/simulator.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <ranges>

using namespace perennial;
using perennial::testing::check_campaign;

namespace {

constexpr double kHour = 3600.0;

// Young/Daly's interval for a checkpoint cost and a group's MTBF (the rule the workers follow).
double checkpoint_interval_for(double cost, double mtbf) { return daly_interval(cost, mtbf); }

Machine nodes(int count, int cores, const std::string& prefix = "n") {
  Machine m;
  for (int i = 0; i < count; ++i) m.add_node({prefix + std::to_string(i), cores, 0, 0, 0});
  return m;
}

JobSpec job(JobId id, int ranks, double hours, int priority = 0, const std::string& project = "p") {
  JobSpec j;
  j.id = id;
  j.name = fmt::format("s{}", id);
  j.project = project;
  j.priority = priority;
  j.request.ranks = ranks;
  j.remaining_seconds = hours * kHour;
  j.step_seconds = 60;
  j.checkpoint_interval = kHour;
  j.checkpoint_cost = 30;
  return j;
}

PolicyConfig order_by_priority_only() {
  PolicyConfig c;
  c.weights.fairshare = 0;
  c.weights.age = 0;
  return c;
}

std::vector<JobId> started(const Decision& d) {
  std::vector<JobId> ids;
  for (const auto& s : d.starts) ids.push_back(s.job);
  return ids;
}

SimulationReport simulate_text(const std::string& yaml, SimulationOptions options = {}, std::optional<double> end = {}) {
  auto checked = check_campaign(yaml);
  EXPECT_TRUE(checked.diagnostics.empty()) << checked.text();
  PolicyConfig config = policy_config_for(checked.graph->campaign());
  config.end_time = end;
  return simulate_campaign(*checked.graph, machine_for(checked.graph->campaign().cluster), config, options);
}

const StageGraph& graph_of(const std::string& yaml) {
  static std::map<std::string, StageGraph> graphs;
  auto it = graphs.find(yaml);
  if (it == graphs.end()) it = graphs.emplace(yaml, *check_campaign(yaml).graph).first;
  return it->second;
}

// ---- placement ------------------------------------------------------------------------

TEST(Placement, GpuStagesLandOnlyOnGpuNodesAndCpuStagesPreferCpuNodes) {
  const std::string yaml = R"(
campaign: hetero
cluster:
  nodes:
    - {name: "cpu[1-4]", cores: 8, memory: 64GB}
    - {name: "gpu[1-2]", cores: 8, memory: 128GB, gpus: 2, features: [a100]}
stages:
  - {name: "train-{i}", for_each: {i: [1, 2, 3, 4, 5, 6]}, kernel: any, ranks: 2, gpus_per_rank: 1, features: [a100], walltime: 2h}
  - {name: "ocean-{i}", for_each: {i: [1, 2, 3, 4, 5, 6, 7, 8]}, kernel: any, ranks: 4, walltime: 3h}
  - {name: "big-{i}", for_each: {i: [1, 2]}, kernel: any, ranks: 2, memory_per_rank: 60GB, walltime: 1h}
)";
  const auto report = simulate_text(yaml);
  const StageGraph& g = graph_of(yaml);
  EXPECT_EQ(report.completed, report.stages);
  for (const auto& run : report.runs) {
    const std::string& name = g.stage(run.stage).name;
    for (const auto& node : run.nodes) {
      if (name.starts_with("train")) {
        EXPECT_TRUE(node.starts_with("gpu")) << name << " on " << node;
      }
      // 16 cores of CPU stages fit on the four CPU nodes at any time: none needs a GPU node.
      if (name.starts_with("ocean")) {
        EXPECT_TRUE(node.starts_with("cpu")) << name << " on " << node;
      }
    }
    if (name.starts_with("big") && run.nodes.size() == 1) {
      EXPECT_TRUE(run.nodes[0].starts_with("gpu")) << "two 60 GB ranks fit on one node only if it has 128 GB";
    }
  }
}

TEST(Placement, AStageGroupStaysInOnePartitionAndOnFreeWorkers) {
  Machine m;
  const NodeIndex a = m.add_node({"hostA", 4, 0, 0, 0});
  const NodeIndex b = m.add_node({"hostB", 4, 0, 0, 0});
  for (int id = 1; id <= 3; ++id) m.add_worker(a, 0, id);
  m.add_worker(b, 1, 7);  // a respawned worker: a partition of its own
  m.add_worker(b, 1, 8);
  auto two = m.place({2, {}});
  ASSERT_TRUE(two);
  EXPECT_EQ(two->workers, (std::vector<int>{1, 2}));
  m.take(*two);
  auto again = m.place({2, {}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->partition, 1);  // only one worker left in partition 0
  EXPECT_EQ(again->workers, (std::vector<int>{7, 8}));
  EXPECT_FALSE(m.can_ever_fit({4, {}}));  // no partition holds four workers
  m.retire_worker(2);
  m.release(*two);
  EXPECT_EQ(m.free_workers(), 4u);  // the dead worker does not come back
}

TEST(Placement, ARequestNoNodeCanEverHoldIsReportedNotQueued) {
  SchedulingPolicy policy(nodes(2, 4), {});
  policy.submit(job(1, 9, 1));
  const auto d = policy.decide(0);
  ASSERT_EQ(d.impossible.size(), 1u);
  EXPECT_NE(d.impossible[0].second.find("at most 8"), std::string::npos) << d.impossible[0].second;
  EXPECT_FALSE(policy.is_waiting(1));
}

// ---- protection and preemption ----------------------------------------------------------

TEST(Preemption, AHigherPriorityStageMakesAnUnprotectedOneYieldNeverAProtectedOne) {
  SchedulingPolicy policy(nodes(4, 4), order_by_priority_only());
  JobSpec guarded = job(1, 8, 100);
  guarded.protected_run = true;
  policy.submit(guarded);
  policy.submit(job(2, 8, 100));
  ASSERT_EQ(started(policy.decide(0)).size(), 2u);
  policy.submit(job(3, 8, 1, 10));
  const auto d = policy.decide(10);
  ASSERT_EQ(d.stops.size(), 1u);
  EXPECT_EQ(d.stops[0].job, 2u);
  EXPECT_EQ(d.stops[0].why, StopOrder::Why::preempted);
  EXPECT_TRUE(d.starts.empty()) << "it waits until the yielding stage has checkpointed";
  // While stage 2 checkpoints, nothing else takes its place, and it is not asked twice.
  policy.submit(job(4, 4, 1, 5));
  const auto meanwhile = policy.decide(20);
  EXPECT_TRUE(meanwhile.stops.empty());
  EXPECT_TRUE(meanwhile.starts.empty());
  policy.finished(2, 30, true);  // checkpointed and released
  policy.submit(job(2, 8, 99.99));
  EXPECT_EQ(started(policy.decide(30)), (std::vector<JobId>{3}));
  EXPECT_EQ(policy.counters().preemptions, 1u);
  EXPECT_EQ(policy.counters().protected_interruptions, 0u);
}

// A stage told to yield that completes before its next step boundary never yielded: the
// preemption is not counted (nor is a stop for the allocation's end that never happened).
TEST(Preemption, AStopThatNeverHappenedIsNotCounted) {
  SchedulingPolicy policy(nodes(1, 8), order_by_priority_only());
  policy.submit(job(1, 8, 10));
  policy.decide(0);
  policy.submit(job(2, 8, 1, 10));
  ASSERT_EQ(policy.decide(kHour).stops.size(), 1u);
  EXPECT_EQ(policy.counters().preemptions, 1u);
  policy.finished(1, kHour + 1);  // completed, not stopped
  EXPECT_EQ(policy.counters().preemptions, 0u);
  EXPECT_EQ(started(policy.decide(kHour + 1)), (std::vector<JobId>{2}));

  PolicyConfig config = order_by_priority_only();
  config.end_time = 10 * kHour;
  SchedulingPolicy ending(nodes(1, 8), config);
  ending.submit(job(1, 8, 20));  // its first checkpoint comes before the end: it starts
  ASSERT_EQ(ending.decide(0).starts.size(), 1u);
  ASSERT_EQ(ending.decide(10 * kHour - 120).stops.size(), 1u);
  ending.finished(1, 10 * kHour - 100);  // failed before it reached its step boundary
  EXPECT_EQ(ending.counters().end_of_allocation_stops, 0u);
}

// A stop must follow a committed epoch: a stage that writes no checkpoints would lose all its
// work by yielding, so it never does, and the urgent stage waits for it instead.
TEST(Preemption, AStageThatWritesNoCheckpointsIsNeverPreempted) {
  SchedulingPolicy policy(nodes(1, 8), order_by_priority_only());
  JobSpec without = job(1, 8, 10);
  without.checkpoints = false;
  without.checkpoint_interval = 0;
  policy.submit(without);
  ASSERT_EQ(started(policy.decide(0)), (std::vector<JobId>{1}));
  policy.submit(job(2, 8, 1, 10));
  const auto d = policy.decide(kHour);
  EXPECT_TRUE(d.stops.empty()) << "a stage without checkpoints was told to yield";
  EXPECT_TRUE(d.starts.empty());
  EXPECT_EQ(policy.counters().preemptions, 0u);
}

// A stage told to yield whose checkpoint could not be written (a full disk) keeps running:
// the order is taken back, not counted, and not given again until it commits an epoch.
TEST(Preemption, ADeclinedStopIsTakenBackAndNotRepeatedUntilTheStageCommitsAnEpoch) {
  SchedulingPolicy policy(nodes(1, 8), order_by_priority_only());
  policy.submit(job(1, 8, 10));
  policy.decide(0);
  policy.submit(job(2, 8, 1, 10));
  ASSERT_EQ(policy.decide(kHour).stops.size(), 1u);
  policy.stop_declined(1, kHour + 60);
  EXPECT_EQ(policy.counters().preemptions, 0u);
  EXPECT_TRUE(policy.decide(kHour + 61).stops.empty()) << "told again before any epoch was committed";
  policy.update_checkpointing(1, 60, 30, kHour);  // an epoch committed
  const auto again = policy.decide(kHour + 120);
  ASSERT_EQ(again.stops.size(), 1u);
  EXPECT_EQ(again.stops.front().job, 1u);
  EXPECT_EQ(policy.counters().preemptions, 1u);
}

// Found by the random-kill soak: on a resume, a protected stage that did not fit in the first
// pass chose as its victim a stage that same pass had just started (the coordinator then
// looked up a stage not yet running and died). A pass never starts and stops one stage.
TEST(Preemption, AStageStartedInAPassIsNotStoppedInTheSamePass) {
  SchedulingPolicy policy(nodes(1, 4), order_by_priority_only());
  policy.submit(job(1, 2, 10, 10));  // urgent
  policy.submit(job(2, 2, 10, 0));   // low
  JobSpec guard = job(3, 1, 10, 0);
  guard.protected_run = true;
  policy.submit(guard);
  const auto d = policy.decide(0);
  EXPECT_EQ(started(d), (std::vector<JobId>{1, 2}));
  for (const auto& stop : d.stops) {
    for (const auto& start : d.starts) EXPECT_NE(stop.job, start.job) << "started and told to stop in one pass";
  }
  const auto next = policy.decide(60);  // a later pass may make low yield for the protected guard
  ASSERT_EQ(next.stops.size(), 1u);
  EXPECT_EQ(next.stops.front().job, 2u);
}

TEST(Preemption, AStageRunningLongerThanPreemptExemptAfterNeverYields) {
  PolicyConfig config = order_by_priority_only();
  config.preempt_exempt_after = 24 * kHour;
  SchedulingPolicy policy(nodes(2, 4), config);
  policy.submit(job(1, 4, 100));
  policy.decide(0);
  policy.submit(job(2, 4, 100));
  policy.decide(30 * kHour);  // 1 has run 30 h, 2 has just started
  policy.submit(job(3, 4, 1, 10));
  auto d = policy.decide(31 * kHour);
  ASSERT_EQ(d.stops.size(), 1u);
  EXPECT_EQ(d.stops[0].job, 2u);
  policy.submit(job(4, 8, 1, 10));  // would need stage 1 too: it has to wait
  policy.finished(2, 31.1 * kHour, true);  // yielded
  d = policy.decide(31.1 * kHour);
  EXPECT_EQ(started(d), (std::vector<JobId>{3}));
  EXPECT_TRUE(d.stops.empty());
}

// Random arrivals of every kind of stage on a full machine, thousands of decisions: a
// protected or exempt stage is never told to yield, though many others are.
TEST(Preemption, ProtectedStagesAreNeverPreemptedUnderHeavyContention) {
  PolicyConfig config;
  config.preempt_exempt_after = 48 * kHour;
  SchedulingPolicy policy(nodes(16, 8), config);
  std::mt19937 rng(7);
  VirtualClock clock;
  std::map<JobId, JobSpec> specs;
  std::map<JobId, double> running_since;
  JobId next = 0;
  for (int round = 0; round < 3000; ++round) {
    clock.advance_by(std::uniform_real_distribution<double>(0, 2 * kHour)(rng));
    if (rng() % 2 == 0) {
      JobSpec j = job(next++, 1 + static_cast<int>(rng() % 24), 1 + rng() % 100, static_cast<int>(rng() % 5));
      j.protected_run = rng() % 4 == 0;
      j.queued_since = clock.now();
      specs[j.id] = j;
      policy.submit(j);
    }
    // Some running stages end now and then.
    for (auto it = running_since.begin(); it != running_since.end();) {
      if (rng() % 10 == 0) {
        policy.finished(it->first, clock.now());
        it = running_since.erase(it);
      } else {
        ++it;
      }
    }
    const auto d = policy.decide(clock.now());
    for (const auto& s : d.starts) running_since[s.job] = clock.now();
    for (const auto& stop : d.stops) {
      ASSERT_FALSE(specs.at(stop.job).protected_run) << "protected stage " << stop.job << " told to yield";
      ASSERT_LT(clock.now() - running_since.at(stop.job), 48 * kHour) << "exempt stage " << stop.job << " told to yield";
      // It checkpoints, releases its ranks and waits again.
      policy.finished(stop.job, clock.now(), true);
      running_since.erase(stop.job);
      policy.submit(specs.at(stop.job));
    }
  }
  EXPECT_GT(policy.counters().preemptions, 20u) << "the test must contend";
  EXPECT_EQ(policy.counters().protected_interruptions, 0u);
}

TEST(Preemption, APreemptedStageResumesFromItsCheckpointAndLosesNoWork) {
  // `urgent` becomes ready at 10 h (after `gate`) and needs the whole machine, where
  // `long-run` has been running since 0: it yields, `urgent` runs, `long-run` resumes.
  const auto report = simulate_text(R"(
campaign: yield
cluster: {nodes: [{name: "n[1-4]", cores: 4}]}
checkpoint: {interval: 1h}
stages:
  - {name: long-run, kernel: any, ranks: 12, walltime: 40h, steps: 4000, priority: 0}
  - {name: gate, kernel: any, ranks: 4, walltime: 10h}
  - {name: urgent, kernel: any, ranks: 16, walltime: 5h, steps: 100, priority: 10, after: [gate]}
)", [] {
    SimulationOptions o;
    o.checkpoint_cost_seconds = 36;  // 0.01 h
    return o;
  }());
  EXPECT_EQ(report.completed, 3u);
  EXPECT_EQ(report.preemptions, 1u);
  EXPECT_EQ(report.lost_core_hours, 0.0);
  const StageGraph& g = graph_of(R"(
campaign: yield
cluster: {nodes: [{name: "n[1-4]", cores: 4}]}
checkpoint: {interval: 1h}
stages:
  - {name: long-run, kernel: any, ranks: 12, walltime: 40h, steps: 4000, priority: 0}
  - {name: gate, kernel: any, ranks: 4, walltime: 10h}
  - {name: urgent, kernel: any, ranks: 16, walltime: 5h, steps: 100, priority: 10, after: [gate]}
)");
  std::vector<SimulatedRun> runs;
  for (const auto& r : report.runs) {
    if (g.stage(r.stage).name == "long-run") runs.push_back(r);
  }
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].ended, "preempted");
  EXPECT_EQ(runs[1].ended, "completed");
  // Computing time in both runs adds up to its 40 h of work: nothing was done twice. Each
  // run also wrote checkpoints (hourly at 0.01 h each), and the yield wrote one more.
  const double first = runs[0].end - runs[0].start, second = runs[1].end - runs[1].start;
  EXPECT_NEAR(first + second, 40 * kHour + 40 * 36, 2 * 36 + 1);
  EXPECT_GE(runs[1].start, 15 * kHour);  // after `urgent`
}

// ---- backfill ---------------------------------------------------------------------------

TEST(Backfill, ShortStagesFillTheGapButNothingDelaysTheReservedStage) {
  SchedulingPolicy policy(nodes(4, 4), order_by_priority_only());
  policy.submit(job(1, 12, 10, 5));  // runs on 3 nodes for 10 h
  EXPECT_EQ(started(policy.decide(0)).size(), 1u);
  policy.submit(job(2, 16, 5, 4));   // needs the whole machine: reserved at 10 h
  policy.submit(job(3, 4, 20, 3));   // fits now but would still run at 10 h: must wait
  policy.submit(job(4, 4, 8, 2));    // fits now and ends at 8 h: backfilled
  const auto d = policy.decide(0);
  EXPECT_EQ(started(d), (std::vector<JobId>{4}));
  ASSERT_TRUE(d.starts[0].backfilled);
  ASSERT_EQ(policy.first_reservations().count(2), 1u);
  EXPECT_DOUBLE_EQ(policy.first_reservations().at(2), 10 * kHour);
  const auto report = policy.waiting_report(0);
  ASSERT_EQ(report.size(), 2u);
  EXPECT_EQ(report[0].job, 2u);
  EXPECT_EQ(report[0].reason, WaitReason::resources);
  EXPECT_DOUBLE_EQ(report[0].expected_start, 10 * kHour);
  EXPECT_EQ(report[1].reason, WaitReason::reservation);
  EXPECT_DOUBLE_EQ(report[1].expected_start, 15 * kHour);
  policy.finished(4, 8 * kHour);
  EXPECT_TRUE(policy.decide(8 * kHour).starts.empty());
  policy.finished(1, 10 * kHour);
  EXPECT_EQ(started(policy.decide(10 * kHour)), (std::vector<JobId>{2}));
}

TEST(Backfill, WithoutBackfillNothingOvertakesTheFirstWaitingStage) {
  PolicyConfig config = order_by_priority_only();
  config.backfill = false;
  SchedulingPolicy policy(nodes(4, 4), config);
  policy.submit(job(1, 12, 10, 5));
  policy.decide(0);
  policy.submit(job(2, 16, 5, 4));
  policy.submit(job(4, 4, 8, 2));
  EXPECT_TRUE(policy.decide(0).starts.empty());
}

// Like Slurm's bf_max_job_test: a pass tries only `backfill_depth` stages behind the first
// that cannot start, so that a queue of tens of thousands stays cheap.
TEST(Backfill, APassTriesOnlyBackfillDepthStagesBehindTheReservedOne) {
  auto backfilled_with_depth = [](std::size_t depth) {
    PolicyConfig config = order_by_priority_only();
    config.backfill_depth = depth;
    SchedulingPolicy policy(nodes(4, 4), config);
    policy.submit(job(1, 12, 10, 9));
    policy.decide(0);
    policy.submit(job(2, 16, 5, 8));  // reserved at 10 h
    policy.submit(job(3, 4, 20, 7));  // would delay it
    policy.submit(job(4, 4, 30, 6));  // would delay it
    policy.submit(job(5, 4, 8, 5));   // the third behind: ends at 8 h, can be backfilled
    return started(policy.decide(0));
  };
  EXPECT_TRUE(backfilled_with_depth(2).empty());
  EXPECT_EQ(backfilled_with_depth(3), (std::vector<JobId>{5}));
}

// Random campaigns with exact walltimes: every stage that was promised a start by a
// reservation starts no later than promised, however much was backfilled around it.
TEST(Backfill, NeverDelaysAReservedStageOverRandomCampaigns) {
  std::uint64_t backfilled = 0, reservations = 0;
  for (int seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    std::string yaml = "campaign: random\ncluster: {nodes: [{name: \"n[1-8]\", cores: 8}]}\n"
                       "scheduling: {weights: {fairshare: 0, age: 0}, preemption: false}\nstages:\n";
    for (int i = 0; i < 60; ++i) {
      yaml += fmt::format("  - {{name: s{}, kernel: any, ranks: {}, walltime: {}min, priority: {}}}\n", i,
                          1 + rng() % 40, 10 + rng() % 600, rng() % 10);
    }
    const auto report = simulate_text(yaml);
    ASSERT_EQ(report.completed, 60u);
    backfilled += report.backfilled;
    std::map<JobId, double> first_start;
    for (const auto& r : report.runs) first_start.emplace(r.stage, r.start);
    for (const auto& [stage, promised] : report.first_reserved_start) {
      ++reservations;
      EXPECT_LE(first_start.at(stage), promised + 1e-6) << "seed " << seed << " stage s" << stage;
    }
  }
  EXPECT_GT(backfilled, 100u);
  EXPECT_GT(reservations, 100u);
}

// ---- fair share -------------------------------------------------------------------------

TEST(FairShareOverARun, EachProjectsUseConvergesToItsShare) {
  std::string yaml = R"(
campaign: shares
projects:
  - {name: small, share: 1}
  - {name: medium, share: 2}
  - {name: large, share: 5}
cluster: {nodes: [{name: "n[1-16]", cores: 1}]}
checkpoint: {enabled: false}
scheduling: {fairshare_half_life: 1d, weights: {priority: 0, age: 0, fairshare: 10000}}
stages:
)";
  // Each project alone could fill the machine for longer than the run lasts; run times
  // differ, so that cores do not all come free at the same moments.
  for (const char* p : {"small", "medium", "large"}) {
    for (int minutes : {47, 71, 97}) {
      yaml += fmt::format("  - {{name: \"{}-{}-{{i}}\", for_each: {{i: [{}]}}, kernel: any, project: {}, walltime: {}min}}\n",
                          p, minutes, fmt::join(std::views::iota(0, 2000), ", "), p, minutes);
    }
  }
  SimulationOptions options;
  options.stop_at = 20 * 24 * kHour;
  const auto report = simulate_text(yaml, options);
  double total = 0;
  for (const auto& [p, h] : report.core_hours_by_project) total += h;
  EXPECT_NEAR(total, 16 * 20 * 24, 1.0) << "the machine is kept full";
  // Converged: the use in the second half of the run, when the start (everybody's factor
  // at 1, one half-life of history) no longer counts.
  const StageGraph& g = graph_of(yaml);
  std::map<std::string, double> late;
  double late_total = 0;
  for (const auto& r : report.runs) {
    const double from = std::max(r.start, 10 * 24 * kHour), to = std::min(r.end, 20 * 24 * kHour);
    if (to <= from) continue;
    late[g.stage(r.stage).project] += to - from;
    late_total += to - from;
  }
  const std::map<std::string, double> share{{"small", 1.0 / 8}, {"medium", 2.0 / 8}, {"large", 5.0 / 8}};
  for (const auto& [p, s] : share) {
    const double whole = report.core_hours_by_project.at(p) / total, converged = late.at(p) / late_total;
    EXPECT_NEAR(converged, s, 0.05 * s) << p << " used " << converged << " of the machine in days 10-20 (" << whole
                                       << " over the whole run) against a share of " << s;
  }
}

// The queue is served in multifactor order whatever the mix of projects, priorities and
// waiting times: every factor differs between the stages here.
TEST(Order, TheQueueIsInMultifactorOrderWhateverTheMix) {
  PolicyConfig config;  // default weights: priority, fair share and age all count
  config.weights.max_age_seconds = 10 * kHour;
  config.fairshare_half_life = 5 * kHour;
  SchedulingPolicy policy(nodes(4, 1), config);
  const std::vector<std::string> projects{"a", "b", "c"};
  policy.set_share("a", 1);
  policy.set_share("b", 2);
  policy.set_share("c", 5);
  JobId id = 0;
  for (int i = 0; i < 4; ++i) policy.submit(job(id++, 1, 50, 100, projects[i % 2]));  // a and b use the machine
  ASSERT_EQ(policy.decide(0).starts.size(), 4u);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> arrival(0, 20 * kHour);
  constexpr int kWaiting = 3000;
  for (int i = 0; i < kWaiting; ++i) {
    JobSpec j = job(id++, 1 + static_cast<int>(rng() % 3), 1, static_cast<int>(rng() % 4), projects[rng() % 3]);
    j.queued_since = arrival(rng);
    policy.submit(j);
  }
  const double now = 20 * kHour;
  EXPECT_TRUE(policy.decide(now).starts.empty());
  const auto queue = policy.waiting_report(now, 0);
  ASSERT_EQ(queue.size(), static_cast<std::size_t>(kWaiting));
  std::set<double> distinct;
  for (std::size_t i = 0; i < queue.size(); ++i) {
    distinct.insert(queue[i].priority_score);
    if (i > 0) {
      ASSERT_GE(queue[i - 1].priority_score, queue[i].priority_score) << "position " << i;
    }
  }
  EXPECT_GT(distinct.size(), 1000u) << "the factors did not differ enough to test the order";
}

// ---- exhaustion and aging ----------------------------------------------------------------

TEST(Exhaustion, MoreWorkThanTheMachineQueuesWithReasonsAndExpectedStarts) {
  SchedulingPolicy policy(nodes(2, 4), order_by_priority_only());
  for (JobId id = 0; id < 6; ++id) policy.submit(job(id, 4, 1, 10 - static_cast<int>(id)));
  EXPECT_EQ(started(policy.decide(0)), (std::vector<JobId>{0, 1}));
  const auto waiting = policy.waiting_report(0);
  ASSERT_EQ(waiting.size(), 4u);
  EXPECT_EQ(waiting[0].job, 2u);
  EXPECT_EQ(waiting[0].reason, WaitReason::resources);
  EXPECT_NE(waiting[0].detail.find("needs 4 ranks; 0 fit now"), std::string::npos) << waiting[0].detail;
  EXPECT_EQ(waiting[1].reason, WaitReason::priority);
  const std::vector<double> expected{1, 1, 2, 2};
  for (std::size_t i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(waiting[i].expected_start, expected[i] * kHour) << i;
}

// A wide low-priority stage against a steady stream of narrow urgent ones: without aging it
// waits for ever; with aging it rises to the top, gets its reservation and starts.
TEST(Exhaustion, AgingPreventsStarvation) {
  auto first_start_of_wide = [](double age_weight) -> double {
    PolicyConfig config;
    config.weights.fairshare = 0;
    config.weights.priority = 1000;
    config.weights.age = age_weight;
    config.weights.max_age_seconds = 4 * kHour;
    SchedulingPolicy policy(nodes(4, 1), config);
    JobSpec wide = job(0, 4, 1, 0);
    policy.submit(wide);
    std::map<JobId, double> ends;
    JobId next = 1;
    for (double t = 0; t < 48 * kHour; t += 0.25 * kHour) {
      for (auto it = ends.begin(); it != ends.end();) {
        if (it->second <= t) {
          policy.finished(it->first, t);
          it = ends.erase(it);
        } else {
          ++it;
        }
      }
      for (int k = 0; k < 2; ++k) {  // two new urgent one-rank stages every quarter hour
        JobSpec urgent = job(next++, 1, 0.5, 10);
        urgent.queued_since = t;
        policy.submit(urgent);
      }
      for (const auto& s : policy.decide(t).starts) {
        if (s.job == 0) return t;
        ends[s.job] = t + 0.5 * kHour;
      }
    }
    return kUnknown;
  };
  EXPECT_EQ(first_start_of_wide(0), kUnknown) << "the control: the stream alone starves it";
  EXPECT_LE(first_start_of_wide(2000), 6 * kHour);
}

// ---- the allocation's end -----------------------------------------------------------------

TEST(EndOfAllocation, NothingStartsThatCannotReachItsNextCheckpointAndRunningStagesStopInTime) {
  PolicyConfig config = order_by_priority_only();
  config.end_time = 2 * kHour;
  config.end_margin = 60;
  SchedulingPolicy policy(nodes(4, 4), config);
  JobSpec hourly = job(1, 4, 10);        // first checkpoint after 1 h: fits before 2 h
  JobSpec no_checkpoints = job(2, 4, 10);
  no_checkpoints.checkpoints = false;      // must finish: 10 h do not fit
  no_checkpoints.checkpoint_interval = 0;
  JobSpec short_one = job(3, 4, 0.5);
  short_one.checkpoints = false;           // finishes in 0.5 h
  short_one.checkpoint_interval = 0;
  JobSpec slow = job(4, 4, 10);
  slow.checkpoint_interval = 3 * kHour;    // first checkpoint after the end
  for (const auto& j : {hourly, no_checkpoints, short_one, slow}) policy.submit(j);
  EXPECT_EQ(started(policy.decide(0)), (std::vector<JobId>{1, 3}));
  for (const auto& w : policy.waiting_report(0)) {
    EXPECT_EQ(w.reason, WaitReason::end_of_allocation) << w.name;
    EXPECT_NE(w.detail.find("before the allocation ends"), std::string::npos);
  }
  // Stop lead: one step (60 s), two checkpoints (2 x 30 s) and the margin (60 s).
  EXPECT_DOUBLE_EQ(policy.next_deadline(), 2 * kHour - 180);
  EXPECT_TRUE(policy.decide(2 * kHour - 181).stops.empty());
  const auto d = policy.decide(2 * kHour - 180);
  // Only the stage that checkpoints is told to stop: one that writes none cannot stop
  // without losing its work, so it runs on (had its estimate held, it would be done).
  ASSERT_EQ(d.stops.size(), 1u);
  EXPECT_EQ(d.stops.front().job, 1u);
  EXPECT_EQ(d.stops.front().why, StopOrder::Why::end_of_allocation);
  EXPECT_TRUE(policy.decide(2 * kHour - 100).stops.empty()) << "told once";
}

TEST(EndOfAllocation, SimulatedRunSuspendsEverythingBeforeTheEnd) {
  const auto report = simulate_text(R"(
campaign: ending
cluster: {nodes: [{name: "n[1-2]", cores: 4}]}
checkpoint: {interval: 1h}
stages:
  - {name: a, kernel: any, ranks: 4, walltime: 30h, steps: 3000}
  - {name: b, kernel: any, ranks: 4, walltime: 30h, steps: 3000}
  - {name: c, kernel: any, ranks: 4, walltime: 30h, steps: 3000}
)", {}, 12 * kHour);
  EXPECT_EQ(report.end_of_allocation_stops, 2u);
  for (const auto& r : report.runs) {
    EXPECT_EQ(r.ended, "end_of_allocation");
    EXPECT_LE(r.end, 12 * kHour);
  }
}

// ---- failures in the accelerated mode --------------------------------------------------------

TEST(Simulation, NodeFailuresCostWorkSinceTheLastCheckpointAndTheSameSeedGivesTheSameRun) {
  const std::string yaml = R"(
campaign: failing
cluster: {nodes: [{name: "n[1-32]", cores: 16}]}
checkpoint: {interval: 2h}
stages:
  - {name: "m-{i}", for_each: {i: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]}, kernel: any, ranks: 32, walltime: 200h, steps: 2000}
)";
  SimulationOptions options;
  options.node_mtbf_seconds = 30 * 24 * kHour;
  options.seed = 42;
  const auto a = simulate_text(yaml, options);
  const auto b = simulate_text(yaml, options);
  EXPECT_EQ(a.completed, 16u);
  EXPECT_GT(a.node_failures, 0u);
  EXPECT_GT(a.lost_core_hours, 0.0);
  // At most one interval plus one checkpoint of a 32-core stage per lost run.
  EXPECT_LE(a.lost_core_hours, a.stage_failures * (2 * kHour + 60) * 32 / kHour);
  EXPECT_GT(a.makespan_seconds, 200 * kHour);
  EXPECT_EQ(a.makespan_seconds, b.makespan_seconds);
  EXPECT_EQ(a.node_failures, b.node_failures);
  EXPECT_EQ(a.lost_core_hours, b.lost_core_hours);
}

TEST(SchedulingSection, IsReadWithItsFieldsAndBadValuesNameTheField) {
  auto ok = check_campaign(R"(
campaign: s
scheduling:
  weights: {priority: 10, fairshare: 20, age: 30}
  max_age: 2d
  fairshare_half_life: 3d
  preempt_exempt_after: 12h
  backfill: false
  end_margin: 5min
  backfill_depth: 50
stages:
  - {name: a, kernel: any, step_time: 2s, preempt_exempt_after: 1h, steps: 10}
  - {name: b, kernel: any, step_time: 250ms, steps: 10}
)");
  ASSERT_TRUE(ok.diagnostics.empty()) << ok.text();
  const auto config = policy_config_for(ok.graph->campaign());
  EXPECT_EQ(config.weights.age, 30);
  EXPECT_EQ(config.weights.max_age_seconds, 2 * 86400);
  EXPECT_EQ(config.fairshare_half_life, 3 * 86400);
  EXPECT_EQ(*config.preempt_exempt_after, 12 * kHour);
  EXPECT_FALSE(config.backfill);
  EXPECT_EQ(config.end_margin, 300);
  EXPECT_EQ(config.backfill_depth, 50u);
  EXPECT_EQ(expected_seconds(ok.graph->stage(0)), 20.0);
  EXPECT_DOUBLE_EQ(expected_seconds(ok.graph->stage(1)), 2.5);
  auto bad = check_campaign("campaign: s\nscheduling:\n  max_age: soon\n  weights: {speed: 1}\nstages:\n  - {name: a, kernel: any}\n");
  EXPECT_TRUE(bad.has(3, "scheduling.max_age")) << bad.text();
  EXPECT_TRUE(bad.has(4, "speed")) << bad.text();
}

// ---- estimates, respawns, node states, reports ---------------------------------------------

TEST(Estimates, AMeasuredRateMovesTheReservation) {
  SchedulingPolicy policy(nodes(2, 4), order_by_priority_only());
  policy.submit(job(1, 8, 10));
  policy.decide(0);
  policy.submit(job(2, 8, 1));
  policy.decide(0);
  EXPECT_DOUBLE_EQ(policy.waiting_report(0).at(0).expected_start, 10 * kHour);
  policy.update_remaining(1, 2 * kHour, kHour);  // measured: faster than declared
  policy.decide(kHour);
  EXPECT_DOUBLE_EQ(policy.waiting_report(kHour).at(0).expected_start, 3 * kHour);
}

TEST(Estimates, WithoutAnEstimateTheReservationHoldsEveryNodeItCouldUse) {
  Machine m;
  m.add_node({"n0", 4, 0, 0, m.feature_bit("cpu")});
  m.add_node({"n1", 4, 0, 0, m.feature_bit("cpu")});
  m.add_node({"gpu0", 4, 1, 0, m.feature_bit("a100")});
  PolicyConfig config = order_by_priority_only();
  config.preemption = false;
  SchedulingPolicy policy(std::move(m), config);
  policy.submit(job(1, 4, kUnknown / kHour));  // no walltime: never known to end
  policy.decide(0);
  JobSpec both_cpu_nodes = job(2, 8, 1, 5);
  both_cpu_nodes.request.per_rank.features = policy.machine().feature_bit("cpu");
  policy.submit(both_cpu_nodes);  // waits for stage 1, whose end is unknown
  JobSpec on_gpu = job(3, 4, 0.5, 1);
  on_gpu.request.per_rank.gpus = 1;
  on_gpu.request.per_rank.features = policy.machine().feature_bit("a100");
  on_gpu.request.ranks = 1;
  policy.submit(on_gpu);
  policy.submit(job(4, 4, 0.5, 0));  // would sit on a node the unknown reservation holds
  const auto d = policy.decide(0);
  EXPECT_EQ(started(d), (std::vector<JobId>{3})) << "only the GPU node is outside it";
  const auto report = policy.waiting_report(0);
  EXPECT_EQ(report.at(0).expected_start, kUnknown);
}

TEST(Respawn, WhileRanksAreBeingSpawnedALargeStageWaitsInsteadOfFailing) {
  Machine m;
  const NodeIndex n = m.add_node({"host", 0, 0, 0, 0});
  m.add_worker(n, 0, 1);
  m.grow_cores(n, 1);
  SchedulingPolicy policy(std::move(m), {});
  policy.set_expected_workers(1);
  policy.submit(job(7, 2, 1));
  auto d = policy.decide(0);
  EXPECT_TRUE(d.impossible.empty());
  EXPECT_NE(policy.waiting_report(0).at(0).detail.find("respawned"), std::string::npos);
  policy.set_expected_workers(0);
  d = policy.decide(1);
  EXPECT_EQ(d.impossible.size(), 1u);
}

TEST(Machine, NodesGoDownAndComeBackAndDetectedNodesGrow) {
  Machine m;
  const NodeIndex a = m.add_node({"a", 2, 0, 0, 0});
  const NodeIndex b = m.add_node({"b", 0, 0, 0, 0});
  m.grow_cores(b, 3);
  m.grow_cores(b, 2);  // never shrinks
  EXPECT_EQ(m.total_cores(), 5);
  m.set_down(a);
  EXPECT_EQ(m.up_cores(), 3);
  EXPECT_FALSE(m.place({4, {}}));
  m.grow_cores(a, 4);
  m.set_up(a);
  EXPECT_EQ(m.free_cores(), 7);
  auto all = m.place({7, {}});
  ASSERT_TRUE(all);
  m.take(*all);
  EXPECT_EQ(m.used_cores(), 7);
  EXPECT_EQ(m.free_workers(), 0u);
  EXPECT_EQ(m.find_node("b"), b);
  EXPECT_FALSE(m.find_node("c"));
}

// A group's failure rate grows with the nodes it spans (the MTBF is per node), so the workers
// checkpoint it more often; the simulation used to pick every interval as if for one node.
TEST(Simulation, EachGroupCheckpointsAtTheIntervalForTheNodesItWasPlacedOn) {
  const auto trace = std::filesystem::temp_directory_path() / "perennial-unit-trace-nodes" / "trace.csv";
  std::filesystem::remove_all(trace.parent_path());
  SimulationOptions options;
  options.trace_csv = trace;
  options.checkpoint_cost_seconds = 60;
  simulate_text(R"(
campaign: nodes
checkpoint: {mtbf: 24h, max_lost_work: 10h}
cluster: {nodes: [{name: "n[1-4]", cores: 4}]}
stages:
  - {name: one, kernel: any, ranks: 4, walltime: 3h}
  - {name: four, kernel: any, ranks: 16, walltime: 3h, after: [one]}
)", options);
  std::ifstream in(trace);
  std::map<std::string, double> every;
  const std::regex start(R"(^[0-9.]+,start,(\w+),.*checkpoints every ([0-9.]+) s)");
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_search(line, m, start)) every[m[1]] = std::stod(m[2]);
  }
  ASSERT_EQ(every.size(), 2u) << "no interval in the trace's start lines";
  EXPECT_NEAR(every["one"], checkpoint_interval_for(60, 24 * kHour), 1.0);
  EXPECT_NEAR(every["four"], checkpoint_interval_for(60, 6 * kHour), 1.0) << "a 4-node group: MTBF 24 h / 4";
}

TEST(Reports, StatusNamesAndTheSimulationSummary) {
  for (auto r : {WaitReason::none, WaitReason::priority, WaitReason::resources, WaitReason::reservation,
                 WaitReason::preempting, WaitReason::end_of_allocation}) {
    EXPECT_FALSE(reason_name(r).empty());
  }
  for (auto st : {StageState::waiting, StageState::ready, StageState::running, StageState::completed,
                  StageState::failed, StageState::blocked, StageState::suspended}) {
    EXPECT_FALSE(state_name(st).empty());
  }
  const auto trace = std::filesystem::temp_directory_path() / "perennial-unit-trace" / "trace.csv";
  std::filesystem::remove_all(trace.parent_path());
  SimulationOptions options;
  options.trace_csv = trace;
  const auto report = simulate_text(R"(
campaign: summary
projects: [{name: climate, share: 2}]
checkpoint: {enabled: false}
cluster: {nodes: [{name: "n[1-2]", cores: 4}]}
stages:
  - {name: a, kernel: any, project: climate, ranks: 4, walltime: 3h}
  - {name: b, kernel: any, project: climate, ranks: 8, walltime: 1h, priority: 3}
)", options);
  const auto j = report.to_json();
  for (const char* key : {"makespan_hours", "utilisation", "preemptions", "protected_interruptions", "lost_core_hours",
                          "core_hours_by_project"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_NEAR(j["makespan_hours"].get<double>(), 4.0, 0.1);
  EXPECT_NEAR(j["core_hours_by_project"]["climate"].get<double>(), 20.0, 0.5);
  const std::string text = report.to_text();
  EXPECT_NE(text.find("protected interruptions  0"), std::string::npos) << text;
  EXPECT_NE(text.find("climate"), std::string::npos) << text;
  std::ifstream in(trace);
  std::string header, first;
  std::getline(in, header);
  std::getline(in, first);
  EXPECT_EQ(header, "hours,event,stage,project,ranks,nodes,detail");
  EXPECT_NE(first.find(",start,b,climate,8,n1 n2,"), std::string::npos) << first;
}

}  // namespace

// `hard_cap: true`: once a project has used its allocation its stages start no more (what
// runs finishes), the other project goes on, and the run stops instead of waiting for ever.
TEST(HardCap, AProjectAtItsAllocationStartsNothingMoreAndTheOtherGoesOn) {
  const auto report = simulate_text(R"(
campaign: capped
projects:
  - {name: small, grant: G-1, allocation_core_hours: 1.5, hard_cap: true}
  - {name: big, grant: G-2, allocation_core_hours: 1000}
cluster:
  nodes: [{name: "n[1-2]", cores: 1}]
checkpoint: {enabled: false}
stages:
  - {name: s1, kernel: any, project: small, ranks: 1, walltime: 1h}
  - {name: s2, kernel: any, project: small, ranks: 1, walltime: 1h, after: [s1]}
  - {name: s3, kernel: any, project: small, ranks: 1, walltime: 1h, after: [s2]}
  - {name: b1, kernel: any, project: big, ranks: 1, walltime: 3h}
)");
  // s1 uses 1 core-hour, below the cap: s2 starts and takes it past; s3 never starts.
  EXPECT_EQ(report.completed, 3u) << report.to_text();
  EXPECT_NEAR(report.core_hours_by_project.at("small"), 2.0, 1e-6) << report.to_text();
  EXPECT_NEAR(report.core_hours_by_project.at("big"), 3.0, 1e-6) << report.to_text();
}

TEST(HardCap, NeedsAnAllocation) {
  const auto checked = perennial::testing::check_campaign(
      "campaign: c\nprojects:\n  - {name: p, hard_cap: true}\nstages:\n  - {name: a, kernel: any, project: p}\n");
  EXPECT_NE(checked.text().find("hard_cap"), std::string::npos) << checked.text();
}
