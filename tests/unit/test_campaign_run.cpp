// CampaignRun, the one owner of a stage's life, driven through every transition without MPI:
// what the real run's MPI loop and `perennial simulate` both rely on.

#include "test_support.hpp"

#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/resources.hpp>

#include <gtest/gtest.h>

#include <algorithm>

using namespace perennial;
using perennial::testing::check_campaign;

namespace {

// Records every transition, one line each, in order.
struct Transcript final : CampaignObserver {
  std::vector<std::string> lines;
  const StageGraph* graph = nullptr;
  std::string n(StageId id) const { return graph->stage(id).name; }
  void stage_reused(StageId id) override { lines.push_back("reused " + n(id)); }
  void output_rejected(StageId id, const std::string&) override { lines.push_back("rejected " + n(id)); }
  void stage_started(StageId id, const ActiveRun& r, bool) override {
    lines.push_back("started " + n(id) + " attempt " + std::to_string(r.attempt));
  }
  void stage_told_to_stop(StageId id, const StopOrder&) override { lines.push_back("told to stop " + n(id)); }
  void stop_declined(StageId id, std::uint64_t, const std::string&) override { lines.push_back("declined " + n(id)); }
  void epoch_committed(StageId id, std::uint32_t, const EpochRecord& e, double, double) override {
    lines.push_back("epoch " + n(id) + " " + std::to_string(e.step));
  }
  void stage_completed(StageId id, const ActiveRun&, double) override { lines.push_back("completed " + n(id)); }
  void stage_yielded(StageId id, const ActiveRun&, std::uint64_t step, double) override {
    lines.push_back("yielded " + n(id) + " " + std::to_string(step));
  }
  void stage_suspended(StageId id, const ActiveRun&, std::uint64_t step, double) override {
    lines.push_back("suspended " + n(id) + " " + std::to_string(step));
  }
  void stage_lost(StageId id, const ActiveRun&, int restart, double) override {
    lines.push_back("lost " + n(id) + " " + std::to_string(restart));
  }
  void stage_recovering(StageId id, const ActiveRun&, const std::string& from, int) override {
    lines.push_back("recovering " + n(id) + " from " + from);
  }
  void stage_failed(StageId id, const std::string&, const std::vector<StageId>& blocked) override {
    std::string line = "failed " + n(id);
    for (StageId b : blocked) line += " blocks " + n(b);
    lines.push_back(line);
  }
  void stage_shrunk(StageId id, int ranks) override { lines.push_back("shrunk " + n(id) + " " + std::to_string(ranks)); }
  void stage_paused(StageId id, std::optional<std::uint64_t> step, const std::string& reason, double) override {
    lines.push_back("paused " + n(id) + (step ? " " + std::to_string(*step) : std::string(" waiting")) + ": " + reason);
  }
  void stage_resumed(StageId id, const std::string& reason, double) override { lines.push_back("resumed " + n(id) + ": " + reason); }
  bool has(const std::string& line) const { return std::find(lines.begin(), lines.end(), line) != lines.end(); }
};

struct Fixture {
  explicit Fixture(const std::string& yaml, int worker_count = 4, CampaignRunOptions options = {},
                   std::vector<StageHistory> history = {})
      : checked(check_campaign(yaml)),
        run(*checked.graph, SchedulingPolicy(perennial::testing::one_node_of_workers(worker_count), policy_config_for(checked.graph->campaign())), options,
            std::move(history)) {
    EXPECT_TRUE(checked.diagnostics.empty()) << checked.text();
    transcript.graph = &*checked.graph;
    run.add_observer(transcript);
  }
  StageId id(const std::string& name) const { return *checked.graph->find(name); }
  const ActiveRun& active(const std::string& name) const { return *run.active(id(name)); }
  // Every member reports the same end.
  void all_report(const std::string& name, double now, CampaignRun::MemberReport report = {}) {
    const ActiveRun r = active(name);
    for (int w : r.workers) run.member_reported(id(name), r.attempt, w, report, now);
  }
  perennial::testing::Checked checked;
  CampaignRun run;
  Transcript transcript;
};

// A member's report: how it ended, and the step it stopped at if it stopped.
CampaignRun::MemberReport member(bool ok, std::string error, std::optional<std::uint64_t> stopped_at) {
  CampaignRun::MemberReport r;
  r.ok = ok;
  r.error = std::move(error);
  r.stopped_at = stopped_at;
  return r;
}

const char* kChain = R"(
campaign: chain
stages:
  - {name: a, kernel: any, ranks: 2, steps: 100}
  - {name: b, kernel: any, ranks: 2, steps: 100, after: [a]}
  - {name: c, kernel: any, ranks: 1, steps: 100, after: [b]}
)";

}  // namespace

