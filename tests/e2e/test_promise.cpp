// Scenario promise in real runs (issue 14, point 8): heat2d scenarios report their global mean
// temperature; the coordinator moves them by it. A scenario whose value leads gains the free
// rank at its next scheduled checkpoint and restarts there on more ranks; a scenario paused
// below a rung's bar and promoted later resumes from its checkpoint. Both end bit-identical to
// runs on fixed ranks that were never moved.

#include "e2e_support.hpp"

#include <gtest/gtest.h>

#include <fstream>

using namespace perennial::e2e;
namespace fs = std::filesystem;

namespace {

// Heat2d members, one per forcing; `ranks` as given (a number or a range).
std::string ensemble(const std::string& campaign, const std::string& forcings, const std::string& ranks, int steps,
                     const std::string& promise) {
  return "campaign: " + campaign + "\ncheckpoint: {interval: 200 steps, keep: 3}\nstages:\n"
         "  - name: \"ssp-{forcing}\"\n    for_each: {forcing: [" + forcings + "]}\n    kernel: heat2d\n"
         "    ranks: " + ranks + "\n    steps: " + std::to_string(steps) + "\n"
         "    parameters: {nx: 512, ny: 256, forcing: \"{forcing}\", metric_every: 100}\n"
         "    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}\n" + promise;
}

fs::path write_campaign(const fs::path& dir, const std::string& text) {
  fs::create_directories(dir);
  std::ofstream(dir / "campaign.yaml") << text;
  return dir / "campaign.yaml";
}

std::string args_for(const fs::path& campaign, const fs::path& out) {
  return campaign.string() + " --quiet --output-dir " + out.string();
}

std::string moves_of(const std::vector<nlohmann::json>& events) {
  std::string out;
  for (const auto& e : events_of(events, "promise_move")) out += e.dump() + "\n";
  return out;
}

}  // namespace

// Two scenarios on one rank each, three workers: one rank is free. Once both have reported,
// the warmer (higher forcing) gains it at its next scheduled checkpoint: it stops at that
// epoch and resumes from it on two ranks. Its output is that of a run on one rank throughout.
TEST(Promise, ARisingScenarioRestartsOnMoreRanksAtItsNextCheckpointBitIdentical) {
  auto dir = fresh_directory("promise-grow");
  const std::string promise = "    promise: {metric: global_mean_temperature, direction: max}\n";
  auto out = dir / "run";
  auto result = run_perennial(4, args_for(write_campaign(dir / "moved", ensemble("grow", "1.0, 8.5", "{min: 1, max: 2}",
                                                                                  3000, promise)), out), 240);
  ASSERT_NE(result.exit_code, 124) << result.output;
  ASSERT_EQ(result.exit_code, 0) << result.output;
  auto events = read_events(out);
  auto grown = events_of(events, "stage_resized", "ssp-8.5");
  ASSERT_FALSE(grown.empty()) << moves_of(events) << result.output;
  EXPECT_EQ(grown.front().value("ranks", 0), 2);
  const int step = grown.front().value("step", -1);
  EXPECT_GT(step, 0);
  EXPECT_EQ(step % 200, 0) << "it moved at a scheduled checkpoint (every 200 steps), not one of its own";
  // The move's reason names the metric, the value and its standing.
  bool reasoned = false;
  for (const auto& m : events_of(events, "promise_move", "ssp-8.5")) {
    if (m.value("move", "") != "grow" || !m.value("made", false)) continue;
    reasoned = m.value("metric", "") == "global_mean_temperature" && m.value("rank", 0) == 1 &&
               m.value("reason", "").find("global_mean_temperature") != std::string::npos;
  }
  EXPECT_TRUE(reasoned) << moves_of(events);
  // It resumed from the epoch it stopped at, on two ranks.
  bool resumed = false;
  for (const auto& r : events_of(events, "stage_restored", "ssp-8.5")) resumed = resumed || r.value("step", -1) == step;
  EXPECT_TRUE(resumed) << "no restore at step " << step;
  auto starts = events_of(events, "stage_started", "ssp-8.5");
  ASSERT_GE(starts.size(), 2u);
  EXPECT_EQ(starts.at(1).at("ranks").size(), 2u);

  // The same scenarios on one rank each, never moved.
  auto fixed = dir / "fixed-run";
  auto reference = run_perennial(3, args_for(write_campaign(dir / "fixed", ensemble("grow", "1.0, 8.5", "1", 3000, "")), fixed), 240);
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  for (const char* s : {"ssp-8.5", "ssp-1.0"}) {
    const auto file = fs::path("outputs") / (std::string(s) + ".h5");
    EXPECT_TRUE(same_content(out / file, fixed / file, {.same_writer_ranks = false, .differing_attributes = {}}))
        << s << " is not bit-identical to the run on fixed ranks";
  }
}

