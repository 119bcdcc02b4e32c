#pragma once
// The figures climate centres report for their runs (CPMIP: Balaji et al. 2017), computed
// from the accounting store's segments, per stage and per scenario:
//   SYPD  simulated years per wall-clock day while it runs;
//   ASYPD the same over the whole time from its first submission to its end, queue waits,
//         interruptions, failures and recovery included;
//   CHSY  core-hours per simulated year, on the cores reserved (what the allocation pays);
//   JPSY  joules per simulated year (only when every segment's energy is known).
// Simulated time is what kernels advance (StageContext::advance_time); a stage that does not
// advance it has no such figures (they are absent, never 0 or infinite).

#include <perennial/accounting/store.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace perennial::accounting {

struct ClimateFigures {
  std::string name;  ///< the stage, or the scenario's JSON values
  double simulated_years = 0.0;  ///< net: how far the model got, not counting steps run twice
  double running_seconds = 0.0;  ///< wall time of its segments
  double elapsed_seconds = 0.0;  ///< from its first submission to its last segment's end
  double core_hours = 0.0;       ///< allocated, every segment (recomputed work included)
  std::optional<double> energy_joules;
  std::optional<double> sypd;
  std::optional<double> asypd;
  std::optional<double> chsy;
  std::optional<double> jpsy;
  std::int64_t max_cores = 0;         ///< the most cores one of its segments reserved
  double checkpoint_share = 0.0;      ///< of running time, in checkpoints
  double output_share = 0.0;          ///< of running time, writing outputs
  int segments = 0;
};

/// Per stage, in the order the stages first started. `days_per_year` from the calendar.
std::vector<ClimateFigures> figures_by_stage(const std::vector<Segment>& segments, double days_per_year);
/// Per scenario (the `for_each` values; `{}` gathers stages outside any ensemble), summing its
/// stages (e.g. consecutive chunks of one experiment), in first-start order.
std::vector<ClimateFigures> figures_by_scenario(const std::vector<Segment>& segments, double days_per_year);

}  // namespace perennial::accounting
