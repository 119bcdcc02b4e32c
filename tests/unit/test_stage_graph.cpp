// Ensemble expansion, glob resolution, readiness and ordering, plans and scheduling.

#include "test_support.hpp"

#include <perennial/coordinator/campaign_progress.hpp>
#include <perennial/errors.hpp>
#include <perennial/text.hpp>

#include <algorithm>

using namespace perennial;
using perennial::testing::check_campaign;

namespace {

const char* kCampaign = R"(campaign: cmip-lite
output_dir: out/here
stages:
  - name: spinup
    kernel: heat2d
    ranks: 2
    steps: 400
    priority: 10
    parameters: {nx: 128, ny: 64, forcing: 0.0}
    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}
  - name: ssp-{forcing}
    for_each: {forcing: [2.6, 4.5, 8.5]}
    kernel: heat2d
    ranks: 2
    steps: 800
    parameters: {nx: 128, ny: 64}
    inputs: {initial: spinup.temperature}
    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}
  - name: analysis
    kernel: ensemble-mean
    after: [ssp-*]
    inputs: {members: "ssp-*.temperature"}
    outputs: {mean: {dtype: float64, dims: [lat, lon], units: K}}
  - name: side
    kernel: any
    priority: 5
)";

std::vector<std::string> names(const StageGraph& g, const std::vector<StageId>& ids) {
  std::vector<std::string> out;
  for (auto id : ids) out.push_back(g.stage(id).name);
  return out;
}

TEST(Expansion, OneStagePerValueWithTheValueAsParameter) {
  auto c = check_campaign(kCampaign);
  ASSERT_TRUE(c.diagnostics.empty()) << c.text();
  const auto& g = *c.graph;
  ASSERT_EQ(g.size(), 6u);
  EXPECT_EQ(g.stage(1).name, "ssp-2.6");
  EXPECT_EQ(g.stage(2).name, "ssp-4.5");
  EXPECT_EQ(g.stage(3).name, "ssp-8.5");
  EXPECT_EQ(g.stage(2).parameters.get<double>("forcing"), 4.5);
  EXPECT_EQ(g.stage(2).parameters.get<int>("nx"), 128);
  EXPECT_EQ(g.stage(2).template_name, "ssp-{forcing}");
  EXPECT_EQ(g.campaign().output_dir, std::filesystem::path("/campaigns/out/here"));
}

TEST(Expansion, CartesianProductOfSeveralLists) {
  auto c = check_campaign(R"(campaign: grid
stages:
  - name: run-{model}-{member}
    for_each: {model: [a, b], member: [1, 2, 3]}
    kernel: any
)");
  ASSERT_TRUE(c.diagnostics.empty()) << c.text();
  ASSERT_EQ(c.graph->size(), 6u);
  EXPECT_EQ(c.graph->stage(0).name, "run-a-1");
  EXPECT_EQ(c.graph->stage(5).name, "run-b-3");
}

TEST(Globs, ShellStyleMatching) {
  EXPECT_TRUE(glob_match("ssp-*", "ssp-2.6"));
  EXPECT_FALSE(glob_match("ssp-*", "spinup"));
  EXPECT_TRUE(glob_match("ssp-?.?", "ssp-4.5"));
  EXPECT_TRUE(glob_match("ssp-[248].*", "ssp-8.5"));
  EXPECT_FALSE(glob_match("ssp-[!8].*", "ssp-8.5"));
  EXPECT_TRUE(glob_match("*-*", "a-b-c"));
  EXPECT_TRUE(glob_match("run-[a-c]", "run-b"));
  EXPECT_FALSE(glob_match("run", "run-b"));
}

TEST(Globs, InputsResolveInNameOrderAndImplyDependencies) {
  auto c = check_campaign(kCampaign);
  const auto& g = *c.graph;
  auto analysis = *g.find("analysis");
  EXPECT_EQ(names(g, g.upstream(analysis)), (std::vector<std::string>{"ssp-2.6", "ssp-4.5", "ssp-8.5"}));
  ASSERT_EQ(g.inputs(analysis).size(), 1u);
  const auto& members = g.inputs(analysis).front();
  EXPECT_EQ(members.name, "members");
  ASSERT_EQ(members.sources.size(), 3u);
  EXPECT_EQ(g.stage(members.sources[0].first).name, "ssp-2.6");
  EXPECT_EQ(members.sources[0].second, "temperature");
  // `inputs` alone implies the dependency.
  EXPECT_EQ(names(g, g.upstream(*g.find("ssp-4.5"))), (std::vector<std::string>{"spinup"}));
}

TEST(Readiness, StagesStartWhenTheirInputsAreComplete) {
  auto c = check_campaign(kCampaign);
  const auto& g = *c.graph;
  CampaignProgress p(g);
  // Ready first: spinup (priority 10) before side (priority 5).
  EXPECT_EQ(names(g, p.ready()), (std::vector<std::string>{"spinup", "side"}));
  p.start(*g.find("spinup"));
  auto now_ready = p.complete(*g.find("spinup"));
  EXPECT_EQ(names(g, now_ready), (std::vector<std::string>{"ssp-2.6", "ssp-4.5", "ssp-8.5"}));
  for (auto id : now_ready) p.start(id);
  EXPECT_TRUE(p.complete(*g.find("ssp-2.6")).empty());
  EXPECT_TRUE(p.complete(*g.find("ssp-4.5")).empty());
  EXPECT_EQ(p.state(*g.find("analysis")), StageState::waiting);
  EXPECT_EQ(names(g, p.complete(*g.find("ssp-8.5"))), (std::vector<std::string>{"analysis"}));
}