// Three scenarios, two workers, a rung at step 1000 with reduction 2. ssp-4.0 and ssp-2.0 run
// first; at the rung ssp-2.0 is below the bar (the warmer is better): it checkpoints and is
// paused, and ssp-0.0 takes its rank. ssp-0.0 arrives at the rung colder still: the bar falls
// to ssp-2.0, which is promoted, resumes from its checkpoint and completes; ssp-0.0 is paused.
// ssp-2.0's output is that of a run that was never paused.
TEST(Promise, APausedScenarioPromotedLaterEndsBitIdentical) {
  auto dir = fresh_directory("promise-pause");
  const std::string promise =
      "    promise: {metric: global_mean_temperature, direction: max, rungs: {first: 1000 steps, reduction: 2}}\n";
  auto out = dir / "run";
  auto result = run_perennial(3, args_for(write_campaign(dir / "moved", ensemble("pause", "4.0, 2.0, 0.0", "1", 1900,
                                                                                  promise)), out), 240);
  ASSERT_NE(result.exit_code, 124) << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
  auto events = read_events(out);
  auto paused = events_of(events, "stage_paused", "ssp-2.0");
  ASSERT_FALSE(paused.empty()) << moves_of(events) << result.output;
  const int step = paused.front().value("step", -1);
  EXPECT_GE(step, 1000);
  auto resumed = events_of(events, "stage_resumed", "ssp-2.0");
  ASSERT_FALSE(resumed.empty()) << moves_of(events);
  EXPECT_GT(resumed.front().value("t", 0.0), paused.front().value("t", 0.0));
  bool restored = false;
  for (const auto& r : events_of(events, "stage_restored", "ssp-2.0")) restored = restored || r.value("step", -1) == step;
  EXPECT_TRUE(restored) << "ssp-2.0 did not resume from step " << step;
  EXPECT_TRUE(has_event(events, "stage_completed", "ssp-2.0"));
  EXPECT_TRUE(has_event(events, "stage_completed", "ssp-4.0"));
  EXPECT_FALSE(events_of(events, "stage_paused", "ssp-0.0").empty()) << moves_of(events);
  // Every move says why: metric, value, rank at the rung, rule.
  for (const auto& m : events_of(events, "promise_move")) {
    EXPECT_FALSE(m.value("reason", "").empty()) << m.dump();
    EXPECT_EQ(m.value("metric", ""), "global_mean_temperature") << m.dump();
    EXPECT_EQ(m.value("rule", ""), "successive_halving") << m.dump();
  }
  auto status = run_perennial_serial("status " + out.string());
  EXPECT_NE(status.output.find("ssp-0.0"), std::string::npos) << status.output;

  // The same command again: the books' values rebuild the group, and ssp-0.0 stays paused.
  auto again = run_perennial(3, args_for(dir / "moved" / "campaign.yaml", out), 120);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  auto rerun = read_events(out);
  EXPECT_EQ(events_of(rerun, "stage_started", "ssp-0.0").size(), events_of(events, "stage_started", "ssp-0.0").size())
      << "ssp-0.0 ran again although its group holds it paused\n" << again.output;
  EXPECT_GT(events_of(rerun, "stage_paused", "ssp-0.0").size(), events_of(events, "stage_paused", "ssp-0.0").size());

  // ssp-2.0 alone, never paused.
  auto plain = dir / "plain-run";
  auto reference = run_perennial(2, args_for(write_campaign(dir / "plain", ensemble("pause", "2.0", "1", 1900, "")), plain), 240);
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  const auto file = fs::path("outputs") / "ssp-2.0.h5";
  EXPECT_TRUE(same_content(out / file, plain / file, {.same_writer_ranks = true, .differing_attributes = {}}))
      << "ssp-2.0 is not bit-identical to the run that was never paused";
}
