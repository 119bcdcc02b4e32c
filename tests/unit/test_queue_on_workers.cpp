// Stages queued on busy workers (PolicyConfig::queue_behind_short_runs, issue 16): a one-rank
// stage is sent to the worker of a one-rank stage expected to end within milliseconds and
// begins there when that one ends, without waiting for rank 0's reply. Driven through
// CampaignRun on a virtual clock, without MPI: which stages queue, when a queued stage counts
// as started and is charged, and what happens to it when its worker dies first.

#include "test_support.hpp"

#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/coordinator/run_status.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

using namespace perennial;
using perennial::testing::check_campaign;

namespace {

// Starts and ends in order, with the time a start was told.
struct Starts final : CampaignObserver {
  std::vector<std::string> lines;
  std::map<StageId, double> started_at;
  const StageGraph* graph = nullptr;
  std::string n(StageId id) const { return graph->stage(id).name; }
  void stage_started(StageId id, const ActiveRun& r, bool) override {
    lines.push_back("started " + n(id));
    started_at[id] = r.started;
  }
  void stage_completed(StageId id, const ActiveRun&, double) override { lines.push_back("completed " + n(id)); }
  void stage_lost(StageId id, const ActiveRun&, int restart, double) override {
    lines.push_back(fmt::format("lost {} {}", n(id), restart));
  }
  std::ptrdiff_t at(const std::string& line) const {
    const auto it = std::find(lines.begin(), lines.end(), line);
    return it == lines.end() ? -1 : it - lines.begin();
  }
};

// `count` stages; `ranks` and `steps` for all of them.
std::string campaign(int count, int ranks = 1, int steps = 1, const std::string& extra = "") {
  std::string yaml = "campaign: q\nstages:\n";
  for (int i = 0; i < count; ++i) {
    yaml += fmt::format("  - {{name: s{:02}, kernel: any, ranks: {}, steps: {}{}}}\n", i, ranks, steps, extra);
  }
  return yaml;
}

struct Fixture {
  explicit Fixture(const std::string& yaml, int workers, bool queue = true)
      : checked(check_campaign(yaml)),
        run(*checked.graph, SchedulingPolicy(perennial::testing::one_node_of_workers(workers), config(queue)), {}) {
    EXPECT_TRUE(checked.diagnostics.empty()) << checked.text();
    starts.graph = &*checked.graph;
    run.add_observer(starts);
    run.begin(0.0);
  }
  PolicyConfig config(bool queue) const {
    PolicyConfig c = policy_config_for(checked.graph->campaign());
    c.queue_behind_short_runs = queue;
    return c;
  }
  StageId id(const std::string& name) const { return *checked.graph->find(name); }
  std::string name(StageId id) const { return checked.graph->stage(id).name; }
  // Every member of the running stage reports its completion at `now`.
  void complete(StageId stage, double now) {
    const ActiveRun r = *run.active(stage);
    for (int w : r.workers) run.member_reported(stage, r.attempt, w, {}, now);
  }
  perennial::testing::Checked checked;
  CampaignRun run;
  Starts starts;
};

// Runs the campaign to its end, as a worker that takes its stages in the order they were sent
// and needs `seconds` for each: a decision every time something ends. Returns how many
// stages were sent queued.
int run_all(Fixture& f, double seconds, double& now) {
  int queued = 0;
  std::map<int, std::deque<StageId>> inbox;  // worker -> stages sent, in order
  for (int guard = 0; guard < 10000 && !f.run.finished(); ++guard) {
    const Decision d = f.run.decide(now);
    for (const auto& s : d.starts) {
      if (s.behind) ++queued;
      inbox[s.allocation.workers.front()].push_back(s.job);
    }
    // The worker whose current stage started first finishes next.
    std::optional<int> next;
    for (auto& [w, q] : inbox) {
      if (q.empty()) continue;
      if (!next || f.run.active(q.front())->started < f.run.active(inbox[*next].front())->started) next = w;
    }
    if (!next) break;
    now += seconds;
    const StageId done = inbox[*next].front();
    inbox[*next].pop_front();
    f.complete(done, now);
  }
  return queued;
}

}  // namespace

TEST(QueueOnWorkers, ShortStagesQueueOnceThreeOfTheirKindEndedWithinTheLimit) {
  Fixture f(campaign(12), 2);
  double now = 0.0;
  const int queued = run_all(f, 0.004, now);
  EXPECT_TRUE(f.run.progress().all_completed());
  // Two workers: the first stages start on free ranks; from the fourth run of the kind on,
  // the next stage waits on a busy worker instead of for rank 0's next pass.
  EXPECT_GE(queued, 6);
  EXPECT_LE(queued, 12 - 3);
}

