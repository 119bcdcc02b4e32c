// Every validation error `perennial validate` promises, each with its line number.

#include "test_support.hpp"

#include <thread>

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
  EXPECT_TRUE(c.has(8, "stages.spinup.ranks: must be a whole number, not 'two'")) << c.text();
  auto zero = check_campaign(replace(kValid, "    ranks: 2\n    steps: 400", "    ranks: 0\n    steps: 400"));
  EXPECT_TRUE(zero.has(8, "stages.spinup.ranks: must be a whole number of at least 1, not 0")) << zero.text();
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
  EXPECT_TRUE(bad.has(2, "checkpoint.keep: must be a whole number of at least 1, not 0")) << bad.text();
  EXPECT_TRUE(bad.has(2, "checkpoint.mtbf: 'often' is not a positive duration")) << bad.text();
  EXPECT_TRUE(bad.has(2, "did you mean 'interval'?")) << bad.text();
}
}  // namespace

// Issue 12: numbers in a campaign file have sane bounds, and a number out of them is an error
// naming the field and its line, never a value that wraps around or a crash.
namespace {
TEST(Validation, StepsAreAWholeNumberOfAtLeastOne) {
  auto negative = check_campaign(replace(kValid, "steps: 400", "steps: -5"));
  EXPECT_TRUE(negative.has(9, "stages.spinup.steps: must be a whole number of at least 1, not -5")) << negative.text();
  auto zero = check_campaign(replace(kValid, "steps: 400", "steps: 0"));
  EXPECT_TRUE(zero.has(9, "stages.spinup.steps: must be a whole number of at least 1, not 0")) << zero.text();
  auto fraction = check_campaign(replace(kValid, "steps: 400", "steps: 2.5"));
  EXPECT_TRUE(fraction.has(9, "stages.spinup.steps: must be a whole number, not 2.5")) << fraction.text();
  auto huge = check_campaign(replace(kValid, "steps: 400", "steps: 9007199254740993"));
  EXPECT_TRUE(huge.has(9, "stages.spinup.steps: must be at most 9007199254740992, not 9007199254740993")) << huge.text();
  auto words = check_campaign(replace(kValid, "    ranks: 2\n    steps: 400", "    ranks: two\n    steps: 400"));
  EXPECT_TRUE(words.has(8, "stages.spinup.ranks: must be a whole number, not 'two'")) << words.text();
  auto exponent = check_campaign(replace(kValid, "steps: 400", "steps: 1e3"));
  ASSERT_TRUE(exponent.diagnostics.empty()) << exponent.text();
  EXPECT_EQ(exponent.graph->stage(0).steps, 1000u);
}

TEST(Validation, EveryNumberHasBounds) {
  auto c = check_campaign(R"(campaign: bounds
projects:
  - {name: p, allocation_core_hours: 1e400, share: -1}
checkpoint: {keep: 1001}
scheduling:
  weights: {priority: inf, fairshare: 1e10, age: nan}
  backfill_depth: 0
  max_age: 1000000w
stages:
  - {name: a, kernel: any, ranks: 1000001, cores_per_rank: 2000000, gpus_per_rank: -1}
  - {name: b, kernel: any, memory_per_rank: 2PiB, priority: 1000001, walltime: 0s}
  - {name: c, kernel: any, step_time: 1000000w, steps: 18446744073709551616}
)");
  EXPECT_TRUE(c.has(3, "projects[0].allocation_core_hours: must be at most")) << c.text();
  EXPECT_TRUE(c.has(3, "projects[0].share: must be at least 0, not -1")) << c.text();
  EXPECT_TRUE(c.has(4, "checkpoint.keep: must be at most 1000, not 1001")) << c.text();
  EXPECT_TRUE(c.has(6, "scheduling.weights.priority: must be a finite number, not 'inf'")) << c.text();
  EXPECT_TRUE(c.has(6, "scheduling.weights.fairshare: must be at most")) << c.text();
  EXPECT_TRUE(c.has(6, "scheduling.weights.age: must be a finite number, not 'nan'")) << c.text();
  EXPECT_TRUE(c.has(7, "scheduling.backfill_depth: must be a whole number of at least 1, not 0")) << c.text();
  EXPECT_TRUE(c.has(8, "scheduling.max_age: must be at most 100 years, not '1000000w'")) << c.text();
  EXPECT_TRUE(c.has(10, "stages.a.ranks: must be at most 1000000, not 1000001")) << c.text();
  EXPECT_TRUE(c.has(10, "stages.a.cores_per_rank: must be at most 1000000, not 2000000")) << c.text();
  EXPECT_TRUE(c.has(10, "stages.a.gpus_per_rank: must be a whole number of at least 0, not -1")) << c.text();
  EXPECT_TRUE(c.has(11, "stages.b.memory_per_rank: must be at most 1 PiB, not '2PiB'")) << c.text();
  EXPECT_TRUE(c.has(11, "stages.b.priority: must be at most 1000000, not 1000001")) << c.text();
  EXPECT_TRUE(c.has(11, "stages.b.walltime: '0s' is not a positive duration")) << c.text();
  EXPECT_TRUE(c.has(12, "stages.c.step_time: must be at most 100 years, not '1000000w'")) << c.text();
  EXPECT_TRUE(c.has(12, "stages.c.steps: must be at most 9007199254740992, not 18446744073709551616")) << c.text();
}

// Numbers too long for any machine type were read with std::stoull/std::stod, whose
// out_of_range exception escaped the loader.
TEST(Validation, OverlongNumbersAreErrorsNotCrashes) {
  const std::string digits(400, '9');
  perennial::testing::Checked c;
  EXPECT_NO_THROW(c = check_campaign("campaign: long\n"
                                     "checkpoint: {interval: " + digits + " steps}\n"
                                     "stages:\n"
                                     "  - {name: a, kernel: any, walltime: " + digits + "s}\n"
                                     "  - {name: b, kernel: any, memory_per_rank: " + digits + "GB}\n"));
  EXPECT_TRUE(c.has(2, "checkpoint.interval: must be at most")) << c.text();
  EXPECT_TRUE(c.has(4, "stages.a.walltime: must be at most 100 years")) << c.text();
  EXPECT_TRUE(c.has(5, "stages.b.memory_per_rank: must be at most 1 PiB")) << c.text();
}

// A stage's total cores (ranks x cores_per_rank) are counted by the scheduler; a total too
// large to count is refused, not wrapped into a negative number.
TEST(Validation, StageTotalsMustBeCountable) {
  auto c = check_campaign(R"(campaign: totals
stages:
  - {name: wide, kernel: any, ranks: 1000000, cores_per_rank: 3000}
  - {name: fine, kernel: any, ranks: 1000000, cores_per_rank: 2000}
)");
  EXPECT_TRUE(c.has(3, "stages.wide.cores_per_rank: 1000000 ranks x 3000 cores per rank is 3000000000 cores")) << c.text();
  EXPECT_EQ(c.diagnostics.size(), 1u) << c.text();
}
}  // namespace

