// End-to-end: the real `perennial` under mpiexec on the example campaign and on test
// campaigns; every assertion is on what a user sees: exit codes, events, HDF5 outputs.

#include "e2e_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

using namespace perennial::e2e;

namespace {

const std::vector<std::string> kScenarios = {"ssp-2.6", "ssp-4.5", "ssp-8.5"};

void expect_dependencies_respected(const std::vector<nlohmann::json>& events) {
  // spinup -> ssp-* -> analysis: no stage starts before each of its inputs completed.
  for (const auto& s : kScenarios) {
    EXPECT_GE(event_time(events, "stage_started", s), event_time(events, "stage_completed", "spinup")) << s;
    EXPECT_GE(event_time(events, "stage_started", "analysis"), event_time(events, "stage_completed", s)) << s;
  }
}

void run_example_and_check(int ranks, const std::string& name, bool expect_overlap) {
  const auto out = fresh_directory(name);
  auto run = run_perennial(ranks, example_campaign("cmip-lite.yaml").string() + " --output-dir " + out.string(), 300);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("5 of 5 stages completed"), std::string::npos) << run.output;
  auto events = read_events(out);
  for (const auto& stage : {"spinup", "ssp-2.6", "ssp-4.5", "ssp-8.5", "analysis"}) {
    EXPECT_TRUE(has_event(events, "stage_completed", stage)) << stage;
    EXPECT_TRUE(std::filesystem::exists(out / "outputs" / (std::string(stage) + ".h5"))) << stage;
  }
  expect_dependencies_respected(events);
  if (expect_overlap) {
    // With 6 worker ranks the three 2-rank scenarios run at the same time.
    double last_start = 0, first_end = 1e300;
    for (const auto& s : kScenarios) {
      last_start = std::max(last_start, event_time(events, "stage_started", s));
      first_end = std::min(first_end, event_time(events, "stage_completed", s));
    }
    EXPECT_LT(last_start, first_end) << "the scenarios did not overlap in time";
  }
  // No partial files remain and the logs exist.
  for (const auto& entry : std::filesystem::directory_iterator(out / "outputs")) {
    EXPECT_EQ(entry.path().extension(), ".h5") << entry.path();
  }
  EXPECT_TRUE(std::filesystem::exists(out / "log" / "coordinator.log"));
}

TEST(ExampleCampaign, FinishesOnFourRanks) { run_example_and_check(4, "example-np4", false); }

TEST(ExampleCampaign, FinishesOnSevenRanksWithScenariosInParallel) { run_example_and_check(7, "example-np7", true); }

TEST(ExampleCampaign, OutputsCarryTheDeclaredSchema) {
  const auto out = fresh_directory("example-schema");
  auto run = run_perennial(7, example_campaign("cmip-lite.yaml").string() + " --output-dir " + out.string() + " --quiet", 300);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  for (const auto& [file, dataset] : {std::pair{"spinup.h5", "temperature"}, std::pair{"ssp-4.5.h5", "temperature"},
                                      std::pair{"analysis.h5", "mean"}}) {
    auto d = read_dataset(out / "outputs" / file, dataset);
    EXPECT_EQ(d.type_class, "float") << file;
    EXPECT_EQ(d.element_size, 8u) << file;
    EXPECT_EQ(d.shape, (std::vector<unsigned long long>{64, 128})) << file;
    EXPECT_EQ(d.units, "K") << file;
    EXPECT_EQ(d.dims, (std::vector<std::string>{"lat", "lon"})) << file;
  }
  auto ncdump = run_command("ncdump -h " + (out / "outputs" / "analysis.h5").string(), 60);
  ASSERT_EQ(ncdump.exit_code, 0) << ncdump.output;
  EXPECT_NE(ncdump.output.find("double mean(lat, lon)"), std::string::npos) << ncdump.output;
  EXPECT_NE(ncdump.output.find("mean:units = \"K\""), std::string::npos) << ncdump.output;
  EXPECT_NE(ncdump.output.find("lat = 64"), std::string::npos) << ncdump.output;
  // Metrics reported by the kernels reached rank 0.
  auto events = read_events(out);
  const bool metric = std::any_of(events.begin(), events.end(), [](const nlohmann::json& e) {
    return e.value("event", "") == "metric" && e.value("name", "") == "global_mean_temperature" &&
           e.value("stage", "") == "ssp-8.5";
  });
  EXPECT_TRUE(metric);
}

// Outputs of one scenario run on other rank counts, compared by content. The stage names
// differ (the file's `stage` attribute says which stage wrote it), and so do the writer rank
// counts (the checksum tables have one row per writing rank): see ContentRules.
ContentRules other_stage_and_ranks() { return {.same_writer_ranks = false, .differing_attributes = {"/@stage"}}; }

