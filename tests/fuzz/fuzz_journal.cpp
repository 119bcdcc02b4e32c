// libFuzzer target: the journal reader and what a resumed run feeds its records to (issue 16,
// point 5). Any bytes are a campaign folder's journal.jsonl: reading it, folding it into each
// stage's history, keeping earlier work, replaying the hand's records, taking the folder's lock
// (which reads the journal's campaign) and appending to it must answer with records and
// warnings or an Error naming the file, never crash, hang or trip a sanitizer. Appending to a
// journal must never lose a record the reader kept.
//
// Most bytes fail the per-line checksum, which guards everything behind it; so an input whose
// first byte is 0x01 (never a journal's) is taken as record bodies, one a line, that the target
// signs as the writer does: the fuzzer then reaches the JSON the records hold. Seeded by ci/fuzz.sh with journals
// of tested builds (the `checkpointed` campaign below is the e2e tests' one: its definitions
// match theirs).

#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/hand.hpp>
#include <perennial/coordinator/journal.hpp>
#include <perennial/coordinator/machine.hpp>
#include <perennial/coordinator/output_folder.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/coordinator/resume.hpp>
#include <perennial/coordinator/stage_graph.hpp>
#include <perennial/errors.hpp>

#include <fmt/format.h>
#include <xxhash.h>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace {

constexpr const char* kCampaign = R"(campaign: checkpointed
checkpoint: {interval: 100 steps, keep: 3}
stages:
  - name: spinup
    kernel: heat2d
    ranks: 2
    steps: 200
    parameters: {nx: 96, ny: 48, forcing: 0.0}
    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}
  - name: scenario
    kernel: heat2d
    ranks: 2
    steps: 60000
    parameters: {nx: 96, ny: 48, forcing: 4.5}
    inputs: {initial: spinup.temperature}
    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}
  - name: after
    kernel: heat2d
    ranks: 1
    steps: 10
    inputs: {initial: scenario.temperature}
)";

const std::filesystem::path& folder() {
  // In memory when it can be: the journal's fdatasync on a disk made the target ten times slower.
  static const std::filesystem::path dir =
      (std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path()) /
      ("perennial-fuzz-journal-" + std::to_string(::getpid()));
  return dir;
}

const perennial::StageGraph& graph() {
  static const perennial::StageGraph g = [] {
    auto loaded = perennial::load_campaign_text(kCampaign, "/fuzz/campaign.yaml");
    if (!loaded.campaign) {
      std::fprintf(stderr, "fuzz_journal: its campaign does not load:\n%s\n", loaded.diagnostics.to_string().c_str());
      std::abort();
    }
    perennial::Diagnostics diagnostics;
    return perennial::StageGraph::build(std::move(*loaded.campaign), nullptr, diagnostics);
  }();
  return g;
}

perennial::Machine machine() {
  perennial::Machine m;
  const perennial::NodeIndex n = m.add_node({"node", 4, 0, 0, 0});
  for (int id = 1; id <= 4; ++id) m.add_worker(n, 0, id);
  return m;
}

// The input as the journal's bytes: as given, or (first byte 0x01) each line signed.
std::string journal_bytes(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (size == 0 || data[0] != 0x01) return text;
  std::string out;
  std::size_t start = 1;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string body = text.substr(start, end - start);
    out += body + "\t" + fmt::format("{:016x}", XXH64(body.data(), body.size(), 0)) + "\n";
    start = end + 1;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::filesystem::remove_all(folder());
  std::filesystem::create_directories(folder());
  const auto file = folder() / "journal.jsonl";
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    const std::string bytes = journal_bytes(data, size);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  const perennial::JournalContents contents = perennial::Journal::read(file);

  // What a resumed run does with it (coordinator.cpp, in this order).
  const perennial::StageGraph& g = graph();
  perennial::CampaignRun run(g, perennial::SchedulingPolicy(machine(), perennial::policy_config_for(g.campaign())), {},
                             perennial::read_history(g, contents));
  (void)run.reuse_earlier_work([](perennial::StageId) { return std::string(); });
  for (perennial::StageId id = 0; id < g.size(); ++id) (void)run.resume_point(id);
  (void)perennial::replay_hand_records(run, contents, 0.0);
  run.begin(0.0);
  try {
    const perennial::OutputFolderLock lock(folder(), "checkpointed");
  } catch (const perennial::Error&) {
    // The journal names another campaign: refused with a message, as it should be.
  }

  // Appending after whatever the file holds keeps every record the reader kept.
  {
    perennial::Journal journal(file);
    journal.append({{"type", "run_started"}, {"campaign", "checkpointed"}});
  }
  const perennial::JournalContents after = perennial::Journal::read(file);
  bool kept = after.records.size() >= contents.records.size();
  for (std::size_t i = 0; kept && i < contents.records.size(); ++i) kept = after.records[i] == contents.records[i];
  if (!kept) {
    std::fprintf(stderr, "fuzz_journal: appending lost records: %zu read before, %zu after\n", contents.records.size(),
                 after.records.size());
    std::abort();
  }
  return 0;
}