// Issue 12: kernels declare their parameters, and every stage's are checked against them
// before anything runs: `forcng: 8.5` ran with forcing 0, a missing `ny` failed a week later.
namespace {
bool has_at(const perennial::testing::Checked& c, const std::string& where_and_text) {
  return c.text().find(where_and_text) != std::string::npos;
}

TEST(Parameters, UnknownNamesWrongTypesAndRangesNameTheParameterAndItsPosition) {
  const std::string spinup = "parameters: {nx: 128, ny: 64, forcing: 0.0}";
  auto typo = check_campaign(replace(kValid, spinup, "parameters: {nx: 128, ny: 64, forcng: 8.5}"));
  EXPECT_TRUE(has_at(typo, "test.yaml:10:43: stages.spinup.parameters.forcng: kernel 'heat2d' takes no parameter "
                           "'forcng'; did you mean 'forcing'?")) << typo.text();
  EXPECT_EQ(typo.diagnostics.size(), 1u) << typo.text();
  auto fraction = check_campaign(replace(kValid, spinup, "parameters: {nx: 12.5, ny: 64}"));
  EXPECT_TRUE(has_at(fraction, "test.yaml:10:22: stages.spinup.parameters.nx: must be a whole number, not 12.5"))
      << fraction.text();
  auto small = check_campaign(replace(kValid, spinup, "parameters: {nx: 2, ny: 64, heat_capacity: 0}"));
  EXPECT_TRUE(small.has(10, "stages.spinup.parameters.nx: must be at least 3, not 2")) << small.text();
  EXPECT_TRUE(small.has(10, "stages.spinup.parameters.heat_capacity: must be greater than 0, not 0")) << small.text();
  auto word = check_campaign(replace(kValid, spinup, "parameters: {albedo: high}"));
  EXPECT_TRUE(word.has(10, "stages.spinup.parameters.albedo: must be a number, not 'high'")) << word.text();
  auto list = check_campaign(replace(kValid, spinup, "parameters: {albedo: [0.3, 0.4]}"));
  EXPECT_TRUE(list.has(10, "stages.spinup.parameters.albedo: must be a single number, not a list of 2 values"))
      << list.text();
}

TEST(Parameters, EnsembleValuesAreCheckedOncePerTemplateOrPerMember) {
  // Written under `parameters:`: shared by the three members, reported once for the template.
  auto shared = check_campaign(replace(kValid, "    steps: 800\n", "    steps: 800\n    parameters: {albedo: 1.5}\n"));
  EXPECT_TRUE(shared.has(18, "stages.ssp-{forcing}.parameters.albedo: must be at most 1, not 1.5")) << shared.text();
  EXPECT_EQ(shared.diagnostics.size(), 1u) << shared.text();
  // A for_each value is its member's own, reported where the value is written.
  auto member = check_campaign(replace(kValid, "[2.6, 4.5, 8.5]", "[2.6, hot, 8.5]"));
  EXPECT_TRUE(has_at(member, "test.yaml:14:31: stages.ssp-hot.parameters.forcing: must be a number, not 'hot'"))
      << member.text();
  EXPECT_EQ(member.diagnostics.size(), 1u) << member.text();
  // A for_each key becomes a parameter, so a misspelt key is caught like a misspelt parameter.
  auto key = check_campaign(replace(replace(kValid, "ssp-{forcing}", "ssp-{forcng}"), "{forcing: [", "{forcng: ["));
  EXPECT_TRUE(key.has(14, "stages.ssp-2.6.parameters.forcng: kernel 'heat2d' takes no parameter 'forcng'; did you "
                          "mean 'forcing'? (for_each passes each of its keys to the kernel as a parameter)"))
      << key.text();
}

TEST(Parameters, RequiredListsStringsAndBooleans) {
  auto c = check_campaign(R"(campaign: p
stages:
  - name: a
    kernel: grid
    parameters:
      levels: [1000, 850, -1]
      verbose: maybe
  - {name: b, kernel: grid, parameters: {ny: 4, levels: 5, label: x, verbose: yes}}
  - {name: c, kernel: grid}
  - {name: d, kernel: grid, parameters: {ny: [1, 2]}}
)");
  EXPECT_TRUE(has_at(c, "test.yaml:5:5: stages.a.parameters.ny: kernel 'grid' needs parameter 'ny' (rows; integer, "
                        "required, >= 1, in cells)")) << c.text();
  EXPECT_TRUE(c.has(6, "stages.a.parameters.levels: item 3: must be at least 0, not -1")) << c.text();
  EXPECT_TRUE(c.has(7, "stages.a.parameters.verbose: must be true or false, not 'maybe'")) << c.text();
  EXPECT_TRUE(c.has(9, "stages.c.parameters.ny: kernel 'grid' needs parameter 'ny'")) << c.text();
  EXPECT_TRUE(c.has(10, "stages.d.parameters.ny: must be a single integer, not a list of 2 values")) << c.text();
  EXPECT_EQ(c.diagnostics.size(), 5u) << c.text();
}

TEST(Parameters, AKernelThatDeclaresNoneTakesAnyUnlessItSaysItTakesNone) {
  auto any = check_campaign("campaign: p\nstages:\n  - {name: a, kernel: any, parameters: {whatever: 1}}\n");
  EXPECT_TRUE(any.diagnostics.empty()) << any.text();
  auto none = check_campaign("campaign: p\nstages:\n  - {name: a, kernel: ensemble-mean, parameters: {weights: 1}}\n");
  EXPECT_TRUE(none.has(3, "stages.a.parameters.weights: kernel 'ensemble-mean' takes no parameter 'weights' (it takes none)"))
      << none.text();
}

TEST(Parameters, DefaultsFillOnlyWhatTheStageLeavesOut) {
  std::map<std::string, perennial::ParameterSpec> declared = {
      {"forcing", {.type = perennial::ParameterType::number, .default_value = "0.0"}},
      {"dt", {.type = perennial::ParameterType::number, .default_value = ""}},  // derived by the kernel
      {"nx", {.type = perennial::ParameterType::integer}},                      // required
  };
  perennial::Parameters p("s");
  p.set("nx", "16");
  p.set("forcing", "4.5");
  p.fill_defaults(declared);
  EXPECT_EQ(p.get<double>("forcing"), 4.5);
  EXPECT_FALSE(p.contains("dt"));
  perennial::Parameters empty("s");
  empty.fill_defaults(declared);
  EXPECT_EQ(empty.get<double>("forcing"), 0.0);
  EXPECT_FALSE(empty.contains("nx"));
  EXPECT_EQ(perennial::describe(declared["forcing"]), "number, default 0.0");
  EXPECT_EQ(perennial::describe({.type = perennial::ParameterType::number, .default_value = "0.33", .min = 0, .max = 1,
                                 .units = "1"}),
            "number, default 0.33, 0 to 1, dimensionless");
}
}  // namespace

