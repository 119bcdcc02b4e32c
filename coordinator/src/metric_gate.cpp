#include <perennial/coordinator/metric_gate.hpp>

#include <perennial/text.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <vector>

namespace perennial {

std::optional<MetricRefusal> metric_refusal(const StageGraph& graph, StageId id, std::uint32_t attempt, std::uint64_t step,
                                            const std::string& name, double value,
                                            std::optional<std::uint32_t> running_attempt) {
  const StageSpec& s = graph.stage(id);
  const std::string what = fmt::format("stage {}: metric '{}' at step {}", s.name, name, step);
  if (!running_attempt) {
    return MetricRefusal{"stage_not_running", fmt::format("{} arrived after the stage's run ended: refused", what)};
  }
  if (attempt != *running_attempt) {
    return MetricRefusal{"earlier_attempt", fmt::format("{} came from an earlier run of the stage (attempt {}; attempt {} "
                                                        "runs now): refused",
                                                        what, attempt, *running_attempt)};
  }
  if (!std::isfinite(value)) {
    return MetricRefusal{"not_finite", fmt::format("{} is {}, not a finite number: refused; the stage goes on", what,
                                                   std::isnan(value) ? "NaN" : value > 0 ? "+infinity" : "-infinity")};
  }
  if (!graph.metric_declared(id, name)) {
    const auto& declared = graph.declared_metrics(id);
    std::string message = fmt::format("{} is not a metric kernel '{}' declares", what, s.what_runs());
    if (declared.empty()) {
      message += " (it declares none)";
    } else {
      const std::vector<std::string> names(declared.begin(), declared.end());
      message += fmt::format(" (it declares: {})", fmt::join(names, ", "));
      if (const auto near = nearest_name(name, names); !near.empty()) message += fmt::format("; did you mean '{}'?", near);
    }
    message += ": refused; the stage goes on";
    return MetricRefusal{"undeclared", std::move(message)};
  }
  return std::nullopt;
}

}  // namespace perennial
