// Fair share and multifactor priority (issue 6, first step): decay, the 2^(-U/S) factor,
// and the weighted mix, on a virtual clock.

#include <perennial/coordinator/clock.hpp>
#include <perennial/coordinator/fair_share.hpp>

#include <gtest/gtest.h>

#include <cmath>

using namespace perennial;

namespace {

constexpr double kDay = 86400.0;

TEST(FairShare, UsageHalvesEveryHalfLife) {
  FairShare fs(7 * kDay);
  VirtualClock clock;
  fs.charge("a", 1000.0, clock.now());
  clock.advance_by(7 * kDay);
  EXPECT_NEAR(fs.usage("a", clock.now()), 500.0, 1e-9);
  clock.advance_by(14 * kDay);
  EXPECT_NEAR(fs.usage("a", clock.now()), 125.0, 1e-9);
  fs.charge("a", 100.0, clock.now());
  EXPECT_NEAR(fs.usage("a", clock.now()), 225.0, 1e-9);
}

TEST(FairShare, FactorIsOneUnusedHalfAtShareAndFallsBeyond) {
  FairShare fs(7 * kDay);
  fs.set_share("a", 1.0);
  fs.set_share("b", 1.0);
  EXPECT_DOUBLE_EQ(fs.factor("a", 0.0), 1.0);  // nobody has used anything
  fs.charge("a", 500.0, 0.0);
  fs.charge("b", 500.0, 0.0);
  EXPECT_NEAR(fs.factor("a", 0.0), 0.5, 1e-12);  // exactly its share
  fs.charge("a", 1000.0, 0.0);                   // now 3/4 of all usage against a 1/2 share
  EXPECT_NEAR(fs.factor("a", 0.0), std::exp2(-1.5), 1e-12);
  EXPECT_NEAR(fs.factor("b", 0.0), std::exp2(-0.5), 1e-12);
  EXPECT_GT(fs.factor("b", 0.0), fs.factor("a", 0.0));
}

TEST(FairShare, LargerSharesTolerateMoreUse) {
  FairShare fs(7 * kDay);
  fs.set_share("big", 3.0);
  fs.set_share("small", 1.0);
  fs.charge("big", 750.0, 0.0);
  fs.charge("small", 250.0, 0.0);
  // Each used exactly its share: both factors are 1/2.
  EXPECT_NEAR(fs.factor("big", 0.0), 0.5, 1e-12);
  EXPECT_NEAR(fs.factor("small", 0.0), 0.5, 1e-12);
}

TEST(FairShare, OldUseIsForgiven) {
  FairShare fs(1 * kDay);
  fs.set_share("a", 1.0);
  fs.set_share("b", 1.0);
  fs.charge("a", 10000.0, 0.0);
  fs.charge("b", 100.0, 10 * kDay);
  // Ten half-lives later a's heavy use weighs less than b's light, recent one.
  EXPECT_NEAR(fs.usage("a", 10 * kDay), 10000.0 / 1024.0, 1e-6);
  EXPECT_GT(fs.factor("a", 10 * kDay), fs.factor("b", 10 * kDay));
}

TEST(Multifactor, WeightsMixTheFactorsAndAgeSaturates) {
  PriorityWeights w;
  w.priority = 1000;
  w.fairshare = 10000;
  w.age = 1000;
  w.max_age_seconds = 10 * kDay;
  EXPECT_DOUBLE_EQ(multifactor_priority(w, 1.0, 0.5, 0.0), 1000 + 5000);
  EXPECT_DOUBLE_EQ(multifactor_priority(w, 0.0, 0.0, 5 * kDay), 500);
  EXPECT_DOUBLE_EQ(multifactor_priority(w, 0.0, 0.0, 50 * kDay), 1000);  // aging is capped
  // A long-starved low-priority stage of a thrifty project can overtake an urgent one of a
  // project far over its share: aging prevents starvation.
  EXPECT_GT(multifactor_priority(w, 0.0, 0.3, 10 * kDay), multifactor_priority(w, 1.0, 0.1, 0.0));
}

TEST(Clock, VirtualTimeOnlyMovesForward) {
  VirtualClock c(5.0);
  c.advance_to(3.0);
  EXPECT_EQ(c.now(), 5.0);
  c.advance_by(2.5);
  EXPECT_EQ(c.now(), 7.5);
  WallClock w;
  EXPECT_GE(w.now(), 0.0);
}

}  // namespace
