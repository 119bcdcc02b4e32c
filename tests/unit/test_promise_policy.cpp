// Successive halving over a scenario group (issue 14, point 2), without MPI or a clock: rungs,
// the bar, pause and later promotion, shrink and stop, direction, ties, and the same moves on
// a replay of the same stream.

#include "test_support.hpp"

#include <perennial/coordinator/promise_policy.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/coordinator/simulator.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

using namespace perennial;
using Kind = PromiseMove::Kind;
using State = SuccessiveHalvingGroup::State;

namespace {

SuccessiveHalving rules(BottomAction bottom = BottomAction::pause) {
  SuccessiveHalving r;
  r.grace = 100;
  r.reduction = 3;
  r.bottom = bottom;
  return r;
}

std::string name(int i) {
  std::string n = "m";
  n += std::to_string(i);
  return n;
}

}  // namespace

TEST(SuccessiveHalving, RungsSitAtGraceTimesTheReductionToTheK) {
  SuccessiveHalvingGroup g("skill", PromiseDirection::max, rules());
  EXPECT_DOUBLE_EQ(g.rung_at(0), 100);
  EXPECT_DOUBLE_EQ(g.rung_at(1), 300);
  EXPECT_DOUBLE_EQ(g.rung_at(2), 900);
  // Below the first rung nothing is recorded.
  EXPECT_TRUE(g.report("a", 99, 1.0).empty());
  EXPECT_EQ(g.values_at(0), 0u);
  g.report("a", 100, 1.0);
  EXPECT_EQ(g.values_at(0), 1u);
}

TEST(SuccessiveHalving, TooFewValuesAtARungDecideNothing) {
  SuccessiveHalvingGroup g("skill", PromiseDirection::max, rules());
  // Two values at a rung of reduction 3: nothing to compare yet, however poor.
  EXPECT_TRUE(g.report("good", 100, 0.9).empty());
  EXPECT_TRUE(g.report("poor", 100, 0.1).empty());
  EXPECT_EQ(g.state("poor"), State::running);
}

TEST(SuccessiveHalving, TheBottomIsPausedWithItsReasonAndTheTopGoesOn) {
  SuccessiveHalvingGroup g("skill", PromiseDirection::max, rules());
  g.report("a", 100, 0.9);
  g.report("b", 100, 0.8);
  // Third value: the bar is the 2/3 quantile of {0.2, 0.8, 0.9} (position 4/3, interpolated):
  // 0.8 + (0.9 - 0.8) / 3.
  const auto moves = g.report("c", 100, 0.2);
  // c is below it, and so is b, which went on when it came second (too few to compare then).
  ASSERT_EQ(moves.size(), 2u);
  EXPECT_EQ(moves[0].kind, Kind::pause);
  EXPECT_EQ(moves[0].stage, "c");
  EXPECT_EQ(moves[0].rank, 3);
  EXPECT_EQ(moves[0].of, 3);
  EXPECT_NEAR(moves[0].bar, 0.8 + 0.1 / 3, 1e-12);
  EXPECT_EQ(moves[0].reason, "c paused at rung 1 (100): skill 0.2 is 3 of 3, below the bar 0.8333 (the top 1/3 go on)");
  EXPECT_EQ(moves[1].kind, Kind::pause);
  EXPECT_EQ(moves[1].stage, "b");
  EXPECT_EQ(moves[1].reason, "b paused at rung 1 (100): skill 0.8 is 2 of 3, below the bar 0.8333 (the top 1/3 go on); "
                             "later values raised the bar");
  EXPECT_EQ(g.state("c"), State::paused);
  // A paused member's reports change nothing until it is promoted.
  EXPECT_TRUE(g.report("c", 300, 5.0).empty());
  // With {0.2, 0.8, 0.8, 0.9} the bar is 0.8: one at the bar goes on, and b is promoted.
  const auto d = g.report("d", 100, 0.8);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, Kind::promote);
  EXPECT_EQ(d[0].stage, "b");
  EXPECT_EQ(g.state("d"), State::running);
}

TEST(SuccessiveHalving, APausedMemberIsPromotedWhenLaterArrivalsLowerTheBar) {
  SuccessiveHalvingGroup g("skill", PromiseDirection::max, rules());
  g.report("a", 100, 0.9);
  g.report("b", 100, 0.8);
  ASSERT_EQ(g.report("c", 100, 0.5).at(0).kind, Kind::pause);  // bar 0.8333
  // Poorer arrivals lower the bar: {0.2, 0.5, 0.8, 0.9}: 0.8; with 0.1: 0.7; with 0.05: 0.6.
  const auto first = g.report("d", 100, 0.2);
  ASSERT_EQ(first.size(), 2u);  // d paused; b (paused with c) back at the bar 0.8
  EXPECT_EQ(first[0].kind, Kind::pause);
  EXPECT_EQ(first[0].stage, "d");
  EXPECT_EQ(first[1].kind, Kind::promote);
  EXPECT_EQ(first[1].stage, "b");
  EXPECT_EQ(g.state("c"), State::paused);
  g.report("e", 100, 0.1);
  g.report("f", 100, 0.05);
  // {0.05, 0.1, 0.2, 0.5, 0.8, 0.9}: position 10/3 -> 0.5 + 0.3 / 3 = 0.6: c still below.
  EXPECT_EQ(g.state("c"), State::paused);
  const auto later = g.report("g", 100, 0.0);
  // {0, 0.05, 0.1, 0.2, 0.5, 0.8, 0.9}: position 4 -> 0.5: c (0.5) is at the bar: promoted.
  bool promoted = false;
  for (const auto& m : later) {
    if (m.kind == Kind::promote && m.stage == "c") {
      promoted = true;
      EXPECT_NE(m.reason.find("c promoted at rung 1"), std::string::npos) << m.reason;
    }
  }
  EXPECT_TRUE(promoted);
  EXPECT_EQ(g.state("c"), State::running);
  EXPECT_EQ(g.state("d"), State::paused) << "0.2 is still below the bar";
}

