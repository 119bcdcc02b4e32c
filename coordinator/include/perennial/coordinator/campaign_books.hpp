#pragma once
// CampaignBooks: a real run's side of the accounting. It opens `<output_dir>/accounting.db`,
// records the run and the projects' allocations, says which projects have used theirs (and
// caps the `hard_cap:` ones at what is left), and keeps an AccountingRecorder on the run's
// lifecycle. The books matter, but not more than the science: a store that cannot be opened
// or written is reported loudly (once as an event, then in the log) and the campaign goes on.

#include <perennial/accounting/store.hpp>
#include <perennial/coordinator/accounting_recorder.hpp>
#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/event_log.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

class CampaignBooks {
 public:
  /// Opens the books and starts observing `run`; `ranks` counts the job's ranks.
  CampaignBooks(CampaignRun& run, EventLog& events, int ranks);
  CampaignBooks(const CampaignBooks&) = delete;
  CampaignBooks& operator=(const CampaignBooks&) = delete;

  /// A kernel's metric (not part of the lifecycle).
  /// `simulated`: the model time when reported (none when the kernel advances none).
  void metric(StageId id, std::uint64_t step, const std::string& name, double value, double now,
              std::optional<double> simulated = std::nullopt);
  /// Every metric value earlier runs recorded, in the order they arrived (none when the books
  /// cannot be read): what a resumed run replays to rebuild its scenario groups.
  std::vector<accounting::MetricRow> earlier_metrics() const;
  /// Called from the loop: open segments are brought up to date every 30 s.
  void tick(double now);
  /// Called from the loop: the rows written since the last commit are committed together
  /// once the first of them is `age` old (see AccountingStore: a transaction per row cost
  /// more than the rest of a short stage's dispatch).
  void commit_if_older_than(std::chrono::duration<double> age);
  /// Rows written and not yet committed.
  bool uncommitted() const { return store_ && (store_->uncommitted() || (recorder_ && recorder_->unwritten())); }
  /// The run ended: the rows committed, the run closed.
  void close();

 private:
  void open(int ranks);
  void apply_allocations();
  void failed(const std::string& what);

  CampaignRun& run_;
  EventLog& events_;
  std::optional<accounting::AccountingStore> store_;
  std::optional<AccountingRecorder> recorder_;
  std::int64_t run_id_ = 0;
  int errors_ = 0;
};

}  // namespace perennial
