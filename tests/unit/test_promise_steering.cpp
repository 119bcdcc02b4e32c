// PromiseSteering: metric values move stages of a live CampaignRun (issue 14, points 4 and 8),
// without MPI. Each pathway: a rise (more ranks at the next checkpoint), a fall (paused, then
// promoted when the bar falls), protected stages, the cost guard, ranks someone waits for, a
// missing metric, another metric, a replay.

#include "test_support.hpp"

#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/promise_steering.hpp>
#include <perennial/coordinator/resources.hpp>

#include <gtest/gtest.h>

using namespace perennial;
using perennial::testing::check_campaign;

namespace {

struct Fixture {
  explicit Fixture(const std::string& yaml, int worker_count)
      : checked(check_campaign(yaml)),
        run(*checked.graph, SchedulingPolicy(perennial::testing::one_node_of_workers(worker_count), policy_config_for(checked.graph->campaign())), {}),
        steering(run) {
    EXPECT_TRUE(checked.diagnostics.empty()) << checked.text();
    run.add_observer(steering);
    run.begin(0);
    run.decide(0);
  }
  StageId id(const std::string& name) const { return *checked.graph->find(name); }
  StageState state(const std::string& name) const { return run.progress().state(id(name)); }
  // A running stage's step rate becomes known (1 s per step), as its progress reports make it.
  void stepping(const std::string& name, double now) {
    const ActiveRun& r = *run.active(id(name));
    run.progressed(id(name), r.attempt, 1, {}, now - 10);
    run.progressed(id(name), r.attempt, 11, {}, now);
  }
  std::vector<SteeringMove> report(const std::string& name, std::uint64_t step, double value, double now) {
    return steering.metric(id(name), step, 0.0, "skill", value, now);
  }
  // The stage stops at `step` (its epoch committed), as its members would report it.
  void stops_at(const std::string& name, std::uint64_t step, double now) {
    const ActiveRun r = *run.active(id(name));
    run.epoch_committed(id(name), r.attempt, {1, step, "checkpoints/x.h5", {}, 0}, 0.5, now, 1);
    CampaignRun::MemberReport m;
    m.stopped_at = step;
    for (int w : r.workers) run.member_reported(id(name), r.attempt, w, m, now);
  }
  perennial::testing::Checked checked;
  CampaignRun run;
  PromiseSteering steering;
};

const SteeringMove* find(const std::vector<SteeringMove>& moves, const std::string& kind) {
  for (const auto& m : moves) {
    if (m.kind == kind) return &m;
  }
  return nullptr;
}

}  // namespace