namespace {
// A for_each list whose items are not values was reported, then expanded with the missing
// items read past the end of the list (`perennial validate` crashed).
TEST(Validation, ForEachItemsThatAreNotValuesAreReportedAndNotExpanded) {
  auto c = check_campaign("campaign: fe\nstages:\n  - {name: \"a-{x}\", kernel: any, for_each: {x: [[1], [2]]}}\n");
  EXPECT_TRUE(c.has(3, "stages.a-{x}.for_each.x: must be a single value")) << c.text();
  ASSERT_TRUE(c.graph);
  EXPECT_EQ(c.graph->size(), 0u);
}
}  // namespace

// `promise:` and `simulate:` (issue 14): read on a stage or a for_each template, each member
// getting its own simulated levels; every mistake named with its field and line.
TEST(Promise, ATemplatesPromiseAndSimulatedMetricsAreReadForEachMember) {
  auto c = check_campaign(R"(campaign: promise
stages:
  - name: "ssp-{level}"
    for_each: {level: [0.2, 0.9]}
    kernel: any
    steps: 1000
    promise: {metric: skill, direction: min, rungs: {first: 2 years, reduction: 4}, bottom: stop, weight: 2.5}
    simulate: {metrics: {skill: {value: "{level}", noise: 0.05}}}
  - {name: plain, kernel: any, steps: 10, promise: {metric: skill}}
)");
  ASSERT_TRUE(c.diagnostics.empty()) << c.text();
  const perennial::StageSpec& low = c.graph->stage(*c.graph->find("ssp-0.2"));
  ASSERT_TRUE(low.promise);
  EXPECT_EQ(low.promise->metric, "skill");
  EXPECT_FALSE(low.promise->maximise);
  ASSERT_TRUE(low.promise->first_rung);
  EXPECT_DOUBLE_EQ(*low.promise->first_rung, 2.0);
  EXPECT_TRUE(low.promise->rungs_in_years);
  EXPECT_DOUBLE_EQ(low.promise->reduction, 4.0);
  EXPECT_EQ(low.promise->bottom, "stop");
  EXPECT_DOUBLE_EQ(low.promise->weight, 2.5);
  EXPECT_DOUBLE_EQ(low.simulated_metrics.at("skill").value, 0.2);
  EXPECT_DOUBLE_EQ(low.simulated_metrics.at("skill").noise, 0.05);
  EXPECT_DOUBLE_EQ(c.graph->stage(*c.graph->find("ssp-0.9")).simulated_metrics.at("skill").value, 0.9);
  // Alone, the metric picks the defaults: maximised, rungs from a tenth of the steps, pause.
  const perennial::StageSpec& plain = c.graph->stage(*c.graph->find("plain"));
  ASSERT_TRUE(plain.promise);
  EXPECT_TRUE(plain.promise->maximise);
  EXPECT_FALSE(plain.promise->first_rung);
  EXPECT_DOUBLE_EQ(plain.promise->reduction, 3.0);
  EXPECT_EQ(plain.promise->bottom, "pause");
}

