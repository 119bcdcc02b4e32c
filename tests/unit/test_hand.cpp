// The scientist's hand (`perennial priority`) on a CampaignRun, without MPI: priorities set by
// hand, holds that only the hand lifts, and the journal's hand records applied at a run's start.

#include "test_support.hpp"

#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/hand.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/errors.hpp>

#include <gtest/gtest.h>

using namespace perennial;
using perennial::testing::check_campaign;

namespace {

struct Fixture {
  explicit Fixture(const std::string& yaml, int worker_count)
      : checked(check_campaign(yaml)),
        run(*checked.graph, SchedulingPolicy(perennial::testing::one_node_of_workers(worker_count), policy_config_for(checked.graph->campaign())), {}) {
    EXPECT_TRUE(checked.diagnostics.empty()) << checked.text();
  }
  StageId id(const std::string& name) const { return *checked.graph->find(name); }
  StageState state(const std::string& name) const { return run.progress().state(id(name)); }
  void all_report(const std::string& name, double now, std::optional<std::uint64_t> stopped_at = {}) {
    const ActiveRun r = *run.active(id(name));
    CampaignRun::MemberReport report;
    report.stopped_at = stopped_at;
    for (int w : r.workers) run.member_reported(id(name), r.attempt, w, report, now);
  }
  HandOutcome hand(const std::string& stage, HandAction action, std::optional<int> value = {}, double now = 1) {
    return apply_hand(run, HandRequest{stage, action, value, 0.0, "test"}, now);
  }
  perennial::testing::Checked checked;
  CampaignRun run;
};

const char* kTwo = R"(
campaign: two
stages:
  - {name: first, kernel: any, ranks: 1, steps: 100}
  - {name: second, kernel: any, ranks: 1, steps: 100}
)";

}  // namespace

// A new priority moves a waiting stage ahead in the ready order and in the policy's queue.
TEST(Hand, APriorityByHandReordersTheQueueAndTheNewFirstStarts) {
  Fixture f(kTwo, 1);
  f.run.begin(0);
  EXPECT_EQ(f.run.progress().ready().front(), f.id("first"));
  const auto out = f.hand("second", HandAction::priority, 10);
  ASSERT_TRUE(out.accepted) << out.message;
  EXPECT_EQ(out.message, "second: priority 10 (was 0)");
  EXPECT_EQ(f.run.priority_of(f.id("second")), 10);
  EXPECT_EQ(f.run.progress().ready().front(), f.id("second"));
  const auto d = f.run.decide(1);
  ASSERT_EQ(d.starts.size(), 1u);
  EXPECT_EQ(d.starts[0].job, f.id("second"));
}

// A running stage's new priority is what preemption compares: lowered below a waiting
// stage's, it yields to it.
TEST(Hand, ARunningStageLoweredByHandYieldsToAHigherWaitingOne) {
  Fixture f(R"(
campaign: yield
stages:
  - {name: high, kernel: any, ranks: 1, steps: 100, priority: 5}
  - {name: low, kernel: any, ranks: 1, steps: 100, priority: 3}
)", 1);
  f.run.begin(0);
  ASSERT_EQ(f.run.decide(0).starts.at(0).job, f.id("high"));
  EXPECT_TRUE(f.run.decide(1).stops.empty()) << "nothing of higher priority waits";
  ASSERT_TRUE(f.hand("high", HandAction::priority, 0).accepted);
  const auto d = f.run.decide(2);
  ASSERT_EQ(d.stops.size(), 1u);
  EXPECT_EQ(d.stops[0].job, f.id("high"));
}

