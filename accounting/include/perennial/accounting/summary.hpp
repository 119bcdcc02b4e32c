#pragma once
// Totals over an accounting store's segments: what `perennial status` and the reports say
// per project and grant. Plain C++ over the store's rows.

#include <perennial/accounting/store.hpp>

#include <optional>
#include <string>
#include <vector>

namespace perennial::accounting {

/// One project's use over every run of the campaign (every segment in the store).
struct ProjectUse {
  std::string project;
  std::string grant;
  std::optional<double> allocation_core_hours;  ///< as declared; absent when not declared
  double core_hours = 0.0;       ///< allocated (wall x reserved cores)
  double node_hours = 0.0;
  double gpu_hours = 0.0;
  double lost_core_hours = 0.0;  ///< spent on steps computed again
  double checkpoint_core_hours = 0.0;
  std::optional<double> energy_joules;  ///< only when every segment's energy is known
  int segments = 0;
  int running = 0;  ///< segments still running
};

/// Per project, in name order; projects with an allocation but no use yet are listed too.
std::vector<ProjectUse> use_by_project(const std::vector<Segment>& segments, const std::vector<AllocationRow>& allocations);

/// `1234.5 core-h` with sensible precision.
std::string format_core_hours(double hours);

}  // namespace perennial::accounting
