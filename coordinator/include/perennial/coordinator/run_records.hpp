#pragma once
// What a real run writes down about its stages' lives, as two observers of CampaignRun: the
// event log (events.jsonl and the progress lines) and the journal (what a resume needs).
// Plain C++; the MPI loop adds only what its messages carry beyond the lifecycle (checkpoint
// sizes, rejected epochs, metrics).

#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/promise_steering.hpp>
#include <perennial/coordinator/event_log.hpp>
#include <perennial/coordinator/journal.hpp>

#include <filesystem>

namespace perennial {

class EventRecorder final : public CampaignObserver {
 public:
  EventRecorder(EventLog& events, const CampaignRun& run) : events_(events), run_(run) {}

  void stage_reused(StageId id) override;
  void output_rejected(StageId id, const std::string& problem) override;
  void stage_started(StageId id, const ActiveRun& r, bool backfilled) override;
  void stage_told_to_stop(StageId id, const StopOrder& stop) override;
  void stop_declined(StageId id, std::uint64_t step, const std::string& reason) override;
  void stage_completed(StageId id, const ActiveRun& r, double now) override;
  void stage_yielded(StageId id, const ActiveRun& r, std::uint64_t step, double now) override;
  void stage_suspended(StageId id, const ActiveRun& r, std::uint64_t step, double now) override;
  void stage_paused(StageId id, std::optional<std::uint64_t> step, const std::string& reason, double now) override;
  void stage_resumed(StageId id, const std::string& reason, double now) override;
  /// A move of scenario promise, made or not: a `promise_move` event and a log line.
  void promise_moved(const SteeringMove& move);
  void stage_resized(StageId id, const ActiveRun& r, std::uint64_t step, int ranks, const std::string& reason,
                     double now) override;
  void stage_lost(StageId id, const ActiveRun& r, int restart, double now) override;
  void stage_requeued(StageId id, int worker, double now) override;
  void stage_recovering(StageId id, const ActiveRun& lost, const std::string& from, int restart) override;
  void stage_failed(StageId id, const std::string& why, const std::vector<StageId>& blocked) override;
  void stage_waits_for_ranks(StageId id, int ranks) override;
  void stage_shrunk(StageId id, int ranks) override;

 private:
  const std::string& name(StageId id) const { return run_.graph().stage(id).name; }
  void warn_if_no_epoch_at(StageId id, std::uint64_t step);
  EventLog& events_;
  const CampaignRun& run_;
};

class JournalRecorder final : public CampaignObserver {
 public:
  JournalRecorder(Journal& journal, const CampaignRun& run) : journal_(journal), run_(run) {}

  void stage_started(StageId id, const ActiveRun& r, bool backfilled) override;
  void epoch_committed(StageId id, std::uint32_t attempt, const EpochRecord& epoch, double cost, double now) override;
  void stage_completed(StageId id, const ActiveRun& r, double now) override;
  void stage_failed(StageId id, const std::string& why, const std::vector<StageId>& blocked) override;

 private:
  Journal& journal_;
  const CampaignRun& run_;
};

/// `<output_dir>/outputs/<stage>.h5`: where a stage's outputs go.
std::filesystem::path output_file(const StageGraph& graph, StageId id);
/// The same as text, built without std::filesystem::path's parsing of every component (which
/// rank 0 paid twice for each stage it assigned).
std::string output_file_text(const StageGraph& graph, StageId id);
/// The same, relative to the campaign's output folder (`outputs/<stage>.h5`), as the journal
/// records it. A stage name holds no `/`, so it is the name itself.
std::string output_file_in_campaign(const StageGraph& graph, StageId id);

}  // namespace perennial