TEST(Promise, MistakesAreNamedWithTheirFieldAndLine) {
  auto c = check_campaign(R"(campaign: promise
stages:
  - {name: a, kernel: any, steps: 10, promise: {metric: skill, direction: up}}
  - {name: b, kernel: any, steps: 10, promise: {direction: max}}
  - {name: c, kernel: any, steps: 10, promise: {metric: skill, rungs: {first: 3 weeks, reduction: 1}, bottom: kill}}
  - {name: d, kernel: any, steps: 10, simulate: {metrics: {skill: {value: high, noise: -1}}}}
  - {name: e, kernel: heat2d, steps: 10, promise: {metric: skil},
     outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}}
)");
  EXPECT_TRUE(c.has(3, "stages.a.promise.direction: must be max or min, not 'up'")) << c.text();
  EXPECT_TRUE(c.has(4, "stages.b.promise: missing required field 'metric'")) << c.text();
  EXPECT_TRUE(c.has(5, "stages.c.promise.rungs.first: must be a positive number of steps or years")) << c.text();
  EXPECT_TRUE(c.has(5, "stages.c.promise.rungs.reduction: must be above 1")) << c.text();
  EXPECT_TRUE(c.has(5, "stages.c.promise.bottom: must be pause, shrink or stop, not 'kill'")) << c.text();
  EXPECT_TRUE(c.has(6, "stages.d.simulate.metrics.skill.value: 'high' is not a number")) << c.text();
  EXPECT_TRUE(c.has(6, "stages.d.simulate.metrics.skill.noise: '-1' is not a non-negative number")) << c.text();
  EXPECT_TRUE(c.has(7, "stages.e.promise.metric: kernel 'heat2d' reports no metric 'skil' (it reports: "
                       "global_mean_temperature, skill); did you mean 'skill'?"))
      << c.text();
}

