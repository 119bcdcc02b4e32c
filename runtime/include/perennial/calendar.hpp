#pragma once
// The model calendar a campaign's simulated time is counted in (`calendar:` in the campaign
// file), after the CF conventions' names. Climate figures (simulated years per day, core-hours
// per simulated year) divide by its year.

#include <optional>
#include <string>
#include <vector>

namespace perennial {

struct Calendar {
  std::string name = "365_day";  ///< as CF names it
  double days_per_year = 365.0;
  double seconds_per_year() const { return days_per_year * 86400.0; }
};

/// `365_day` (also `noleap`), `366_day` (`all_leap`), `360_day`, `gregorian` (`standard`,
/// `proleptic_gregorian`: 365.2425 days on average), `julian` (365.25); nullopt otherwise.
std::optional<Calendar> calendar_named(const std::string& name);
/// Every accepted name, for messages.
std::vector<std::string> calendar_names();

}  // namespace perennial
