// Upper confidence bounds over scenario trends (issue 14, point 2): which member gives way
// when untried ones wait, exchanges of a paused and a running member, trends, the dwell after
// each start, replay; and twenty simulated scenarios for too few nodes.

#include "test_support.hpp"

#include <perennial/coordinator/promise_ucb.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/coordinator/simulator.hpp>

#include <gtest/gtest.h>

using namespace perennial;

namespace {

std::string kinds(const std::vector<PromiseMove>& moves) {
  std::string out;
  for (const auto& m : moves) out += std::string(move_name(m.kind)) + " " + m.stage + ";";
  return out;
}

}  // namespace

// Untried members wait: once every running member has its `min_values`, the one with the
// lowest bound gives way; never while a stop is under way; never before its dwell.
TEST(UpperConfidence, TheLowestBoundGivesWayToUntriedScenariosAfterItsDwell) {
  UcbGroup g("skill", PromiseDirection::max, {1.0, 3, 8});
  const UcbGroup::Room waiting{2, 0};
  for (int k = 1; k <= 2; ++k) {
    EXPECT_TRUE(g.report("a", k, 0.8, waiting).empty()) << "a has not had its three values";
    EXPECT_TRUE(g.report("b", k, 0.3, waiting).empty());
  }
  EXPECT_TRUE(g.report("a", 3, 0.8, waiting).empty()) << "b has not had its three values: no one may give way yet";
  EXPECT_TRUE(g.report("b", 3, 0.3, {2, 1}).empty()) << "a stop is under way: one exchange at a time";
  const auto moves = g.report("b", 4, 0.3, waiting);
  ASSERT_EQ(kinds(moves), "pause b;");
  EXPECT_NE(moves[0].reason.find("wait to be tried"), std::string::npos) << moves[0].reason;
  EXPECT_EQ(g.state("b"), SuccessiveHalvingGroup::State::paused);
  EXPECT_TRUE(g.report("b", 5, 0.9, waiting).empty()) << "a paused member's late value changes nothing";
}

// With no one untried, a paused member whose bound is above the lowest running one's changes
// places with it; a rising trend counts for more than its mean.
TEST(UpperConfidence, APausedScenarioWithTheHigherBoundChangesPlacesAndTrendsCount) {
  UcbGroup g("skill", PromiseDirection::max, {0.0, 2, 8});  // no exploration: the trends alone
  const UcbGroup::Room full{0, 0};
  // c rises from 0.2 to 0.6 (mean 0.4); d is flat at 0.5: c's trend (0.6) is the higher.
  const double rising[] = {0.2, 0.4, 0.6};
  for (int k = 0; k < 3; ++k) {
    g.report("c", k + 1, rising[k], full);
    g.report("d", k + 1, 0.5, full);
  }
  ASSERT_TRUE(g.estimate("c"));
  EXPECT_NEAR(g.estimate("c")->first, 0.6, 1e-9);
  EXPECT_NEAR(g.estimate("d")->first, 0.5, 1e-9);
  // d gives way to untried e; e turns out poor; d's bound is above e's: they change places.
  ASSERT_EQ(kinds(g.report("d", 4, 0.5, {1, 0})), "pause d;");
  g.report("e", 1, 0.1, full);
  const auto moves = g.report("e", 2, 0.1, full);
  ASSERT_EQ(kinds(moves), "pause e;promote d;");
  EXPECT_NE(moves[1].reason.find("change places"), std::string::npos) << moves[1].reason;
  EXPECT_EQ(g.state("d"), SuccessiveHalvingGroup::State::running);
  // A move the driver could not make is undone.
  g.undo(moves[1]);
  EXPECT_EQ(g.state("d"), SuccessiveHalvingGroup::State::paused);
}

