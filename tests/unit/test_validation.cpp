// Every validation error `perennial validate` promises, each with its line number.

#include "test_support.hpp"

using perennial::testing::check_campaign;

namespace {

// A valid base campaign; tests append or alter lines. Line numbers are given in comments.
const char* kValid = R"(campaign: cmip-lite
projects:
  - {name: ensemble, grant: NSF-AGS-2417, allocation_core_hours: 250000}
stages:
  - name: spinup
    kernel: heat2d
    project: ensemble
    ranks: 2
    steps: 400
    parameters: {nx: 128, ny: 64, forcing: 0.0}
    outputs:
      temperature: {dtype: float64, dims: [lat, lon], units: K}
  - name: ssp-{forcing}
    for_each: {forcing: [2.6, 4.5, 8.5]}
    kernel: heat2d
    ranks: 2
    steps: 800
    inputs: {initial: spinup.temperature}
    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}
  - name: analysis
    kernel: ensemble-mean
    after: [ssp-*]
    inputs: {members: "ssp-*.temperature"}
    outputs: {mean: {dtype: float64, dims: [lat, lon], units: K}}
)";

std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return text.replace(pos, from.size(), to);
}

TEST(Validation, ExampleCampaignIsValid) {
  auto c = check_campaign(kValid);
  EXPECT_TRUE(c.diagnostics.empty()) << c.text();
  ASSERT_TRUE(c.graph);
  EXPECT_EQ(c.graph->size(), 5u);
}

// Lists in `parameters:` and `for_each:` keep every item, in order. (The loader once iterated a
// yaml-cpp temporary there; the ASan build, ci/test.sh --sanitize, reported it in this test.)
TEST(Validation, ListParametersAndForEachValuesKeepEveryItem) {
  auto c = check_campaign(replace(kValid, "forcing: 0.0}", "forcing: 0.0, levels: [1000, 850, 500]}"));
  ASSERT_TRUE(c.graph) << c.text();
  const auto spinup = c.graph->find("spinup");
  ASSERT_TRUE(spinup);
  EXPECT_EQ(c.graph->stage(*spinup).parameters.get<std::vector<int>>("levels"), (std::vector<int>{1000, 850, 500}));
  for (const char* name : {"ssp-2.6", "ssp-4.5", "ssp-8.5"}) EXPECT_TRUE(c.graph->find(name)) << name;
}

TEST(Validation, YamlSyntaxErrorHasLineAndColumn) {
  auto c = check_campaign(replace(kValid, "    ranks: 2\n    steps: 400", "    ranks: [2\n    steps: 400"));
  ASSERT_EQ(c.diagnostics.size(), 1u) << c.text();
  const auto& d = c.diagnostics.items().front();
  EXPECT_EQ(d.field, "yaml");
  EXPECT_GT(d.where.line, 7);
  EXPECT_EQ(d.where.file, "/campaigns/test.yaml");
  EXPECT_EQ(d.to_string().rfind("/campaigns/test.yaml:", 0), 0u) << d.to_string();
}

TEST(Validation, UnknownFieldSuggestsNearestName) {
  auto c = check_campaign(replace(kValid, "    steps: 800", "    stpes: 800"));
  EXPECT_TRUE(c.has(17, "stages.ssp-{forcing}.stpes: unknown field 'stpes'; did you mean 'steps'?")) << c.text();
  auto top = check_campaign(replace(kValid, "projects:", "projetcs:"));
  EXPECT_TRUE(top.has(2, "did you mean 'projects'?")) << top.text();
  auto output = check_campaign(replace(kValid, "units: K}\n  - name: ssp", "unit: K}\n  - name: ssp"));
  EXPECT_TRUE(output.has(12, "did you mean 'units'?")) << output.text();
}

