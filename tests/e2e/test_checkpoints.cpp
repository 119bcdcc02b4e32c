// End-to-end checkpoints: resume on other rank counts, fallback past damaged epochs,
// signal-then-resume, and a writer SIGKILLed mid-checkpoint. Every resumed run must end
// bit-identical to a run that was never interrupted.

#include "e2e_support.hpp"

#include <gtest/gtest.h>
#include <hdf5.h>

#include <csignal>
#include <fstream>
#include <functional>
#include <tuple>

using namespace perennial::e2e;
namespace fs = std::filesystem;

namespace {

// spinup (2 ranks, 200 steps) -> scenario (`ranks`, `steps`), a checkpoint every 100 steps,
// on a grid of `ny` latitude rows by 96.
std::string campaign_text(int scenario_ranks, int steps, int keep, int ny = 48) {
  const std::string grid = "{nx: 96, ny: " + std::to_string(ny);
  return "campaign: checkpointed\n"
         "checkpoint: {interval: 100 steps, keep: " + std::to_string(keep) + "}\n"
         "stages:\n"
         "  - name: spinup\n"
         "    kernel: heat2d\n"
         "    ranks: 2\n"
         "    steps: 200\n"
         "    parameters: " + grid + ", forcing: 0.0}\n"
         "    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}\n"
         "  - name: scenario\n"
         "    kernel: heat2d\n"
         "    ranks: " + std::to_string(scenario_ranks) + "\n"
         "    steps: " + std::to_string(steps) + "\n"
         "    parameters: " + grid + ", forcing: 4.5}\n"
         "    inputs: {initial: spinup.temperature}\n"
         "    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}\n";
}

fs::path write_campaign(const fs::path& dir, const std::string& text) {
  fs::create_directories(dir);
  auto file = dir / "campaign.yaml";
  std::ofstream(file) << text;
  return file;
}

std::string run_args(const fs::path& campaign, const fs::path& out) {
  return campaign.string() + " --quiet --output-dir " + out.string();
}

// Whether the scenario's output of the run in `out` has the content of the one in `ref`.
// `same_ranks`: whether both were written on the same number of ranks (only then are their
// checksum tables, one row per writing rank, compared row for row; see ContentRules).
::testing::AssertionResult same_scenario_output(const fs::path& out, const fs::path& ref, bool same_ranks) {
  return same_content(out / "outputs" / "scenario.h5", ref / "outputs" / "scenario.h5",
                      {.same_writer_ranks = same_ranks, .differing_attributes = {}});
}

// A completed, never-interrupted run with every epoch kept, its scenario on `ranks` ranks.
fs::path uninterrupted(const std::string& name, int ranks, int ny = 48) {
  auto d = fresh_directory(name);
  auto campaign = write_campaign(d, campaign_text(ranks, 600, 10, ny));
  auto run = run_perennial(std::max(ranks, 2) + 1, run_args(campaign, d / "run"), 240);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  return d / "run";
}

// The reference for most tests: the scenario on 4 ranks.
const fs::path& reference() {
  static const fs::path dir = uninterrupted("checkpoint-reference", 4);
  return dir;
}

fs::path epoch_file(const fs::path& out, const std::string& stage, int epoch) {
  char name[32];
  std::snprintf(name, sizeof(name), "epoch-%06d.h5", epoch);
  return out / "checkpoints" / stage / name;
}

// What a job that died right after the scenario's epoch at `step` would have left: the
// files of the uninterrupted run `from`, and its journal up to that epoch's record.
fs::path crashed_at(const std::string& name, int step, const fs::path& from = reference()) {
  auto dir = fresh_directory(name);
  auto out = dir / "run";
  fs::create_directories(out);
  fs::copy(from / "outputs", out / "outputs", fs::copy_options::recursive);
  fs::remove(out / "outputs" / "scenario.h5");
  fs::copy(from / "checkpoints", out / "checkpoints", fs::copy_options::recursive);
  std::ifstream in(from / "journal.jsonl");
  std::ofstream journal(out / "journal.jsonl");
  const std::string marker = "\"stage\":\"scenario\",\"step\":" + std::to_string(step) + ",";
  bool found = false;
  for (std::string line; std::getline(in, line);) {
    journal << line << '\n';
    if (line.find("epoch_committed") != std::string::npos && line.find(marker) != std::string::npos) {
      found = true;
      break;
    }
  }
  EXPECT_TRUE(found) << "no scenario epoch at step " << step << " in the reference journal";
  // Nor would it have written the later epochs.
  for (int epoch = step / 100 + 1; epoch <= 10; ++epoch) fs::remove(epoch_file(out, "scenario", epoch));
  return dir;
}

nlohmann::json restored_event(const fs::path& out) {
  for (const auto& e : read_events(out)) {
    if (e.value("event", "") == "stage_restored" && e.value("stage", "") == "scenario") return e;
  }
  return {};
}

class RestoreOnRanks : public ::testing::TestWithParam<int> {};

TEST_P(RestoreOnRanks, SavedOnFourRanksEndsBitIdentical) {
  const int ranks = GetParam();
  auto dir = crashed_at("restore-on-" + std::to_string(ranks), 300);
  auto campaign = write_campaign(dir, campaign_text(ranks, 600, 10));
  auto run = run_perennial(std::max(ranks, 2) + 1, run_args(campaign, dir / "run"), 240);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto events = read_events(dir / "run");
  EXPECT_TRUE(has_event(events, "stage_reused", "spinup")) << "a completed stage ran again";
  EXPECT_FALSE(has_event(events, "stage_started", "spinup"));
  auto restored = restored_event(dir / "run");
  ASSERT_FALSE(restored.is_null());
  EXPECT_TRUE(restored.value("restored", false));
  EXPECT_EQ(restored.value("step", 0), 300);
  EXPECT_EQ(restored.value("file", ""), epoch_file(dir / "run", "scenario", 3).string());
  EXPECT_TRUE(same_scenario_output(dir / "run", reference(), false)) << "not bit-identical on " << ranks << " ranks";
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, RestoreOnRanks, ::testing::Values(1, 2, 3, 6));

// Damage the newest epoch (at step 500) and check the stage falls back to the one at 400.
void expect_fallback_to_400(const std::string& name, const std::function<void(const fs::path&)>& damage,
                            const std::string& expected_problem) {
  // An empty expectation is found in any text: it would check nothing.
  ASSERT_FALSE(expected_problem.empty());
  auto dir = crashed_at(name, 500);
  auto newest = epoch_file(dir / "run", "scenario", 5);
  ASSERT_TRUE(fs::exists(newest));
  damage(newest);
  auto campaign = write_campaign(dir, campaign_text(4, 600, 10));
  auto run = run_perennial(5, run_args(campaign, dir / "run"), 240);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto restored = restored_event(dir / "run");
  ASSERT_FALSE(restored.is_null()) << run.output;
  EXPECT_EQ(restored.value("step", 0), 400) << restored.dump();
  EXPECT_EQ(restored.value("file", ""), epoch_file(dir / "run", "scenario", 4).string());
  ASSERT_EQ(restored["rejected"].size(), 1u) << restored.dump();
  const std::string problem = restored["rejected"][0];
  EXPECT_NE(problem.find("checkpoint '" + newest.string() + "'"), std::string::npos) << problem;
  EXPECT_NE(problem.find(expected_problem), std::string::npos) << problem;
  EXPECT_TRUE(same_scenario_output(dir / "run", reference(), true));
}

// 64 latitude rows split unevenly: 22/21/21 on 3 ranks, 13/13/13/13/12 on 5. An epoch written
// on 3 ranks resumes on 5 and one written on 5 resumes on 3; both end with the content of the
// uninterrupted runs, which are bit-identical to each other.
TEST(Checkpoints, UnevenRowSplitsRestoreAcrossThreeAndFiveRanks) {
  const auto on_3 = uninterrupted("uneven-on-3", 3, 64);
  const auto on_5 = uninterrupted("uneven-on-5", 5, 64);
  EXPECT_TRUE(same_scenario_output(on_5, on_3, false));
  for (const auto& [from, from_ranks, to_ranks] : {std::tuple{on_3, 3, 5}, std::tuple{on_5, 5, 3}}) {
    const std::string name = "uneven-" + std::to_string(from_ranks) + "-to-" + std::to_string(to_ranks);
    auto dir = crashed_at(name, 300, from);
    auto campaign = write_campaign(dir, campaign_text(to_ranks, 600, 10, 64));
    auto run = run_perennial(to_ranks + 1, run_args(campaign, dir / "run"), 240);
    ASSERT_EQ(run.exit_code, 0) << name << "\n" << run.output;
    auto restored = restored_event(dir / "run");
    ASSERT_FALSE(restored.is_null()) << name;
    EXPECT_TRUE(restored.value("restored", false)) << name << ": " << restored.dump();
    EXPECT_EQ(restored.value("step", 0), 300) << name;
    EXPECT_EQ(restored.value("file", ""), epoch_file(dir / "run", "scenario", 3).string()) << name;
    EXPECT_TRUE(same_scenario_output(dir / "run", from, false)) << name;
    EXPECT_TRUE(same_scenario_output(dir / "run", to_ranks == 3 ? on_3 : on_5, true)) << name;
  }
}

// Half the file gone: HDF5 cannot open it, and the rejection says so, naming the file.
TEST(Checkpoints, TruncatedNewestEpochFallsBackToThePreviousOne) {
  expect_fallback_to_400("fallback-truncated", [](const fs::path& f) { fs::resize_file(f, fs::file_size(f) / 2); },
                         "unreadable (truncated, or not HDF5): truncated file");
}

// The byte offset of a contiguous dataset's data in its file.
haddr_t data_offset(const fs::path& file, const std::string& dataset) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
  haddr_t offset = H5Dget_offset(d);
  H5Dclose(d);
  H5Fclose(f);
  return offset;
}

