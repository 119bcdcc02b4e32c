// Fault tests: real SIGKILLs of worker ranks under `mpirun --enable-recovery`. They assert
// that the failure happened (rank declared dead, its stage failed, its group-mates ended),
// that the rest of the campaign went on, and what a later run restored.

#include "e2e_support.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <regex>

using namespace perennial::e2e;
namespace fs = std::filesystem;

namespace {

std::string two_stages(int steps) {
  std::string text = "campaign: faults\ncheckpoint: {interval: 2000 steps}\nstages:\n";
  for (const char* name : {"a", "b"}) {
    text += std::string("  - name: ") + name + "\n" +
            "    kernel: heat2d\n    ranks: 2\n    steps: " + std::to_string(steps) + "\n" +
            "    parameters: {nx: 128, ny: 64, forcing: " + (name[0] == 'a' ? "1.0" : "2.0") + "}\n" +
            "    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}\n";
  }
  return text;
}

fs::path write_file(const fs::path& dir, const std::string& text) {
  fs::create_directories(dir);
  std::ofstream(dir / "campaign.yaml") << text;
  return dir / "campaign.yaml";
}

// The pid a worker wrote in the first line of its log.
int worker_pid(const fs::path& out, int rank) {
  std::ifstream in(out / "log" / ("worker-" + std::to_string(rank) + ".log"));
  const std::regex pid_line(R"(worker rank \d+ pid (\d+))");
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_search(line, m, pid_line)) return std::stoi(m[1]);
  }
  return -1;
}

nlohmann::json first_event(const std::vector<nlohmann::json>& events, const std::string& type) {
  for (const auto& e : events) {
    if (e.value("event", "") == type) return e;
  }
  return {};
}

TEST(Faults, KilledWorkerIsDetectedItsStageFailsTheRestFinishesAndARerunResumes) {
  auto dir = fresh_directory("fault-one-worker");
  auto campaign = write_file(dir, two_stages(60000));
  auto out = dir / "run";
  const std::string args = campaign.string() + " --heartbeat-timeout 2 --output-dir " + out.string();
  {
    BackgroundRun run(5, args, "--enable-recovery");
    ASSERT_TRUE(wait_for_event(out, "checkpoint_committed", "a", 1, 120)) << "stage a never checkpointed";
    const int pid = worker_pid(out, 1);
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    auto result = run.wait(180);
    EXPECT_NE(result.exit_code, 124) << "the job hung after the kill\n" << result.output;
    // mpirun --enable-recovery (Open MPI 4.1) exits 0 whatever the ranks return, so the
    // outcome is read from the summary and the events.
    EXPECT_NE(result.output.find("1 of 2 stages completed"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("rank 1 sent no heartbeat for 2.0 s: declared dead"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("lost worker ranks: 1,2"), std::string::npos) << result.output;
  }
  auto events = read_events(out);
  auto dead = first_event(events, "rank_dead");
  ASSERT_FALSE(dead.is_null());
  EXPECT_EQ(dead.value("rank", -1), 1);
  auto ended = first_event(events, "rank_ended");
  ASSERT_FALSE(ended.is_null());
  EXPECT_EQ(ended.value("rank", -1), 2);  // its group-mate, ended by the watchdog
  EXPECT_TRUE(has_event(events, "stage_failed", "a"));
  EXPECT_TRUE(has_event(events, "stage_completed", "b")) << "the other group did not finish";

  // A later run keeps b and resumes a from its newest verified epoch.
  auto rerun = run_perennial(5, campaign.string() + " --quiet --output-dir " + out.string(), 240);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  events = read_events(out);
  EXPECT_TRUE(has_event(events, "stage_reused", "b"));
  nlohmann::json restored;
  for (const auto& e : events) {
    if (e.value("event", "") == "stage_restored" && e.value("stage", "") == "a") restored = e;
  }
  ASSERT_FALSE(restored.is_null());
  EXPECT_TRUE(restored.value("restored", false));
  EXPECT_GT(restored.value("step", 0), 0);

  auto ref_dir = fresh_directory("fault-one-worker-reference");
  auto ref = run_perennial(5, write_file(ref_dir, two_stages(60000)).string() + " --quiet --output-dir " +
                                  (ref_dir / "run").string(), 240);
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  EXPECT_TRUE(read_dataset(out / "outputs" / "a.h5", "temperature").bytes ==
              read_dataset(ref_dir / "run" / "outputs" / "a.h5", "temperature").bytes)
      << "the resumed stage is not bit-identical to an uninterrupted run";
}

TEST(Faults, InjectedKillAtAStepEndsOnlyThatGroup) {
  auto dir = fresh_directory("fault-inject");
  auto campaign = write_file(dir, two_stages(20000));
  auto out = dir / "run";
  // Stage b runs on ranks 3 and 4; rank 3 dies right after its step 3000.
  BackgroundRun run(5, campaign.string() + " --inject 'kill:rank=3,step=3000' --output-dir " + out.string(),
                    "--enable-recovery");
  auto result = run.wait(180);
  EXPECT_NE(result.exit_code, 124) << "the job hung after the kill\n" << result.output;
  auto events = read_events(out);
  auto dead = first_event(events, "rank_dead");
  ASSERT_FALSE(dead.is_null()) << result.output;
  EXPECT_EQ(dead.value("rank", -1), 3);
  EXPECT_TRUE(has_event(events, "stage_failed", "b"));
  EXPECT_TRUE(has_event(events, "stage_completed", "a"));
  auto log = run_command("cat " + (out / "log" / "worker-3.log").string(), 10);
  EXPECT_NE(log.output.find("--inject: SIGKILL of rank 3 after step 3000 of stage b"), std::string::npos) << log.output;
}

TEST(Faults, AnUnreadableInjectionIsRefused) {
  auto r = run_perennial_serial("run campaign.yaml --inject 'kill:rank=three'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--inject: cannot read 'kill:rank=three'"), std::string::npos) << r.output;
}

}  // namespace