// A hold by hand: only the hand lifts it (a promise's resume does not); repeated, it is
// accepted and changes nothing; a running stage checkpoints first.
TEST(Hand, AHoldByHandIsLiftedOnlyByHand) {
  Fixture f(kTwo, 1);
  f.run.begin(0);
  f.run.decide(0);
  ASSERT_EQ(f.state("first"), StageState::running);
  const auto waiting = f.hand("second", HandAction::pause);
  ASSERT_TRUE(waiting.accepted) << waiting.message;
  EXPECT_FALSE(waiting.stop);
  EXPECT_EQ(f.state("second"), StageState::paused);
  EXPECT_TRUE(f.run.held_by_hand(f.id("second")));
  EXPECT_FALSE(f.run.resume(f.id("second"), "promise", 2)) << "the promise policy must not lift a hold";
  const auto again = f.hand("second", HandAction::pause);
  EXPECT_TRUE(again.accepted);
  EXPECT_EQ(again.message, "second: already paused by hand");

  const auto running = f.hand("first", HandAction::stop);
  ASSERT_TRUE(running.accepted) << running.message;
  ASSERT_TRUE(running.stop);
  EXPECT_EQ(running.stop->why, StopOrder::Why::paused);
  EXPECT_EQ(f.run.hand_hold(f.id("first")), CampaignRun::Hold::stopped);
  f.all_report("first", 3, 40);
  EXPECT_EQ(f.state("first"), StageState::paused);
  EXPECT_NE(f.run.progress().reason(f.id("first")).find("stopped by hand"), std::string::npos);
  EXPECT_TRUE(f.run.finished()) << "held stages do not keep the campaign from finishing";

  ASSERT_TRUE(f.hand("second", HandAction::resume).accepted);
  EXPECT_FALSE(f.run.held_by_hand(f.id("second")));
  EXPECT_EQ(f.state("second"), StageState::ready);
  EXPECT_EQ(f.run.decide(4).starts.at(0).job, f.id("second"));
  const auto nothing = f.hand("second", HandAction::resume);
  EXPECT_FALSE(nothing.accepted);
  EXPECT_NE(nothing.message.find("second is running: neither paused nor held"), std::string::npos) << nothing.message;
}

// Released while it checkpoints for its pause: the stop order cannot be taken back, so it is
// queued again once it has stopped.
TEST(Hand, AStageReleasedWhileCheckpointingForItsPauseIsQueuedAgainOnceStopped) {
  Fixture f(kTwo, 2);
  f.run.begin(0);
  f.run.decide(0);
  ASSERT_TRUE(f.hand("first", HandAction::pause).stop);
  const auto released = f.hand("first", HandAction::resume);
  ASSERT_TRUE(released.accepted) << released.message;
  f.all_report("first", 3, 40);
  EXPECT_EQ(f.state("first"), StageState::ready);
  EXPECT_FALSE(f.run.held_by_hand(f.id("first")));
}

// A stage still waiting on its upstream stage is held when that one completes.
TEST(Hand, AStageHeldBeforeItIsReadyDoesNotStartWhenItsUpstreamCompletes) {
  Fixture f(R"(
campaign: chain
stages:
  - {name: a, kernel: any, ranks: 1, steps: 10}
  - {name: b, kernel: any, ranks: 1, steps: 10, after: [a]}
)", 1);
  f.run.begin(0);
  f.run.decide(0);
  ASSERT_TRUE(f.hand("b", HandAction::pause).accepted);
  EXPECT_EQ(f.state("b"), StageState::waiting);
  f.all_report("a", 2);
  EXPECT_EQ(f.state("b"), StageState::paused);
  EXPECT_TRUE(f.run.decide(3).starts.empty());
  EXPECT_TRUE(f.run.finished());
  ASSERT_TRUE(f.hand("b", HandAction::resume).accepted);
  EXPECT_EQ(f.run.decide(4).starts.at(0).job, f.id("b"));
}

// What is refused, and says why: protected stages, stages that are over, a value with the
// wrong action, an unknown stage (with the closest names).
TEST(Hand, RefusalsNameTheStageAndWhy) {
  Fixture f(R"(
campaign: refusals
stages:
  - {name: ssp246, kernel: any, ranks: 1, steps: 10}
  - {name: ssp245, kernel: any, ranks: 1, steps: 10}
  - {name: keep, kernel: any, ranks: 1, steps: 10, protected: true}
)", 3);
  f.run.begin(0);
  f.run.decide(0);
  EXPECT_EQ(f.hand("keep", HandAction::pause).message, "keep is protected: never paused");
  EXPECT_EQ(f.hand("keep", HandAction::stop).message, "keep is protected: never paused");
  EXPECT_TRUE(f.hand("keep", HandAction::priority, 3).accepted) << "a protected stage's priority may change";
  f.all_report("ssp246", 1);
  EXPECT_EQ(f.hand("ssp246", HandAction::pause).message, "ssp246 is completed: nothing to pause");
  EXPECT_EQ(f.hand("ssp246", HandAction::priority, 1).message, "ssp246 is completed: its priority no longer matters");
  EXPECT_EQ(f.hand("ssp245", HandAction::pause, 4).message, "a value (4) goes with a priority, not with --pause");
  EXPECT_EQ(f.hand("ssp245", HandAction::priority).message, "a priority needs a VALUE (an integer)");
  EXPECT_NE(f.hand("ssp245", HandAction::priority, 2'000'000).message.find("outside -1000000 .. 1000000"), std::string::npos);
  const auto typo = f.hand("ssp254", HandAction::pause);
  EXPECT_FALSE(typo.accepted);
  EXPECT_EQ(typo.message, "stage 'ssp254' is not in campaign 'refusals'; did you mean 'ssp246', 'ssp245'?");
}

