// The journal survives torn writes and corruption; resume reuses exactly what is still valid.

#include "test_support.hpp"

#include <perennial/coordinator/journal.hpp>
#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/hand.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/coordinator/resume.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
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

// The loop's group syncs run on the journal's thread while records keep coming: every record
// is on disk, in order, and sync() returns with none left unsynced, however the syncs and
// the appends interleave.
TEST(Journal, BackgroundGroupSyncsKeepEveryRecordInOrder) {
  auto file = temp_journal("background-sync.jsonl");
  constexpr int kRecords = 2000;
  {
    Journal j(file);
    for (int i = 0; i < kRecords; ++i) {
      j.append({{"type", "stage_started"}, {"stage", "s" + std::to_string(i)}, {"attempt", 1}, {"workers", {1}}});
      if (i % 7 == 0) j.sync_if_older_than(std::chrono::seconds(0));  // a sync may still be running
    }
    j.sync();
    EXPECT_FALSE(j.unsynced());
    j.append({{"type", "run_ended"}, {"status", "completed"}});
    j.sync_if_older_than(std::chrono::hours(1));  // not due: nothing started, nothing lost
    EXPECT_TRUE(j.unsynced());
  }  // the destructor writes and syncs the last record
  const auto contents = Journal::read(file);
  ASSERT_EQ(contents.records.size(), kRecords + 1u);
  EXPECT_TRUE(contents.warnings.empty());
  for (int i = 0; i < kRecords; ++i) EXPECT_EQ(contents.records[i]["stage"], "s" + std::to_string(i));
  EXPECT_EQ(contents.records.back()["type"], "run_ended");
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
  // Only the damaged record is lost: the two after it carry their own checksums.
  auto contents = Journal::read(file);
  ASSERT_EQ(contents.records.size(), 2u);
  EXPECT_EQ(contents.records[0]["type"], "b");
  EXPECT_EQ(contents.records[1]["type"], "c");
  ASSERT_EQ(contents.warnings.size(), 1u);
  EXPECT_NE(contents.warnings[0].find(":1: corrupt record (checksum mismatch); ignoring it (the records after it are read)"),
            std::string::npos) << contents.warnings[0];
}

const char* kCampaign = R"(campaign: resume
stages:
  - {name: spinup, kernel: any, steps: 10, parameters: {forcing: 0}}
  - {name: ssp, kernel: any, steps: 20, after: [spinup]}
  - {name: other, kernel: any, steps: 5}
)";

// Records whose checksum holds but whose JSON the writer never makes (issue 16, point 5:
// ci/fuzz.sh's fuzz_journal found a record that is a bare number end a resume with nlohmann's
// "cannot use value() with number"). Such a record is skipped with a warning naming the file,
// the line and the field, as a corrupt one is; the records before and after it are kept, and
// what a resume does with them never throws.
TEST(Journal, ARecordOfAShapeTheWriterNeverMakesIsSkippedWithAWarning) {
  const std::pair<const char*, const char*> cases[] = {
      {"9", "(a number, not an object)"},
      {R"(["stage_completed"])", "(an array, not an object)"},
      {R"({"type":"stage_completed","stage":5})", "field 'stage' is a number, not a string"},
      {R"({"type":"epoch_committed","stage":"ssp","epoch":"2"})", "field 'epoch' is a string, not a count"},
      {R"({"type":"epoch_committed","stage":"ssp","step":-1})", "field 'step' is a number, not a count"},
      {R"({"type":"run_started","campaign":null})", "field 'campaign' is null, not a string"},
      {R"({"type":"run_started","nodes":[{"name":"n","cores":"4"}]})", "a node's 'cores' is not a count"},
      {R"({"type":"hand","stage":"ssp","action":["pause"]})", "field 'action' is an array, not a string"},
  };
  auto c = check_campaign(kCampaign);
  int n = 0;
  for (const auto& [body, problem] : cases) {
    auto file = temp_journal("shape-" + std::to_string(n++) + ".jsonl");
    append_raw(file, journal_line({{"type", "stage_completed"}, {"stage", "other"}}) + "\n");
    append_raw(file, journal_line(nlohmann::json::parse(body)) + "\n");
    append_raw(file, journal_line({{"type", "stage_completed"}, {"stage", "spinup"}}) + "\n");
    const auto contents = Journal::read(file);
    ASSERT_EQ(contents.records.size(), 2u) << body;
    EXPECT_EQ(contents.records[1]["stage"], "spinup") << "the record after the bad one was lost";
    ASSERT_EQ(contents.warnings.size(), 1u) << body;
    EXPECT_NE(contents.warnings[0].find(file.string() + ":2: a record Perennial does not write"), std::string::npos)
        << contents.warnings[0];
    EXPECT_NE(contents.warnings[0].find(problem), std::string::npos) << contents.warnings[0];
    EXPECT_NO_THROW(read_history(*c.graph, contents)) << body;
  }
}