TEST(Validation, MissingRequiredFields) {
  auto c = check_campaign(replace(kValid, "    kernel: ensemble-mean\n", ""));
  EXPECT_TRUE(c.has(20, "stages.analysis: missing required field 'kernel'")) << c.text();
  auto no_name = check_campaign(replace(kValid, "campaign: cmip-lite\n", ""));
  EXPECT_TRUE(no_name.has(1, "missing required field 'campaign'")) << no_name.text();
  auto no_units = check_campaign(replace(kValid, "dims: [lat, lon], units: K}}\n  - name: analysis",
                                         "dims: [lat, lon]}}\n  - name: analysis"));
  EXPECT_TRUE(no_units.has(19, "missing required field 'units'")) << no_units.text();
}

TEST(Validation, WrongTypesAreNamed) {
  auto c = check_campaign(replace(kValid, "    ranks: 2\n    steps: 400", "    ranks: two\n    steps: 400"));
  EXPECT_TRUE(c.has(8, "stages.spinup.ranks: 'two' is not an integer")) << c.text();
  auto zero = check_campaign(replace(kValid, "    ranks: 2\n    steps: 400", "    ranks: 0\n    steps: 400"));
  EXPECT_TRUE(zero.has(8, "below the minimum 1")) << zero.text();
  auto dtype = check_campaign(replace(kValid, "temperature: {dtype: float64", "temperature: {dtype: double"));
  EXPECT_TRUE(dtype.has(12, "unknown dtype 'double'")) << dtype.text();
}

TEST(Validation, CycleIsPrintedInOrder) {
  const char* yaml = R"(campaign: loop
stages:
  - {name: a, kernel: any, after: [c]}
  - {name: b, kernel: any, after: [a]}
  - {name: c, kernel: any, after: [b]}
  - {name: d, kernel: any, after: [a]}
)";
  auto c = check_campaign(yaml);
  ASSERT_EQ(c.diagnostics.size(), 1u) << c.text();
  const auto text = c.text();
  EXPECT_NE(text.find("dependency cycle: "), std::string::npos) << text;
  // Any rotation of a -> b -> c is the same cycle; check the data-flow order.
  const bool ordered = text.find("a -> b -> c -> a") != std::string::npos ||
                       text.find("b -> c -> a -> b") != std::string::npos ||
                       text.find("c -> a -> b -> c") != std::string::npos;
  EXPECT_TRUE(ordered) << text;
  EXPECT_FALSE(c.graph->acyclic());
}

TEST(Validation, SelfDependencyIsACycle) {
  auto c = check_campaign("campaign: x\nstages:\n  - {name: a, kernel: any, after: [a]}\n");
  EXPECT_TRUE(c.has(3, "dependency cycle: a -> a")) << c.text();
}

TEST(Validation, MissingReferencesAreErrors) {
  auto after = check_campaign(replace(kValid, "after: [ssp-*]", "after: [spinnup]"));
  EXPECT_TRUE(after.has(22, "no stage matches 'spinnup'; did you mean 'spinup'?")) << after.text();
  auto glob = check_campaign(replace(kValid, "after: [ssp-*]", "after: [rcp-*]"));
  EXPECT_TRUE(glob.has(22, "no stage matches 'rcp-*'")) << glob.text();
  auto stage = check_campaign(replace(kValid, "{initial: spinup.temperature}", "{initial: spin.temperature}"));
  EXPECT_TRUE(stage.has(18, "stages.ssp-2.6.inputs.initial: no stage matches 'spin'")) << stage.text();
  auto output = check_campaign(replace(kValid, "{initial: spinup.temperature}", "{initial: spinup.temp}"));
  EXPECT_TRUE(output.has(18, "stage 'spinup' has no output 'temp' (it declares: temperature)")) << output.text();
  auto form = check_campaign(replace(kValid, "{initial: spinup.temperature}", "{initial: spinup}"));
  EXPECT_TRUE(form.has(18, "is not of the form stage.output")) << form.text();
}

