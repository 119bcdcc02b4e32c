// FaultPlan: the drill language of --inject and the campaign's faults: list. Parsing only;
// the e2e fault matrix carries the drills out for real.

#include <perennial/errors.hpp>
#include <perennial/fault_plan.hpp>

#include <gtest/gtest.h>

using namespace perennial;

namespace {

std::string error_of(const std::string& text) {
  try {
    FaultPlan::parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(FaultPlan, ReadsEveryKind) {
  auto plan = FaultPlan::parse(
      "kill:rank=3,step=120; kill:rank=0,time=40s; kill-node:node=1,step=5; kill-in-checkpoint:rank=2,epoch=3;"
      "corrupt-checkpoint:stage=a,step=450; truncate-checkpoint:stage=b,step=9; silence:rank=4,time=2.5;"
      "fill-disk:stage=a,epoch=2");
  ASSERT_EQ(plan.faults.size(), 8u);
  EXPECT_EQ(plan.faults[0].kind, FaultKind::kill);
  EXPECT_EQ(plan.faults[0].rank, 3);
  EXPECT_EQ(plan.faults[0].step, 120u);
  EXPECT_EQ(plan.faults[1].time, 40.0);
  EXPECT_EQ(plan.faults[2].kind, FaultKind::kill_node);
  EXPECT_EQ(plan.faults[2].node, 1);
  EXPECT_EQ(plan.faults[3].epoch, 3u);
  EXPECT_EQ(plan.faults[4].stage, "a");
  EXPECT_EQ(plan.faults[5].kind, FaultKind::truncate_checkpoint);
  EXPECT_EQ(plan.faults[6].time, 2.5);
  EXPECT_EQ(plan.faults[7].kind, FaultKind::fill_disk);
}

TEST(FaultPlan, TextRoundTrips) {
  auto plan = FaultPlan::parse("kill:rank=3,step=120;silence:rank=2,step=7");
  auto again = FaultPlan::parse(plan.to_string());
  ASSERT_EQ(again.faults.size(), 2u);
  EXPECT_EQ(again.faults[1].kind, FaultKind::silence);
  EXPECT_TRUE(FaultPlan::parse("  ;  ").empty());
}

TEST(FaultPlan, ErrorsNameTheItemAndWhatIsMissing) {
  EXPECT_NE(error_of("explode:rank=1").find("unknown fault 'explode' (known: kill, kill-node"), std::string::npos);
  EXPECT_NE(error_of("kill:rank=3").find("a kill fault needs rank=N and step=S or time=SECONDS"), std::string::npos);
  EXPECT_NE(error_of("kill:rank=x,step=1").find("rank must be a whole number, not 'x'"), std::string::npos);
  EXPECT_NE(error_of("kill:rank=1,when=2").find("unknown key 'when'"), std::string::npos);
  EXPECT_NE(error_of("kill:rank=0,step=5").find("rank 0 is the coordinator"), std::string::npos);
  EXPECT_NE(error_of("fill-disk:stage=a").find("needs stage=NAME and epoch=E"), std::string::npos);
  EXPECT_NE(error_of("kill:rank=1,step").find("'step' is not key=value"), std::string::npos);
}

}  // namespace
