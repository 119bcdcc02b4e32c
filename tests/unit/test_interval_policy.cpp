// Young/Daly interval choice: the optimum, the max_lost_work cap, fixed overrides.

#include <perennial/checkpoint_interval.hpp>

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
  EXPECT_NE(one.reason.find("Young/Daly optimum"), std::string::npos) << one.reason;
  auto many = choose_interval(s, 1.0, 64);     // MTBF 1350 s: a shorter optimum
  EXPECT_LT(many.seconds, one.seconds);
  auto costly = choose_interval(s, 60.0, 1);   // optimum ~3200 s: capped
  EXPECT_EQ(costly.seconds, 900.0);
  EXPECT_NE(costly.reason.find("capped by max_lost_work"), std::string::npos) << costly.reason;
}

TEST(IntervalPolicy, FixedIntervalsOverride) {
  IntervalSettings s;
  s.fixed_seconds = 120.0;
  EXPECT_EQ(choose_interval(s, 5.0, 8).seconds, 120.0);
  s.fixed_steps = 50;
  auto steps = choose_interval(s, 5.0, 8);
  ASSERT_TRUE(steps.every_steps);
  EXPECT_EQ(*steps.every_steps, 50u);
  EXPECT_NE(steps.reason.find("every 50 steps"), std::string::npos);
}