TEST(Checkpoints, FlippedBitInNewestEpochFallsBackToThePreviousOne) {
  expect_fallback_to_400("fallback-bitflip", [](const fs::path& f) {
    const auto offset = data_offset(f, "temperature");
    ASSERT_NE(offset, HADDR_UNDEF);
    std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(static_cast<std::streamoff>(offset + 1000));
    char byte = 0;
    io.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x10);
    io.seekp(static_cast<std::streamoff>(offset + 1000));
    io.write(&byte, 1);
  }, "dataset 'temperature': checksum mismatch in the block at offset [0, 0] count [12, 96]");  // rank 0's rows
}

TEST(Checkpoints, MissingDatasetInNewestEpochFallsBackToThePreviousOne) {
  expect_fallback_to_400("fallback-missing", [](const fs::path& f) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    hid_t file = H5Fopen(f.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    // Dimension scales refer to the dataset; unlinking it is what a damaged file looks like.
    EXPECT_GE(H5Ldelete(file, "temperature", H5P_DEFAULT), 0);
    H5Fclose(file);
  }, "dataset 'temperature': listed in the manifest but missing from the file");
}

TEST(Checkpoints, EpochOfAnotherStageIsRejected) {
  expect_fallback_to_400("fallback-identity", [](const fs::path& f) {
    fs::copy_file(epoch_file(reference(), "spinup", 1), f, fs::copy_options::overwrite_existing);
  }, "identity mismatch: stage is 'spinup' in the file but 'scenario' was expected");
}

