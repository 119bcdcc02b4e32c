// Stages that run an existing model executable (`command:`): the campaign fields and their
// errors, and the plain text work around the model (templates, launcher lines, restart sets,
// output lines), all without MPI.

#include "test_support.hpp"

#include <perennial/errors.hpp>
#include <perennial/external_model.hpp>

#include <fstream>

using perennial::testing::check_campaign;

namespace perennial {
namespace {

// A campaign folder holding a namelist template; the model is `sh` (always on PATH).
struct CampaignFolder {
  std::filesystem::path dir = testing::fresh_directory("external", ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::path file = dir / "campaign.yaml";
  CampaignFolder() {
    std::ofstream(dir / "ocean.nml") << "&ocean\n  forcing = {forcing}\n  restart_step = {restart_step}\n/\n";
  }
};

std::string ocean_campaign(const std::string& extra = "", const std::string& command = "[sh, -c, 'exit 0']") {
  return "campaign: c\n"                                           // 1
         "stages:\n"                                               // 2
         "  - name: ocean-{forcing}\n"                             // 3
         "    for_each: {forcing: [1.0, 2.0]}\n"                   // 4
         "    command: " + command + "\n"                          // 5
         "    ranks: 2\n"                                          // 6
         "    steps: 100\n"                                        // 7
         "    templates: {input.nml: ocean.nml}\n"                 // 8
         "    restart: {files: 'restart/o.{step}.*.bin', marker: 'restart/o.{step}.done', request: SIGUSR1}\n"  // 9
         "    progress: {pattern: '^step ([0-9]+) time ([0-9.eE+-]+)'}\n"  // 10
         "    metrics: {mean_sst: 'mean_sst=([-+.0-9eE]+)'}\n"     // 11
         "    outputs: {sst: {file: out.h5, dataset: sst, dtype: float64, dims: [x], units: K}}\n"  // 12
         + extra;
}

TEST(CommandStages, AValidCommandStageKeepsEverythingItDeclares) {
  CampaignFolder f;
  auto c = check_campaign(ocean_campaign(), f.file.string());
  ASSERT_TRUE(c.diagnostics.empty()) << c.text();
  const StageSpec& s = c.graph->stage(*c.graph->find("ocean-2.0"));
  ASSERT_TRUE(s.command);
  EXPECT_TRUE(s.kernel.empty());
  EXPECT_EQ(s.what_runs(), "command:sh");
  EXPECT_EQ(s.command->command.size(), 3u);
  ASSERT_EQ(s.command->templates.size(), 1u);
  EXPECT_NE(s.command->templates[0].text.find("forcing = {forcing}"), std::string::npos);
  ASSERT_TRUE(s.command->restart);
  EXPECT_EQ(s.command->restart->signal, SIGUSR1);
  EXPECT_TRUE(s.checkpoint.enabled);
  ASSERT_EQ(s.command->outputs.size(), 1u);
  EXPECT_EQ(s.command->outputs[0].file, "out.h5");
}

TEST(CommandStages, WithoutRestartFilesTheStageCannotCheckpoint) {
  CampaignFolder f;
  std::string text = ocean_campaign();
  text.erase(text.find("    restart:"), text.find("    progress:") - text.find("    restart:"));
  auto c = check_campaign(text, f.file.string());
  ASSERT_TRUE(c.diagnostics.empty()) << c.text();
  EXPECT_FALSE(c.graph->stage(0).checkpoint.enabled);
}

TEST(CommandStages, EveryMistakeIsNamedWithItsLineAndField) {
  CampaignFolder f;
  std::string text = ocean_campaign(
      "  - name: broken\n"                                                       // 13
      "    command: 'ocean_model input.nml'\n"                                   // 14
      "    templates: {input.nml: missing.nml, ../x: ocean.nml}\n"               // 15
      "    restart: {files: 'restart/o.bin', request: SIGFOO, count: 0}\n"       // 16
      "    progress: {pattern: 'step [0-9]+'}\n"                                 // 17
      "    metrics: {rmse: 'rmse=(['}\n"                                         // 18
      "    launcher: mpiexec\n"                                                  // 19
      "  - name: both\n"                                                         // 20
      "    kernel: heat2d\n"                                                     // 21
      "    command: [sh]\n"                                                      // 22
      "    restart: {files: 'r.{step}'}\n"                                       // 23
      "  - name: nowhere\n"                                                      // 24
      "    command: [no-such-model-anywhere]\n"                                  // 25
      "  - name: typo\n"                                                         // 26
      "    command: [sh, '{forcng}']\n"                                          // 27
      "    parameters: {forcing: 1}\n"                                           // 28
      "    outputs: {sst: {dtype: float64, dims: [x], units: K}}\n");            // 29
  auto c = check_campaign(text, f.file.string());
  EXPECT_TRUE(c.has(14, "must be a non-empty list")) << c.text();
  EXPECT_TRUE(c.has(15, "cannot be read")) << c.text();
  EXPECT_TRUE(c.has(15, "inside the stage's run folder")) << c.text();
  EXPECT_TRUE(c.has(16, "must contain {step}")) << c.text();
  EXPECT_TRUE(c.has(16, "SIGFOO")) << c.text();
  EXPECT_TRUE(c.has(16, "at least 1")) << c.text();
  EXPECT_TRUE(c.has(17, "capture group")) << c.text();
  EXPECT_TRUE(c.has(18, "not a valid regular expression")) << c.text();
  EXPECT_TRUE(c.has(19, "none of auto, mpirun, srun, none")) << c.text();
  EXPECT_TRUE(c.has(22, "a kernel or a command, not both")) << c.text();
  EXPECT_TRUE(c.has(25, "not found on PATH")) << c.text();
  EXPECT_TRUE(c.has(29, "missing required field 'file'")) << c.text();
  // The placeholder's stage and its nearest parameter.
  EXPECT_NE(c.text().find("{forcng}"), std::string::npos) << c.text();
  EXPECT_NE(c.text().find("did you mean 'forcing'"), std::string::npos) << c.text();
}

TEST(CommandStages, KernelStagesRefuseTheCommandFields) {
  CampaignFolder f;
  auto c = check_campaign("campaign: c\n"
                          "stages:\n"
                          "  - name: a\n"
                          "    kernel: heat2d\n"
                          "    restart: {files: 'r.{step}'}\n"  // 5
                          "    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K, file: t.h5}}\n",  // 6
                          f.file.string());
  EXPECT_TRUE(c.has(5, "only a stage that runs a `command:`")) << c.text();
  EXPECT_TRUE(c.has(6, "only outputs of a `command:` stage")) << c.text();
}

TEST(CommandStages, TemplatePlaceholdersMustBeParametersOrBuiltIns) {
  CampaignFolder f;
  std::ofstream(f.dir / "ocean.nml") << "&ocean\n  forcing = {forcing}\n  depth = {depht}\n  every = {checkpoint_steps}\n/\n";
  auto c = check_campaign(ocean_campaign("", "[sh]"), f.file.string());
  EXPECT_NE(c.text().find("{depht}"), std::string::npos) << c.text();
  EXPECT_NE(c.text().find("checkpoint: {interval: N steps}"), std::string::npos) << c.text();
  EXPECT_EQ(c.diagnostics.size(), 2u) << "reported once for both members\n" << c.text();
}

TEST(CommandStages, APromiseJudgesByAMetricTheOutputIsReadFor) {
  CampaignFolder f;
  std::string text = ocean_campaign("    promise: {metric: rmse}\n");
  auto c = check_campaign(text, f.file.string());
  EXPECT_TRUE(c.has(13, "no metric 'rmse'")) << c.text();
}

TEST(Templates, FillValuesAndKeepDoubledBraces) {
  EXPECT_EQ(fill_template("a = {x}, b = '{y}' {{literal}}\n", {{"x", "1.5"}, {"y", "ssp"}}), "a = 1.5, b = 'ssp' {literal}\n");
  EXPECT_EQ(template_placeholders("{a} {{b}} {c}"), (std::vector<std::string>{"a", "c"}));
}

TEST(Templates, AMissingValueOrAnUnclosedBraceNamesItsLine) {
  try {
    fill_template("ok\nx = {nope}\n", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 2: no value for '{nope}'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(template_placeholders("x = {open\n}"), Error);
}

TEST(LaunchLine, MpirunGetsTheGroupsHostsWithTheirSlots) {
  ExternalModelSpec spec;
  const auto line = launch_line(spec, {"ocean", "input.nml"}, {"n1", "n1", "n2"}, false, true);
  EXPECT_EQ(line, (std::vector<std::string>{"mpirun", "--allow-run-as-root", "--host", "n1:2,n2:1", "-np", "3",
                                            "--bind-to", "none", "ocean", "input.nml"}));
}

TEST(LaunchLine, InsideSlurmAJobStepOnTheGroupsNodes) {
  ExternalModelSpec spec;
  const auto line = launch_line(spec, {"ocean"}, {"n1", "n2"}, true, false);
  EXPECT_EQ(line, (std::vector<std::string>{"srun", "--overlap", "--ntasks=2", "--nodelist=n1,n2", "--cpu-bind=none",
                                            "--kill-on-bad-exit=1", "ocean"}));
}

TEST(LaunchLine, NoneAndACustomLauncher) {
  ExternalModelSpec spec;
  spec.launcher = {"none"};
  EXPECT_EQ(launch_line(spec, {"ocean"}, {"n1"}, true, true), (std::vector<std::string>{"ocean"}));
  spec.launcher = {"aprun", "-n", "{ranks}", "-L", "{hosts}"};
  EXPECT_EQ(launch_line(spec, {"ocean"}, {"a", "b", "b"}, false, false),
            (std::vector<std::string>{"aprun", "-n", "3", "-L", "a,b", "ocean"}));
}

TEST(RestartSets, AMarkedSetOfOneFilePerRankIsWhole) {
  RestartFilesSpec spec{"restart/o.{step}.*.bin", 0, "restart/o.{step}.done", 0, 600.0};
  const std::vector<std::string> files = {"restart/o.100.0.bin", "restart/o.100.1.bin", "restart/o.100.done",
                                          "restart/o.200.0.bin", "restart/o.200.1.bin",  // being written: no marker
                                          "input.nml", "restart/o.300.0.bin.partial"};
  const auto sets = find_restart_sets(spec, files);
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[0].marker_file, "restart/o.100.done");
  const auto whole = newest_whole_set(spec, sets, 2, false);
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->step, 100u);
  EXPECT_EQ(whole->files, (std::vector<std::string>{"restart/o.100.0.bin", "restart/o.100.1.bin"}));
  EXPECT_FALSE(newest_whole_set(spec, sets, 3, false)) << "three ranks write three files";
}

TEST(RestartSets, WithoutAMarkerASetIsWholeOnceALaterOneStartsOrTheModelEnded) {
  RestartFilesSpec spec{"r{step}.nc", 1, "", 0, 600.0};
  const auto sets = find_restart_sets(spec, {"r10.nc", "r20.nc"});
  EXPECT_EQ(newest_whole_set(spec, sets, 4, false)->step, 10u);
  EXPECT_EQ(newest_whole_set(spec, sets, 4, true)->step, 20u);
}

TEST(ModelOutput, ProgressAndMetricsFromOutputLines) {
  ExternalModelSpec spec;
  spec.progress_pattern = "^step ([0-9]+) time +([-+.0-9Ee]+)";
  spec.metric_patterns = {{"mean_sst", "mean_sst=([-+.0-9Ee]+)"}};
  ModelOutputReader reader(spec);
  const auto seen = reader.line("step 250 time  9.0000000000000000E+05 mean_sst=290.97");
  EXPECT_EQ(seen.step, 250u);
  EXPECT_DOUBLE_EQ(*seen.time, 9.0e5);
  ASSERT_EQ(seen.metrics.size(), 1u);
  EXPECT_DOUBLE_EQ(seen.metrics[0].second, 290.97);
  const auto other = reader.line("restart written at step 200");
  EXPECT_FALSE(other.step);
  EXPECT_TRUE(other.metrics.empty());
}

}  // namespace
}  // namespace perennial
