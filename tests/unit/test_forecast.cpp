// The campaign forecast (issue 13, point 4) without MPI: it runs the accelerated mode from
// where a campaign stands, so its figures can be worked out by hand for small campaigns;
// measured rates replace declared ones; completed and checkpointed work is not counted
// again; allocations are projected to run out when they would.

#include "test_support.hpp"

#include <perennial/accounting/store.hpp>
#include <perennial/coordinator/forecast.hpp>
#include <perennial/coordinator/resources.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace perennial;
using perennial::testing::check_campaign;

namespace {

constexpr double kHour = 3600.0;

struct Campaign_ {
  StageGraph graph;
  Machine machine;
  PolicyConfig config;
};

Campaign_ load(const std::string& yaml) {
  auto checked = check_campaign(yaml);
  EXPECT_TRUE(checked.diagnostics.empty()) << checked.text();
  Machine machine = machine_for(checked.graph->campaign().cluster);
  PolicyConfig config = policy_config_for(checked.graph->campaign());
  return {std::move(*checked.graph), std::move(machine), config};
}

ForecastOptions no_failures() {
  ForecastOptions o;
  o.node_mtbf_seconds = 0;
  o.draws = 20;
  return o;
}

StageId id_of(const StageGraph& g, const std::string& name) {
  for (StageId id = 0; id < g.size(); ++id) {
    if (g.stage(id).name == name) return id;
  }
  ADD_FAILURE() << "no stage " << name;
  return 0;
}

// Two stages in a chain and one beside them on a 2-node machine: a schedule worked out by
// hand (checkpoints off, so a stage's time is steps x step time).
const char* kChain = R"(
campaign: chain
projects:
  - {name: ocean, grant: G1, allocation_core_hours: 100}
  - {name: land, grant: G2, allocation_core_hours: 1000}
cluster: {nodes: [{name: "n[1-2]", cores: 4}]}
checkpoint: {enabled: false}
stages:
  - {name: spinup, kernel: any, project: ocean, ranks: 4, steps: 100, step_time: 36s}
  - {name: run, kernel: any, project: ocean, ranks: 4, steps: 200, step_time: 36s, after: [spinup]}
  - {name: soil, kernel: any, project: land, ranks: 4, steps: 50, step_time: 36s}
)";

}  // namespace

TEST(Forecast, AFreshCampaignAtItsDeclaredRatesFinishesWhenWorkedOutByHand) {
  auto c = load(kChain);
  CampaignState state;
  ForecastOptions o = no_failures();
  o.unmeasured_spread = 0.0;  // take the declarations as exact
  o.measured_spread_floor = 0.0;
  const Forecast f = forecast_campaign(c.graph, c.machine, c.config, state, o);
  // spinup (1 h) then run (2 h) on one node; soil (0.5 h) beside them on the other.
  EXPECT_NEAR(f.seconds_to_finish.expected, 3 * kHour, 1.0);
  EXPECT_NEAR(f.seconds_to_finish.low, 3 * kHour, 1.0);
  EXPECT_NEAR(f.seconds_to_finish.high, 3 * kHour, 1.0);
  // 4 cores x (1 + 2) h for ocean, 4 x 0.5 h for land.
  EXPECT_NEAR(f.core_hours_to_finish.expected, 14.0, 1e-6);
  EXPECT_NEAR(f.core_hours_to_finish_by_project.at("ocean").expected, 12.0, 1e-6);
  EXPECT_NEAR(f.core_hours_to_finish_by_project.at("land").expected, 2.0, 1e-6);
  EXPECT_NEAR(f.core_hours_to_finish_by_grant.at("G1").expected, 12.0, 1e-6);
  EXPECT_EQ(f.stages_left, 3u);
  EXPECT_EQ(f.stages_measured, 0u);
  EXPECT_TRUE(f.exhaustion_by_project.empty()) << "no allocation is used up";
}

TEST(Forecast, CompletedStagesAndCheckpointedStepsAreNotCountedAgain) {
  auto c = load(kChain);
  CampaignState state;
  state.history.resize(c.graph.size());
  state.history[id_of(c.graph, "spinup")].completed = true;
  state.history[id_of(c.graph, "soil")].completed = true;
  state.history[id_of(c.graph, "run")].epochs.push_back(EpochRecord{3, 150, "e3.h5", std::nullopt, 0});
  state.history[id_of(c.graph, "run")].last_epoch = 3;
  ForecastOptions o = no_failures();
  o.unmeasured_spread = 0.0;
  o.measured_spread_floor = 0.0;
  const Forecast f = forecast_campaign(c.graph, c.machine, c.config, state, o);
  // `run` has 50 of its 200 steps left: 50 x 36 s = 0.5 h on 4 cores.
  EXPECT_NEAR(f.seconds_to_finish.expected, 0.5 * kHour, 1.0);
  EXPECT_NEAR(f.core_hours_to_finish.expected, 2.0, 1e-6);
  EXPECT_NEAR(f.core_hours_to_finish_by_project.at("land").expected, 0.0, 1e-9);
  EXPECT_EQ(f.stages_left, 1u);
}