TEST(QueueOnWorkers, AQueuedStageStartsWhenTheOneAheadEndsAndIsChargedFromThen) {
  Fixture f(campaign(12), 1);
  double now = 0.0;
  const int queued = run_all(f, 0.01, now);
  ASSERT_GT(queued, 0);
  // One worker: every stage starts after the one before it ended, never while it ran.
  for (int i = 1; i < 12; ++i) {
    const std::string s = fmt::format("s{:02}", i);
    EXPECT_LT(f.starts.at(fmt::format("completed s{:02}", i - 1)), f.starts.at("started " + s)) << s;
    EXPECT_DOUBLE_EQ(f.starts.started_at.at(f.id(s)), 0.01 * i) << s;
  }
  // Twelve runs of 10 ms on one core: 0.12 core-seconds, not more for the time queued.
  f.run.policy().charge_until(now);
  double charged = 0.0;
  for (const auto& [project, seconds] : f.run.policy().core_seconds_by_project()) charged += seconds;
  EXPECT_NEAR(charged, 0.12, 1e-9);
}

TEST(QueueOnWorkers, NothingQueuesBehindAStageOfAKindThatTookLonger) {
  Fixture f(campaign(8), 2);
  double now = 0.0;
  EXPECT_EQ(run_all(f, kQueueBehindSeconds * 2, now), 0);
  EXPECT_TRUE(f.run.progress().all_completed());
}

TEST(QueueOnWorkers, MultiRankStagesNeitherQueueNorTakeQueuedStages) {
  Fixture f(campaign(8, 2), 4);
  double now = 0.0;
  EXPECT_EQ(run_all(f, 0.001, now), 0);
  EXPECT_TRUE(f.run.progress().all_completed());
}

TEST(QueueOnWorkers, OffByDefaultAsInSimulations) {
  Fixture f(campaign(8), 1, false);
  double now = 0.0;
  EXPECT_EQ(run_all(f, 0.001, now), 0);
  EXPECT_FALSE(PolicyConfig{}.queue_behind_short_runs);
}

TEST(QueueOnWorkers, AStageQueuedOnARankThatDiesWaitsAgainWithoutCountingARestart) {
  Fixture f(campaign(6), 2);
  double now = 0.0;
  // Three short runs of the kind, then one stage running on each worker.
  for (int i = 0; i < 3; ++i) {
    const Decision d = f.run.decide(now);
    ASSERT_FALSE(d.starts.empty());
    now += 0.002;
    f.complete(d.starts.front().job, now);
  }
  Decision d = f.run.decide(now);
  std::optional<StartOrder> queued;
  for (const auto& s : d.starts) {
    if (s.behind) queued = s;
  }
  ASSERT_TRUE(queued) << "a stage is queued behind a running one";
  const int worker = queued->allocation.workers.front();
  const StageId ahead = *queued->behind;
  EXPECT_EQ(f.run.active(ahead)->workers.front(), worker);
  EXPECT_EQ(f.starts.at("started " + f.name(queued->job)), -1) << "not started until the stage ahead ends";

  now += 0.001;
  const auto lost = f.run.rank_lost(worker, "rank died", now);
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->stage, ahead);
  // The stage that was running is lost and resumes; the queued one never began: it waits
  // again, with no loss or restart counted against it.
  EXPECT_NE(f.starts.at(fmt::format("lost {} 1", f.name(ahead))), -1);
  EXPECT_EQ(f.starts.at(fmt::format("lost {} 1", f.name(queued->job))), -1);
  EXPECT_EQ(f.run.progress().state(queued->job), StageState::ready);
  EXPECT_EQ(f.run.policy().queued_count(), 0u);

  // The other worker ends what it runs, then runs everything that is left.
  std::vector<StageId> running;
  for (const auto& [id, r] : f.run.running()) running.push_back(id);
  for (StageId id : running) f.complete(id, now + 0.002);
  double later = now + 0.002;
  run_all(f, 0.002, later);
  EXPECT_TRUE(f.run.progress().all_completed());
  EXPECT_EQ(f.run.summary().find(f.name(queued->job)), std::string::npos);
}