// `policy: ucb` and its settings; each policy's settings refused under the other; ranks ranges.
TEST(Promise, TheUcbPolicyAndRankRangesAreReadAndTheirMistakesNamed) {
  auto ok = check_campaign(R"(campaign: ucb
stages:
  - {name: a, kernel: any, steps: 10, ranks: {min: 2, max: 8},
     promise: {metric: skill, policy: ucb, exploration: 0.5, min_values: 4}}
)");
  ASSERT_TRUE(ok.diagnostics.empty()) << ok.text();
  const perennial::StageSpec& a = ok.graph->stage(0);
  EXPECT_TRUE(a.promise->ucb);
  EXPECT_DOUBLE_EQ(a.promise->exploration, 0.5);
  EXPECT_EQ(a.promise->min_values, 4);
  EXPECT_EQ(a.ranks, 2);
  EXPECT_EQ(a.most_ranks(), 8);
  auto c = check_campaign(R"(campaign: ucb
stages:
  - {name: a, kernel: any, steps: 10, promise: {metric: skill, policy: ucb, rungs: {reduction: 3}}}
  - {name: b, kernel: any, steps: 10, promise: {metric: skill, exploration: 2}}
  - {name: c, kernel: any, steps: 10, promise: {metric: skill, policy: random}}
  - {name: d, kernel: any, steps: 10, ranks: {min: 4, max: 2}}
  - {name: e, kernel: any, steps: 10, ranks: {min: 4}}
)");
  EXPECT_TRUE(c.has(3, "stages.a.promise.rungs: applies to policy: halving, not ucb")) << c.text();
  EXPECT_TRUE(c.has(4, "stages.b.promise.exploration: applies to policy: ucb (add policy: ucb)")) << c.text();
  EXPECT_TRUE(c.has(5, "stages.c.promise.policy: must be halving or ucb, not 'random'")) << c.text();
  EXPECT_TRUE(c.has(6, "stages.d.ranks.max: 2 is below min 4")) << c.text();
  EXPECT_TRUE(c.has(7, "stages.e.ranks: a range needs 'min' and 'max'")) << c.text();
}

// Issue 15, point 4: the CF fields and MPI-IO hints, as the coordinator sends them to a stage.
namespace {

TEST(Validation, OutputMetadataAndHintsReachEachStage) {
  std::string text = std::string("calendar: 360_day\ntitle: toy\nstart_date: 1850-1-1\n"
                                 "mpi_io: {hints: {cb_nodes: 4, romio_cb_write: enable}}\n") + kValid;
  text = replace(text, "    steps: 800\n", "    steps: 800\n    start_date: 2015-02-30\n"
                                            "    mpi_io: {hints: {cb_nodes: 2, striping_factor: 8}}\n");
  text = replace(text, "outputs: {mean: {dtype: float64, dims: [lat, lon], units: K}}",
                 "outputs: {mean: {dtype: float64, dims: [lat, lon], units: K, long_name: Ensemble mean,"
                 " standard_name: surface_temperature}}");
  auto c = check_campaign(text);
  ASSERT_TRUE(c.graph) << c.text();
  EXPECT_TRUE(c.diagnostics.empty()) << c.text();
  const auto& spinup = c.graph->stage(*c.graph->find("spinup"));
  const auto& ssp = c.graph->stage(*c.graph->find("ssp-4.5"));
  const auto& analysis = c.graph->stage(*c.graph->find("analysis"));
  EXPECT_EQ(spinup.mpi_io_hints, (perennial::MpiIoHints{{"cb_nodes", "4"}, {"romio_cb_write", "enable"}}));
  EXPECT_EQ(ssp.mpi_io_hints,
            (perennial::MpiIoHints{{"cb_nodes", "2"}, {"romio_cb_write", "enable"}, {"striping_factor", "8"}}));
  EXPECT_EQ(analysis.outputs.at(0).long_name, "Ensemble mean");
  EXPECT_EQ(analysis.outputs.at(0).standard_name, "surface_temperature");

  const auto m = perennial::output_metadata_for(c.graph->campaign(), ssp);
  EXPECT_EQ(m.global, (std::vector<std::pair<std::string, std::string>>{{"Conventions", "CF-1.8"}, {"title", "toy"}}));
  EXPECT_EQ(m.scenario, (std::vector<std::pair<std::string, std::string>>{{"forcing", "4.5"}}));
  EXPECT_EQ(m.time_units, "seconds since 2015-02-30 00:00:00");  // a 360_day date
  EXPECT_EQ(m.calendar, "360_day");
  EXPECT_EQ(perennial::output_metadata_for(c.graph->campaign(), spinup).time_units, "seconds since 1850-01-01 00:00:00");
}

TEST(Validation, BadStandardNamesDatesAndHintsAreNamed) {
  std::string text = std::string("start_date: 1850-02-29\nconventions: ''\nmpi_io: {hints: {cb_nodes: {a: 1}}}\n") + kValid;
  text = replace(text, "units: K}\n  - name: ssp", "units: K, standard_name: 2m_temperature}\n  - name: ssp");
  auto c = check_campaign(text);
  const std::string out = c.text();
  EXPECT_NE(out.find(":1:13: start_date: '1850-02-29': day 29 does not exist in month 2 of the 365_day calendar"),
            std::string::npos) << out;
  EXPECT_NE(out.find(":2:14: conventions: must not be empty"), std::string::npos) << out;
  EXPECT_NE(out.find(":3:28: mpi_io.hints.cb_nodes: a hint's value must be a string or an integer"), std::string::npos)
      << out;
  EXPECT_NE(out.find("stages.spinup.outputs.temperature.standard_name: '2m_temperature' is not a CF standard name"),
            std::string::npos) << out;
}

}  // namespace