TEST(Forecast, MeasuredRatesReplaceTheDeclaredOnesAndCorrectTheUnmeasured) {
  auto c = load(kChain);
  CampaignState state;
  state.measured.resize(c.graph.size());
  // spinup measured at twice its declared step time, and is half done (running).
  state.measured[id_of(c.graph, "spinup")].step_seconds = 72.0;
  state.measured[id_of(c.graph, "spinup")].steps_done = 50;
  ForecastOptions o = no_failures();
  o.unmeasured_spread = 0.0;
  o.measured_spread_floor = 0.0;
  std::optional<double> correction;
  const auto rates = stage_rates(c.graph, state, o, &correction);
  ASSERT_TRUE(correction);
  EXPECT_DOUBLE_EQ(*correction, 2.0);
  EXPECT_EQ(rates[id_of(c.graph, "spinup")].basis, StageRate::Basis::measured);
  EXPECT_EQ(rates[id_of(c.graph, "run")].basis, StageRate::Basis::declared_corrected);
  EXPECT_DOUBLE_EQ(rates[id_of(c.graph, "run")].step_seconds, 72.0);
  const Forecast f = forecast_campaign(c.graph, c.machine, c.config, state, o);
  // spinup: 50 steps x 72 s = 1 h left; run: 200 x 72 s = 4 h: 5 h in all.
  EXPECT_NEAR(f.seconds_to_finish.expected, 5 * kHour, 1.0);
  ASSERT_TRUE(f.declared_correction);
  EXPECT_DOUBLE_EQ(*f.declared_correction, 2.0);
}

TEST(Forecast, UncertainRatesGiveAnIntervalAroundTheExpectation) {
  auto c = load(kChain);
  CampaignState state;
  ForecastOptions o = no_failures();
  o.unmeasured_spread = 0.2;
  o.draws = 60;
  const Forecast f = forecast_campaign(c.graph, c.machine, c.config, state, o);
  EXPECT_LT(f.seconds_to_finish.low, f.seconds_to_finish.expected);
  EXPECT_GT(f.seconds_to_finish.high, f.seconds_to_finish.expected);
  EXPECT_NEAR(f.seconds_to_finish.expected, 3 * kHour, 0.2 * 3 * kHour);
  // The same seed gives the same forecast.
  const Forecast again = forecast_campaign(c.graph, c.machine, c.config, state, o);
  EXPECT_EQ(f.seconds_to_finish.expected, again.seconds_to_finish.expected);
  EXPECT_EQ(f.core_hours_to_finish.high, again.core_hours_to_finish.high);
}

TEST(Forecast, FailuresAddLostWorkToTheCoreHours) {
  auto c = load(R"(
campaign: fails
cluster: {nodes: [{name: "n[1-2]", cores: 4}]}
checkpoint: {interval: 1h}
stages:
  - {name: long, kernel: any, ranks: 8, steps: 1000, step_time: 72s}
)");
  CampaignState state;
  ForecastOptions calm = no_failures();
  calm.unmeasured_spread = 0.0;
  calm.measured_spread_floor = 0.0;
  ForecastOptions stormy = calm;
  stormy.node_mtbf_seconds = 4 * kHour;
  stormy.repair_seconds = 60;
  const Forecast a = forecast_campaign(c.graph, c.machine, c.config, state, calm);
  const Forecast b = forecast_campaign(c.graph, c.machine, c.config, state, stormy);
  EXPECT_GT(b.core_hours_to_finish.expected, a.core_hours_to_finish.expected);
  EXPECT_GT(b.seconds_to_finish.high, a.seconds_to_finish.high);
}

TEST(Forecast, AnAllocationTooSmallIsProjectedToRunOutBeforeTheEnd) {
  auto c = load(kChain);
  CampaignState state;
  state.used_core_hours_by_project["ocean"] = 94.0;  // 6 of its 100 left; it needs 12
  ForecastOptions o = no_failures();
  o.unmeasured_spread = 0.0;
  o.measured_spread_floor = 0.0;
  const Forecast f = forecast_campaign(c.graph, c.machine, c.config, state, o);
  ASSERT_TRUE(f.exhaustion_by_project.count("ocean"));
  const auto& out = f.exhaustion_by_project.at("ocean");
  EXPECT_DOUBLE_EQ(out.share_of_draws, 1.0);
  // 6 core-hours at 4 cores: 1.5 h from now.
  EXPECT_NEAR(out.seconds.expected, 1.5 * kHour, 1.0);
  EXPECT_FALSE(f.exhaustion_by_project.count("land"));
  EXPECT_TRUE(f.exhaustion_by_grant.count("G1"));
}