TEST(Validation, IncompatibleDataBetweenStages) {
  // The spinup writes degC but the scenarios' kernel (heat2d) reads K.
  auto units = check_campaign(replace(kValid, "dims: [lat, lon], units: K}\n  - name: ssp",
                                      "dims: [lat, lon], units: degC}\n  - name: ssp"));
  EXPECT_TRUE(units.has(18, "incompatible data: kernel 'heat2d' expects units 'K' (it has 'degC') from spinup.temperature"))
      << units.text();
  // An explicit expectation in the long input form.
  auto dtype = check_campaign(replace(kValid, "{initial: spinup.temperature}",
                                      "{initial: {from: spinup.temperature, dtype: float32}}"));
  EXPECT_TRUE(dtype.has(18, "the input expects dtype float32 (it is float64) from spinup.temperature")) << dtype.text();
  auto dims = check_campaign(replace(kValid, "{initial: spinup.temperature}",
                                     "{initial: {from: spinup.temperature, dims: [lon, lat]}}"));
  EXPECT_TRUE(dims.has(18, "expects dims [lon, lat] (it has [lat, lon])")) << dims.text();
}

TEST(Validation, GlobMembersMustAgree) {
  const char* yaml = R"(campaign: mixed
stages:
  - {name: m-1, kernel: any, outputs: {t: {dtype: float64, dims: [x], units: K}}}
  - {name: m-2, kernel: any, outputs: {t: {dtype: float64, dims: [x], units: degC}}}
  - {name: mean, kernel: any, inputs: {members: "m-*.t"}}
)";
  auto c = check_campaign(yaml);
  EXPECT_TRUE(c.has(5, "incompatible data: m-2.t has units 'K' (it has 'degC') unlike m-1.t")) << c.text();
}

TEST(Validation, UnknownKernelSuggests) {
  auto c = check_campaign(replace(kValid, "kernel: ensemble-mean", "kernel: ensemble-maen"));
  EXPECT_TRUE(c.has(21, "unknown kernel 'ensemble-maen'; did you mean 'ensemble-mean'?")) << c.text();
}

TEST(Validation, KernelOutputsMustBeDeclared) {
  auto c = check_campaign(replace(kValid, "      temperature: {dtype: float64, dims: [lat, lon], units: K}\n",
                                  "      temp: {dtype: float64, dims: [lat, lon], units: K}\n"));
  EXPECT_TRUE(c.has(12, "kernel 'heat2d' writes no output 'temp'")) << c.text();
}

TEST(Validation, DuplicateNamesAfterExpansion) {
  auto c = check_campaign(replace(kValid, "  - name: analysis", "  - name: ssp-4.5"));
  EXPECT_TRUE(c.has(20, "duplicate stage name 'ssp-4.5' after ensemble expansion (also at line 13)")) << c.text();
  auto repeated = check_campaign(replace(kValid, "[2.6, 4.5, 8.5]", "[2.6, 4.5, 2.6]"));
  EXPECT_TRUE(repeated.has(13, "duplicate stage name 'ssp-2.6'")) << repeated.text();
}

TEST(Validation, ForEachNeedsPlaceholders) {
  auto c = check_campaign(replace(kValid, "name: ssp-{forcing}", "name: ssp"));
  EXPECT_TRUE(c.has(13, "name must contain '{forcing}'")) << c.text();
  auto unknown = check_campaign(replace(kValid, "name: ssp-{forcing}", "name: ssp-{forcnig}"));
  EXPECT_TRUE(unknown.has(13, "placeholder '{forcnig}' has no for_each list")) << unknown.text();
  // A list that is not a list is reported where it is, not also as a bad or unmatched name.
  auto bad_list = check_campaign(replace(kValid, "[2.6, 4.5, 8.5]", "{range: [1, 3]}"));
  EXPECT_TRUE(bad_list.has(14, "for_each.forcing: must be a non-empty list of values")) << bad_list.text();
  EXPECT_EQ(bad_list.text().find("has no for_each list"), std::string::npos) << bad_list.text();
  EXPECT_EQ(bad_list.text().find("stage names may use"), std::string::npos) << bad_list.text();
}

TEST(Validation, UnknownProject) {
  auto c = check_campaign(replace(kValid, "    project: ensemble\n", "    project: ensembel\n"));
  EXPECT_TRUE(c.has(7, "unknown project 'ensembel'; did you mean 'ensemble'?")) << c.text();
}