// For `min`, lower is better; the same stream gives the same moves.
TEST(UpperConfidence, MinimisedMetricsAndReplayGiveTheSameMoves) {
  auto play = [] {
    UcbGroup g("bias", PromiseDirection::min, {1.0, 2, 8});
    std::string out;
    const double levels[] = {0.3, 0.1, 0.5, 0.2};
    const char* names[] = {"p", "q", "r", "s"};
    bool s_started = false;  // s waits, untried, until someone gives way
    for (int k = 1; k <= 8; ++k) {
      for (int i = 0; i < 4; ++i) {
        if (g.state(names[i]) == SuccessiveHalvingGroup::State::paused || (i == 3 && !s_started)) continue;
        const auto moves = g.report(names[i], k, levels[i] + 0.01 * ((k * 7 + i) % 5), {s_started ? 0 : 1, 0});
        if (!moves.empty()) s_started = true;
        out += kinds(moves);
      }
    }
    return out;
  };
  const auto first = play();
  EXPECT_NE(first.find("pause r"), std::string::npos) << first;
  EXPECT_EQ(first.find("pause q"), std::string::npos) << "q, the lowest bias, never gives way: " << first;
  EXPECT_EQ(first, play());
}

// Twenty scenarios of known promise for too few nodes, judged by upper confidence bounds in the
// accelerated mode. Every scenario runs in the end (a completed one's ranks go to the best
// bound among the paused), the most promising first: a day into the campaign the top five have
// had at least twice the core-hours of the bottom five, and the best never gave way.
TEST(PromiseSimulated, UpperConfidenceBoundsFavourTheMostPromisingOfTwenty) {
  std::string levels;
  for (int i = 1; i <= 20; ++i) levels += (i > 1 ? ", " : "") + std::to_string(0.05 * i).substr(0, 4);
  std::string yaml = "campaign: ucb\ncluster: {nodes: [{name: n1, cores: 16}]}\ncheckpoint: {interval: 50 steps}\nstages:\n"
                     "  - name: \"ssp-{level}\"\n    for_each: {level: [";
  yaml += levels;
  yaml += "]}\n    kernel: any\n    ranks: 4\n    steps: 1000\n    step_time: 36s\n"
          "    promise: {metric: skill, policy: ucb, exploration: 1, min_values: 2}\n"
          "    simulate: {metrics: {skill: {value: \"{level}\", noise: 0.05}}}\n";
  auto checked = perennial::testing::check_campaign(yaml);
  ASSERT_TRUE(checked.diagnostics.empty()) << checked.text();
  const StageGraph& g = *checked.graph;
  SimulationOptions o;
  o.checkpoint_cost_seconds = 10;
  const auto whole = simulate_campaign(g, machine_for(g.campaign().cluster), policy_config_for(g.campaign()), o);
  EXPECT_EQ(whole.completed, 20u);
  o.stop_at = 24 * 3600.0;
  const auto report = simulate_campaign(g, machine_for(g.campaign().cluster), policy_config_for(g.campaign()), o);
  ASSERT_EQ(report.stage_outcomes.size(), 20u);
  double bottom = 0, top = 0;
  std::string table;
  for (std::size_t i = 0; i < 20; ++i) {
    const auto& s = report.stage_outcomes[i];
    (i < 5 ? bottom : top) += i < 5 || i >= 15 ? s.core_hours : 0.0;
    table += s.name + " " + std::to_string(s.core_hours) + " " + s.final_state + " " + std::to_string(s.moves.size()) + "\n";
  }
  EXPECT_GE(top, 2 * bottom) << table;
  for (const auto& m : report.stage_outcomes.back().moves) EXPECT_NE(m.rfind("pause", 0), 0u) << m << "\n" << table;
  EXPECT_EQ(report.stage_outcomes.back().final_state, "completed") << table;
  const auto again = simulate_campaign(g, machine_for(g.campaign().cluster), policy_config_for(g.campaign()), o);
  for (std::size_t i = 0; i < 20; ++i) EXPECT_EQ(again.stage_outcomes[i].moves, report.stage_outcomes[i].moves);
}