// At a run's start the journal's hand records are applied in order: a pause lifted by a
// later resume is gone, a priority stays, a stage renamed since is named in a note.
TEST(Hand, TheJournalsHandRecordsAreAppliedInOrderAtTheStart) {
  Fixture f(R"(
campaign: replay
stages:
  - {name: a, kernel: any, ranks: 1, steps: 10}
  - {name: b, kernel: any, ranks: 1, steps: 10}
  - {name: c, kernel: any, ranks: 1, steps: 10}
)", 3);
  JournalContents journal;
  journal.records.push_back({{"type", "run_started"}, {"campaign", "replay"}});
  journal.records.push_back(HandRequest{"a", HandAction::pause, {}, 1.0, "cli"}.to_json());
  journal.records.push_back(HandRequest{"b", HandAction::stop, {}, 2.0, "run"}.to_json());
  journal.records.push_back(HandRequest{"c", HandAction::priority, 7, 3.0, "cli"}.to_json());
  journal.records.push_back(HandRequest{"b", HandAction::resume, {}, 4.0, "cli"}.to_json());
  journal.records.push_back(HandRequest{"gone", HandAction::pause, {}, 5.0, "cli"}.to_json());
  journal.records.push_back({{"type", "hand"}, {"stage", "a"}, {"action", "pause"}, {"value", "x"}});
  f.run.reuse_earlier_work();
  const auto replayed = replay_hand_records(f.run, journal, 0);
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_NE(replayed[0].find("'gone pause' no longer applies: stage 'gone' is not in campaign 'replay'"), std::string::npos)
      << replayed[0];
  EXPECT_NE(replayed[1].find("unreadable (field 'value'"), std::string::npos) << replayed[1];
  f.run.begin(0);
  EXPECT_EQ(f.state("a"), StageState::paused);
  EXPECT_TRUE(f.run.held_by_hand(f.id("a")));
  EXPECT_EQ(f.state("b"), StageState::ready);
  EXPECT_EQ(f.run.priority_of(f.id("c")), 7);
  const auto d = f.run.decide(1);
  ASSERT_EQ(d.starts.size(), 2u);
  EXPECT_EQ(d.starts[0].job, f.id("c")) << "the priority set by hand orders the starts";
}

TEST(Hand, ARecordReadsBackAsItWasWrittenAndABadOneNamesItsField) {
  const HandRequest r{"ssp585", HandAction::priority, -12, 1700000000.5, "cli"};
  const auto j = r.to_json();
  EXPECT_EQ(j.at("type"), "hand");
  const auto back = HandRequest::from_json(j);
  EXPECT_EQ(back.stage, "ssp585");
  EXPECT_EQ(back.action, HandAction::priority);
  EXPECT_EQ(back.value, -12);
  EXPECT_EQ(back.unix, 1700000000.5);
  EXPECT_EQ(back.source, "cli");
  auto bad = j;
  bad["action"] = "promote";
  EXPECT_THROW(
      {
        try {
          HandRequest::from_json(bad);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("field 'action': 'promote'"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  bad = j;
  bad["value"] = 2.5;
  EXPECT_THROW(HandRequest::from_json(bad), Error);
  bad = j;
  bad.erase("stage");
  EXPECT_THROW(HandRequest::from_json(bad), Error);
}

// A stage the promise paused and the scientist then resumed: the next run's promise replay
// pauses it again (its group still holds it below the bar), and the journal's resume lifts that
// pause, as it did in the run that took the request.
TEST(Hand, AResumeByHandOutlivesThePromisePausingItAgainOnReplay) {
  Fixture f(kTwo, 2);
  JournalContents journal;
  journal.records.push_back({{"type", "run_started"}, {"campaign", "two"}});
  journal.records.push_back(HandRequest{"first", HandAction::resume, {}, 1.0, "run"}.to_json());
  f.run.reuse_earlier_work();
  ASSERT_TRUE(f.run.pause(f.id("first"), "below its rung's bar in an earlier run", 0).refused.empty());
  ASSERT_EQ(f.state("first"), StageState::paused);
  replay_hand_records(f.run, journal, 0);
  EXPECT_EQ(f.state("first"), StageState::ready);
  f.run.begin(0);
  EXPECT_EQ(f.run.decide(1).starts.size(), 2u);
}