TEST(SuccessiveHalving, MinimisedMetricsShrinkOrStopTheirBottom) {
  SuccessiveHalvingGroup shrink("rmse", PromiseDirection::min, rules(BottomAction::shrink));
  shrink.report("a", 100, 1.0);
  shrink.report("b", 100, 2.0);
  const auto m = shrink.report("c", 100, 9.0);  // the largest error is the worst
  ASSERT_EQ(m.size(), 2u);  // c, and b below the bar -1.67 of {-9, -2, -1}
  EXPECT_EQ(m[0].kind, Kind::shrink);
  EXPECT_EQ(m[1].stage, "b");
  EXPECT_EQ(shrink.state("c"), State::shrunk);
  // A shrunk member goes on and is judged again at the next rung.
  shrink.report("a", 300, 1.0);
  shrink.report("b", 300, 2.0);
  EXPECT_FALSE(shrink.report("c", 300, 9.0).empty());

  SuccessiveHalvingGroup stop("rmse", PromiseDirection::min, rules(BottomAction::stop));
  stop.report("a", 100, 1.0);
  stop.report("b", 100, 2.0);
  ASSERT_EQ(stop.report("c", 100, 9.0).at(0).kind, Kind::stop);
  EXPECT_EQ(stop.state("c"), State::stopped);
  EXPECT_TRUE(stop.report("c", 900, 0.0).empty()) << "a stopped member stays stopped";
}

TEST(SuccessiveHalving, EqualValuesAreOrderedByNameAndTheOutcomeNotByArrival) {
  auto run = [](std::vector<std::string> order) {
    SuccessiveHalvingGroup g("skill", PromiseDirection::max, rules());
    std::vector<std::string> paused;
    for (const auto& s : order) {
      for (const auto& m : g.report(s, 100, s == "x" ? 0.0 : 0.5)) {
        if (m.kind == Kind::pause) paused.push_back(m.stage);
      }
    }
    return paused;
  };
  EXPECT_EQ(run({"a", "b", "x"}), std::vector<std::string>{"x"});
  // x came first and went on (nothing to compare then): the third value's bar pauses it all the same.
  EXPECT_EQ(run({"x", "b", "a"}), std::vector<std::string>{"x"});
}

TEST(SuccessiveHalving, TheSameStreamGivesTheSameMovesOnReplay) {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> noise(0.0, 0.1);
  struct Report {
    std::string stage;
    double progress, value;
  };
  std::vector<Report> stream;
  for (int step = 100; step <= 2700; step += 100) {
    for (int i = 0; i < 20; ++i) stream.push_back({name(i), static_cast<double>(step), 0.05 * i + noise(rng)});
  }
  auto replay = [&] {
    SuccessiveHalvingGroup g("skill", PromiseDirection::max, rules());
    std::vector<std::string> moves;
    for (const auto& r : stream) {
      for (const auto& m : g.report(r.stage, r.progress, r.value)) moves.push_back(m.reason);
    }
    return moves;
  };
  const auto once = replay();
  EXPECT_FALSE(once.empty());
  EXPECT_EQ(once, replay());
  // The best member (m19, true value 0.95) is never paused.
  for (const auto& reason : once) EXPECT_NE(reason.rfind("m19 paused", 0), 0u) << reason;
}

