// The journal survives torn writes and corruption; resume reuses exactly what is still valid.

#include "test_support.hpp"

#include <perennial/coordinator/journal.hpp>
#include <perennial/coordinator/resume.hpp>

#include <fstream>
#include <unistd.h>

using namespace perennial;
using perennial::testing::check_campaign;

namespace {

std::filesystem::path temp_journal(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("perennial-journal-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = dir / name;
  std::filesystem::remove(file);
  return file;
}

void append_raw(const std::filesystem::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::app | std::ios::binary);
  out << text;
}

TEST(Journal, RecordsRoundTrip) {
  auto file = temp_journal("round-trip.jsonl");
  {
    Journal j(file);
    j.append({{"type", "run_started"}, {"n", 1}});
    j.append({{"type", "stage_completed"}, {"stage", "spinup"}});
  }
  auto contents = Journal::read(file);
  ASSERT_EQ(contents.records.size(), 2u);
  EXPECT_EQ(contents.records[1]["stage"], "spinup");
  EXPECT_TRUE(contents.warnings.empty());
}

TEST(Journal, ATornLastRecordIsIgnoredAndCutBeforeTheNextAppend) {
  auto file = temp_journal("torn.jsonl");
  {
    Journal j(file);
    j.append({{"type", "a"}});
  }
  const std::string whole = journal_line({{"type", "b"}});
  append_raw(file, whole.substr(0, whole.size() / 2));  // a crash mid-append
  auto contents = Journal::read(file);
  ASSERT_EQ(contents.records.size(), 1u);
  ASSERT_EQ(contents.warnings.size(), 1u);
  EXPECT_NE(contents.warnings[0].find(":2: ignoring a torn last record"), std::string::npos) << contents.warnings[0];
  {
    Journal j(file);  // reopening cuts the torn tail, so the next record starts on its own line
    j.append({{"type", "c"}});
  }
  contents = Journal::read(file);
  ASSERT_EQ(contents.records.size(), 2u);
  EXPECT_EQ(contents.records[1]["type"], "c");
  EXPECT_TRUE(contents.warnings.empty());
}

TEST(Journal, AFlippedByteIsDetectedByItsChecksum) {
  auto file = temp_journal("flipped.jsonl");
  {
    Journal j(file);
    j.append({{"type", "a"}, {"stage", "spinup"}});
    j.append({{"type", "b"}});
    j.append({{"type", "c"}});
  }
  std::string text;
  {
    std::ifstream in(file, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  text[text.find("spinup")] = 'S';
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
  }
  auto contents = Journal::read(file);
  EXPECT_TRUE(contents.records.empty());
  ASSERT_EQ(contents.warnings.size(), 1u);
  EXPECT_NE(contents.warnings[0].find(":1: corrupt record (checksum mismatch)"), std::string::npos) << contents.warnings[0];
}

const char* kCampaign = R"(campaign: resume
stages:
  - {name: spinup, kernel: any, steps: 10, parameters: {forcing: 0}}
  - {name: ssp, kernel: any, steps: 20, after: [spinup]}
  - {name: other, kernel: any, steps: 5}
)";

TEST(Resume, CompletedStagesAndEpochsOfTheSameDefinitionAreReused) {
  auto c = check_campaign(kCampaign);
  const auto& g = *c.graph;
  JournalContents j;
  j.records.push_back(journal_stage_completed(g, 0, "/o/spinup.h5"));
  j.records.push_back(journal_epoch_committed(g, 1, {1, 5, "/c/ssp/epoch-1.h5", {}, 0}));
  j.records.push_back(journal_epoch_committed(g, 1, {2, 10, "/c/ssp/epoch-2.h5", {}, 0}));
  auto h = read_history(g, j);
  EXPECT_TRUE(h[0].completed);
  EXPECT_FALSE(h[1].completed);
  ASSERT_EQ(h[1].epochs.size(), 2u);
  EXPECT_EQ(h[1].epochs.back().step, 10u);
  EXPECT_EQ(h[1].last_epoch, 2u);
  EXPECT_FALSE(h[2].completed);
}

TEST(Resume, AChangedUpstreamInvalidatesEverythingDownstream) {
  auto before = check_campaign(kCampaign);
  JournalContents j;
  j.records.push_back(journal_stage_completed(*before.graph, 0, "/o/spinup.h5"));
  j.records.push_back(journal_stage_completed(*before.graph, 1, "/o/ssp.h5"));
  j.records.push_back(journal_stage_completed(*before.graph, 2, "/o/other.h5"));
  std::string edited = kCampaign;
  edited.replace(edited.find("forcing: 0"), 10, "forcing: 1");
  auto after = check_campaign(edited);
  auto h = read_history(*after.graph, j);
  EXPECT_FALSE(h[0].completed);
  EXPECT_NE(h[0].note.find("definition or steps changed"), std::string::npos) << h[0].note;
  EXPECT_FALSE(h[1].completed);
  EXPECT_NE(h[1].note.find("upstream stage 'spinup' runs again"), std::string::npos) << h[1].note;
  EXPECT_TRUE(h[2].completed);  // an independent stage is still reused
}

TEST(Resume, MoreStepsKeepTheEpochsButNotTheCompletion) {
  auto before = check_campaign(kCampaign);
  JournalContents j;
  j.records.push_back(journal_epoch_committed(*before.graph, 2, {1, 4, "/c/other/epoch-1.h5", {}, 0}));
  j.records.push_back(journal_stage_completed(*before.graph, 2, "/o/other.h5"));
  std::string edited = kCampaign;
  edited.replace(edited.find("steps: 5"), 8, "steps: 50");
  auto after = check_campaign(edited);
  auto h = read_history(*after.graph, j);
  EXPECT_FALSE(h[2].completed);
  EXPECT_EQ(h[2].epochs.size(), 1u);
}

}  // namespace

#include <perennial/coordinator/heartbeat_monitor.hpp>

namespace {
TEST(HeartbeatMonitor, SilentRanksAreReportedOnceAfterTheTimeout) {
  perennial::HeartbeatMonitor m({1, 2, 3}, 0.0, 2.0);
  m.beat(1, 1.5);
  m.beat(2, 1.5);
  EXPECT_TRUE(m.newly_silent(1.9).empty());
  EXPECT_EQ(m.newly_silent(2.0), (std::vector<int>{3}));  // never beat since the start
  EXPECT_TRUE(m.newly_silent(2.1).empty());               // reported once
  m.beat(1, 3.0);
  EXPECT_EQ(m.newly_silent(3.6), (std::vector<int>{2}));
  m.forget(1);
  EXPECT_TRUE(m.newly_silent(100.0).empty());
}
}  // namespace