TEST(Heat2D, OutputIsBitIdenticalOnOneTwoAndFourRanks) {
  const auto out = fresh_directory("rank-invariance");
  auto run = run_perennial(7, test_campaign("rank-invariance.yaml").string() + " --output-dir " + out.string(), 300);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto outputs = out / "outputs";
  ASSERT_EQ(read_dataset(outputs / "on-1-rank.h5", "temperature").bytes.size(), 36u * 72u * 8u);
  EXPECT_TRUE(same_content(outputs / "on-1-rank.h5", outputs / "on-2-ranks.h5", other_stage_and_ranks()));
  EXPECT_TRUE(same_content(outputs / "on-1-rank.h5", outputs / "on-4-ranks.h5", other_stage_and_ranks()));
  EXPECT_FALSE(read_dataset(outputs / "on-1-rank.h5", "temperature").bytes ==
               read_dataset(outputs / "spin.h5", "temperature").bytes)
      << "the scenario did not evolve from its initial state";
}

// 64 latitude rows split unevenly: 22/21/21 rows on 3 ranks, 13/13/13/13/12 on 5, and the
// halo exchange between blocks of different heights. The outputs must still be bit-identical
// to the 1-rank run.
TEST(Heat2D, OutputIsBitIdenticalOnUnevenRowSplits) {
  const auto out = fresh_directory("uneven-split");
  auto run = run_perennial(6, test_campaign("uneven-split.yaml").string() + " --output-dir " + out.string(), 300);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto outputs = out / "outputs";
  ASSERT_EQ(read_dataset(outputs / "on-1-rank.h5", "temperature").shape, (std::vector<unsigned long long>{64, 96}));
  EXPECT_TRUE(same_content(outputs / "on-1-rank.h5", outputs / "on-3-ranks.h5", other_stage_and_ranks()));
  EXPECT_TRUE(same_content(outputs / "on-1-rank.h5", outputs / "on-5-ranks.h5", other_stage_and_ranks()));
  EXPECT_FALSE(read_dataset(outputs / "on-1-rank.h5", "temperature").bytes ==
               read_dataset(outputs / "spin.h5", "temperature").bytes)
      << "the scenario did not evolve from its initial state";
}

TEST(Failures, AThrowingKernelFailsOnlyItsBranch) {
  const auto out = fresh_directory("failing-branch");
  auto run = run_perennial(5, test_campaign("failing-branch.yaml").string() + " --output-dir " + out.string(), 120);
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("3 of 5 stages completed"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("doomed: rank"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("deliberate failure at step 3"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("never started after-doomed: upstream stage 'doomed' failed"), std::string::npos) << run.output;
  auto events = read_events(out);
  EXPECT_TRUE(has_event(events, "stage_failed", "doomed"));
  EXPECT_FALSE(has_event(events, "stage_started", "after-doomed"));
  EXPECT_TRUE(has_event(events, "stage_blocked", "after-doomed"));
  EXPECT_TRUE(has_event(events, "stage_completed", "healthy"));
  EXPECT_TRUE(has_event(events, "stage_completed", "after-healthy"));
}

// Under mpirun --enable-recovery (perennial launch) the stuck partner is ended by its
// heartbeat thread at the end of the grace period.
TEST(Failures, AGroupStuckAfterAFailureHasItsStuckRankEnded) {
  const auto out = fresh_directory("stuck-group");
  auto run = run_perennial(4, test_campaign("stuck-group.yaml").string() + " --failure-grace 2 --output-dir " + out.string(), 120);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("deliberate failure at step 2"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("did not report within 2 s of the failure"), std::string::npos) << run.output;
  auto events = read_events(out);
  EXPECT_TRUE(has_event(events, "stage_failed", "half-failed"));
  EXPECT_TRUE(has_event(events, "stage_completed", "independent"));
  bool ended = false;
  for (const auto& e : events) {
    ended = ended || (e.value("event", "") == "rank_ended" && e.value("rank", 0) == 2);
  }
  EXPECT_TRUE(ended) << "the stuck rank was not ended";
}

// Under plain mpirun (no recovery: --max-restarts 0) ending one rank would end the job, so the
// stuck rank is named and the job is aborted once everything else is done.
TEST(Failures, AGroupStuckAfterAFailureEndsAPlainRunInsteadOfHanging) {
  const auto out = fresh_directory("stuck-group-plain");
  auto run = run_mpiexec_perennial(4, test_campaign("stuck-group.yaml").string() +
                                          " --max-restarts 0 --failure-grace 2 --output-dir " + out.string(), 120);
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.exit_code, 124) << "the run hung until the test's timeout\n" << run.output;
  EXPECT_NE(run.output.find("stuck worker ranks: 2"), std::string::npos) << run.output;
  auto events = read_events(out);
  EXPECT_TRUE(has_event(events, "stage_completed", "independent"));
}

TEST(Cli, ValidatePrintsEveryErrorWithItsPosition) {
  const auto file = test_campaign("invalid.yaml").string();
  auto r = run_perennial_serial("validate " + file);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(file + ":4:11: stages.a.after/inputs: dependency cycle: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(file + ":8:5: stages.b.kernal: unknown field 'kernal'; did you mean 'kernel'?"),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find(file + ":11:13: stages.c.kernel: unknown kernel 'no-such-kernel'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(file + ":15:12: stages.d.after: no stage matches 'nowhere'"), std::string::npos) << r.output;
  auto good = run_perennial_serial("validate " + example_campaign("cmip-lite.yaml").string());
  EXPECT_EQ(good.exit_code, 0) << good.output;
}

// Issue 12: kernels declare their parameters, so a typo or a missing value is an error with
// its line before anything runs, not a stage that runs with forcing 0 or fails a week later.
TEST(Cli, ValidateChecksKernelParameters) {
  const auto file = test_campaign("bad-parameters.yaml").string();
  auto r = run_perennial_serial("validate " + file);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(file + ":8:5: stages.spinup.parameters.ny: kernel 'heat2d' needs parameter 'ny'"),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find(file + ":10:15: stages.spinup.parameters.forcng: kernel 'heat2d' takes no parameter "
                                 "'forcng'; did you mean 'forcing'?"),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find(file + ":11:15: stages.spinup.parameters.albedo: must be a number, not 'high'"),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find(file + ":12:20: stages.spinup.parameters.diffusivity: must be at least 0, not -1"),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find(file + ":17:47: stages.drill.parameters.collective: must be true or false, not 'maybe'"),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find("5 error(s)"), std::string::npos) << r.output;
}