// Every input fuzz_journal found, as the journal it stands for (tests/fuzz/findings/fuzz_journal:
// a first byte 0x01 means "sign each line", as the target does): read, folded into the stages'
// histories and the hand's replay without an exception, and only objects kept.
TEST(Journal, TheFuzzersFindingsReadWithoutAnException) {
  auto c = check_campaign(kCampaign);
  const std::filesystem::path findings = std::filesystem::path(PERENNIAL_SOURCE_DIR) / "tests/fuzz/findings/fuzz_journal";
  int replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(findings)) {
    if (entry.path().extension() == ".md") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string bytes = input;
    if (!input.empty() && input[0] == '\x01') {
      bytes.clear();
      std::istringstream lines(input.substr(1));
      for (std::string line; std::getline(lines, line);) {
        try {
          bytes += journal_line(nlohmann::json::parse(line)) + "\n";
        } catch (const nlohmann::json::exception&) {
          bytes += line + "\tnot-signed\n";  // the target signs it; the reader refuses it either way
        }
      }
    }
    auto file = temp_journal("finding-" + entry.path().filename().string() + ".jsonl");
    append_raw(file, bytes);
    JournalContents contents;
    ASSERT_NO_THROW(contents = Journal::read(file)) << entry.path();
    for (const auto& record : contents.records) EXPECT_TRUE(record.is_object()) << entry.path();
    EXPECT_NO_THROW(read_history(*c.graph, contents)) << entry.path();
    CampaignRun run(*c.graph, SchedulingPolicy(perennial::testing::one_node_of_workers(2), policy_config_for(c.graph->campaign())), {},
                    read_history(*c.graph, contents));
    EXPECT_NO_THROW(replay_hand_records(run, contents, 0)) << entry.path();
    ++replayed;
  }
  EXPECT_GE(replayed, 1);
}

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

// A damaged record in the middle of a journal costs its own fact only: the completion and
// the epochs recorded after it are still reused by a resume.
TEST(Resume, ADamagedRecordMidJournalCostsOnlyItsOwnFact) {
  auto c = check_campaign(kCampaign);
  const auto& g = *c.graph;
  auto file = temp_journal("mid-damage.jsonl");
  append_raw(file, journal_line(journal_epoch_committed(g, 1, {1, 5, "/c/ssp/epoch-1.h5", {}, 0})) + "\n");
  std::string damaged = journal_line(journal_stage_completed(g, 2, "/o/other.h5"));
  damaged[damaged.find("other")] = 'O';
  append_raw(file, damaged + "\n");
  append_raw(file, journal_line(journal_stage_completed(g, 0, "/o/spinup.h5")) + "\n");
  append_raw(file, journal_line(journal_epoch_committed(g, 1, {2, 10, "/c/ssp/epoch-2.h5", {}, 0})) + "\n");
  const auto contents = Journal::read(file);
  ASSERT_EQ(contents.warnings.size(), 1u);
  EXPECT_NE(contents.warnings[0].find(":2: corrupt record"), std::string::npos) << contents.warnings[0];
  const auto h = read_history(g, contents);
  EXPECT_TRUE(h[0].completed) << "spinup's completion, recorded after the damaged line, was lost";
  ASSERT_EQ(h[1].epochs.size(), 2u);
  EXPECT_EQ(h[1].epochs.back().step, 10u);
  EXPECT_FALSE(h[2].completed) << "the damaged record's own fact";
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

// The records every stage makes are written as text (JsonLine), not through nlohmann: what
// they write must read back to the same values, and be the very bytes nlohmann would write
// for them (sorted keys, its number forms), so that events.jsonl and the journal read as
// they always have.
TEST(JsonLine, ReadsBackToTheSameValuesAndIsWhatNlohmannWouldWrite) {
  const std::string awkward = "quote \" backslash \\ tab \t newline \n bell \a nul-free \x1f UTF-8 \xc3\xa9";
  const auto line = JsonLine()
                        .count("attempt", 18446744073709551615ull)
                        .flag("backfilled", false)
                        .number("huge", 1e300)
                        .whole("negative", -42)
                        .texts("nodes", {"node-1", awkward, ""})
                        .number("one_tenth", 0.1)
                        .wholes("ranks", {1, 2, 30})
                        .number("small", 1.5e-7)
                        .text("stage", awkward)
                        .number("t", 12.345678901234567)
                        .number("two", 2.0)
                        .wholes("empty", {})
                        .str();
  const auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["attempt"].get<std::uint64_t>(), 18446744073709551615ull);
  EXPECT_FALSE(parsed["backfilled"].get<bool>());
  EXPECT_EQ(parsed["huge"].get<double>(), 1e300);
  EXPECT_EQ(parsed["negative"].get<int>(), -42);
  EXPECT_EQ(parsed["nodes"], nlohmann::json({"node-1", awkward, ""}));
  EXPECT_EQ(parsed["one_tenth"].get<double>(), 0.1);
  EXPECT_EQ(parsed["ranks"], nlohmann::json({1, 2, 30}));
  EXPECT_EQ(parsed["small"].get<double>(), 1.5e-7);
  EXPECT_EQ(parsed["stage"].get<std::string>(), awkward);
  EXPECT_EQ(parsed["t"].get<double>(), 12.345678901234567);
  EXPECT_TRUE(parsed["two"].is_number_float());
  EXPECT_TRUE(parsed["empty"].is_array() && parsed["empty"].empty());
  // Keys written in sorted order (all but the last here) come out as nlohmann's dump.
  const auto sorted = JsonLine().count("attempt", 3).flag("backfilled", true).text("event", "stage_started")
                          .wholes("ranks", {4, 5}).number("seconds", 0.25).number("t", 2.0).number("wall", 1764567890.123456)
                          .str();
  EXPECT_EQ(sorted, nlohmann::json::parse(sorted).dump());
  // Not finite: null, as nlohmann writes it.
  const auto odd = nlohmann::json::parse(JsonLine().number("inf", std::numeric_limits<double>::infinity()).number("nan", std::nan("")).str());
  EXPECT_TRUE(odd["inf"].is_null());
  EXPECT_TRUE(odd["nan"].is_null());
}

