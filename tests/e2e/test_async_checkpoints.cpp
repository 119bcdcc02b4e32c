// End-to-end asynchronous checkpoints (`checkpoint: {async: true}`): the stage
// steps on while its epoch is written; a rank SIGKILLed inside a background write leaves the
// previous epoch to resume from, and the result is bit-identical to an uninterrupted run; a
// stop waits for the epoch in flight, then for its own, before the stage ends.

#include "e2e_support.hpp"
#include "hdf5_content.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <set>

using namespace perennial::e2e;
namespace fs = std::filesystem;

namespace {

// One heat2d stage on 2 ranks; `checkpoint` is the campaign's checkpoint settings.
std::string one_stage(const std::string& checkpoint, int steps, int nx, int ny) {
  return "campaign: async\n"
         "checkpoint: " + checkpoint + "\n"
         "stages:\n"
         "  - name: run\n"
         "    kernel: heat2d\n"
         "    ranks: 2\n"
         "    steps: " + std::to_string(steps) + "\n"
         "    parameters: {nx: " + std::to_string(nx) + ", ny: " + std::to_string(ny) + ", forcing: 3.0}\n"
         "    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}\n";
}

// 1 MiB of state every 200 steps: the write takes several steps' time. Seven epochs (1,600
// steps; 3,000 before, which added only the suite's time).
const std::string kEvery200 = "{interval: 200 steps, keep: 3}";
std::string every_200(const std::string& extra = "") {
  return one_stage(extra.empty() ? kEvery200 : "{interval: 200 steps, keep: 3, " + extra + "}", 1600, 512, 256);
}

fs::path write_campaign(const fs::path& dir, const std::string& text) { return write_file(dir, "campaign.yaml", text); }

std::string args_for(const fs::path& campaign, const fs::path& out, const std::string& extra = "") {
  return campaign.string() + " --quiet --heartbeat-timeout 1 --spawn-timeout 20 --output-dir " + out.string() + " " + extra;
}

std::vector<int> committed_steps(const std::vector<nlohmann::json>& events) {
  std::vector<int> steps;
  for (const auto& e : events_of(events, "checkpoint_committed", "run")) steps.push_back(e.value("step", -1));
  return steps;
}

::testing::AssertionResult same_output(const fs::path& out, const fs::path& ref) {
  return same_content(out / "outputs" / "run.h5", ref / "outputs" / "run.h5",
                      {.same_writer_ranks = true, .differing_attributes = {}});
}

// The uninterrupted run with synchronous checkpoints (the default): what every run here must reproduce.
const fs::path& synchronous_reference() {
  static const fs::path out = [] {
    auto dir = fresh_directory("async-reference-sync");
    auto run = run_perennial(3, args_for(write_campaign(dir, every_200()), dir / "run"), 240);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    return dir / "run";
  }();
  return out;
}

}  // namespace

TEST(AsyncCheckpoints, TheStageStepsWhileItsEpochIsWrittenAndEndsBitIdenticalToSynchronousCheckpoints) {
  auto dir = fresh_directory("async-steps-on");
  auto out = dir / "run";
  auto run = run_perennial(3, args_for(write_campaign(dir, every_200("async: true")), out), 240);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto& ref = synchronous_reference();

  // The same epochs at the same steps as with synchronous checkpoints, each reported once.
  const std::vector<int> expected{200, 400, 600, 800, 1000, 1200, 1400};
  EXPECT_EQ(committed_steps(read_events(out)), expected);
  EXPECT_EQ(committed_steps(read_events(ref)), expected);

  // Each background epoch says from which step to which the stage went on while it was
  // written. The group learns that a write ended at the first boundary after it: a span of
  // two steps or more means the write was still going at a boundary the stage stepped past.
  const auto spans = worker_log_matches(
      out, R"(epoch (\d+) at step (\d+) \(.*in the background while the stage went on from step (\d+) to step (\d+)\))");
  ASSERT_EQ(spans.size(), expected.size()) << "every epoch of the async run is a background one";
  long widest = 0;
  for (const auto& s : spans) {
    EXPECT_EQ(s[1], s[2]);
    EXPECT_GT(s[3], s[2]) << "epoch " << s[0] << " concluded at the boundary that started it";
    widest = std::max(widest, s[3] - s[2]);
  }
  EXPECT_GE(widest, 2) << "no write outlasted a step: nothing shows the stage stepping during one";
  EXPECT_TRUE(worker_log_matches(ref, R"(in the background while the stage went on from step (\d+))").empty())
      << "the default (synchronous) still wrote in the background";

  EXPECT_TRUE(same_output(out, ref)) << "asynchronous checkpoints changed the result";
  for (const auto& entry : fs::directory_iterator(out / "checkpoints" / "run")) {
    EXPECT_NE(entry.path().extension(), ".partial") << "stale " << entry.path();
  }
}