// The policy alone: two workers, each running a stage known to take a millisecond.
struct TwoBusyWorkers {
  SchedulingPolicy policy{perennial::testing::one_node_of_workers(2), [] {
                            PolicyConfig c;
                            c.queue_behind_short_runs = true;
                            return c;
                          }()};
  static JobSpec one_rank(JobId id, int priority = 0) {
    JobSpec j;
    j.id = id;
    j.name = fmt::format("s{}", id);
    j.project = "p";
    j.priority = priority;
    j.typical_seconds = 0.001;
    return j;
  }
  TwoBusyWorkers() {
    policy.submit(one_rank(1));
    policy.submit(one_rank(2));
    EXPECT_EQ(policy.decide(0.0).starts.size(), 2u);
  }
};

TEST(QueueOnWorkers, ANewStageQueuesBehindTheStageStartedFirst) {
  TwoBusyWorkers t;
  t.policy.submit(TwoBusyWorkers::one_rank(3));
  const Decision d = t.policy.decide(0.0005);
  ASSERT_EQ(d.starts.size(), 1u);
  ASSERT_TRUE(d.starts.front().behind);
  EXPECT_EQ(*d.starts.front().behind, 1u);
  EXPECT_EQ(d.starts.front().allocation.workers, t.policy.allocation(1)->workers);
  EXPECT_FALSE(t.policy.is_running(3)) << "queued, not running: it holds nothing yet";
  // Stage 1 ends: stage 3 begins on its worker, now.
  EXPECT_EQ(t.policy.finished(1, 0.001), std::optional<JobId>(3));
  EXPECT_TRUE(t.policy.is_running(3));
  EXPECT_EQ(t.policy.machine().free_workers(), 0u);
}

TEST(QueueOnWorkers, NothingQueuesWhileAMoreUrgentStageWaitsForRanks) {
  TwoBusyWorkers t;
  JobSpec big = TwoBusyWorkers::one_rank(3, 10);
  big.request.ranks = 2;
  t.policy.submit(big);
  t.policy.submit(TwoBusyWorkers::one_rank(4));
  // The 2-rank stage waits for both workers: a stage queued behind either would delay it.
  const Decision d = t.policy.decide(0.0005);
  EXPECT_TRUE(d.starts.empty());
  EXPECT_EQ(t.policy.queued_count(), 0u);
  EXPECT_FALSE(t.policy.finished(1, 0.001));
  EXPECT_FALSE(t.policy.finished(2, 0.001));
  const Decision next = t.policy.decide(0.001);
  ASSERT_FALSE(next.starts.empty());
  EXPECT_EQ(next.starts.front().job, 3u);
}

TEST(QueueOnWorkers, AStageQueuedOnADeadWorkerGoesBackToTheQueue) {
  TwoBusyWorkers t;
  t.policy.submit(TwoBusyWorkers::one_rank(3));
  ASSERT_EQ(t.policy.decide(0.0005).starts.size(), 1u);
  t.policy.unqueue(3);
  EXPECT_TRUE(t.policy.is_waiting(3));
  EXPECT_FALSE(t.policy.finished(1, 0.001)) << "nothing is queued behind stage 1 any more";
}

// `perennial status` while a stage waits on a busy worker: it is not running yet, so it is
// listed apart, with the stage it waits for, and not counted among the running ones; the
// status file written for `perennial status` keeps that across its round trip.
TEST(QueueOnWorkers, StatusShowsAQueuedStageAsQueuedBehindTheStageAhead) {
  Fixture f(campaign(8), 1);
  double now = 0.0;
  std::optional<StartOrder> queued;
  for (int guard = 0; guard < 20 && !queued; ++guard) {
    const Decision d = f.run.decide(now);
    for (const auto& s : d.starts) {
      if (s.behind) queued = s;
    }
    if (queued) break;
    now += 0.01;
    ASSERT_EQ(f.run.running().size(), 1u);
    f.complete(f.run.running().begin()->first, now);
  }
  ASSERT_TRUE(queued) << "no stage was queued";
  const auto status = RunStatus::from_json(RunStatus::of(f.run, now + 0.005, 1.0e9).to_json());
  const std::string ahead = f.name(*queued->behind), waiting = f.name(queued->job);
  ASSERT_EQ(status.running.size(), 2u);
  for (const auto& r : status.running) {
    if (r.stage == waiting) {
      EXPECT_EQ(r.queued_behind, ahead);
      EXPECT_EQ(r.running_seconds, 0.0);
    } else {
      EXPECT_EQ(r.stage, ahead);
      EXPECT_FALSE(r.queued_behind);
    }
  }
  const std::string text = status.to_text(1.0e9);
  EXPECT_NE(text.find("1 running (1 more queued on their workers)"), std::string::npos) << text;
  EXPECT_NE(text.find(fmt::format("  queued   {:<28} ranks [1]              begins when {} ends there", waiting, ahead)),
            std::string::npos)
      << text;
}