// Rise: the best member, with ranks no one waits for, is moved to more ranks at its next
// scheduled checkpoint (not a checkpoint of its own), and restarts there from that epoch.
// Fall: the other member, below the bar, is paused with its reason.
TEST(PromiseSteering, TheRisingScenarioGainsFreeRanksAtItsNextCheckpointAndTheFallingOneIsPaused) {
  Fixture f(R"(
campaign: rise
stages:
  - name: "ssp-{f}"
    for_each: {f: [a, b]}
    kernel: any
    ranks: {min: 1, max: 3}
    steps: 1000
    promise: {metric: skill, rungs: {first: 100 steps, reduction: 2}}
)", 3);
  ASSERT_EQ(f.state("ssp-a"), StageState::running);
  ASSERT_EQ(f.state("ssp-b"), StageState::running);
  ASSERT_EQ(f.run.ranks_of(f.id("ssp-a")), 1) << "a range starts on its min";
  f.stepping("ssp-a", 100);
  f.stepping("ssp-b", 100);

  // ssp-a's first value: one rank is free, but ssp-b has not reported yet: the first to report
  // is not the best by default.
  EXPECT_EQ(find(f.report("ssp-a", 99, 0.8, 100), "grow"), nullptr);

  // ssp-b below it at the rung: paused, with its reason; and ssp-a, the best, gains the free rank.
  const auto moves = f.report("ssp-b", 99, 0.3, 101);
  const SteeringMove* pause = find(moves, "pause");
  ASSERT_NE(pause, nullptr);
  EXPECT_TRUE(pause->made) << pause->not_made;
  EXPECT_EQ(pause->stage, f.id("ssp-b"));
  ASSERT_TRUE(pause->stop);
  EXPECT_EQ(pause->stop->why, StopOrder::Why::paused);
  EXPECT_NE(pause->why.reason.find("skill"), std::string::npos) << pause->why.reason;
  EXPECT_EQ(pause->why.rank, 2);
  EXPECT_EQ(pause->why.of, 2);
  const SteeringMove* grow = find(moves, "grow");
  ASSERT_NE(grow, nullptr);
  EXPECT_EQ(grow->stage, f.id("ssp-a"));
  EXPECT_TRUE(grow->made) << grow->not_made;
  EXPECT_EQ(grow->ranks, 2);
  ASSERT_TRUE(grow->stop);
  EXPECT_EQ(grow->stop->why, StopOrder::Why::resized) << "it waits for its scheduled checkpoint";
  EXPECT_NE(grow->why.reason.find("1 -> 2 ranks"), std::string::npos) << grow->why.reason;
  f.stops_at("ssp-b", 100, 102);
  EXPECT_EQ(f.state("ssp-b"), StageState::paused);

  // ssp-a reaches its checkpoint: it stops there and restarts on two ranks from that epoch.
  f.stops_at("ssp-a", 200, 200);
  EXPECT_EQ(f.state("ssp-a"), StageState::ready);
  f.run.decide(201);
  ASSERT_EQ(f.state("ssp-a"), StageState::running);
  EXPECT_EQ(f.run.active(f.id("ssp-a"))->workers.size(), 2u);
  EXPECT_EQ(f.run.resume_point(f.id("ssp-a")), "epoch 1 (step 200)");

  // Its next value: ssp-b's rank is free now too; at most its max, 3.
  f.stepping("ssp-a", 260);
  const auto later = f.report("ssp-a", 299, 0.85, 260);
  const SteeringMove* again = find(later, "grow");
  ASSERT_NE(again, nullptr);
  EXPECT_TRUE(again->made) << again->not_made;
  EXPECT_EQ(again->ranks, 3);
}

// Pause then promotion: a member paused at a rung resumes when a later arrival lowers the bar.
// A stage that reports no value of the metric is never judged; values of another metric change
// nothing.
TEST(PromiseSteering, APausedScenarioIsPromotedWhenTheBarFallsAndSilentOnesAreLeftAlone) {
  Fixture f(R"(
campaign: fall
stages:
  - name: "m-{f}"
    for_each: {f: [a, b, c, d]}
    kernel: any
    ranks: 1
    steps: 1000
    promise: {metric: skill, rungs: {first: 100 steps, reduction: 2}}
)", 3);
  for (const char* s : {"m-a", "m-b", "m-c", "m-d"}) {
    if (f.state(s) == StageState::running) f.stepping(s, 50);
  }
  ASSERT_EQ(f.state("m-a"), StageState::running);
  ASSERT_EQ(f.state("m-b"), StageState::running);
  // Another metric, and nothing from m-d: nothing moves.
  EXPECT_TRUE(f.steering.metric(f.id("m-a"), 99, 0, "other", 5.0, 60).empty());
  f.report("m-a", 99, 0.6, 60);
  const auto moves = f.report("m-b", 99, 0.4, 61);
  ASSERT_NE(find(moves, "pause"), nullptr);
  f.stops_at("m-b", 100, 62);
  ASSERT_EQ(f.state("m-b"), StageState::paused);
  f.run.decide(62);
  ASSERT_EQ(f.state("m-d"), StageState::running) << "m-d takes m-b's rank";
  // m-c arrives below m-b: the rung's bar falls to m-b's value, which is promoted.
  const auto promotion = f.report("m-c", 99, 0.1, 70);
  const SteeringMove* promote = find(promotion, "promote");
  ASSERT_NE(promote, nullptr);
  EXPECT_EQ(promote->stage, f.id("m-b"));
  EXPECT_TRUE(promote->made) << promote->not_made;
  EXPECT_EQ(f.state("m-b"), StageState::ready);
  EXPECT_EQ(f.state("m-d"), StageState::running) << "m-d never reported: never judged";
}

