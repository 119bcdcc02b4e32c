#pragma once
// `perennial forecast DIR`: when the campaign in an output folder will finish and what it will
// still cost, per project, grant and scenario, with 80% intervals and the allocations it is
// projected to overrun. `perennial status` and `perennial report` show the same forecast.
//
// It reads what the folder holds: the journal (what is done and checkpointed, the campaign
// file and the machine of the newest run) and the books (accounting.db: measured rates and
// the use so far), and runs forecast_campaign from there.

#include <perennial/accounting/scenario_table.hpp>
#include <perennial/coordinator/forecast.hpp>
#include <perennial/coordinator/journal.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

/// A campaign's output folder with what its journal says: the campaign file its newest run
/// used (or the one given), loaded and validated.
struct CampaignFolder {
  std::filesystem::path folder;
  std::filesystem::path campaign_file;
  JournalContents journal;
  std::optional<nlohmann::json> newest_run;  ///< its `run_started` record, when it has one
  std::optional<StageGraph> graph;
};
/// `target`: an output folder, or a campaign file (its output_dir). Throws Error naming what
/// it cannot read.
CampaignFolder open_campaign_folder(const std::string& target, const std::string& campaign_override = {},
                                    const std::string& cluster_file = {});

/// What the scenario table (accounting/scenario_table.hpp) needs of each stage, in the
/// campaign file's order: `perennial scenarios` and `perennial report` both read it here.
std::vector<accounting::ScenarioStage> scenario_stages(const StageGraph& graph);

struct ForecastSettings {
  std::string target;         ///< an output folder, or a campaign file (its output_dir)
  std::string campaign_file;  ///< instead of the one the newest run recorded
  std::string cluster_file;   ///< instead of the campaign's cluster: or the newest run's nodes
  std::string mtbf;           ///< per node; default: the campaign's checkpoint: {mtbf:}
  std::string repair = "60s"; ///< a failed rank is back after this (a respawn)
  int draws = 40;
  std::uint64_t seed = 1;
  bool json = false;
  /// The forecast's "now"; default the clock's. A report forecasts as of the newest use in
  /// its books, so the same books give the same report.
  std::optional<double> as_of_unix;
};

struct FolderForecast {
  std::filesystem::path folder;
  std::filesystem::path campaign_file;
  std::string campaign;
  double as_of_unix = 0.0;  ///< the forecast's "now"
  bool finished = false;    ///< every stage completed: nothing to forecast
  Forecast forecast;
  std::vector<AllocationOutlook> projects;
  std::vector<AllocationOutlook> grants;  ///< every grant of the campaign's projects
  std::map<std::string, double> used_by_scenario;
  std::vector<std::string> warnings;  ///< allocations projected to be overrun

  double expected_end_unix() const { return as_of_unix + forecast.seconds_to_finish.expected; }
  nlohmann::json to_json() const;
  std::string to_text() const;
};

/// Throws Error (or BadOption for a setting) naming what it cannot read.
FolderForecast forecast_folder(const ForecastSettings& settings);

int command_forecast(const ForecastSettings& settings);

}  // namespace perennial
