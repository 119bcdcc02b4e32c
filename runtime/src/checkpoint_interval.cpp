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
    choice.reason = fmt::format("every {} steps (fixed by interval:)", *settings.fixed_steps);
    return choice;
  }
  if (settings.fixed_seconds) {
    choice.seconds = *settings.fixed_seconds;
    choice.reason = fmt::format("every {:.1f} s (fixed by interval:)", choice.seconds);
    return choice;
  }
  const double mtbf = settings.node_mtbf_seconds / std::max(nodes, 1);
  const double optimum = daly_interval(cost_seconds, mtbf);
  if (optimum > settings.max_lost_work_seconds) {
    choice.seconds = settings.max_lost_work_seconds;
    choice.reason = fmt::format(
        "every {:.1f} s: capped by max_lost_work (Young/Daly optimum {:.1f} s for checkpoint cost {:.3f} s, "
        "MTBF {:.0f} s = {:.0f} s per node / {} node(s))",
        choice.seconds, optimum, cost_seconds, mtbf, settings.node_mtbf_seconds, nodes);
  } else {
    choice.seconds = optimum;
    choice.reason = fmt::format("every {:.1f} s: Young/Daly optimum for checkpoint cost {:.3f} s, MTBF {:.0f} s "
                                "({:.0f} s per node / {} node(s))",
                                choice.seconds, cost_seconds, mtbf, settings.node_mtbf_seconds, nodes);
  }
  return choice;
}

}  // namespace perennial