TEST(CampaignRun, AStageStartsWhenItsInputsAreCompleteAndEachStartIsANewAttempt) {
  Fixture f(kChain);
  f.run.begin(0);
  const auto first = f.run.decide(0);
  ASSERT_EQ(first.starts.size(), 1u);
  EXPECT_EQ(f.run.progress().state(f.id("a")), StageState::running);
  EXPECT_EQ(f.run.progress().state(f.id("b")), StageState::waiting);
  EXPECT_EQ(f.active("a").workers.size(), 2u);
  f.all_report("a", 10);
  EXPECT_EQ(f.run.progress().state(f.id("a")), StageState::completed);
  EXPECT_EQ(f.run.progress().state(f.id("b")), StageState::ready);
  EXPECT_TRUE(f.run.changed());
  f.run.decide(10);
  f.all_report("b", 20);
  f.run.decide(20);
  f.all_report("c", 30);
  EXPECT_TRUE(f.run.finished());
  EXPECT_TRUE(f.run.progress().all_completed());
  EXPECT_EQ(f.transcript.lines, (std::vector<std::string>{"started a attempt 1", "completed a", "started b attempt 1",
                                                         "completed b", "started c attempt 1", "completed c"}));
}

// The driver sends the assignments before the starts are recorded: the observers hear of
// them at announce_starts(), or before whatever they are told next, never out of order.
TEST(CampaignRun, StartsKeptBackUntilTheAssignmentsAreSentAreToldInOrder) {
  Fixture f(kChain);
  f.run.begin(0);
  const auto first = f.run.decide(0, CampaignRun::StartNotices::after_sends);
  ASSERT_EQ(first.starts.size(), 1u);
  EXPECT_EQ(f.run.progress().state(f.id("a")), StageState::running);  // running for the driver already
  EXPECT_TRUE(f.transcript.lines.empty());
  f.run.announce_starts();
  f.run.announce_starts();  // once only
  EXPECT_EQ(f.transcript.lines, (std::vector<std::string>{"started a attempt 1"}));
  f.all_report("a", 10);
  f.run.decide(10, CampaignRun::StartNotices::after_sends);
  // b ends before the driver announced its start: the start is told first.
  f.all_report("b", 20);
  EXPECT_EQ(f.transcript.lines, (std::vector<std::string>{"started a attempt 1", "completed a", "started b attempt 1",
                                                         "completed b"}));
}

TEST(CampaignRun, LateRepeatedAndStrangersReportsChangeNothing) {
  Fixture f(kChain);
  f.run.begin(0);
  f.run.decide(0);
  const ActiveRun r = f.active("a");
  EXPECT_FALSE(f.run.member_reported(f.id("a"), r.attempt + 1, r.workers[0], {}, 1)) << "a later attempt's report";
  EXPECT_FALSE(f.run.member_reported(f.id("a"), r.attempt, 99, {}, 1)) << "not a member";
  EXPECT_TRUE(f.run.member_reported(f.id("a"), r.attempt, r.workers[0], {}, 1));
  EXPECT_FALSE(f.run.member_reported(f.id("a"), r.attempt, r.workers[0], {}, 1)) << "the same member twice";
  EXPECT_EQ(f.run.progress().state(f.id("a")), StageState::running) << "one member is still out";
  EXPECT_FALSE(f.run.restored(f.id("b"), 1, 5)) << "b is not running";
  EXPECT_FALSE(f.run.stop_declined(f.id("a"), r.attempt + 1, 5, "late", 2));
  f.run.member_reported(f.id("a"), r.attempt, r.workers[1], {}, 2);
  EXPECT_EQ(f.run.progress().state(f.id("a")), StageState::completed);
  EXPECT_FALSE(f.run.member_reported(f.id("a"), r.attempt, r.workers[1], {}, 3)) << "after its end";
}