TEST(Checkpoints, NoValidEpochRestartsFromInputsAndSaysSo) {
  auto dir = crashed_at("fallback-none", 200);
  for (int epoch : {1, 2}) fs::resize_file(epoch_file(dir / "run", "scenario", epoch), 100);
  auto campaign = write_campaign(dir, campaign_text(4, 600, 10));
  auto run = run_perennial(5, run_args(campaign, dir / "run"), 240);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto restored = restored_event(dir / "run");
  ASSERT_FALSE(restored.is_null());
  EXPECT_FALSE(restored.value("restored", true));
  EXPECT_EQ(restored["rejected"].size(), 2u);
  EXPECT_TRUE(same_scenario_output(dir / "run", reference(), true));
  auto log = run_command("cat " + (dir / "run" / "log" / "coordinator.log").string(), 10);
  EXPECT_NE(log.output.find("no valid checkpoint left; starting again from its inputs"), std::string::npos) << log.output;
}

TEST(Checkpoints, SignalCheckpointsEveryStageThenResumeFinishesBitIdentical) {
  auto dir = fresh_directory("signal-resume");
  // Long enough that the signal lands mid-run: it is sent once epoch 2 (step 200) is
  // committed (the stop came at step ~300), and 20,000 steps take 3-4 s here (60,000 before:
  // the suite's time only).
  auto campaign = write_campaign(dir, campaign_text(2, 20000, 3));
  auto out = dir / "run";
  {
    BackgroundRun run(5, run_args(campaign, out));
    CommandResult result;
    ASSERT_TRUE(stop_after_checkpoints(run, out, "scenario", 2, result));
    EXPECT_NE(result.output.find("checkpointed, resumable"), std::string::npos) << result.output;
  }
  auto events = read_events(out);
  ASSERT_TRUE(has_event(events, "stage_suspended", "scenario")) << "the signal arrived after the scenario finished";
  // Retention: no more than `keep` epochs remain.
  std::size_t epochs = 0;
  for (const auto& entry : fs::directory_iterator(out / "checkpoints" / "scenario")) {
    if (entry.path().extension() == ".h5") ++epochs;
  }
  EXPECT_LE(epochs, 3u);
  EXPECT_GE(epochs, 1u);

  auto resumed = run_perennial(5, run_args(campaign, out), 240);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  auto restored = restored_event(out);
  ASSERT_FALSE(restored.is_null());
  EXPECT_TRUE(restored.value("restored", false));

  auto ref_dir = fresh_directory("signal-reference");
  auto ref = run_perennial(5, run_args(write_campaign(ref_dir, campaign_text(2, 20000, 3)), ref_dir / "run"), 240);
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  EXPECT_TRUE(same_scenario_output(out, ref_dir / "run", true));
}