// Issue 16, point 4: campaign files are read with libyaml's event parser into a compact tree
// (runtime/src/yaml_document.hpp) rather than yaml-cpp's. Every position below was checked
// against the yaml-cpp loader it replaces: the same lines and columns, and nulls where it had
// them.
namespace {

const char* kPositions = R"(campaign: positions
stages:
  - name: a
    kernel: any
    stpes: 10
    ranks: many
    after: [b, missing]
    parameters:
      seed: [1, [2]]
  - {name: b, kernel: any, ranks: -1, features: [gpu, {x: 1}]}
  - name: c
    kernel:
    steps: 5
  - name: d
    kernel: ~
    outputs: {state: {dtype: float65, dims: [x], units: K}}
)";

TEST(YamlReading, KeysValuesAndItemsKeepTheirLineAndColumnInBlockAndFlowStyle) {
  auto c = check_campaign(kPositions);
  const std::string out = c.text();
  for (const char* expected : {
           "test.yaml:5:5: stages.a.stpes: unknown field 'stpes'; did you mean 'steps'?",
           "test.yaml:6:12: stages.a.ranks: must be a whole number, not 'many'",
           "test.yaml:7:12: stages.a.after: no stage matches 'missing'",
           "test.yaml:9:17: stages.a.parameters.seed: must be a single value",
           "test.yaml:10:35: stages.b.ranks: must be a whole number of at least 1, not -1",
           "test.yaml:10:55: stages.b.features[1]: must be a single value",
           // A value left empty is where the next token starts (yaml-cpp's place for it).
           "test.yaml:13:5: stages.c.kernel: must be a single value",
           // `~` is null, not text.
           "test.yaml:15:13: stages.d.kernel: must be a single value",
           "test.yaml:16:30: stages.d.outputs.state.dtype: unknown dtype 'float65'",
       }) {
    EXPECT_NE(out.find(expected), std::string::npos) << expected << "\n" << out;
  }
  EXPECT_EQ(c.diagnostics.size(), 9u) << out;
}

TEST(YamlReading, AnAliasIsTheAnchoredNodeAndAnUnknownOneIsAnErrorAtItsPlace) {
  const std::string shared = R"(campaign: anchors
stages:
  - name: a
    kernel: any
    parameters: &shared {seed: 1, levels: [1000, 850]}
  - name: b
    kernel: any
    parameters: *shared
)";
  auto c = check_campaign(shared);
  ASSERT_TRUE(c.graph) << c.text();
  EXPECT_TRUE(c.diagnostics.empty()) << c.text();
  const auto& b = c.graph->stage(*c.graph->find("b"));
  EXPECT_EQ(b.parameters.get<std::vector<int>>("levels"), (std::vector<int>{1000, 850}));
  // The alias's values are where the anchor wrote them.
  EXPECT_EQ(b.location_of("parameters.seed").line, 5);

  auto missing = check_campaign(shared + "    steps: *nowhere\n");
  ASSERT_EQ(missing.diagnostics.size(), 1u) << missing.text();
  EXPECT_EQ(missing.diagnostics.items()[0].to_string(),
            "/campaigns/test.yaml:9:12: yaml: the referenced anchor is not defined");
}