TEST(AsyncCheckpoints, ARankKilledInsideABackgroundWriteFallsBackToThePreviousEpochAndEndsBitIdentical) {
  auto dir = fresh_directory("async-killed-writer");
  auto out = dir / "run";
  // World rank 2 (the group's second member) SIGKILLs itself on its background thread after
  // writing its part of epoch 3 (step 600), before the commit, while its stage steps on.
  auto run = run_perennial(3, args_for(write_campaign(dir, every_200("async: true")), out,
                                       "--inject 'kill-in-checkpoint:rank=2,epoch=3'"), 240);
  ASSERT_NE(run.exit_code, 124) << "hung after the kill\n" << run.output;
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto events = read_events(out);
  std::set<int> dead;
  for (const auto& e : events_of(events, "rank_dead")) dead.insert(e.value("rank", -1));
  EXPECT_EQ(dead, std::set<int>{2});
  const auto restored = restores(events, "run");
  ASSERT_EQ(restored.size(), 1u);
  EXPECT_EQ(restored.front().value("step", -1), 400) << "not the epoch before the killed write";
  EXPECT_TRUE(restored.front()["rejected"].empty()) << restored.front()["rejected"].dump();
  // The kill came from inside the write of epoch 3, and the resumed stage wrote that epoch
  // again in the background. (The group-mate ended with the dead rank keeps only the warnings
  // of its log: info lines of the first attempt are not flushed when it is ended.)
  EXPECT_FALSE(worker_log_matches(out, R"(SIGKILL of worker (\d+) inside the write of epoch 3)").empty());
  EXPECT_FALSE(worker_log_matches(out, R"(epoch (3) at step 600 .*in the background)").empty());
  for (const auto& entry : fs::directory_iterator(out / "checkpoints" / "run")) {
    EXPECT_NE(entry.path().extension(), ".partial") << "stale " << entry.path();
  }
  EXPECT_TRUE(same_output(out, synchronous_reference())) << "not bit-identical to the uninterrupted run";
}

TEST(AsyncCheckpoints, AStopWaitsForTheEpochInFlightThenCommitsItsOwnAndResumesBitIdentical) {
  // An epoch every step: at any boundary the previous one is almost surely still in flight,
  // so the stop (SIGUSR1: checkpoint every stage, then end) finds one to wait for.
  const std::string text = one_stage("{interval: 1 steps, keep: 2, async: true}", 600, 96, 48);
  auto dir = fresh_directory("async-stop");
  auto campaign = write_campaign(dir, text);
  auto out = dir / "run";
  {
    BackgroundRun run(3, args_for(campaign, out));
    CommandResult result;
    ASSERT_TRUE(stop_after_checkpoints(run, out, "run", 20, result));
  }
  const auto events = read_events(out);
  ASSERT_TRUE(has_event(events, "stage_suspended", "run")) << "the signal arrived after the stage finished";
  const auto stops = worker_log_matches(out, R"(stopping after step (\d+) as the coordinator asked)");
  ASSERT_FALSE(stops.empty());
  const long stop_step = stops.front()[0];
  // The stop's own epoch is the last one reported, at the stop step; the one in flight before
  // it was waited for and reported first: epoch numbers without a gap, steps increasing.
  const auto committed = events_of(events, "checkpoint_committed", "run");
  ASSERT_GE(committed.size(), 2u);
  EXPECT_EQ(committed.back().value("step", -1), stop_step);
  for (std::size_t i = 1; i < committed.size(); ++i) {
    EXPECT_EQ(committed[i].value("epoch", 0), committed[i - 1].value("epoch", 0) + 1) << "an epoch went unreported";
    EXPECT_GT(committed[i].value("step", 0), committed[i - 1].value("step", 0));
  }
  EXPECT_TRUE(events_of(events, "checkpoint_failed", "run").empty());
  const auto waits = worker_log_matches(out, R"(at step (\d+), waiting for epoch (\d+) \(step (\d+)\) to commit)");
  ASSERT_FALSE(waits.empty()) << "the stop found no epoch in flight";
  EXPECT_EQ(waits.back()[0], stop_step);
  EXPECT_EQ(waits.back()[1] + 1, committed.back().value("epoch", 0));
  for (const auto& entry : fs::directory_iterator(out / "checkpoints" / "run")) {
    EXPECT_NE(entry.path().extension(), ".partial") << "stale " << entry.path();
  }

  auto resumed = run_perennial(3, args_for(campaign, out), 240);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  const auto restored = restores(read_events(out), "run");
  ASSERT_FALSE(restored.empty());
  EXPECT_EQ(restored.back().value("step", -1), stop_step);

  auto ref_dir = fresh_directory("async-stop-reference");
  auto ref = run_perennial(3, args_for(write_campaign(ref_dir, one_stage("{enabled: false}", 600, 96, 48)), ref_dir / "run"), 240);
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  EXPECT_TRUE(same_output(out, ref_dir / "run")) << "the stopped and resumed run differs from an uninterrupted one";
}
