#pragma once
// HandDesk: where a running coordinator takes the scientist's hand (`perennial priority DIR
// STAGE ...`). It replays the journal's hand records at the start, and in the loop takes the
// control folder's requests oldest first, at most every 0.2 s (the loop wakes at least every
// 0.25 s: an answer within about half a second). An accepted request is applied, journalled
// and synced before it is answered, so "accepted" means it outlives this run; a refused one
// changes nothing and is not journalled. Each is a `hand` event.

#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/control_requests.hpp>
#include <perennial/coordinator/event_log.hpp>
#include <perennial/coordinator/journal.hpp>

#include <filesystem>
#include <vector>

namespace perennial {

class HandDesk {
 public:
  HandDesk(const std::filesystem::path& campaign_folder, CampaignRun& run, EventLog& events);

  /// At the start, before the run begins: the journal's hand records, applied once each stage.
  void replay(const JournalContents& earlier, double now);
  /// In the loop: pending requests taken and answered. Returns the running stages the driver
  /// must ask to checkpoint and stop (a pause or stop by hand).
  std::vector<StopOrder> take_requests(Journal& journal, double now);

 private:
  CampaignRun& run_;
  EventLog& events_;
  ControlRequests control_;
  double next_poll_ = 0.0;
};

}  // namespace perennial
