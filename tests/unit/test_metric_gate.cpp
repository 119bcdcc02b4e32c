// The metric gate (issue 14, point 1): rank 0 takes a kernel's metric value only when it is a
// finite number of a name the kernel declares, from the stage's running attempt; otherwise it
// refuses it with a message naming the stage, the metric and the step.

#include "test_support.hpp"

#include <perennial/coordinator/metric_gate.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace perennial;
using perennial::testing::check_campaign;

namespace {

const StageGraph& graph() {
  static const StageGraph g = [] {
    auto checked = check_campaign(R"(
campaign: metrics
stages:
  - {name: ssp-4.5, kernel: heat2d, steps: 10, outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}}
  - {name: mesh, kernel: grid, steps: 10, parameters: {ny: 4}}
  - {name: free, kernel: any, steps: 10}
)");
    EXPECT_TRUE(checked.diagnostics.empty()) << checked.text();
    return std::move(*checked.graph);
  }();
  return g;
}

StageId id(const std::string& name) { return *graph().find(name); }

}  // namespace

TEST(MetricGate, AFiniteDeclaredValueFromTheRunningAttemptIsTaken) {
  EXPECT_FALSE(metric_refusal(graph(), id("ssp-4.5"), 2, 40, "skill", 0.83, 2u));
  // A kernel that declares no metrics takes any name.
  EXPECT_FALSE(metric_refusal(graph(), id("free"), 1, 3, "anything", -1e300, 1u));
}

TEST(MetricGate, NanAndInfinityAreRefusedNamingStageMetricAndStep) {
  const auto nan = metric_refusal(graph(), id("ssp-4.5"), 1, 40, "skill", std::numeric_limits<double>::quiet_NaN(), 1u);
  ASSERT_TRUE(nan);
  EXPECT_EQ(nan->kind, "not_finite");
  EXPECT_EQ(nan->message, "stage ssp-4.5: metric 'skill' at step 40 is NaN, not a finite number: refused; the stage goes on");
  const auto inf = metric_refusal(graph(), id("ssp-4.5"), 1, 41, "skill", -std::numeric_limits<double>::infinity(), 1u);
  ASSERT_TRUE(inf);
  EXPECT_NE(inf->message.find("-infinity"), std::string::npos) << inf->message;
}

TEST(MetricGate, AnUndeclaredNameIsRefusedWithWhatTheKernelDeclares) {
  const auto typo = metric_refusal(graph(), id("ssp-4.5"), 1, 7, "skil", 0.5, 1u);
  ASSERT_TRUE(typo);
  EXPECT_EQ(typo->kind, "undeclared");
  EXPECT_EQ(typo->message, "stage ssp-4.5: metric 'skil' at step 7 is not a metric kernel 'heat2d' declares (it declares: "
                           "global_mean_temperature, skill); did you mean 'skill'?: refused; the stage goes on");
  // A kernel that says it reports none refuses every name.
  const auto none = metric_refusal(graph(), id("mesh"), 1, 1, "x", 1.0, 1u);
  ASSERT_TRUE(none);
  EXPECT_NE(none->message.find("(it declares none)"), std::string::npos) << none->message;
}

TEST(MetricGate, AValueAfterTheRunEndedOrFromAnEarlierAttemptIsRefused) {
  const auto late = metric_refusal(graph(), id("ssp-4.5"), 3, 99, "skill", 1.0, std::nullopt);
  ASSERT_TRUE(late);
  EXPECT_EQ(late->kind, "stage_not_running");
  EXPECT_EQ(late->message, "stage ssp-4.5: metric 'skill' at step 99 arrived after the stage's run ended: refused");
  const auto old = metric_refusal(graph(), id("ssp-4.5"), 2, 50, "skill", 1.0, 3u);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->kind, "earlier_attempt");
  EXPECT_NE(old->message.find("attempt 2; attempt 3 runs now"), std::string::npos) << old->message;
}