TEST(Checkpoints, WriterKilledMidCheckpointLeavesOnlyAPartialFile) {
  auto dir = fresh_directory("killed-writer");
  auto campaign = write_campaign(dir, campaign_text(2, 600, 10));
  auto out = dir / "run";
  // World rank 2 belongs to the scenario's group (ranks 1-2 after the spinup); it SIGKILLs
  // itself after writing its part of epoch 3 (step 300), before the commit. With no restarts
  // allowed the stage fails in this run; the next run resumes it.
  auto crashed = run_perennial(5, run_args(campaign, out) + " --max-restarts 0 --inject 'kill-in-checkpoint:rank=2,epoch=3'", 120);
  EXPECT_EQ(crashed.exit_code, 1) << crashed.output;
  EXPECT_NE(crashed.exit_code, 124) << "hung after the kill\n" << crashed.output;
  EXPECT_TRUE(fs::exists(epoch_file(out, "scenario", 3).string() + ".partial"));
  EXPECT_FALSE(fs::exists(epoch_file(out, "scenario", 3))) << "a killed write looks committed";
  EXPECT_TRUE(fs::exists(epoch_file(out, "scenario", 2)));

  auto resumed = run_perennial(5, run_args(campaign, out), 240);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  auto restored = restored_event(out);
  ASSERT_FALSE(restored.is_null());
  EXPECT_EQ(restored.value("step", 0), 200);
  EXPECT_FALSE(fs::exists(epoch_file(out, "scenario", 3).string() + ".partial")) << "stale partial file left";
  // Written on 2 ranks, the reference on 4.
  EXPECT_TRUE(same_scenario_output(out, reference(), false));
}

TEST(Checkpoints, CheckpointsAndOutputsOpenWithNcdump) {
  const auto& ref = reference();
  for (const auto& file : {epoch_file(ref, "scenario", 2), ref / "outputs" / "scenario.h5"}) {
    auto r = run_command("ncdump -h " + file.string(), 30);
    ASSERT_EQ(r.exit_code, 0) << file << "\n" << r.output;
    EXPECT_NE(r.output.find("double temperature(lat, lon)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("temperature:units = \"K\""), std::string::npos) << r.output;
  }
}

}  // namespace

namespace {

// A reused upstream output whose dataset no longer says what its stage declared (its units
// attribute rewritten to degC): the downstream stage must refuse it before computing,
// naming both stages.
TEST(Inputs, AnInputFileThatDisagreesWithItsDeclarationIsRefused) {
  auto dir = crashed_at("schema-mismatch", 100);
  {
    const auto file = dir / "run" / "outputs" / "spinup.h5";
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t d = H5Dopen2(f, "temperature", H5P_DEFAULT);
    H5Adelete(d, "units");
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 5);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(d, "units", type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, type, "degC");
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
    H5Dclose(d);
    H5Fclose(f);
  }
  auto campaign = write_campaign(dir, campaign_text(4, 600, 10));
  auto run = run_perennial(5, run_args(campaign, dir / "run"), 120);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  auto events = read_events(dir / "run");
  EXPECT_TRUE(has_event(events, "stage_reused", "spinup"));
  EXPECT_TRUE(has_event(events, "stage_failed", "scenario"));
  const std::string expected = "stage 'scenario': input 'initial' reads spinup.temperature from";
  EXPECT_NE(run.output.find(expected), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("in 'degC', but stage 'spinup' declares float64 [lat, lon] in 'K'"), std::string::npos)
      << run.output;
}

}  // namespace