TEST(Forecast, AHardCappedProjectPastItsAllocationCannotFinish) {
  auto c = load(R"(
campaign: capped
projects: [{name: ocean, grant: G1, allocation_core_hours: 10, hard_cap: true}]
cluster: {nodes: [{name: "n1", cores: 4}]}
checkpoint: {enabled: false}
stages:
  - {name: a, kernel: any, project: ocean, ranks: 4, steps: 100, step_time: 36s}
)");
  CampaignState state;
  state.used_core_hours_by_project["ocean"] = 10.0;
  const Forecast f = forecast_campaign(c.graph, c.machine, c.config, state, no_failures());
  EXPECT_EQ(f.draws_unfinished, f.draws);
  EXPECT_NEAR(f.core_hours_to_finish.expected, 0.0, 1e-9);
}

TEST(Forecast, TheStateComesFromTheBooksSegments) {
  auto c = load(kChain);
  std::vector<accounting::Segment> segments(3);
  // spinup: two runs, 40 s and 30 s per step once checkpoints and output are taken out.
  segments[0].stage = "spinup";
  segments[0].project = "ocean";
  segments[0].cores = 4;
  segments[0].wall_start = 0;
  segments[0].wall_end = 440;
  segments[0].first_step = 0;
  segments[0].last_step = 10;
  segments[0].checkpoint_seconds = 30;
  segments[0].checkpoints = 2;
  segments[0].output_seconds = 10;
  segments[0].outcome = accounting::Outcome::lost;
  segments[1] = segments[0];
  segments[1].wall_start = 1000;
  segments[1].wall_end = 1000 + 300 + 20;
  segments[1].first_step = 5;
  segments[1].last_step = 15;
  segments[1].checkpoint_seconds = 20;
  segments[1].checkpoints = 1;
  segments[1].output_seconds = 0;
  segments[1].outcome = accounting::Outcome::running;
  // A stage the campaign no longer has: charged, not measured.
  segments[2].stage = "gone";
  segments[2].project = "land";
  segments[2].cores = 2;
  segments[2].wall_end = 3600;
  const CampaignState s = campaign_state(c.graph, {}, segments);
  const StageMeasurement& m = s.measured[id_of(c.graph, "spinup")];
  ASSERT_TRUE(m.step_seconds);
  EXPECT_DOUBLE_EQ(*m.step_seconds, 35.0);  // median of 40 and 30
  EXPECT_GT(m.spread, 0.0);
  ASSERT_TRUE(m.checkpoint_seconds);
  EXPECT_DOUBLE_EQ(*m.checkpoint_seconds, 50.0 / 3);
  EXPECT_EQ(m.steps_done, 15u) << "the running segment says where the stage is";
  EXPECT_NEAR(s.used_core_hours_by_project.at("ocean"), 4 * (440.0 + 320.0) / 3600, 1e-9);
  EXPECT_NEAR(s.used_core_hours_by_project.at("land"), 2.0, 1e-9);
  EXPECT_FALSE(s.measured[id_of(c.graph, "run")].step_seconds);
}

TEST(Forecast, ItsJsonHoldsTheFiguresAndTheNotes) {
  auto c = load(kChain);
  const Forecast f = forecast_campaign(c.graph, c.machine, c.config, CampaignState{}, no_failures());
  const auto j = f.to_json();
  EXPECT_TRUE(j.at("seconds_to_finish").contains("low"));
  EXPECT_TRUE(j.at("core_hours_to_finish_by_project").contains("ocean"));
  EXPECT_FALSE(j.at("notes").empty());
}

TEST(Forecast, StagesThatNeverCheckpointedTakeTheCheckpointCostOthersMeasured) {
  auto c = load(R"(
campaign: costs
cluster: {nodes: [{name: "n1", cores: 4}]}
checkpoint: {interval: 10 steps}
stages:
  - {name: a, kernel: any, ranks: 4, steps: 100, step_time: 1s}
  - {name: b, kernel: any, ranks: 4, steps: 100, step_time: 1s, after: [a]}
)");
  CampaignState state;
  state.history.resize(c.graph.size());
  state.history[id_of(c.graph, "a")].completed = true;
  state.measured.resize(c.graph.size());
  state.measured[id_of(c.graph, "a")].step_seconds = 1.0;
  state.measured[id_of(c.graph, "a")].checkpoint_seconds = 2.0;
  ForecastOptions o = no_failures();
  o.unmeasured_spread = 0.0;
  o.measured_spread_floor = 0.0;
  o.checkpoint_cost_seconds = 600.0;  // the guess, were nothing measured
  const Forecast f = forecast_campaign(c.graph, c.machine, c.config, state, o);
  // b: 100 s of steps and 9 checkpoints between its 10 intervals at a's 2 s.
  EXPECT_NEAR(f.seconds_to_finish.expected, 100.0 + 9 * 2.0, 1.0);
}