TEST(CampaignRun, AFailedMemberFailsTheStageAndBlocksEverythingDownstream) {
  Fixture f(kChain);
  f.run.begin(0);
  f.run.decide(0);
  const ActiveRun r = f.active("a");
  f.run.member_reported(f.id("a"), r.attempt, r.workers[0], member(false, std::string("diverged"), std::nullopt), 1);
  EXPECT_EQ(f.run.next_grace_deadline(10), 11.0);
  f.run.member_reported(f.id("a"), r.attempt, r.workers[1], {}, 2);
  EXPECT_EQ(f.run.progress().state(f.id("a")), StageState::failed);
  EXPECT_NE(f.run.progress().reason(f.id("a")).find("diverged"), std::string::npos);
  EXPECT_TRUE(f.transcript.has("failed a blocks b blocks c"));
  EXPECT_TRUE(f.run.finished());
  EXPECT_NE(f.run.summary().find("never started"), std::string::npos) << f.run.summary();
}

TEST(CampaignRun, MembersSilentPastTheFailureGraceAreGivenUpAndRetired) {
  Fixture f(kChain);
  f.run.begin(0);
  f.run.decide(0);
  const ActiveRun r = f.active("a");
  f.run.member_reported(f.id("a"), r.attempt, r.workers[0], member(false, std::string("boom"), std::nullopt), 1);
  EXPECT_TRUE(f.run.expire_failure_grace(5, 10).empty()) << "before the grace ends";
  const auto silent = f.run.expire_failure_grace(11, 10);
  EXPECT_EQ(silent, std::vector<int>{r.workers[1]});
  EXPECT_EQ(f.run.progress().state(f.id("a")), StageState::failed);
  EXPECT_NE(f.run.progress().reason(f.id("a")).find("did not report within 10 s"), std::string::npos);
  EXPECT_EQ(f.run.policy().machine().live_workers(), 3u) << "the silent member is retired";
}

TEST(CampaignRun, ALostRankEndsItsGroupAndTheStageResumesFromItsLastEpochUntilMaxRestarts) {
  CampaignRunOptions options;
  options.max_restarts = 1;
  Fixture f(kChain, 6, options);
  f.run.begin(0);
  f.run.decide(0);
  ActiveRun r = f.active("a");
  EXPECT_TRUE(f.run.epoch_committed(f.id("a"), r.attempt, {1, 40, "checkpoints/a/epoch-000001.h5", {}, 0}, 0.5, 4, 1));
  const auto lost = f.run.rank_lost(r.workers[0], "rank died", 5);
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->stage, f.id("a"));
  EXPECT_EQ(lost->mates, std::vector<int>{r.workers[1]});
  EXPECT_EQ(f.run.progress().state(f.id("a")), StageState::ready);
  EXPECT_TRUE(f.transcript.has("recovering a from epoch 1 (step 40)"));
  EXPECT_EQ(f.run.policy().machine().live_workers(), 4u) << "the dead rank and its mate are out";
  f.run.decide(6);
  r = f.active("a");
  EXPECT_EQ(r.attempt, 2u);
  EXPECT_FALSE(f.run.rank_lost(99, "never a member", 7)) << "a rank in no group loses no stage";
  f.run.rank_lost(r.workers[1], "rank died", 8);
  EXPECT_EQ(f.run.progress().state(f.id("a")), StageState::failed) << "past --max-restarts 1";
  EXPECT_NE(f.run.progress().reason(f.id("a")).find("lost ranks 2 times"), std::string::npos);
}