TEST(PromiseSteering, ProtectedStagesAreNeverMovedAndAStageAboutToFinishIsLeftToFinish) {
  Fixture f(R"(
campaign: guards
stages:
  - {name: guarded, kernel: any, ranks: 1, steps: 1000, protected: true,
     promise: {metric: skill, rungs: {first: 100 steps, reduction: 2}}}
  - {name: nearly, kernel: any, ranks: 1, steps: 1000,
     promise: {metric: skill, rungs: {first: 100 steps, reduction: 2}}}
  - name: "g-{f}"
    for_each: {f: [a, b]}
    kernel: any
    ranks: 1
    steps: 1000
    promise: {metric: skill, rungs: {first: 100 steps, reduction: 2}}
)", 4);
  // Each is its own group: `guarded` and `nearly` have none to compare with. The g- group:
  // g-b is below the bar but 5 steps from its end (1 s a step, and a checkpoint and restart
  // cost more): not paused.
  f.stepping("g-a", 100);
  f.stepping("g-b", 100);
  f.report("g-a", 99, 0.9, 100);
  const ActiveRun& b = *f.run.active(f.id("g-b"));
  f.run.progressed(f.id("g-b"), b.attempt, 995, {}, 101);
  const auto moves = f.report("g-b", 99, 0.1, 101);
  const SteeringMove* pause = find(moves, "pause");
  ASSERT_NE(pause, nullptr);
  EXPECT_FALSE(pause->made);
  EXPECT_NE(pause->not_made.find("finishes in about"), std::string::npos) << pause->not_made;
  EXPECT_EQ(f.state("g-b"), StageState::running);

  // A protected stage asked to pause (by any rule) is refused by the run, and says so.
  const auto refused = f.run.pause(f.id("guarded"), "below the bar", 102);
  EXPECT_NE(refused.refused.find("protected"), std::string::npos);
  EXPECT_NE(f.run.resize(f.id("guarded"), 2, "x", 102).refused.find("protected"), std::string::npos);
}

// No ranks are taken from a waiting stage: a scenario grows only into ranks no one waits for.
TEST(PromiseSteering, AScenarioGrowsOnlyIntoRanksNoOneWaitsFor) {
  Fixture f(R"(
campaign: waiting
stages:
  - {name: best, kernel: any, ranks: {min: 1, max: 4}, steps: 1000,
     promise: {metric: skill, rungs: {first: 100 steps, reduction: 2}}}
  - {name: wide, kernel: any, ranks: 4, steps: 100}
)", 4);
  ASSERT_EQ(f.state("best"), StageState::running);
  ASSERT_EQ(f.state("wide"), StageState::ready) << "wide waits for all four ranks";
  f.stepping("best", 100);
  EXPECT_EQ(find(f.report("best", 99, 0.9, 100), "grow"), nullptr);
}

// The same values in the same order give the same moves.
TEST(PromiseSteering, TheSameMetricStreamGivesTheSameMovesOnReplay) {
  const char* yaml = R"(
campaign: replay
stages:
  - name: "r-{f}"
    for_each: {f: [a, b, c, d, e, f]}
    kernel: any
    ranks: {min: 1, max: 2}
    steps: 1000
    promise: {metric: skill, rungs: {first: 50 steps, reduction: 3}}
)";
  auto play = [&] {
    Fixture f(yaml, 6);
    std::vector<std::string> out;
    const double values[] = {0.5, 0.2, 0.9, 0.4, 0.7, 0.1};
    const char* names[] = {"r-a", "r-b", "r-c", "r-d", "r-e", "r-f"};
    for (int i = 0; i < 6; ++i) f.stepping(names[i], 40);
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 6; ++i) {
        if (f.state(names[i]) != StageState::running) continue;
        for (const auto& m : f.report(names[i], 49 + 100 * round, values[i] + 0.01 * round, 50 + round)) {
          out.push_back(m.kind + " " + f.checked.graph->stage(m.stage).name + (m.made ? "" : " not made: " + m.not_made));
        }
      }
    }
    return out;
  };
  const auto first = play();
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, play());
}

