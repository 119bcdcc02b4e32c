#pragma once
// What an earlier run of the same campaign left that this run can reuse, read from the
// journal: completed stages (skipped when their definition is unchanged) and committed
// checkpoint epochs (restored from, newest first). Plain C++.

#include <perennial/coordinator/journal.hpp>
#include <perennial/coordinator/stage_graph.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

struct EpochRecord {
  std::uint64_t epoch = 0;
  std::uint64_t step = 0;
  std::string file;  ///< the committed epoch file, relative to the campaign's output folder
  std::optional<double> simulated;  ///< model time at that step (not journaled)
  std::uint64_t bytes = 0;          ///< its size (not journaled)
};

struct StageHistory {
  bool completed = false;            ///< completed earlier with the same definition and steps
  std::vector<EpochRecord> epochs;   ///< committed epochs of the same definition, oldest first
  std::uint64_t last_epoch = 0;      ///< highest epoch number ever journaled (numbers never repeat)
  std::string note;                  ///< why earlier work is not reused, when it is not
};

/// A digest of what determines a stage's result apart from its step count: kernel,
/// parameters, inputs and declared outputs. Epochs of another definition are never restored.
std::string stage_definition(const StageGraph& graph, StageId id);

/// Journal records for the coordinator to append. `definition` is stage_definition's digest
/// when the caller keeps it (CampaignRun::definition): hashing the stage's JSON again for each
/// record took a tenth of rank 0's time per short stage. Empty: it is computed.
nlohmann::json journal_stage_completed(const StageGraph& graph, StageId id, const std::string& output_file,
                                       const std::string& definition = {});
/// The same record as text, as the coordinator appends it once per stage.
JsonLine journal_stage_completed_line(const StageGraph& graph, StageId id, const std::string& output_file,
                                      const std::string& definition);
nlohmann::json journal_epoch_committed(const StageGraph& graph, StageId id, const EpochRecord& epoch,
                                       const std::string& definition = {});

/// One history per stage of `graph`.
std::vector<StageHistory> read_history(const StageGraph& graph, const JournalContents& journal);

}  // namespace perennial