// Issue 14, point 8, in the accelerated mode: 20 scenarios of known true promise (their
// skill's level) compete for room for 4 at a time. Successive halving pauses the poor ones at
// their rungs: the 5 best receive at least twice the core-hours of the 5 worst, and the best
// is never paused.
TEST(PromiseSimulated, TwentyScenariosForTooFewNodesFavourTheMostPromising) {
  std::string levels;
  for (int i = 1; i <= 20; ++i) levels += (i > 1 ? ", " : "") + std::to_string(0.05 * i).substr(0, 4);
  std::string yaml = "campaign: promise\ncluster: {nodes: [{name: n1, cores: 16}]}\ncheckpoint: {interval: 50 steps}\nstages:\n"
                     "  - name: \"ssp-{level}\"\n    for_each: {level: [";
  yaml += levels;
  yaml += "]}\n    kernel: any\n    ranks: 4\n    steps: 1000\n    step_time: 36s\n"
          "    promise: {metric: skill, rungs: {first: 100 steps, reduction: 3}}\n"
          "    simulate: {metrics: {skill: {value: \"{level}\", noise: 0.05}}}\n";
  auto checked = perennial::testing::check_campaign(yaml);
  ASSERT_TRUE(checked.diagnostics.empty()) << checked.text() << yaml;
  const StageGraph& g = *checked.graph;
  SimulationOptions o;
  o.checkpoint_cost_seconds = 10;
  const auto report = simulate_campaign(g, machine_for(g.campaign().cluster), policy_config_for(g.campaign()), o);
  ASSERT_EQ(report.stage_outcomes.size(), 20u);
  double bottom = 0, top = 0;
  for (int i = 0; i < 5; ++i) bottom += report.stage_outcomes[static_cast<std::size_t>(i)].core_hours;
  for (int i = 15; i < 20; ++i) top += report.stage_outcomes[static_cast<std::size_t>(i)].core_hours;
  std::string table;
  for (const auto& s : report.stage_outcomes) {
    table += s.name + " " + std::to_string(s.core_hours) + " " + s.final_state + " " + std::to_string(s.moves.size()) + "\n";
  }
  EXPECT_GE(top, 2 * bottom) << table;
  for (const auto& m : report.stage_outcomes.back().moves) EXPECT_NE(m.rfind("pause", 0), 0u) << m << "\n" << table;
  EXPECT_EQ(report.stage_outcomes.back().final_state, "completed") << table;
  // `perennial simulate --json` carries the same per stage.
  const auto j = report.to_json();
  ASSERT_TRUE(j.contains("stages"));
  const auto& worst = j.at("stages").at("ssp-0.05");
  EXPECT_DOUBLE_EQ(worst.at("core_hours").get<double>(), report.stage_outcomes.front().core_hours);
  EXPECT_EQ(worst.at("final_state").get<std::string>(), report.stage_outcomes.front().final_state);
  EXPECT_EQ(worst.at("moves").size(), report.stage_outcomes.front().moves.size());
  EXPECT_FALSE(report.stage_outcomes.front().moves.empty()) << table;
  // The same campaign and seed: the same moves (a replay).
  const auto again = simulate_campaign(g, machine_for(g.campaign().cluster), policy_config_for(g.campaign()), o);
  for (std::size_t i = 0; i < 20; ++i) EXPECT_EQ(again.stage_outcomes[i].moves, report.stage_outcomes[i].moves);
}

// In the accelerated mode too, the better of two scenarios with `ranks: {min: 1, max: 3}`
// gains the free ranks at its next checkpoint, runs faster there (ideal scaling), and ends
// first; the worse one keeps its rank until ranks are free for it.
TEST(PromiseSimulated, TheBetterScenarioGainsFreeRanksAndEndsFirst) {
  const std::string yaml = "campaign: grow\ncluster: {nodes: [{name: n1, cores: 4}]}\ncheckpoint: {interval: 50 steps}\n"
                           "stages:\n  - name: \"ssp-{level}\"\n    for_each: {level: [0.2, 0.8]}\n    kernel: any\n"
                           "    ranks: {min: 1, max: 3}\n    steps: 1000\n    step_time: 36s\n"
                           "    promise: {metric: skill, rungs: {first: 100 steps, reduction: 3}}\n"
                           "    simulate: {metrics: {skill: {value: \"{level}\", noise: 0.01}}}\n";
  auto checked = perennial::testing::check_campaign(yaml);
  ASSERT_TRUE(checked.diagnostics.empty()) << checked.text();
  const StageGraph& g = *checked.graph;
  SimulationOptions o;
  o.checkpoint_cost_seconds = 10;
  const auto report = simulate_campaign(g, machine_for(g.campaign().cluster), policy_config_for(g.campaign()), o);
  ASSERT_EQ(report.stage_outcomes.size(), 2u);
  const auto& worse = report.stage_outcomes[0];
  const auto& better = report.stage_outcomes[1];
  ASSERT_EQ(better.name, "ssp-0.8");
  std::string moves;
  for (const auto& m : better.moves) moves += m + "\n";
  EXPECT_NE(moves.find("grow: ssp-0.8 skill"), std::string::npos) << moves;
  EXPECT_EQ(better.moves.front().find("not done"), std::string::npos) << "its first move was made\n" << moves;
  EXPECT_EQ(better.final_state, "completed");
  EXPECT_EQ(worse.final_state, "completed");
  // 1000 steps of 36 s: 10 core-hours on any rank count with ideal scaling, plus checkpoints.
  EXPECT_NEAR(better.core_hours, 10.0, 1.5);
  std::string worse_moves;
  for (const auto& m : worse.moves) worse_moves += m + "\n";
  EXPECT_LT(report.makespan_seconds, 1000 * 36.0) << "the grown scenario and then the other ran faster than on one rank\n" << worse_moves;
}