TEST(Cli, KernelsListTheirParameters) {
  auto r = run_perennial_serial("kernels");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("heat2d"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("forcing"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("W m-2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("seconds_per_step"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("output temperature"), std::string::npos) << "inputs and outputs only with --describe";
  // --describe: inputs, outputs with their schema, checkpointing; names select kernels.
  auto d = run_perennial_serial("kernels heat2d --describe");
  ASSERT_EQ(d.exit_code, 0) << d.output;
  EXPECT_NE(d.output.find("metric global_mean_temperature in K"), std::string::npos) << d.output;
  EXPECT_NE(d.output.find("input  initial   float64 [lat, lon] in K"), std::string::npos) << d.output;
  EXPECT_NE(d.output.find("output temperature float64 [lat, lon] in K"), std::string::npos) << d.output;
  EXPECT_NE(d.output.find("checkpoints: yes"), std::string::npos) << d.output;
  EXPECT_EQ(d.output.find("burn-cpu"), std::string::npos) << d.output;
  auto unknown = run_perennial_serial("kernels heat3d");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("no kernel 'heat3d' in this executable (it has: "), std::string::npos) << unknown.output;
}

// A job needs rank 0 to coordinate and at least one worker: a smaller --ranks is refused,
// not taken as "no job size given".
TEST(Cli, ValidateRefusesAJobWithoutWorkers) {
  const auto file = example_campaign("cmip-lite.yaml").string();
  for (const char* ranks : {"-3", "0", "1"}) {
    auto r = run_perennial_serial("validate --ranks " + std::string(ranks) + " " + file);
    EXPECT_EQ(r.exit_code, 2) << ranks << ": " << r.output;
    EXPECT_NE(r.output.find("--ranks: must be at least 2 (rank 0 coordinates, the others run stages)"),
              std::string::npos) << ranks << ": " << r.output;
  }
  auto fits = run_perennial_serial("validate --ranks 3 " + file);
  EXPECT_EQ(fits.exit_code, 0) << fits.output;
}

TEST(Cli, RunRefusesAnInvalidCampaignBeforeStarting) {
  const auto out = fresh_directory("refused");
  auto r = run_perennial(3, test_campaign("invalid.yaml").string() + " --output-dir " + (out / "run").string(), 60);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("not started"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out / "run")) << "run created outputs for an invalid campaign";
}

TEST(Cli, RunRefusesStagesLargerThanTheJob) {
  const auto out = fresh_directory("too-large");
  auto r = run_perennial(2, example_campaign("cmip-lite.yaml").string() + " --output-dir " + (out / "run").string(), 60);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("stages.spinup.ranks: asks for 2 ranks but this job has 1 worker ranks"), std::string::npos)
      << r.output;
}

TEST(Cli, PlanShowsWavesAndCriticalPath) {
  auto r = run_perennial_serial("plan " + example_campaign("cmip-lite.yaml").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("wave 1: 1 stage(s), 2 rank(s) to run all at once: spinup"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("wave 2: 3 stage(s), 6 rank(s) to run all at once: ssp-2.6, ssp-4.5, ssp-8.5"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("critical path (1201 steps): spinup -> ssp-2.6 -> analysis"), std::string::npos) << r.output;
}

}  // namespace