TEST(YamlReading, NullsQuotedNullsAndTheFirstDocumentOnly) {
  // Quoted, `null` is a word (here an unknown kernel), not a missing value.
  auto quoted = check_campaign("campaign: q\nstages:\n  - {name: a, kernel: \"null\"}\n  - {name: b, kernel: null}\n");
  EXPECT_TRUE(quoted.has(3, "stages.a.kernel: unknown kernel 'null'")) << quoted.text();
  EXPECT_TRUE(quoted.has(4, "stages.b.kernel: must be a single value")) << quoted.text();
  // As yaml-cpp's Load did, only the first document of the stream is read.
  auto documents = check_campaign("campaign: first\nstages:\n  - {name: a, kernel: any}\n---\ncampaign: [second\n");
  EXPECT_TRUE(documents.diagnostics.empty()) << documents.text();
  ASSERT_TRUE(documents.graph);
  EXPECT_EQ(documents.graph->campaign().name, "first");
  auto empty = check_campaign("# nothing but a comment\n");
  EXPECT_TRUE(empty.has(1, "the campaign file is empty")) << empty.text();
}

TEST(YamlReading, MalformedTextIsOneYamlErrorWithLineAndColumn) {
  auto tab = check_campaign("campaign: tabs\nstages:\n\t- {name: a, kernel: any}\n");
  ASSERT_EQ(tab.diagnostics.size(), 1u) << tab.text();
  EXPECT_EQ(tab.diagnostics.items()[0].field, "yaml");
  EXPECT_EQ(tab.diagnostics.items()[0].where.line, 3);
  // Not UTF-8 (a Latin-1 é): the position of the byte that breaks it, from libyaml's offset.
  auto latin1 = check_campaign("campaign: bytes\nstages:\n  - {name: a, kernel: any, description: \"caf\xe9\"}\n");
  ASSERT_EQ(latin1.diagnostics.size(), 1u) << latin1.text();
  const auto& d = latin1.diagnostics.items()[0];
  EXPECT_EQ(d.field, "yaml");
  EXPECT_EQ(d.where.line, 3);
  EXPECT_EQ(d.where.column, 46);
  EXPECT_NE(d.message.find("UTF-8"), std::string::npos) << d.message;
  // Nesting far deeper than any campaign is refused where it passes 1000 levels (libyaml's
  // scanner is quadratic in the depth: 100,000 `[` took minutes).
  for (const std::string& tail : {std::string(100000, ']') + "\n", std::string("\n")}) {
    auto nested = check_campaign("campaign: deep\nstages: " + std::string(100000, '[') + tail);
    ASSERT_EQ(nested.diagnostics.size(), 1u) << nested.text();
    EXPECT_EQ(nested.diagnostics.items()[0].to_string(), "/campaigns/test.yaml:2:1008: yaml: nested deeper than 1000 levels");
  }
}

// A key given twice in one mapping is refused where it comes again, naming the first: YAML
// forbids it, and libyaml would let one of the values win without a word. In block and flow
// style, in a stage and in its parameters, and in a map too large for the pairwise check.
TEST(YamlReading, AKeyTwiceInOneMappingIsRefusedNamingBothPlaces) {
  auto block = check_campaign("campaign: twice\nstages:\n  - name: a\n    kernel: any\n    steps: 10\n    steps: 100\n");
  ASSERT_EQ(block.diagnostics.size(), 1u) << block.text();
  EXPECT_EQ(block.diagnostics.items()[0].to_string(),
            "/campaigns/test.yaml:6:5: yaml: duplicate key 'steps' in this mapping (also at line 5); a key may appear once");
  EXPECT_FALSE(block.graph);
  auto flow = check_campaign("campaign: twice\nstages:\n  - {name: a, kernel: any, parameters: {seed: 1, seed: 2}}\n");
  ASSERT_EQ(flow.diagnostics.size(), 1u) << flow.text();
  EXPECT_EQ(flow.diagnostics.items()[0].to_string(),
            "/campaigns/test.yaml:3:50: yaml: duplicate key 'seed' in this mapping (also at line 3); a key may appear once");
  std::string many = "campaign: many\nstages:\n  - name: a\n    kernel: any\n    parameters:\n";
  for (int i = 0; i < 40; ++i) many += "      p" + std::to_string(i) + ": 1\n";
  many += "      p7: 2\n";
  auto large = check_campaign(many);
  ASSERT_EQ(large.diagnostics.size(), 1u) << large.text();
  EXPECT_EQ(large.diagnostics.items()[0].to_string(),
            "/campaigns/test.yaml:46:7: yaml: duplicate key 'p7' in this mapping (also at line 13); a key may appear once");
  // The same key in two different mappings is not a duplicate.
  auto apart = check_campaign("campaign: apart\nstages:\n  - {name: a, kernel: any}\n  - {name: b, kernel: any}\n");
  EXPECT_TRUE(apart.diagnostics.empty()) << apart.text();
}

