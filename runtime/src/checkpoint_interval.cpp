#include <perennial/campaign.hpp>
#include <perennial/checkpoint_interval.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace perennial {

IntervalSettings interval_settings(const CheckpointSpec& spec) {
  IntervalSettings s;
  s.node_mtbf_seconds = spec.node_mtbf_seconds;
  s.max_lost_work_seconds = spec.max_lost_work_seconds;
  s.fixed_seconds = spec.interval_seconds;
  s.fixed_steps = spec.interval_steps;
  return s;
}

double daly_interval(double cost_seconds, double mtbf_seconds) {
  const double c = std::max(cost_seconds, 0.0);
  const double m = std::max(mtbf_seconds, 1e-9);
  if (c >= 2.0 * m) return m;
  const double ratio = c / (2.0 * m);
  return std::sqrt(2.0 * c * m) * (1.0 + std::sqrt(ratio) / 3.0 + ratio / 9.0) - c;
}

IntervalChoice choose_interval(const IntervalSettings& settings, double cost_seconds, int nodes) {
  IntervalChoice choice;
  if (settings.fixed_steps) {
    choice.every_steps = *settings.fixed_steps;
    choice.rule = IntervalChoice::Rule::fixed_steps;
    return choice;
  }
  if (settings.fixed_seconds) {
    choice.seconds = *settings.fixed_seconds;
    choice.rule = IntervalChoice::Rule::fixed_seconds;
    return choice;
  }
  choice.nodes = std::max(nodes, 1);
  choice.node_mtbf_seconds = settings.node_mtbf_seconds;
  choice.cost_seconds = cost_seconds;
  choice.optimum_seconds = daly_interval(cost_seconds, settings.node_mtbf_seconds / choice.nodes);
  if (choice.optimum_seconds > settings.max_lost_work_seconds) {
    choice.seconds = settings.max_lost_work_seconds;
    choice.rule = IntervalChoice::Rule::capped;
  } else {
    choice.seconds = choice.optimum_seconds;
    choice.rule = IntervalChoice::Rule::optimum;
  }
  return choice;
}

std::string IntervalChoice::reason() const {
  const double mtbf = node_mtbf_seconds / std::max(nodes, 1);
  switch (rule) {
    case Rule::fixed_steps: return fmt::format("every {} steps (fixed by interval:)", every_steps.value_or(0));
    case Rule::fixed_seconds: return fmt::format("every {:.1f} s (fixed by interval:)", seconds);
    case Rule::capped:
      return fmt::format(
          "every {:.1f} s: capped by max_lost_work (Young/Daly optimum {:.1f} s for checkpoint cost {:.3f} s, "
          "MTBF {:.0f} s = {:.0f} s per node / {} node(s))",
          seconds, optimum_seconds, cost_seconds, mtbf, node_mtbf_seconds, nodes);
    case Rule::optimum: break;
  }
  return fmt::format("every {:.1f} s: Young/Daly optimum for checkpoint cost {:.3f} s, MTBF {:.0f} s "
                     "({:.0f} s per node / {} node(s))",
                     seconds, cost_seconds, mtbf, node_mtbf_seconds, nodes);
}

}  // namespace perennial