TEST(JsonLine, AStageCompletionRecordIsTheOneTheJournalReads) {
  auto c = check_campaign(kCampaign);
  const auto& g = *c.graph;
  const auto text = journal_stage_completed_line(g, 0, "outputs/spinup.h5", stage_definition(g, 0)).str();
  const auto record = nlohmann::json::parse(text);
  EXPECT_EQ(text, record.dump());
  EXPECT_EQ(record["type"], "stage_completed");
  EXPECT_EQ(record["stage"], g.stage(0).name);
  EXPECT_EQ(record["steps"].get<std::uint64_t>(), g.stage(0).steps);
  EXPECT_EQ(record["output"], "outputs/spinup.h5");
  EXPECT_EQ(record, journal_stage_completed(g, 0, "outputs/spinup.h5"));  // the digest computed when not given
  JournalContents j;
  j.records.push_back(record);
  EXPECT_TRUE(read_history(g, j)[0].completed);
}

// A stage's definition digest is what a resume compares with the journal's: it must stay the
// same bytes from one Perennial version to the next, or every stage of a campaign resumed
// with a newer build would run again. Pinned for stages with parameters (one with every
// character JSON escapes), declared outputs, inputs from one and from several stages, and
// none of these.
TEST(JsonLine, StageDefinitionsStayWhatEarlierVersionsWrote) {
  auto c = check_campaign(R"(campaign: digests
stages:
  - {name: spinup, kernel: heat2d, steps: 4, parameters: {nx: 16, ny: 8, forcing: 0.0},
     outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}}
  - name: ssp-{forcing}
    for_each: {forcing: [2.6, 8.5]}
    kernel: heat2d
    steps: 8
    parameters: {nx: 16, ny: 8, note: "tab\tquote\"back\\slash é \u0001"}
    inputs: {initial: spinup.temperature}
    outputs: {temperature: {dtype: float32, dims: [lat, lon], units: K}}
  - {name: analysis, kernel: ensemble-mean, after: [ssp-*], inputs: {members: "ssp-*.temperature"},
     outputs: {mean: {dtype: float64, dims: [lat, lon], units: K}}}
  - {name: plain, kernel: any, steps: 1}
)");
  ASSERT_TRUE(c.graph) << c.text();
  const auto& g = *c.graph;
  std::map<std::string, std::string> got;
  for (StageId id = 0; id < g.size(); ++id) got[g.stage(id).name] = stage_definition(g, id);
  const std::map<std::string, std::string> pinned = {
      {"analysis", "25a3c85611499dbb"}, {"plain", "3cdaf39badfba38d"}, {"spinup", "a920373f66a03c11"},
      {"ssp-2.6", "2db38f1ff78fe054"},  {"ssp-8.5", "ad45eea104040eb1"}};  // 18e65d2's digests
  EXPECT_EQ(got, pinned);
}
