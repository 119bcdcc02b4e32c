// Recovery without waiting: real SIGKILLs of real ranks under `mpirun --enable-recovery`
// (through `perennial launch`), with spare ranks (--spares) and rank 0 watching its host's
// worker processes end. Each case asserts that the failure happened and what was restored.

#include "e2e_support.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <set>

using namespace perennial::e2e;
namespace fs = std::filesystem;

namespace {

fs::path spares_campaign(const fs::path& dir, int steps_a, int steps_b) {
  fs::create_directories(dir);
  std::ofstream(dir / "campaign.yaml")
      << "campaign: spares\ncheckpoint: {interval: 200 steps, keep: 3}\nstages:\n"
      << "  - {name: a, kernel: heat2d, ranks: 2, steps: " << steps_a
      << ", parameters: {nx: 128, ny: 64, forcing: 1.0},\n"
         "     outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}}\n"
      << "  - {name: b, kernel: heat2d, ranks: 2, steps: " << steps_b
      << ", parameters: {nx: 128, ny: 64, forcing: 2.0},\n"
         "     outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}}\n";
  return dir / "campaign.yaml";
}

// The default heartbeat timeout (2 s): a death seen through its process, not by silence.
std::string args(const fs::path& campaign, const fs::path& out, int spares) {
  return campaign.string() + " --quiet --spawn-timeout 20 --spares " + std::to_string(spares) + " --output-dir " +
         out.string();
}

std::set<int> ranks_in(const std::vector<nlohmann::json>& events, const std::string& type) {
  std::set<int> out;
  for (const auto& e : events_of(events, type)) out.insert(e.value("rank", -1));
  return out;
}

std::set<int> as_set(const nlohmann::json& array) {
  std::set<int> out;
  for (const auto& v : array) out.insert(v.get<int>());
  return out;
}

}  // namespace

// Two spares wait idle; a worker of a's group is SIGKILLed. Rank 0 sees its process end (no
// heartbeat timeout), a resumes from its newest epoch on the two spares before any spawn has
// finished, and the spawn that follows refills the pool. Spares are not capacity: nothing ran
// on them before the kill.
TEST(Spares, AKilledWorkersStageResumesOnSparesAtOnceAndThePoolIsRefilled) {
  auto dir = fresh_directory("spares-resume");
  auto out = dir / "run";
  BackgroundRun run(5, args(spares_campaign(dir, 40000, 60000), out, 2));
  ASSERT_TRUE(wait_for_event(out, "ranks_spawned", "", 1, 120)) << "the spares never joined";
  CommandResult result;
  ASSERT_TRUE(kill_worker_after_checkpoints(run, out, "a", 2, 1, result));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  auto events = read_events(out);

  const auto started = events_of(events, "campaign_started");
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started.front().value("worker_ranks", 0), 4) << "spares were counted as capacity";
  const auto spawned = events_of(events, "ranks_spawned");
  ASSERT_GE(spawned.size(), 2u) << "the pool was not refilled";
  const auto spares = as_set(spawned.front()["spares"]);
  ASSERT_EQ(spares.size(), 2u);

  // The failure: rank 1 dead, seen through its process; its group-mate ended.
  const auto dead = events_of(events, "rank_dead");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead.front().value("rank", -1), 1);
  EXPECT_EQ(dead.front().value("detected_by", ""), "process_exit");
  EXPECT_LT(dead.front().value("silence_seconds", 9.0), 1.0) << "declared dead only after a heartbeat timeout";
  EXPECT_EQ(ranks_in(events, "rank_ended"), std::set<int>{2});
  ASSERT_EQ(events_of(events, "stage_lost", "a").size(), 1u);
  EXPECT_TRUE(events_of(events, "stage_lost", "b").empty()) << "the other group was disturbed";

  // What was restored: a, from an epoch, on the spares, before the refill joined.
  EXPECT_EQ(ranks_in(events, "spare_promoted"), spares);
  const auto a_starts = events_of(events, "stage_started", "a");
  ASSERT_EQ(a_starts.size(), 2u);
  EXPECT_EQ(as_set(a_starts.front()["ranks"]), (std::set<int>{1, 2}));
  EXPECT_EQ(as_set(a_starts.back()["ranks"]), spares) << "a did not resume on the spares";
  for (const auto& s : events_of(events, "stage_started")) {
    if (s.value("t", 0.0) < dead.front().value("t", 0.0)) {
      for (int r : s["ranks"]) EXPECT_FALSE(spares.count(r)) << "a spare ran a stage before any loss";
    }
  }
  auto restored = restores(events, "a");
  ASSERT_EQ(restored.size(), 1u);
  EXPECT_GE(restored.front().value("step", -1), 200);
  EXPECT_TRUE(restored.front()["rejected"].empty());
  EXPECT_LT(restored.front().value("t", 0.0), spawned[1].value("t", 0.0)) << "a waited for the refill's spawn";
  EXPECT_EQ(as_set(spawned[1]["spares"]).size(), 2u) << "the refill did not go back to the pool";
  EXPECT_TRUE(has_event(events, "stage_completed", "a"));
  EXPECT_TRUE(has_event(events, "stage_completed", "b"));
}