// A resumed campaign replays the books' values: the groups stand as they did, and a member
// paused below its rung's bar is paused again before anything starts.
TEST(PromiseSteering, AResumedRunReplaysTheBooksAndKeepsPausedMembersPaused) {
  const char* yaml = R"(
campaign: resume
stages:
  - name: "r-{f}"
    for_each: {f: [a, b, c]}
    kernel: any
    ranks: 1
    steps: 1000
    promise: {metric: skill, rungs: {first: 100 steps, reduction: 2}}
)";
  std::vector<PromiseSteering::EarlierValue> books;
  {
    Fixture live(yaml, 3);
    for (const char* s : {"r-a", "r-b", "r-c"}) live.stepping(s, 50);
    const std::pair<const char*, double> values[] = {{"r-a", 0.7}, {"r-b", 0.2}, {"r-c", 0.5}};
    for (const auto& [name, value] : values) {
      live.report(name, 99, value, 60);
      books.push_back({name, "skill", 99, 0.0, value});
    }
    ASSERT_EQ(*live.steering.state(live.id("r-b")), SuccessiveHalvingGroup::State::paused);
  }
  auto checked = check_campaign(yaml);
  CampaignRun run(*checked.graph, SchedulingPolicy(perennial::testing::one_node_of_workers(3), policy_config_for(checked.graph->campaign())), {});
  PromiseSteering steering(run);
  const auto paused = steering.replay(books, 0);
  ASSERT_EQ(paused.size(), 1u);
  EXPECT_EQ(checked.graph->stage(paused.front()).name, "r-b");
  run.begin(0);
  run.decide(0);
  EXPECT_EQ(run.progress().state(paused.front()), StageState::paused);
  EXPECT_EQ(run.progress().state(*checked.graph->find("r-a")), StageState::running);
}

// Override: the scientist's hand wins over the promise. A member paused below the bar and then
// held by hand is not promoted when the bar falls (the move says why); a member the promise
// paused and the scientist resumes runs again.
TEST(PromiseSteering, TheScientistsHandOverridesThePromise) {
  Fixture f(R"(
campaign: override
stages:
  - name: "o-{f}"
    for_each: {f: [a, b, c, d]}
    kernel: any
    ranks: 1
    steps: 1000
    promise: {metric: skill, rungs: {first: 100 steps, reduction: 2}}
)", 2);
  f.stepping("o-a", 50);
  f.stepping("o-b", 50);
  f.report("o-a", 99, 0.6, 60);
  ASSERT_NE(find(f.report("o-b", 99, 0.4, 61), "pause"), nullptr);
  f.stops_at("o-b", 100, 62);
  ASSERT_EQ(f.state("o-b"), StageState::paused);
  // The scientist holds it: stopped by hand.
  EXPECT_TRUE(f.run.hold_by_hand(f.id("o-b"), CampaignRun::Hold::stopped, 63).refused.empty());
  f.run.decide(63);
  ASSERT_EQ(f.state("o-c"), StageState::running);
  f.stepping("o-c", 70);
  const auto moves = f.report("o-c", 99, 0.1, 70);
  const SteeringMove* promote = find(moves, "promote");
  ASSERT_NE(promote, nullptr);
  EXPECT_FALSE(promote->made);
  EXPECT_NE(promote->not_made.find("held by hand"), std::string::npos) << promote->not_made;
  EXPECT_EQ(f.state("o-b"), StageState::paused);
  // o-c, paused by the promise now, is resumed by the scientist: it queues again.
  f.stops_at("o-c", 100, 71);
  ASSERT_EQ(f.state("o-c"), StageState::paused);
  EXPECT_TRUE(f.run.release_by_hand(f.id("o-c"), 72).refused.empty());
  EXPECT_EQ(f.state("o-c"), StageState::ready);
}

