// Young/Daly interval choice: the optimum, the max_lost_work cap, fixed overrides.

#include <perennial/checkpoint_interval.hpp>
#include <perennial/epoch_cost.hpp>

#include <gtest/gtest.h>

#include <cmath>

using namespace perennial;

TEST(IntervalPolicy, DalyMatchesYoungForCheapCheckpoints) {
  // C << M: Daly's optimum tends to Young's sqrt(2CM).
  const double c = 1.0, m = 86400.0;
  EXPECT_NEAR(daly_interval(c, m), std::sqrt(2 * c * m), 0.01 * std::sqrt(2 * c * m));
  // C >= 2M: checkpointing cannot pay; the interval is the MTBF.
  EXPECT_EQ(daly_interval(100.0, 40.0), 40.0);
}

TEST(IntervalPolicy, MtbfScalesWithNodesAndTheCapApplies) {
  IntervalSettings s;
  s.node_mtbf_seconds = 24 * 3600.0;
  s.max_lost_work_seconds = 15 * 60.0;
  auto one = choose_interval(s, 1.0, 1);       // optimum ~415 s: under the 900 s cap
  EXPECT_NEAR(one.seconds, daly_interval(1.0, 86400.0), 1e-9);
  EXPECT_NE(one.reason().find("Young/Daly optimum"), std::string::npos) << one.reason();
  auto many = choose_interval(s, 1.0, 64);     // MTBF 1350 s: a shorter optimum
  EXPECT_LT(many.seconds, one.seconds);
  auto costly = choose_interval(s, 60.0, 1);   // optimum ~3200 s: capped
  EXPECT_EQ(costly.seconds, 900.0);
  EXPECT_NE(costly.reason().find("capped by max_lost_work"), std::string::npos) << costly.reason();
}

TEST(IntervalPolicy, FixedIntervalsOverride) {
  IntervalSettings s;
  s.fixed_seconds = 120.0;
  EXPECT_EQ(choose_interval(s, 5.0, 8).seconds, 120.0);
  s.fixed_steps = 50;
  auto steps = choose_interval(s, 5.0, 8);
  ASSERT_TRUE(steps.every_steps);
  EXPECT_EQ(*steps.every_steps, 50u);
  EXPECT_NE(steps.reason().find("every 50 steps"), std::string::npos);
}

// ---- EpochCostMeter: an epoch's cost to the stage, its write and the slower steps after it ----

namespace {
// Boundaries of steps of the given durations from t, fed to the meter; the last cost it gave.
std::optional<EpochCostMeter::Cost> feed(EpochCostMeter& m, double& t, std::initializer_list<double> steps) {
  std::optional<EpochCostMeter::Cost> last;
  for (double d : steps) {
    t += d;
    if (auto c = m.boundary(t)) last = c;
  }
  return last;
}
}  // namespace

TEST(EpochCost, ChargesTheWriteAndTheSlowerStepsAfterIt) {
  EpochCostMeter m(/*window=*/10, /*span=*/100.0);
  double t = 0.0;
  m.boundary(t);
  for (int i = 0; i < 20; ++i) feed(m, t, {0.001});  // steps of 1 ms
  ASSERT_TRUE(m.baseline());
  EXPECT_NEAR(*m.baseline(), 0.001, 1e-12);
  m.epoch_written(0.006);
  // The epoch's step: 1 ms + 6 ms of writing. Then ten steps, each 0.2 ms slower.
  EXPECT_FALSE(feed(m, t, {0.007}));
  std::optional<EpochCostMeter::Cost> cost;
  for (int i = 0; i < 10; ++i) {
    auto c = feed(m, t, {0.0012});
    if (i < 9) {
      EXPECT_FALSE(c) << "the window is not over at step " << i;
    }
    cost = c;
  }
  ASSERT_TRUE(cost) << "the window of 10 steps after the epoch has ended";
  EXPECT_NEAR(cost->whole, 0.006 + 10 * 0.0002, 1e-9);  // 8 ms, of which the write's timer sees 6
  EXPECT_EQ(cost->write, 0.006);
  // The slower steps were not taken for the ordinary step time.
  EXPECT_NEAR(*m.baseline(), 0.001, 1e-12);
}