// A model executable killed on its own (the OOM killer): its ranks are fine and stay in;
// the stage resumes from its last epoch (the model's restart files), up to max_restarts.
TEST(CampaignRun, ALostModelResumesItsStageOnLiveRanksUntilMaxRestarts) {
  CampaignRunOptions options;
  options.max_restarts = 1;
  Fixture f(kChain, 6, options);
  f.run.begin(0);
  f.run.decide(0);
  ActiveRun r = f.active("a");
  EXPECT_TRUE(f.run.epoch_committed(f.id("a"), r.attempt, {1, 40, "checkpoints/a/epoch-000001.h5", {}, 0}, 0.5, 4, 1));
  CampaignRun::MemberReport lost;
  lost.model_lost = "the model (ocean_box) was lost: exit status 137";
  lost.steps_done = 40;
  f.all_report("a", 5, lost);
  EXPECT_EQ(f.run.progress().state(f.id("a")), StageState::ready);
  EXPECT_TRUE(f.transcript.has("recovering a from epoch 1 (step 40)"));
  EXPECT_EQ(f.run.policy().machine().live_workers(), 6u) << "no rank is lost with the model";
  f.run.decide(6);
  EXPECT_EQ(f.active("a").attempt, 2u);
  f.all_report("a", 8, lost);
  EXPECT_EQ(f.run.progress().state(f.id("a")), StageState::failed) << "past --max-restarts 1";
  EXPECT_NE(f.run.progress().reason(f.id("a")).find("exit status 137; lost 2 times"), std::string::npos)
      << f.run.progress().reason(f.id("a"));
}

TEST(CampaignRun, APreemptedStageYieldsOnlyAtACommittedEpochAndResumesFromIt) {
  Fixture f(R"(
campaign: preempt
stages:
  - {name: low, kernel: any, ranks: 4, steps: 1000, step_time: 1s}
  - {name: gate, kernel: any, ranks: 1, steps: 1, step_time: 1s}
  - {name: urgent, kernel: any, ranks: 2, steps: 100, step_time: 1s, priority: 10, after: [gate]}
)", 5);
  f.run.begin(0);
  f.run.decide(0);
  f.all_report("gate", 1);
  const auto d = f.run.decide(2);
  ASSERT_EQ(d.stops.size(), 1u);
  EXPECT_EQ(d.stops.front().job, f.id("low"));
  EXPECT_TRUE(f.active("low").told_to_stop.has_value());
  // The checkpoint at the stop fails (a full disk): the stage keeps running, and is not told
  // again until it commits an epoch.
  EXPECT_TRUE(f.run.stop_declined(f.id("low"), 1, 3, "its checkpoint was not written (no room)", 3));
  EXPECT_FALSE(f.active("low").told_to_stop.has_value());
  EXPECT_TRUE(f.run.decide(4).stops.empty());
  f.run.epoch_committed(f.id("low"), 1, {1, 5, "checkpoints/low/epoch-000001.h5", {}, 0}, 0.2, 5, 1);
  ASSERT_EQ(f.run.decide(6).stops.size(), 1u);
  f.run.epoch_committed(f.id("low"), 1, {2, 7, "checkpoints/low/epoch-000002.h5", {}, 0}, 0.2, 7, 1);
  f.all_report("low", 7, member(true, {}, 7));
  EXPECT_EQ(f.run.progress().state(f.id("low")), StageState::ready);
  EXPECT_EQ(f.run.resume_point(f.id("low")), "epoch 2 (step 7)");
  f.run.decide(8);
  EXPECT_EQ(f.run.progress().state(f.id("urgent")), StageState::running);
  EXPECT_TRUE(f.transcript.has("yielded low 7"));
  EXPECT_TRUE(f.transcript.has("declined low"));
  EXPECT_GT(f.run.measured(f.id("low")).step_seconds, 0.0);
  EXPECT_DOUBLE_EQ(f.run.measured(f.id("low")).checkpoint_cost, 0.2);
}

TEST(CampaignRun, StoppingEverythingSuspendsTheRunningStagesAndStartsNothingMore) {
  Fixture f(kChain);
  f.run.begin(0);
  f.run.decide(0);
  const auto running = f.run.stop_everything();
  EXPECT_EQ(running, std::vector<StageId>{f.id("a")});
  EXPECT_FALSE(f.run.finished());
  f.run.epoch_committed(f.id("a"), 1, {1, 30, "x", {}, 0}, 0.1, 3, 1);
  f.all_report("a", 3, member(true, {}, 30));
  EXPECT_EQ(f.run.progress().state(f.id("a")), StageState::suspended);
  EXPECT_TRUE(f.transcript.has("suspended a 30"));
  EXPECT_TRUE(f.run.finished());
}