TEST(Validation, StageTooLargeForTheJob) {
  auto c = check_campaign(kValid);
  ASSERT_TRUE(c.diagnostics.empty());
  perennial::Diagnostics d;
  perennial::check_job_size(*c.graph, 1, d);
  ASSERT_EQ(d.size(), 4u) << d.to_string();  // spinup and the three scenarios ask for 2
  EXPECT_NE(d.to_string().find("test.yaml:8:12: stages.spinup.ranks: asks for 2 ranks but this job has 1 worker ranks"),
            std::string::npos) << d.to_string();
  perennial::Diagnostics fits;
  perennial::check_job_size(*c.graph, 2, fits);
  EXPECT_TRUE(fits.empty());
}

TEST(Validation, AllErrorsAreReportedAtOnce) {
  auto c = check_campaign(replace(replace(kValid, "steps: 800", "stpes: 800"), "kernel: ensemble-mean", "kernel: nope"));
  // The typo is reported once for its template, not once per ensemble member.
  EXPECT_EQ(c.diagnostics.size(), 2u) << c.text();
  EXPECT_TRUE(c.has(17, "stpes")) << c.text();
  EXPECT_TRUE(c.has(21, "unknown kernel 'nope'")) << c.text();
}

TEST(Validation, MissingFileIsReported) {
  auto loaded = perennial::load_campaign_file("/nonexistent/campaign.yaml");
  ASSERT_EQ(loaded.diagnostics.size(), 1u);
  EXPECT_NE(loaded.diagnostics.to_string().find("/nonexistent/campaign.yaml:0:0: file: cannot be read"), std::string::npos);
}

}  // namespace

namespace {
TEST(Validation, EmptyOrNonMappingFilesAreNamed) {
  auto empty = check_campaign("");
  EXPECT_TRUE(empty.has(1, "the campaign file is empty")) << empty.text();
  auto list = check_campaign("- a\n- b\n");
  EXPECT_TRUE(list.has(1, "must be a YAML mapping")) << list.text();
  auto dir = perennial::load_campaign_file("/tmp");
  EXPECT_NE(dir.diagnostics.to_string().find("is a directory"), std::string::npos);
}
}  // namespace

namespace {
TEST(Validation, CheckpointSettingsMergeAndAreChecked) {
  auto c = check_campaign(R"(campaign: ck
checkpoint: {keep: 2, mtbf: 12h, max_lost_work: 10min}
stages:
  - {name: a, kernel: any}
  - {name: b, kernel: any, checkpoint: {interval: 50 steps}}
  - {name: c, kernel: any, checkpoint: {interval: 30min, keep: 5}}
  - {name: d, kernel: any, checkpoint: {enabled: false}}
)");
  ASSERT_TRUE(c.diagnostics.empty()) << c.text();
  const auto& a = c.graph->stage(0).checkpoint;
  EXPECT_EQ(a.keep, 2);
  EXPECT_EQ(a.node_mtbf_seconds, 12 * 3600.0);
  EXPECT_EQ(a.max_lost_work_seconds, 600.0);
  EXPECT_FALSE(a.interval_seconds);
  EXPECT_EQ(c.graph->stage(1).checkpoint.interval_steps, 50u);
  EXPECT_EQ(c.graph->stage(1).checkpoint.keep, 2);
  EXPECT_EQ(c.graph->stage(2).checkpoint.interval_seconds, 1800.0);
  EXPECT_EQ(c.graph->stage(2).checkpoint.keep, 5);
  EXPECT_FALSE(c.graph->stage(3).checkpoint.enabled);

  auto bad = check_campaign("campaign: x\ncheckpoint: {keep: 0, mtbf: often, intervall: 5}\nstages:\n  - {name: a, kernel: any}\n");
  EXPECT_TRUE(bad.has(2, "checkpoint.keep: 0 is below the minimum 1")) << bad.text();
  EXPECT_TRUE(bad.has(2, "checkpoint.mtbf: 'often' is not a positive duration")) << bad.text();
  EXPECT_TRUE(bad.has(2, "did you mean 'interval'?")) << bad.text();
}
}  // namespace