TEST(Forecast, ALiveRunningRowIsMovedOnToNowAndAStaleOneIsTakenForADeadRun) {
  auto c = load(kChain);
  accounting::Segment s;
  s.id = 1;
  s.stage = "spinup";
  s.project = "ocean";
  s.cores = 4;
  s.wall_start = 1000;
  s.wall_end = 1400;  // 400 s for steps 0..10: 40 s per step
  s.last_step = 10;
  s.outcome = accounting::Outcome::running;
  // Written 80 s ago: two more steps done since.
  const CampaignState live = campaign_state(c.graph, {}, {s}, {}, 1480.0);
  EXPECT_EQ(live.measured[id_of(c.graph, "spinup")].steps_done, 12u);
  EXPECT_TRUE(live.measured[id_of(c.graph, "spinup")].running);
  EXPECT_NEAR(live.used_core_hours_by_project.at("ocean"), 4 * 480.0 / 3600, 1e-9) << "charged up to now";
  // Not brought up to date for longer than a run would leave it: its run died, and the stage
  // will resume from its checkpoint.
  const CampaignState dead = campaign_state(c.graph, {}, {s}, {}, 1400.0 + kLiveRowAge + 1);
  EXPECT_EQ(dead.measured[id_of(c.graph, "spinup")].steps_done, 0u);
  EXPECT_FALSE(dead.measured[id_of(c.graph, "spinup")].running);
  // What the run says now moves the books' view on; its rate stands in only for a stage the
  // books have not measured.
  CampaignState now = live;
  note_running(now, id_of(c.graph, "spinup"), 30, 20.0);
  note_running(now, id_of(c.graph, "soil"), 5, 20.0);
  EXPECT_EQ(now.measured[id_of(c.graph, "spinup")].steps_done, 30u);
  EXPECT_DOUBLE_EQ(*now.measured[id_of(c.graph, "spinup")].step_seconds, 40.0);
  EXPECT_DOUBLE_EQ(*now.measured[id_of(c.graph, "soil")].step_seconds, 20.0);
}

TEST(Forecast, TheSpreadBetweenCommitsOfOneSegmentWidensAStageMeasuredOnce) {
  auto c = load(kChain);
  accounting::Segment s;
  s.id = 7;
  s.stage = "spinup";
  s.cores = 4;
  s.wall_end = 400;
  s.last_step = 40;
  s.outcome = accounting::Outcome::completed;
  // Commits every 10 steps, 0.5 s each: intervals of 90, 110, 80 and 120 s of computing.
  std::vector<accounting::CheckpointRow> rows;
  double wall = 0;
  const double gaps[] = {90, 110, 80, 120};
  for (int k = 0; k < 4; ++k) {
    wall += gaps[k] + 0.5;
    rows.push_back({7, "spinup", static_cast<std::uint64_t>(k + 1), static_cast<std::uint64_t>(10 * (k + 1)), wall, 0.5, 0});
  }
  const CampaignState once = campaign_state(c.graph, {}, {s}, {});
  EXPECT_EQ(once.measured[id_of(c.graph, "spinup")].spread, 0.0) << "one segment: no spread between segments";
  const CampaignState with = campaign_state(c.graph, {}, {s}, rows);
  EXPECT_GT(with.measured[id_of(c.graph, "spinup")].spread, 0.1);
}

TEST(Forecast, AStageWithNothingDeclaredTakesWhatItsKernelMeasuredPerCore) {
  auto c = load(R"(
campaign: kernels
cluster: {nodes: [{name: "n[1-2]", cores: 8}]}
checkpoint: {enabled: false}
stages:
  - {name: spinup, kernel: any, ranks: 2, steps: 100}
  - {name: run, kernel: any, ranks: 4, steps: 100, after: [spinup]}
  - {name: other, kernel: no-checkpoints, ranks: 1, steps: 10}
)");
  CampaignState state;
  state.measured.resize(c.graph.size());
  state.measured[id_of(c.graph, "spinup")].step_seconds = 1.0;  // 2 core-seconds a step
  const auto rates = stage_rates(c.graph, state, no_failures());
  EXPECT_EQ(rates[id_of(c.graph, "run")].basis, StageRate::Basis::same_kernel);
  EXPECT_DOUBLE_EQ(rates[id_of(c.graph, "run")].step_seconds, 0.5) << "2 core-seconds over 4 ranks";
  EXPECT_EQ(rates[id_of(c.graph, "other")].basis, StageRate::Basis::fallback);
}
