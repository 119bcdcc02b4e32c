#pragma once
// AllocationWatch: during a real run, forecasts the campaign now and then (at the start, then
// at most every `interval` and only after something ended) and logs each project or grant
// projected to overrun its allocation, once per run and again if it gets worse (from "may
// overrun" to "is projected to"). The forecast runs on a thread of its own over copies of
// the run's state, so rank 0's loop never waits for it: a forecast of a large campaign takes
// seconds, and rank 0 must answer its workers within milliseconds.

#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/event_log.hpp>
#include <perennial/coordinator/forecast.hpp>

#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

class AllocationWatch final : public CampaignObserver {
 public:
  /// `books`: the run's accounting.db (read-only here). `interval`: the least time between
  /// two forecasts, in the run's clock.
  AllocationWatch(const CampaignRun& run, EventLog& events, std::filesystem::path books, double interval = 600.0);
  ~AllocationWatch();  ///< waits for a forecast under way (bounded by its draws)
  AllocationWatch(const AllocationWatch&) = delete;
  AllocationWatch& operator=(const AllocationWatch&) = delete;

  /// A stage's run ended: the next poll may forecast again.
  void segment_ended(StageId, const ActiveRun&, SegmentEnd, const std::string&, double) override { changed_ = true; }
  /// From the loop: logs what a finished forecast found, starts the next one when due.
  void poll(double now);

 private:
  struct Outcome {
    std::vector<std::string> warnings;
    std::vector<std::string> keys;  ///< per warning: `project:NAME` or `grant:NAME`, and how bad
    std::string error;
  };
  void start(double now);
  void report(Outcome outcome);

  const CampaignRun& run_;
  EventLog& events_;
  std::filesystem::path books_;
  double interval_;
  std::optional<double> last_start_;
  bool changed_ = true;
  std::future<Outcome> pending_;
  std::map<std::string, std::string> said_;  ///< what was logged per project or grant
  bool said_error_ = false;
};

}  // namespace perennial
