#pragma once
// Whether rank 0 takes a result metric a stage group sent. A value that is not a finite
// number, a name the stage's kernel does not declare, or a value that arrives after the
// stage's run ended (or from an earlier run of it) is refused with a message naming the
// stage, the metric and the step; the stage itself goes on. Only what is taken reaches the
// books and, through them, the scenarios' promise. Plain C++, no MPI.

#include <perennial/coordinator/stage_graph.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace perennial {

struct MetricRefusal {
  std::string kind;     ///< `not_finite`, `undeclared`, `stage_not_running`, `earlier_attempt`
  std::string message;  ///< one sentence: stage, metric, step, why
};

/// Why the value is refused, or nothing when it is taken. `running_attempt`: the stage's
/// running attempt, none when it is not running.
std::optional<MetricRefusal> metric_refusal(const StageGraph& graph, StageId id, std::uint32_t attempt, std::uint64_t step,
                                            const std::string& name, double value,
                                            std::optional<std::uint32_t> running_attempt);

}  // namespace perennial
