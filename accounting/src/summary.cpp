#include <perennial/accounting/summary.hpp>

#include <fmt/format.h>

#include <cmath>
#include <map>

namespace perennial::accounting {

std::vector<ProjectUse> use_by_project(const std::vector<Segment>& segments, const std::vector<AllocationRow>& allocations) {
  std::map<std::string, ProjectUse> by;
  std::map<std::string, bool> energy_complete;
  for (const auto& a : allocations) {
    auto& u = by[a.project];
    u.project = a.project;
    u.grant = a.grant;
    if (a.allocation_core_hours > 0) u.allocation_core_hours = a.allocation_core_hours;
  }
  for (const auto& s : segments) {
    auto& u = by[s.project];
    u.project = s.project;
    if (u.grant.empty()) u.grant = s.grant;
    u.core_hours += s.core_hours();
    u.node_hours += s.node_hours();
    u.gpu_hours += s.gpu_hours();
    u.lost_core_hours += s.lost_core_hours;
    u.checkpoint_core_hours += s.checkpoint_seconds * static_cast<double>(s.cores) / 3600.0;
    ++u.segments;
    if (s.outcome == Outcome::running) ++u.running;
    auto [it, first] = energy_complete.emplace(s.project, true);
    if (s.energy_joules && it->second) {
      u.energy_joules = u.energy_joules.value_or(0.0) + *s.energy_joules;
    } else {
      it->second = false;
      u.energy_joules.reset();
    }
  }
  std::vector<ProjectUse> out;
  for (auto& [name, u] : by) out.push_back(std::move(u));
  return out;
}

std::string format_core_hours(double hours) {
  if (hours != 0.0 && std::fabs(hours) < 0.01) return fmt::format("{:.2g} core-h", hours);
  if (std::fabs(hours) < 100) return fmt::format("{:.2f} core-h", hours);
  return fmt::format("{:.0f} core-h", hours);
}

}  // namespace perennial::accounting