TEST(CampaignRun, AResumeKeepsCompletedStagesWhoseOutputsVerifyAndRerunsTheRest) {
  std::vector<StageHistory> history(3);
  history[0].completed = true;
  history[1].completed = true;
  Fixture f(R"(
campaign: chain
stages:
  - {name: a, kernel: any, ranks: 1, steps: 10, outputs: {x: {dtype: float64, dims: [n], units: "1"}}}
  - {name: b, kernel: any, ranks: 1, steps: 10, after: [a], outputs: {x: {dtype: float64, dims: [n], units: "1"}}}
  - {name: c, kernel: any, ranks: 1, steps: 10, after: [b]}
)", 2, {}, history);
  const auto kept = f.run.reuse_earlier_work([&](StageId id) { return id == f.id("a") ? std::string("truncated") : std::string(); });
  EXPECT_EQ(kept, 0u) << "a's output is damaged, and b reads it";
  EXPECT_TRUE(f.transcript.has("rejected a"));
  EXPECT_FALSE(f.transcript.has("reused b"));
  f.run.begin(0);
  EXPECT_EQ(f.run.decide(0).starts.size(), 1u);
  EXPECT_EQ(f.run.progress().state(f.id("a")), StageState::running);

  Fixture g(R"(
campaign: chain
stages:
  - {name: a, kernel: any, ranks: 1, steps: 10}
  - {name: b, kernel: any, ranks: 1, steps: 10, after: [a]}
  - {name: c, kernel: any, ranks: 1, steps: 10, after: [b]}
)", 2, {}, history);
  EXPECT_EQ(g.run.reuse_earlier_work(), 2u);
  g.run.begin(0);
  g.run.decide(0);
  EXPECT_EQ(g.run.progress().state(g.id("c")), StageState::running);
}

TEST(CampaignRun, WithNoReplacementsARecoveringStageShrinksToTheRanksLeft) {
  Fixture f(R"(
campaign: shrink
stages:
  - {name: wide, kernel: any, ranks: 3, steps: 100}
)", 3);
  f.run.begin(0);
  f.run.decide(0);
  f.run.rank_lost(f.active("wide").workers[0], "rank died", 1);
  // Its mates were ended too: no rank is left, so it can only wait.
  f.run.adapt_to_lost_ranks(2);
  EXPECT_FALSE(f.transcript.has("shrunk wide 2"));
  f.run.machine().add_worker(0, 1, 10);  // one worker comes back (a partition of its own)
  f.run.machine().add_worker(0, 1, 11);
  f.run.adapt_to_lost_ranks(3);
  EXPECT_TRUE(f.transcript.has("shrunk wide 2"));
  EXPECT_EQ(f.run.ranks_of(f.id("wide")), 2);
  f.run.decide(4);
  EXPECT_EQ(f.active("wide").workers.size(), 2u);
}

// Real runs used to schedule on guesses (a 0.1 s checkpoint and the declared step time):
// a committed epoch now gives the policy the measured checkpoint cost and step rate, so a
// stop before the allocation's end comes early enough for a slow checkpoint.
TEST(CampaignRun, MeasuredCheckpointCostAndStepRateMoveTheStopBeforeTheAllocationsEnd) {
  Fixture f(R"(
campaign: measured
scheduling: {end_margin: 60s}
stages:
  - {name: long, kernel: any, ranks: 1, steps: 100000, step_time: 1s, checkpoint: {interval: 100 steps}}
)", 1);
  f.run.policy().set_end_time(10000);
  f.run.begin(0);
  ASSERT_EQ(f.run.decide(0).starts.size(), 1u);
  // Before any measurement: one declared step (1 s), two guessed checkpoints (0.1 s each), the margin.
  EXPECT_NEAR(f.run.policy().next_deadline(), 10000 - 1 - 0.2 - 60, 1e-6);
  // The first epoch, at step 100 after 400 s: 4 s a step, and its write took 150 s.
  f.run.epoch_committed(f.id("long"), 1, {1, 100, "x", {}, 0}, 150, 400, 1);
  EXPECT_DOUBLE_EQ(f.run.measured(f.id("long")).step_seconds, 4.0);
  EXPECT_NEAR(f.run.policy().next_deadline(), 10000 - 4 - 300 - 60, 1e-6);
}