// The shared file name of every position (SourceFile) reads, compares and prints as the
// name it was given.
TEST(YamlReading, PositionsNameTheirFile) {
  auto c = check_campaign(kPositions, "relative/name.yaml");
  ASSERT_FALSE(c.diagnostics.empty());
  for (const auto& d : c.diagnostics.items()) {
    EXPECT_EQ(d.where.file, "relative/name.yaml");
    EXPECT_EQ(d.to_string().rfind("relative/name.yaml:", 0), 0u) << d.to_string();
  }
  EXPECT_EQ(perennial::SourceLocation{}.file.str(), "");
  EXPECT_LT(perennial::SourceFile("a.yaml"), perennial::SourceFile("b.yaml"));
}

// ci/fuzz.sh (fuzz_campaign_loader) found a 14 KB file whose for_each lists multiplied into
// 2.3 million stages and 6 GB: a campaign stops at 500,000 stages, with one error there.
TEST(YamlReading, ForEachListsThatMultiplyBeyondTheBoundAreOneError) {
  std::string members;
  for (int i = 0; i < 1000; ++i) members += (i ? ", " : "") + std::to_string(i);
  auto c = check_campaign("campaign: huge\nstages:\n  - {name: first, kernel: any}\n"
                          "  - name: run-{a}-{b}\n    kernel: any\n    for_each: {a: [" + members + "], b: [" +
                          members + "]}\n  - {name: last, kernel: any}\n");
  ASSERT_EQ(c.diagnostics.size(), 1u) << c.text();
  EXPECT_TRUE(c.has(4, "stages.run-{a}-{b}: the campaign would have more than 500000 stages (this one expands to "
                       "over 500000 for run-{a}-{b})")) << c.text();
  ASSERT_TRUE(c.graph);
  EXPECT_EQ(c.graph->size(), 2u);  // the stages around it are read and checked as usual
}

// Each stage keeps where its fields were written, the names held once per process: a field set
// twice keeps its last place, any order of setting reads the same, and two threads setting the
// same names at once (as the two-thread loader does) each read their own places back.
TEST(YamlReading, FieldLocationsKeepEachFieldsPlace) {
  perennial::FieldLocations where;
  where.set("steps", {"c.yaml", 7, 12});
  where.set("kernel", {"c.yaml", 5, 13});
  where.set("parameters.forcing", {"c.yaml", 9, 16});
  where.set("steps", {"c.yaml", 8, 12});
  EXPECT_EQ(where.size(), 3u);
  ASSERT_TRUE(where.find("steps"));
  EXPECT_EQ(where.find("steps")->line, 8);
  EXPECT_EQ(where.find("parameters.forcing")->column, 16);
  EXPECT_EQ(where.find("kernel")->file, "c.yaml");
  EXPECT_FALSE(where.find("parameters"));
  EXPECT_FALSE(where.find("kernels"));

  auto fill = [] {
    std::vector<perennial::FieldLocations> stages(2000);
    for (int i = 0; i < 2000; ++i) {
      for (int f = 0; f < 12; ++f) {
        stages[i].set("parameters.p" + std::to_string((f * 7 + i) % 12), {"c.yaml", i, f});
      }
    }
    return stages;
  };
  std::vector<perennial::FieldLocations> first, second;
  std::thread other([&] { second = fill(); });
  first = fill();
  other.join();
  for (int i = 0; i < 2000; ++i) {
    for (int f = 0; f < 12; ++f) {
      const auto name = "parameters.p" + std::to_string((f * 7 + i) % 12);
      ASSERT_EQ(first[i].find(name)->column, f) << name;
      ASSERT_EQ(second[i].find(name)->column, f) << name;
      ASSERT_EQ(second[i].find(name)->line, i) << name;
    }
  }
}

}  // namespace