TEST(EpochCost, ANewEpochInsideTheWindowEndsTheOldOnesWindow) {
  EpochCostMeter m(/*window=*/50, /*span=*/100.0);
  double t = 0.0;
  m.boundary(t);
  for (int i = 0; i < 10; ++i) feed(m, t, {0.001});
  m.epoch_written(0.0035);
  EXPECT_FALSE(feed(m, t, {0.005, 0.001, 0.001}));  // 4 ms extra, then two ordinary steps
  m.epoch_written(0.002);
  // The next boundary closes the first epoch's window where the second began, and the cost
  // comes with the first epoch's write time, not the second's.
  auto first = feed(m, t, {0.003});
  ASSERT_TRUE(first);
  EXPECT_NEAR(first->whole, 0.004, 1e-9);
  EXPECT_EQ(first->write, 0.0035);
  // The second epoch's window goes on from there and ends with its own write time.
  std::optional<EpochCostMeter::Cost> second;
  for (int i = 0; i < 60 && !second; ++i) second = feed(m, t, {0.001});
  ASSERT_TRUE(second);
  EXPECT_NEAR(second->whole, 0.002, 1e-9);
  EXPECT_EQ(second->write, 0.002);
}

TEST(EpochCost, TheWindowEndsAfterSpanTimesTheEpochsStep) {
  // Long steps: the window must not run over 50 of them, whose ordinary spread would swamp
  // the epoch's cost.
  EpochCostMeter m(/*window=*/50, /*span=*/3.0);
  double t = 0.0;
  m.boundary(t);
  for (int i = 0; i < 10; ++i) feed(m, t, {60.0});
  m.epoch_written(10.0);
  EXPECT_FALSE(feed(m, t, {70.0}));   // the epoch's step: 60 s + 10 s of writing
  EXPECT_FALSE(feed(m, t, {61.0}));   // 131 s into the window
  auto cost = feed(m, t, {61.0});     // 192 s >= 3 x 70 s? no: 210 needed
  EXPECT_FALSE(cost);
  cost = feed(m, t, {60.0});          // 252 s: over
  ASSERT_TRUE(cost);
  EXPECT_NEAR(cost->whole, 10.0 + 2.0, 1e-9);
}

TEST(EpochCost, NoEstimateWithoutEnoughOrdinarySteps) {
  EpochCostMeter m(/*window=*/5, /*span=*/100.0, /*history=*/63, /*min_history=*/8);
  double t = 0.0;
  m.boundary(t);
  feed(m, t, {0.001, 0.001, 0.001});
  m.epoch_written(0.009);
  EXPECT_FALSE(feed(m, t, {0.01, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001}));
  EXPECT_FALSE(m.baseline());
  // An epoch marked before any boundary has nothing to start from: ignored.
  EpochCostMeter fresh;
  fresh.epoch_written(0.001);
  double u = 0.0;
  fresh.boundary(u);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(feed(fresh, u, {0.001}));
}

TEST(EpochCost, WhatIsChargedIsBoundedByTheWriteAndTheMedianOfTheLastFive) {
  EpochCostMeter m(/*window=*/2, /*span=*/100.0);
  double t = 0.0;
  m.boundary(t);
  for (int i = 0; i < 10; ++i) feed(m, t, {0.001});
  // One epoch of 1 ms write: its step and two steps after it, with `extra` on top in all.
  auto epoch = [&](double extra) {
    m.epoch_written(0.001);
    auto c = feed(m, t, {0.002 + extra, 0.001, 0.001});
    for (int i = 0; i < 3; ++i) feed(m, t, {0.001});
    return c;
  };
  auto first = epoch(0.0005);  // 1.5 ms in all
  ASSERT_TRUE(first);
  EXPECT_NEAR(first->whole, 0.0015, 1e-9);
  EXPECT_NEAR(first->charged, 0.0015, 1e-9);
  auto second = epoch(0.1);  // a slow spell: 101 ms measured, held at 4 x the write
  ASSERT_TRUE(second);
  EXPECT_NEAR(second->whole, 0.101, 1e-9);
  EXPECT_NEAR(second->charged, 0.0015, 1e-9) << "of two, the smaller";
  auto third = epoch(0.1);
  ASSERT_TRUE(third);
  EXPECT_NEAR(third->charged, 0.004, 1e-9) << "the median of 1.5, 4 and 4 ms";
  auto fourth = epoch(-0.0005);  // less than the write: held at the write's 1 ms
  ASSERT_TRUE(fourth);
  EXPECT_NEAR(fourth->whole, 0.0005, 1e-9);
  EXPECT_NEAR(fourth->charged, 0.0015, 1e-9) << "the median of 1, 1.5, 4 and 4 ms, the smaller of the middle two";
}
