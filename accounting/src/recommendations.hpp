#pragma once
// The report's recommendations, and what the report and they share: allocation advice (from
// the burn rate or the campaign forecast), checkpoint intervals against Young/Daly, reserved
// cores left idle, parallel efficiency across rank counts; identical advice about several
// stages said once. Internal to perennial_report (report.cpp builds the figures they read).

#include <perennial/accounting/report.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace perennial::accounting::detail {

/// `campaign/stage`, or the stage alone when the folder's campaign is unnamed.
std::string qualified_name(const StageReport& st);
double median(std::vector<double> values);
std::string join(const std::vector<std::string>& items, const char* separator);

// A stage's (or a template's) ranks and reserved cores: the figures compared.
using RankCount = std::pair<std::int64_t, int>;  // cores, ranks: fewest cores first

// What the segments at one rank count measured: core-seconds per step, and the steps.
struct StepCosts {
  std::vector<double> costs;  // per segment
  double steps = 0.0;
};
using CostsByCount = std::map<RankCount, StepCosts>;

// A stage's qualifying segments, by rank count.
struct EfficiencyStage {
  std::string qualified;  // campaign/stage
  std::string group;      // the template's key, or the stage's own
  std::string template_label;  // campaign/template, when it has one
  CostsByCount counts;
};

/// Core-seconds per step of a segment, computing only; absent when too short to judge.
std::optional<double> step_cost(const Segment& s);
/// The `for_each` template a stage was expanded from, from its name and scenario values.
std::optional<std::string> template_of(const std::string& name, const std::string& scenario);

/// Every recommendation of the report: allocations first, then stage advice by kind, the
/// most core-hours back first. `efficiency` holds one entry per report.stages, in its order.
std::vector<Recommendation> recommendations(const Report& report, const std::vector<EfficiencyStage>& efficiency,
                                            double node_mtbf_seconds);

}  // namespace perennial::accounting::detail
