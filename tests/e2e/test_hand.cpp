// The scientist's hand end to end (issue 14, point 5): `perennial priority DIR STAGE ...` on a
// running campaign is answered within a second and acted on; on a stopped one it is journaled
// and the next run keeps it.

#include "e2e_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>

namespace fs = std::filesystem;
using namespace perennial::e2e;

namespace {

// `perennial priority <out> <arguments>`, and how long it took.
CommandResult hand(const fs::path& out, const std::string& arguments, double* seconds = nullptr) {
  std::string command = "priority ";
  command += out.string();
  command += ' ';
  command += arguments;
  const auto start = std::chrono::steady_clock::now();
  CommandResult r = run_perennial_serial(command);
  if (seconds) *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

std::string run_arguments(const fs::path& campaign, const fs::path& out) {
  std::string a = campaign.string();
  a += " --quiet --output-dir ";
  a += out.string();
  return a;
}

// `long` burns 0.05 s a step and checkpoints every 10 steps; `keeper` keeps the campaign
// running while `long` is paused.
std::string campaign_text(const std::string& name, int long_steps, int keeper_steps) {
  std::string text = "campaign: ";
  text += name;
  text += "\ncheckpoint: {interval: 10 steps}\nstages:\n";
  text += "  - {name: long, kernel: burn-cpu, ranks: 1, steps: ";
  text += std::to_string(long_steps);
  text += ", parameters: {seconds_per_step: 0.05}}\n";
  text += "  - {name: keeper, kernel: burn-cpu, ranks: 1, steps: ";
  text += std::to_string(keeper_steps);
  text += ", parameters: {seconds_per_step: 0.05}}\n";
  return text;
}

std::size_t hand_records(const fs::path& out, const std::string& source) {
  std::size_t n = 0;
  std::ifstream in(out / "journal.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line.substr(0, line.rfind('\t')));
    if (j.value("type", "") == "hand" && j.value("source", "") == source) ++n;
  }
  return n;
}

}  // namespace

TEST(Hand, APauseReachesTheRunningCampaignWithinASecondAndAResumeLetsItComplete) {
  auto dir = fresh_directory("hand-live");
  auto out = dir / "run";
  auto campaign = write_file(dir, "campaign.yaml", campaign_text("hand-live", 100, 200));
  BackgroundRun run(3, run_arguments(campaign, out));
  ASSERT_TRUE(wait_for_event(out, "checkpoint_committed", "long", 1, 60)) << "no checkpoint of long";

  double latency = 0.0;
  auto paused = hand(out, "long --pause", &latency);
  std::cout << "perennial priority --pause answered in " << latency << " s (the command's whole run)\n";
  ASSERT_EQ(paused.exit_code, 0) << paused.output;
  EXPECT_NE(paused.output.find("accepted: long: paused by hand"), std::string::npos) << paused.output;
  EXPECT_LT(latency, 5.0) << "the coordinator must answer within a second; 5 s leaves room for a loaded machine";
  ASSERT_TRUE(wait_for_event(out, "stage_paused", "long", 1, 30)) << "long never paused";

  // Refused by the coordinator, which says why; the exit code says so too.
  auto refused = hand(out, "keeper --resume");
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("refused: keeper is running: neither paused nor held"), std::string::npos)
      << refused.output;
  auto reprioritised = hand(out, "keeper 5");
  EXPECT_EQ(reprioritised.exit_code, 0) << reprioritised.output;
  EXPECT_NE(reprioritised.output.find("keeper: priority 5 (was 0)"), std::string::npos) << reprioritised.output;

  auto resumed = hand(out, "long --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  auto result = run.wait(120);
  ASSERT_EQ(result.exit_code, 0) << result.output;

  const auto events = read_events(out);
  const auto hands = events_of(events, "hand");
  ASSERT_EQ(hands.size(), 4u);
  EXPECT_EQ(hands[0].value("action", ""), "pause");
  EXPECT_EQ(hands[0].value("result", ""), "accepted");
  EXPECT_EQ(hands[1].value("result", ""), "refused");
  EXPECT_EQ(hands[2].value("value", 0), 5);
  EXPECT_EQ(events_of(events, "stage_started", "long").size(), 2u) << "paused, then started again";
  EXPECT_TRUE(has_event(events, "stage_completed", "long"));
  EXPECT_EQ(hand_records(out, "run"), 3u) << "the accepted requests are journaled, the refused one is not";
  EXPECT_TRUE(fs::is_empty(out / "control")) << "every request and answer was taken";
}

TEST(Hand, OnAStoppedCampaignAPauseIsJournaledAndTheNextRunKeepsIt) {
  auto dir = fresh_directory("hand-stopped");
  auto out = dir / "run";
  auto campaign = write_file(dir, "campaign.yaml", campaign_text("hand-stopped", 100, 2));
  {
    BackgroundRun run(3, run_arguments(campaign, out));
    ASSERT_TRUE(wait_for_event(out, "stage_completed", "keeper", 1, 60)) << "keeper did not complete";
    CommandResult stopped;
    ASSERT_TRUE(stop_after_checkpoints(run, out, "long", 1, stopped));
  }
  auto typo = hand(out, "lnog --pause");
  EXPECT_EQ(typo.exit_code, 2) << typo.output;
  EXPECT_NE(typo.output.find("stage 'lnog' is not in campaign 'hand-stopped'; did you mean 'long'?"), std::string::npos)
      << typo.output;
  auto two = hand(out, "long 3 --pause");
  EXPECT_EQ(two.exit_code, 2) << two.output;
  auto done = hand(out, "keeper --pause");
  EXPECT_EQ(done.exit_code, 1) << done.output;
  EXPECT_NE(done.output.find("keeper completed in an earlier run"), std::string::npos) << done.output;

  auto paused = hand(out, "long --pause");
  ASSERT_EQ(paused.exit_code, 0) << paused.output;
  EXPECT_NE(paused.output.find("takes effect when the campaign runs again"), std::string::npos) << paused.output;
  EXPECT_EQ(hand_records(out, "cli"), 1u);
  std::string status_command = "status ";
  status_command += out.string();
  auto status = run_perennial_serial(status_command);
  EXPECT_NE(status.output.find("pause (from the next run)"), std::string::npos) << status.output;

  // The next run keeps it paused: it does not start, and the run ends with it paused (exit 0:
  // only paused stages are left, and the summary says how to go on).
  auto again = run_perennial(3, run_arguments(campaign, out), 120);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("--resume"), std::string::npos) << again.output;
  const auto events = read_events(out);
  EXPECT_EQ(events_of(events, "stage_started", "long").size(), 1u) << "started again although paused by hand";
  ASSERT_TRUE(has_event(events, "stage_paused", "long"));
  EXPECT_EQ(events_of(events, "stage_paused", "long").back().value("reason", ""), "paused by hand");

  // Resumed by hand, still stopped: the run after it completes the stage from its checkpoint.
  auto resumed = hand(out, "long --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  auto last = run_perennial(3, run_arguments(campaign, out), 120);
  EXPECT_EQ(last.exit_code, 0) << last.output;
  EXPECT_TRUE(has_event(read_events(out), "stage_completed", "long"));
}
