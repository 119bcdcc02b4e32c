#pragma once
// When to checkpoint: Young/Daly's optimal interval from the measured checkpoint cost and the
// stage's failure rate, capped so one failure never loses more than `max_lost_work`.
// Plain C++, no MPI, no HDF5: the workers choose their interval with it, and the scheduling
// policy and `perennial simulate` predict that choice with the same rule.

#include <cstdint>
#include <optional>
#include <string>

namespace perennial {

struct CheckpointSpec;

struct IntervalSettings {
  double node_mtbf_seconds = 24.0 * 3600.0;      ///< `checkpoint: {mtbf: 24h}`, per node
  double max_lost_work_seconds = 15.0 * 60.0;    ///< `max_lost_work:`, wall time
  std::optional<double> fixed_seconds;           ///< `interval: 10min` overrides the optimum
  std::optional<std::uint64_t> fixed_steps;      ///< `interval: 50 steps` overrides everything
};

/// What a stage's checkpoint is assumed to cost before one was measured: the workers pick
/// their first interval with it, and the scheduling policy assumes the same.
inline constexpr double kFirstCheckpointCostGuessSeconds = 0.1;

/// The settings a stage's `checkpoint:` section gives.
IntervalSettings interval_settings(const CheckpointSpec& spec);

struct IntervalChoice {
  enum class Rule { fixed_steps, fixed_seconds, optimum, capped };
  double seconds = 0.0;     ///< wall time between checkpoints (ignored when every_steps is set)
  std::optional<std::uint64_t> every_steps;
  Rule rule = Rule::fixed_seconds;
  // The figures the rule used, for reason().
  double optimum_seconds = 0.0;
  double cost_seconds = 0.0;
  double node_mtbf_seconds = 0.0;
  int nodes = 1;
  /// One line for the log: which rule decided and with what figures. Written when asked:
  /// the policy chooses an interval for every stage it is given and prints none of them.
  std::string reason() const;
};

/// Daly's higher-order optimum (2006) for cost C and mean time between failures M, both in
/// seconds: sqrt(2CM) [1 + sqrt(C/2M)/3 + (C/2M)/9] - C when C < 2M, else M.
double daly_interval(double cost_seconds, double mtbf_seconds);

/// The interval for a stage on `nodes` nodes (its MTBF is node_mtbf / nodes) whose last
/// checkpoint took `cost_seconds`.
IntervalChoice choose_interval(const IntervalSettings& settings, double cost_seconds, int nodes);

}  // namespace perennial