// A spare killed while idle: rank 0 sees it go, no stage is touched, and a new spare takes
// its place.
TEST(Spares, ASpareKilledWhileIdleIsReplaced) {
  auto dir = fresh_directory("spares-idle-kill");
  auto out = dir / "run";
  BackgroundRun run(5, args(spares_campaign(dir, 30000, 30000), out, 1));
  ASSERT_TRUE(wait_for_event(out, "ranks_spawned", "", 1, 120)) << "the spare never joined";
  auto events = read_events(out);
  const auto first = events_of(events, "ranks_spawned").front();
  ASSERT_EQ(first["spares"].size(), 1u);
  const int spare = first["spares"][0].get<int>();
  const int pid = first["pids"][0].get<int>();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(wait_for_event(out, "ranks_spawned", "", 2, 120)) << "the spare was not replaced";
  auto result = run.wait(240);
  ASSERT_NE(result.exit_code, 124) << "the job hung after the kill\n" << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
  events = read_events(out);
  EXPECT_EQ(ranks_in(events, "rank_dead"), std::set<int>{spare});
  EXPECT_EQ(ranks_in(events, "spare_lost"), std::set<int>{spare});
  const auto spawned = events_of(events, "ranks_spawned");
  ASSERT_EQ(spawned.size(), 2u);
  ASSERT_EQ(spawned[1]["spares"].size(), 1u) << "the replacement did not become a spare";
  EXPECT_NE(spawned[1]["spares"][0].get<int>(), spare);
  EXPECT_TRUE(events_of(events, "stage_lost").empty()) << "a stage was disturbed";
  EXPECT_TRUE(events_of(events, "spare_promoted").empty());
  EXPECT_TRUE(has_event(events, "stage_completed", "a"));
  EXPECT_TRUE(has_event(events, "stage_completed", "b"));
}

// Without spares, the default settings: the death is seen through the process (not after the
// 2 s heartbeat timeout) and the stage resumes on a respawned rank.
TEST(Spares, WithoutSparesADeathIsSeenThroughItsProcess) {
  auto dir = fresh_directory("spares-none");
  auto out = dir / "run";
  BackgroundRun run(5, args(spares_campaign(dir, 20000, 40000), out, 0));
  CommandResult result;
  ASSERT_TRUE(kill_worker_after_checkpoints(run, out, "a", 2, 1, result));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  auto events = read_events(out);
  const auto dead = events_of(events, "rank_dead");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead.front().value("detected_by", ""), "process_exit");
  EXPECT_LT(dead.front().value("silence_seconds", 9.0), 1.0);
  EXPECT_EQ(events_of(events, "ranks_spawned").size(), 1u);
  EXPECT_TRUE(events_of(events, "spare_promoted").empty());
  ASSERT_EQ(restores(events, "a").size(), 1u);
  EXPECT_TRUE(has_event(events, "stage_completed", "a"));
}