// Pausing (issue 14: promise, or the scientist's hand): a running stage checkpoints, stops and
// waits paused, neither running nor queued, and the campaign can finish without it; resumed,
// it runs again from its checkpoint. A waiting stage leaves the queue at once. Protected
// stages and stages without checkpoints are not paused, and say why.
TEST(CampaignRun, APausedStageCheckpointsWaitsOutOfTheQueueAndResumesFromItsEpoch) {
  Fixture f(R"(
campaign: pause
stages:
  - {name: ssp-a, kernel: any, ranks: 2, steps: 100}
  - {name: ssp-b, kernel: any, ranks: 2, steps: 100}
  - {name: ssp-c, kernel: any, ranks: 2, steps: 100}
  - {name: keep, kernel: any, ranks: 1, steps: 10, protected: true}
  - {name: plain, kernel: no-checkpoints, ranks: 1, steps: 10}
)", 4);
  f.run.begin(0);
  f.run.decide(0);  // ssp-a and ssp-b run; the rest wait
  ASSERT_EQ(f.run.progress().state(f.id("ssp-a")), StageState::running);
  ASSERT_EQ(f.run.progress().state(f.id("ssp-c")), StageState::ready);

  // The waiting one leaves the queue now.
  EXPECT_TRUE(f.run.pause(f.id("ssp-c"), "skill 0.2 below the bar", 1).refused.empty());
  EXPECT_EQ(f.run.progress().state(f.id("ssp-c")), StageState::paused);
  EXPECT_TRUE(f.transcript.has("paused ssp-c waiting: skill 0.2 below the bar"));

  // The running one is told to stop; paused once it has, at its committed epoch.
  const auto p = f.run.pause(f.id("ssp-a"), "skill 0.3 below the bar", 2);
  ASSERT_TRUE(p.stop);
  EXPECT_EQ(p.stop->why, StopOrder::Why::paused);
  f.run.epoch_committed(f.id("ssp-a"), 1, {1, 40, "checkpoints/ssp-a/epoch-000001.h5", {}, 0}, 0.1, 3, 1);
  f.all_report("ssp-a", 3, member(true, {}, 40));
  EXPECT_EQ(f.run.progress().state(f.id("ssp-a")), StageState::paused);
  EXPECT_TRUE(f.transcript.has("paused ssp-a 40: skill 0.3 below the bar"));
  EXPECT_FALSE(f.transcript.has("yielded ssp-a 40")) << "paused, not requeued";

  // Refused: protected, no checkpoints (while running), neither waiting nor running.
  EXPECT_NE(f.run.pause(f.id("keep"), "x", 3).refused.find("keep is protected"), std::string::npos);
  f.run.decide(3);
  ASSERT_EQ(f.run.progress().state(f.id("plain")), StageState::running);
  EXPECT_NE(f.run.pause(f.id("plain"), "x", 3).refused.find("writes no checkpoints"), std::string::npos);
  EXPECT_NE(f.run.pause(f.id("ssp-a"), "x", 3).refused.find("is paused"), std::string::npos);

  // Everything else ends: the campaign is finished with the paused stages left paused.
  for (const char* name : {"ssp-b", "keep", "plain"}) {
    if (f.run.progress().state(f.id(name)) != StageState::running) f.run.decide(4);
    f.all_report(name, 5);
  }
  f.run.decide(6);
  EXPECT_TRUE(f.run.finished());
  EXPECT_EQ(f.run.progress().count(StageState::paused), 2u);

  // Resumed: queued again, and it restarts from its epoch.
  EXPECT_TRUE(f.run.resume(f.id("ssp-a"), "the bar fell to 0.3", 7));
  EXPECT_FALSE(f.run.resume(f.id("ssp-b"), "x", 7)) << "only a paused stage resumes";
  EXPECT_FALSE(f.run.finished());
  f.run.decide(7);
  EXPECT_EQ(f.run.progress().state(f.id("ssp-a")), StageState::running);
  EXPECT_EQ(f.run.resume_point(f.id("ssp-a")), "epoch 1 (step 40)");
  EXPECT_TRUE(f.transcript.has("resumed ssp-a: the bar fell to 0.3"));
  EXPECT_TRUE(f.transcript.has("started ssp-a attempt 2"));
}
