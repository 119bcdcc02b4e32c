// An existing model executable as a stage (`command:`): examples/external/ocean_box, a
// Fortran MPI model with a namelist and restart files, run beside a C++ kernel. Its worker
// is SIGKILLed, or the campaign is stopped by signal; it resumes from its restart files and
// ends with outputs identical to a run that was never interrupted.

#include "e2e_support.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <regex>

#ifndef PERENNIAL_OCEAN_BOX
#define PERENNIAL_OCEAN_BOX ""
#endif

namespace perennial::e2e {
namespace {

namespace fs = std::filesystem;

// 2400 steps of 1 ms: about 2.5 s of model time on an idle machine, a restart set every 200.
// `quiet`: the model writes nothing on its output (so no broken pipe ends it with its worker).
std::string ocean_campaign(const std::string& model, int steps = 2400, bool quiet = false) {
  const std::string source = PERENNIAL_SOURCE_DIR;
  return "campaign: ocean\n"
         "stages:\n"
         "  - name: atmosphere\n"
         "    kernel: heat2d\n"
         "    ranks: 1\n"
         "    steps: 400\n"
         "    parameters: {nx: 64, ny: 32, forcing: 1.0}\n"
         "    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}\n"
         "  - name: ocean\n"
         "    command: [" + model + "]\n"
         "    ranks: 2\n"
         "    steps: " + std::to_string(steps) + "\n"
         "    parameters: {nx: 96, forcing: 2.0, restart_interval: 200, step_delay_us: 1000, quiet: " +
         (quiet ? ".true." : ".false.") + "}\n"
         "    templates: {input.nml: " + source + "/examples/external/input.nml.template}\n"
         "    restart: {files: 'restart/ocean.{step}.*.bin', marker: 'restart/ocean.{step}.done', request: SIGUSR1}\n"
         "    progress: {pattern: '^step ([0-9]+) time +([-+.0-9Ee]+)'}\n"
         "    metrics: {mean_sst: 'mean_sst=([-+.0-9Ee]+)'}\n"
         "    outputs: {sst: {file: ocean_out.h5, dataset: sst, dtype: float64, dims: [x], units: K}}\n";
}

fs::path write_campaign(const fs::path& dir, const std::string& text) {
  return write_file(dir, "campaign.yaml", text);
}

std::string args(const fs::path& campaign, const fs::path& out) {
  return campaign.string() + " --quiet --heartbeat-timeout 1 --spawn-timeout 20 --output-dir " + out.string();
}

std::string model_or_skip() {
  const std::string model = PERENNIAL_OCEAN_BOX;
  return model.empty() || !fs::exists(model) ? std::string() : model;
}

// The steps the model said it restarted from, in its log's order.
std::vector<int> model_restarts(const fs::path& out) {
  std::ifstream in(out / "model-runs" / "ocean" / "model.log");
  std::vector<int> steps;
  const std::regex line(R"(^restarted from step (\d+))");
  std::smatch m;
  for (std::string text; std::getline(in, text);) {
    if (std::regex_search(text, m, line)) steps.push_back(std::stoi(m[1]));
  }
  return steps;
}

// The pid of the model launcher a worker started (its log: "started the model (pid N)").
int model_launcher_pid(const fs::path& out, int rank) {
  return number_in_worker_log(out, rank, R"(started the model \(pid (\d+)\))");
}

// The model's processes a launcher started (mpirun forks the ranks of its own node itself).
// Found by their parent, so another test's ocean_box is never taken for this one's.
std::vector<int> model_processes(int launcher) {
  const auto found = run_command("pgrep -P " + std::to_string(launcher) + " -x ocean_box", 10);
  std::vector<int> pids;
  std::istringstream lines(found.output);
  for (int pid; lines >> pid;) pids.push_back(pid);
  return pids;
}

// Whether process `pid` is gone (or a zombie nobody reaps: ended all the same) within `seconds`.
bool ends_within(int pid, int seconds) {
  for (int i = 0; i < seconds * 10; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    if (!std::getline(stat, text)) return true;
    const auto close = text.rfind(')');
    if (close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z') return true;
    ::usleep(100000);
  }
  return false;
}

// A run never interrupted: the outputs every other run must equal.
fs::path reference_run(const std::string& model, bool quiet) {
  auto dir = fresh_directory("ocean-reference");
  auto run = run_perennial(4, args(write_campaign(dir, ocean_campaign(model, 2400, quiet)), dir / "run"), 240);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  auto events = read_events(dir / "run");
  EXPECT_TRUE(has_event(events, "stage_completed", "ocean"));
  EXPECT_TRUE(has_event(events, "stage_completed", "atmosphere"));
  return dir / "run";
}

// The step of the one restart set the ocean stage resumed from, checked to be one the model
// writes (every 200 steps, the first at 200); -1 when it resumed other than once.
int kept_set_resumed_from(const std::vector<nlohmann::json>& events) {
  const auto restored = restores(events, "ocean");
  EXPECT_EQ(restored.size(), 1u);
  if (restored.size() != 1) return -1;
  const int step = restored.front().value("step", -1);
  EXPECT_GE(step, 200);
  EXPECT_EQ(step % 200, 0) << "sets come every 200 steps";
  return step;
}

void expect_same_outputs(const fs::path& out, const fs::path& reference) {
  for (const char* stage : {"ocean", "atmosphere"}) {
    EXPECT_TRUE(same_content(out / "outputs" / (std::string(stage) + ".h5"), reference / "outputs" / (std::string(stage) + ".h5")))
        << stage;
  }
}

TEST(ExternalModel, AKilledWorkerTakesItsModelAlongAndTheModelResumesFromItsRestartFilesBitIdentical) {
  const auto model = model_or_skip();
  if (model.empty()) GTEST_SKIP() << "ocean_box was not built (no gfortran or h5pfc)";
  auto dir = fresh_directory("ocean-killed");
  auto out = dir / "run";
  // A quiet model, as most write their logs to files: only the worker's death can end it.
  BackgroundRun run(4, args(write_campaign(dir, ocean_campaign(model, 2400, true)), out));
  ASSERT_TRUE(wait_for_event(out, "checkpoint_committed", "ocean", 2, 120)) << "the model's restart sets were never kept";
  const auto started = events_of(read_events(out), "stage_started", "ocean");
  ASSERT_EQ(started.size(), 1u);
  const int leader = started.front()["ranks"].at(0).get<int>();
  const int pid = worker_pid(out, leader);
  ASSERT_GT(pid, 0);
  const int launcher = model_launcher_pid(out, leader);
  ASSERT_GT(launcher, 0);
  const auto ranks = model_processes(launcher);
  ASSERT_EQ(ranks.size(), 2u) << "the model's two processes, children of its mpirun";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  // The model's launcher and the model go with their worker, within seconds.
  EXPECT_TRUE(ends_within(launcher, 10)) << "the model's mpirun (pid " << launcher << ") outlived its worker";
  for (int rank : ranks) EXPECT_TRUE(ends_within(rank, 10)) << "model process " << rank << " outlived its worker";
  auto result = run.wait(240);
  ASSERT_NE(result.exit_code, 124) << "hung after the kill\n" << result.output;
  ASSERT_EQ(result.exit_code, 0) << result.output;

  auto events = read_events(out);
  EXPECT_FALSE(events_of(events, "rank_dead").empty());
  const int step = kept_set_resumed_from(events);
  ASSERT_GE(step, 0) << "the model did not resume from a kept restart set";
  // The model was told to read that set (a quiet model says nothing; one that could not read
  // it would have failed the stage).
  std::ifstream namelist(out / "model-runs" / "ocean" / "input.nml");
  const std::string nml((std::istreambuf_iterator<char>(namelist)), std::istreambuf_iterator<char>());
  EXPECT_NE(nml.find("restart_step = " + std::to_string(step) + "\n"), std::string::npos) << nml;
  expect_same_outputs(out, reference_run(model, true));
}

// The model alone killed (as the OOM killer would): no rank died, the stage resumes from
// its restart files on the same ranks.
TEST(ExternalModel, AModelKilledOnItsOwnResumesFromItsRestartFilesBitIdentical) {
  const auto model = model_or_skip();
  if (model.empty()) GTEST_SKIP() << "ocean_box was not built (no gfortran or h5pfc)";
  auto dir = fresh_directory("ocean-model-killed");
  auto out = dir / "run";
  BackgroundRun run(4, args(write_campaign(dir, ocean_campaign(model, 2400, true)), out));
  ASSERT_TRUE(wait_for_event(out, "checkpoint_committed", "ocean", 2, 120)) << "the model's restart sets were never kept";
  const auto started = events_of(read_events(out), "stage_started", "ocean");
  ASSERT_EQ(started.size(), 1u);
  const auto ranks = model_processes(model_launcher_pid(out, started.front()["ranks"].at(0).get<int>()));
  ASSERT_EQ(ranks.size(), 2u) << "the model's two processes, children of its mpirun";
  ASSERT_EQ(::kill(ranks.back(), SIGKILL), 0);
  auto result = run.wait(240);
  ASSERT_NE(result.exit_code, 124) << "hung after the kill\n" << result.output;
  ASSERT_EQ(result.exit_code, 0) << result.output;
  auto events = read_events(out);
  EXPECT_TRUE(events_of(events, "rank_dead").empty()) << "no rank died: only the model";
  const auto lost = events_of(events, "stage_lost", "ocean");
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_NE(lost.front().value("model_lost", "").find("signal 9"), std::string::npos) << lost.front().dump();
  ASSERT_GE(kept_set_resumed_from(events), 0) << "the model did not resume from a kept restart set";
  expect_same_outputs(out, reference_run(model, true));
}

TEST(ExternalModel, AStopAsksTheModelForARestartSetAndTheNextRunResumesItBitIdentical) {
  const auto model = model_or_skip();
  if (model.empty()) GTEST_SKIP() << "ocean_box was not built (no gfortran or h5pfc)";
  auto dir = fresh_directory("ocean-stopped");
  auto out = dir / "run";
  const auto campaign = write_campaign(dir, ocean_campaign(model, 3000));
  {
    BackgroundRun run(4, args(campaign, out));
    CommandResult result;
    ASSERT_TRUE(stop_after_checkpoints(run, out, "ocean", 1, result)) << "(a kept restart set counts as a checkpoint)";
  }
  auto events = read_events(out);
  ASSERT_TRUE(has_event(events, "stage_suspended", "ocean")) << "the model finished before the stop";
  // The stop asked the model for a set by signal, and the first whole set after that ended the
  // stage: the one asked for, between two of the model's own (every 200 steps). When the signal
  // came while the model was writing one of its own (a few ms of each interval; 2 runs in 53
  // here), that one is first and is kept: then it is at most a report (50 steps) after the step
  // the worker asked at, where waiting for the next interval would be up to 200.
  const auto asked = worker_log_matches(out, R"(asking the model for a restart set \(signal \d+\) at step (\d+))");
  ASSERT_FALSE(asked.empty()) << "the stop did not ask the model for a restart set";
  const long asked_at = asked.back()[0];
  const auto kept = events_of(events, "checkpoint_committed", "ocean");
  ASSERT_FALSE(kept.empty());
  const int stopped_at = kept.back().value("step", -1);
  EXPECT_GE(stopped_at, asked_at);
  if (stopped_at % 200 == 0) {
    EXPECT_LE(stopped_at - asked_at, 50) << "the stop waited for the model's own interval instead of asking";
  }

  // The model's metric, read from its output lines, reached the coordinator with its step.
  const auto metrics = events_of(events, "metric", "ocean");
  ASSERT_FALSE(metrics.empty()) << "no mean_sst from the model's output";
  EXPECT_EQ(metrics.front().value("name", ""), "mean_sst") << metrics.front().dump();
  EXPECT_EQ(metrics.front().value("step", 0) % 50, 0) << metrics.front().dump();

  auto resumed = run_perennial(4, args(campaign, out), 240);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(model_restarts(out), std::vector<int>{stopped_at});

  auto ref_dir = fresh_directory("ocean-stopped-reference");
  auto ref = run_perennial(4, args(write_campaign(ref_dir, ocean_campaign(model, 3000)), ref_dir / "run"), 240);
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  expect_same_outputs(out, ref_dir / "run");
}

// Progress and metrics from a file the model rewrites (not its output): each value once.
TEST(ExternalModel, ProgressAndMetricsAreReadFromAFileTheModelRewrites) {
  auto dir = fresh_directory("model-progress-file");
  auto out = dir / "run";
  const std::string text =
      "campaign: progress\n"
      "stages:\n"
      "  - name: model\n"
      "    command: [sh, -c, 'for i in 1 2 3 4 5 6; do printf \"step %s\\nrmse=0.%s\\n\" $i $i > progress.txt; sleep 0.4; done']\n"
      "    launcher: none\n"
      "    steps: 6\n"
      "    progress: {file: progress.txt, pattern: '^step ([0-9]+)'}\n"
      "    metrics: {rmse: 'rmse=([0-9.]+)'}\n";
  auto result = run_perennial(2, args(write_campaign(dir, text), out), 120);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  auto events = read_events(out);
  std::vector<double> values;
  std::vector<int> steps;
  for (const auto& m : events_of(events, "metric", "model")) {
    values.push_back(m.value("value", -1.0));
    steps.push_back(m.value("step", -1));
  }
  ASSERT_GE(values.size(), 3u) << "rewrites every 0.4 s, looked at every 0.1 s";
  EXPECT_LE(values.size(), 6u) << "a value was reported twice";
  for (std::size_t i = 1; i < values.size(); ++i) {
    EXPECT_GT(values[i], values[i - 1]) << "each rewrite read once, in order";
    EXPECT_GT(steps[i], steps[i - 1]);
  }
  EXPECT_DOUBLE_EQ(steps.front() * 0.1, values.front()) << "a value carries the step of its file";
}

TEST(ExternalModel, AFailingModelIsNamedWithItsExitStatusAndLastLines) {
  auto dir = fresh_directory("ocean-failing");
  auto out = dir / "run";
  const std::string text =
      "campaign: failing\n"
      "stages:\n"
      "  - name: broken\n"
      "    command: [sh, -c, 'echo reading namelist {label}; echo NaN in row 17 >&2; exit 3']\n"
      "    launcher: none\n"
      "    parameters: {label: ocean}\n"
      "  - name: fine\n"
      "    kernel: heat2d\n"
      "    steps: 20\n"
      "    parameters: {nx: 16, ny: 8}\n"
      "    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}\n";
  auto result = run_perennial(3, args(write_campaign(dir, text), out), 120);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  auto events = read_events(out);
  const auto failed = events_of(events, "stage_failed", "broken");
  ASSERT_EQ(failed.size(), 1u) << result.output;
  const std::string error = failed.front().dump();
  EXPECT_NE(error.find("exit status 3"), std::string::npos) << error;
  EXPECT_NE(error.find("reading namelist ocean"), std::string::npos) << error;
  EXPECT_NE(error.find("NaN in row 17"), std::string::npos) << error;
  EXPECT_TRUE(has_event(events, "stage_completed", "fine")) << "an independent stage was held back";
}

}  // namespace
}  // namespace perennial::e2e
