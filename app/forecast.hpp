#pragma once
// `perennial forecast DIR`: when the campaign in an output folder will finish and what it will
// still cost, per project, grant and scenario, with 80% intervals and the allocations it is
// projected to overrun. `perennial status` and `perennial report` show the same forecast.
//
// It reads what the folder holds: the journal (what is done and checkpointed, the campaign
// file and the machine of the newest run) and the books (accounting.db: measured rates and
// the use so far), and runs forecast_campaign from there.

#include <perennial/coordinator/forecast.hpp>

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

struct ForecastSettings {
  std::string target;         ///< an output folder, or a campaign file (its output_dir)
  std::string campaign_file;  ///< instead of the one the newest run recorded
  std::string cluster_file;   ///< instead of the campaign's cluster: or the newest run's nodes
  std::string mtbf;           ///< per node; default: the campaign's checkpoint: {mtbf:}
  std::string repair = "60s"; ///< a failed rank is back after this (a respawn)
  int draws = 40;
  std::uint64_t seed = 1;
  bool json = false;
};

/// Use, forecast and allocation of one project or grant.
struct AllocationOutlook {
  std::string name;
  std::string grant;  ///< a project's grant; a grant's own name
  double used_core_hours = 0.0;
  Spread to_finish;
  std::optional<double> allocation_core_hours;
  std::optional<Forecast::Exhaustion> exhaustion;  ///< seconds from as_of, when it runs out in some draws
  double total() const { return used_core_hours + to_finish.expected; }
};

struct FolderForecast {
  std::filesystem::path folder;
  std::filesystem::path campaign_file;
  std::string campaign;
  double as_of_unix = 0.0;  ///< the forecast's "now"
  bool finished = false;    ///< every stage completed: nothing to forecast
  Forecast forecast;
  std::vector<AllocationOutlook> projects;
  std::vector<AllocationOutlook> grants;
  std::map<std::string, double> used_by_scenario;
  std::vector<std::string> warnings;  ///< allocations projected to be overrun

  double expected_end_unix() const { return as_of_unix + forecast.seconds_to_finish.expected; }
  nlohmann::json to_json() const;
  std::string to_text() const;
};

/// Throws Error (or BadOption for a setting) naming what it cannot read.
FolderForecast forecast_folder(const ForecastSettings& settings);

/// The overrun warnings: a project or grant whose expected total (used plus to finish) is
/// above its allocation, or whose 80% interval reaches past it.
std::vector<std::string> overrun_warnings(const std::vector<AllocationOutlook>& outlooks, double as_of_unix);

int command_forecast(const ForecastSettings& settings);

}  // namespace perennial