TEST(Readiness, FailureBlocksOnlyItsBranch) {
  auto c = check_campaign(kCampaign);
  const auto& g = *c.graph;
  CampaignProgress p(g);
  p.start(*g.find("spinup"));
  for (auto id : p.complete(*g.find("spinup"))) p.start(id);
  auto blocked = p.fail(*g.find("ssp-4.5"), "kernel threw");
  EXPECT_EQ(names(g, blocked), (std::vector<std::string>{"analysis"}));
  EXPECT_EQ(p.reason(*g.find("analysis")), "upstream stage 'ssp-4.5' failed");
  EXPECT_EQ(p.state(*g.find("side")), StageState::ready);  // an independent branch goes on
  p.complete(*g.find("ssp-2.6"));
  p.complete(*g.find("ssp-8.5"));
  p.start(*g.find("side"));
  p.complete(*g.find("side"));
  EXPECT_TRUE(p.finished());
  EXPECT_FALSE(p.all_completed());
  EXPECT_EQ(p.count(StageState::completed), 4u);
}

TEST(Order, TopologicalOrderRespectsEveryEdge) {
  auto c = check_campaign(kCampaign);
  const auto& g = *c.graph;
  std::vector<std::size_t> position(g.size());
  for (std::size_t i = 0; i < g.topological_order().size(); ++i) position[g.topological_order()[i]] = i;
  for (StageId id = 0; id < g.size(); ++id) {
    for (auto u : g.upstream(id)) EXPECT_LT(position[u], position[id]);
  }
}

TEST(Plan, WavesAndCriticalPath) {
  auto c = check_campaign(kCampaign);
  const auto& g = *c.graph;
  auto plan = make_plan(g);
  ASSERT_EQ(plan.waves.size(), 3u);
  EXPECT_EQ(names(g, plan.waves[0]), (std::vector<std::string>{"spinup", "side"}));
  EXPECT_EQ(names(g, plan.waves[1]), (std::vector<std::string>{"ssp-2.6", "ssp-4.5", "ssp-8.5"}));
  EXPECT_EQ(names(g, plan.waves[2]), (std::vector<std::string>{"analysis"}));
  EXPECT_FALSE(plan.weighted_by_walltime);
  EXPECT_EQ(plan.critical_length, 400 + 800 + 1);
  EXPECT_EQ(names(g, plan.critical_path), (std::vector<std::string>{"spinup", "ssp-2.6", "analysis"}));
  const auto text = format_plan(g, plan);
  EXPECT_NE(text.find("wave 2: 3 stage(s), 6 rank(s) to run all at once: ssp-2.6, ssp-4.5, ssp-8.5"), std::string::npos) << text;
  EXPECT_NE(text.find("critical path (1201 steps): spinup -> ssp-2.6 -> analysis"), std::string::npos) << text;
}

TEST(Plan, WalltimeWeightsTheCriticalPathWhenEveryStageHasOne) {
  auto c = check_campaign(R"(campaign: w
stages:
  - {name: a, kernel: any, walltime: 2h}
  - {name: b, kernel: any, walltime: 30min, after: [a]}
  - {name: c, kernel: any, walltime: 1d, after: [a]}
)");
  auto plan = make_plan(*c.graph);
  EXPECT_TRUE(plan.weighted_by_walltime);
  EXPECT_EQ(plan.critical_length, 2 * 3600.0 + 86400.0);
  EXPECT_EQ(names(*c.graph, plan.critical_path), (std::vector<std::string>{"a", "c"}));
}

TEST(Durations, ParseCommonUnits) {
  EXPECT_EQ(parse_duration_seconds("90s"), 90.0);
  EXPECT_EQ(parse_duration_seconds("15min"), 900.0);
  EXPECT_EQ(parse_duration_seconds("12h"), 43200.0);
  EXPECT_EQ(parse_duration_seconds("2d"), 172800.0);
  EXPECT_EQ(parse_duration_seconds("3600"), 3600.0);
  EXPECT_FALSE(parse_duration_seconds("soon"));
}

TEST(Parameters, TypedAccessNamesStageAndParameter) {
  Parameters p("ssp-2.6");
  p.set("nx", "128");
  p.set("forcing", "2.6");
  p.set("label", "high");
  p.set_list("levels", {"1", "2", "3"});
  EXPECT_EQ(p.get<int>("nx"), 128);
  EXPECT_EQ(p.get<double>("forcing"), 2.6);
  EXPECT_EQ(p.get<std::vector<int>>("levels"), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(p.get_or<int>("ny", 64), 64);
  try {
    p.get<int>("forcing");
    FAIL() << "2.6 read as an integer";
  } catch (const ParameterError& e) {
    EXPECT_STREQ(e.what(), "stage 'ssp-2.6': parameter 'forcing' is '2.6', not an integer");
  }
  try {
    p.get<double>("ny");
    FAIL();
  } catch (const ParameterError& e) {
    EXPECT_STREQ(e.what(), "stage 'ssp-2.6': parameter 'ny' is missing from the stage's parameters");
  }
  EXPECT_THROW(p.get<double>("label"), ParameterError);
}

}  // namespace

namespace {
TEST(Registry, ADuplicateKernelNameIsKeptOutAndReported) {
  KernelRegistry r;
  r.add("heat2d", [] { return std::unique_ptr<Kernel>(); });
  r.add("heat2d", [] { return std::unique_ptr<Kernel>(); });
  EXPECT_EQ(r.names(), (std::vector<std::string>{"heat2d"}));
  EXPECT_EQ(r.duplicates(), (std::vector<std::string>{"heat2d"}));
  EXPECT_THROW(r.create("heat3d", "spinup"), KernelError);
}
}  // namespace
