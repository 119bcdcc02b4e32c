// log/status.json: what rank 0 writes is what `perennial status` and the forecast read back,
// every field of it, whatever the names hold (quotes, newlines, non-ASCII), with absent
// figures kept absent, and a reader never sees half a file.

#include <perennial/coordinator/run_status.hpp>
#include <perennial/errors.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using perennial::RunStatus;

namespace {

class RunStatusFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("perennial-run-status-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path file() const { return dir_ / "status.json"; }

  fs::path dir_;
};

RunStatus full_status() {
  RunStatus s;
  s.campaign = "cmip \"lite\"\nsecond line";
  s.written_at_unix = 1796288200.8813007;
  s.elapsed_seconds = 12.5;
  s.finished = false;
  s.stages = 100000;
  s.completed = 41;
  s.failed = 2;
  s.running.push_back({"ssp585/ocean", {1, 2, 3}, 3600.25, false, 40, 1000, 0.1, 9600.0, std::nullopt});
  s.running.push_back({"ssp126/atmos", {4}, 0.0, true, 0, 0, std::nullopt, std::nullopt, "ssp585/ocean"});
  s.waiting.push_back({"wärme\\1", "priority", "behind 3 stages of priority 5", 7.25, 120.0});
  s.waiting.push_back({"tab\there", "resources", "", -1.0e-9, std::nullopt});
  s.waiting_on_dependencies.push_back({"post", {"ssp585/ocean", "ssp126/atmos"}});
  s.waiting_on_dependencies.push_back({"lonely", {}});
  s.suspended.push_back({"held", "paused at step 40: by promise"});
  s.by_hand.push_back({"held", "paused by hand; priority 5 (campaign file: 0)"});
  s.core_hours_by_project = {{"(none)", 0.0}, {"climate \"x\"", 1234.5}};
  s.preemptions = 3;
  s.protected_interruptions = 0;
  s.backfilled = 17;
  s.worker_ranks = 127;
  s.free_worker_ranks = 5;
  return s;
}

}  // namespace

TEST_F(RunStatusFile, EveryFieldReadsBackAsWritten) {
  const RunStatus s = full_status();
  s.write(file());
  EXPECT_FALSE(fs::exists(file().string() + ".partial"));
  const RunStatus r = RunStatus::read(file());

  EXPECT_EQ(r.campaign, s.campaign);
  EXPECT_EQ(r.written_at_unix, s.written_at_unix);  // the same double, not a rounded one
  EXPECT_EQ(r.elapsed_seconds, s.elapsed_seconds);
  EXPECT_EQ(r.finished, s.finished);
  EXPECT_EQ(r.stages, s.stages);
  EXPECT_EQ(r.completed, s.completed);
  EXPECT_EQ(r.failed, s.failed);
  ASSERT_EQ(r.running.size(), 2u);
  EXPECT_EQ(r.running[0].stage, "ssp585/ocean");
  EXPECT_EQ(r.running[0].ranks, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(r.running[0].running_seconds, 3600.25);
  EXPECT_EQ(r.running[0].step, 40u);
  EXPECT_EQ(r.running[0].steps, 1000u);
  EXPECT_EQ(r.running[0].steps_per_second, 0.1);
  EXPECT_EQ(r.running[0].eta_seconds, 9600.0);
  EXPECT_FALSE(r.running[0].queued_behind);
  EXPECT_TRUE(r.running[1].stopping);
  EXPECT_FALSE(r.running[1].steps_per_second);  // not measured yet: absent, not zero
  EXPECT_FALSE(r.running[1].eta_seconds);
  EXPECT_EQ(r.running[1].queued_behind, "ssp585/ocean");
  ASSERT_EQ(r.waiting.size(), 2u);
  EXPECT_EQ(r.waiting[0].stage, "wärme\\1");
  EXPECT_EQ(r.waiting[0].reason, "priority");
  EXPECT_EQ(r.waiting[0].detail, "behind 3 stages of priority 5");
  EXPECT_EQ(r.waiting[0].priority_score, 7.25);
  EXPECT_EQ(r.waiting[0].expected_start_in_seconds, 120.0);
  EXPECT_EQ(r.waiting[1].stage, "tab\there");
  EXPECT_EQ(r.waiting[1].priority_score, -1.0e-9);
  EXPECT_FALSE(r.waiting[1].expected_start_in_seconds);
  ASSERT_EQ(r.waiting_on_dependencies.size(), 2u);
  EXPECT_EQ(r.waiting_on_dependencies[0].waits_for, (std::vector<std::string>{"ssp585/ocean", "ssp126/atmos"}));
  EXPECT_TRUE(r.waiting_on_dependencies[1].waits_for.empty());
  ASSERT_EQ(r.suspended.size(), 1u);
  EXPECT_EQ(r.suspended[0].reason, "paused at step 40: by promise");
  ASSERT_EQ(r.by_hand.size(), 1u);
  EXPECT_EQ(r.by_hand[0].what, "paused by hand; priority 5 (campaign file: 0)");
  EXPECT_EQ(r.core_hours_by_project, s.core_hours_by_project);
  EXPECT_EQ(r.preemptions, 3u);
  EXPECT_EQ(r.protected_interruptions, 0u);
  EXPECT_EQ(r.backfilled, 17u);
  EXPECT_EQ(r.worker_ranks, 127u);
  EXPECT_EQ(r.free_worker_ranks, 5u);
}

TEST_F(RunStatusFile, AnEmptyRunIsAValidStatus) {
  RunStatus s;
  s.campaign = "empty";
  s.finished = true;
  s.write(file());
  const RunStatus r = RunStatus::read(file());
  EXPECT_EQ(r.campaign, "empty");
  EXPECT_TRUE(r.finished);
  EXPECT_TRUE(r.running.empty());
  EXPECT_TRUE(r.waiting.empty());
  EXPECT_TRUE(r.core_hours_by_project.empty());
}

TEST_F(RunStatusFile, EachListedStageIsALineOfItsOwn) {
  // A scientist reading status.json with less or grep finds one stage per line.
  const RunStatus s = full_status();
  s.write(file());
  std::ifstream in(file());
  int stage_lines = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("{\"stage\":", 0) == 0) ++stage_lines;
  }
  EXPECT_EQ(stage_lines, 2 + 2 + 2 + 1 + 1);  // running, waiting, on dependencies, suspended, by hand
}

TEST_F(RunStatusFile, AHalfWrittenFileIsReportedNotRead) {
  full_status().write(file());
  const auto size = fs::file_size(file());
  fs::resize_file(file(), size / 2);
  try {
    RunStatus::read(file());
    FAIL() << "a truncated status was read";
  } catch (const perennial::Error& e) {
    EXPECT_NE(std::string(e.what()).find(file().string()), std::string::npos) << e.what();
  }
}