// Promise against priority: each reporting member gets its declared priority plus `weight` x
// its standing (the best + weight, the worst + 0); once the scientist sets a priority by hand,
// the promise leaves it alone.
TEST(PromiseSteering, PromiseWeighsAgainstTheDeclaredPriorityUntilTheHandSetsOne) {
  Fixture f(R"(
campaign: weight
stages:
  - name: "w-{f}"
    for_each: {f: [a, b, c]}
    kernel: any
    ranks: 1
    steps: 1000
    priority: 2
    promise: {metric: skill, weight: 4, rungs: {first: 500 steps, reduction: 3}}
)", 3);
  for (const char* s : {"w-a", "w-b", "w-c"}) f.stepping(s, 50);
  f.report("w-a", 49, 0.9, 50);
  EXPECT_EQ(f.run.priority_of(f.id("w-a")), 2) << "alone it has no standing";
  f.report("w-b", 49, 0.5, 51);
  f.report("w-c", 49, 0.1, 52);
  f.report("w-a", 99, 0.9, 53);
  EXPECT_EQ(f.run.priority_of(f.id("w-a")), 6) << "the best: + weight";
  EXPECT_EQ(f.run.priority_of(f.id("w-b")), 2) << "the worse of two when it reported: + 0";
  EXPECT_EQ(f.run.priority_of(f.id("w-c")), 2) << "the worst: + 0";
  f.report("w-b", 99, 0.5, 53);
  EXPECT_EQ(f.run.priority_of(f.id("w-b")), 4) << "2 of 3: + weight / 2";
  f.run.set_priority(f.id("w-c"), 9);  // the scientist's hand
  f.report("w-c", 99, 0.95, 54);
  EXPECT_EQ(f.run.priority_of(f.id("w-c")), 9);
}

// Shrink: a member grown onto more ranks that then falls below its rung's bar goes back to its
// `min` at its next checkpoint (a member already on its `min` is paused instead).
TEST(PromiseSteering, AScenarioThatFallsWithBottomShrinkReturnsToItsFewestRanks) {
  Fixture f(R"(
campaign: shrink
stages:
  - name: "s-{f}"
    for_each: {f: [a, b]}
    kernel: any
    ranks: {min: 1, max: 2}
    steps: 1000
    promise: {metric: skill, bottom: shrink, rungs: {first: 100 steps, reduction: 2}}
)", 3);
  f.stepping("s-a", 50);
  f.stepping("s-b", 50);
  f.report("s-a", 49, 0.9, 50);
  ASSERT_NE(find(f.report("s-b", 49, 0.1, 51), "grow"), nullptr) << "s-a, the best, gains the free rank";
  f.stops_at("s-a", 60, 60);
  f.run.decide(60);
  ASSERT_EQ(f.run.active(f.id("s-a"))->workers.size(), 2u);
  f.stepping("s-a", 70);
  // At the first rung s-b leads now: s-a, on two ranks, shrinks back to one at its checkpoint.
  f.report("s-b", 99, 0.8, 80);
  const auto moves = f.report("s-a", 99, 0.2, 81);
  const SteeringMove* shrink = find(moves, "shrink");
  ASSERT_NE(shrink, nullptr) << moves.size();
  EXPECT_TRUE(shrink->made) << shrink->not_made;
  EXPECT_EQ(shrink->ranks, 1);
  ASSERT_TRUE(shrink->stop);
  EXPECT_EQ(shrink->stop->why, StopOrder::Why::resized);
  f.stops_at("s-a", 200, 90);
  f.run.decide(90);
  ASSERT_EQ(f.state("s-a"), StageState::running);
  EXPECT_EQ(f.run.active(f.id("s-a"))->workers.size(), 1u);
}
