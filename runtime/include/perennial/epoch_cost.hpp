#pragma once
// EpochCostMeter: what a synchronous checkpoint epoch costs the stage, for the interval rule.
// Plain C++, no MPI: the group's first rank feeds it its step boundaries.
//
// The write's own timer (writer construction to verification) misses part of the cost. Timed
// step by step (heat2d, 1 MiB on 2 ranks, an epoch every 100 steps, medians over 79 epochs),
// the step with the epoch took 5.6-6.1 ms more than a step without one, and the 50 steps after
// it 2.0-2.5 ms more in all: the epoch's other work (pruning the old file, the coordinator's
// journal sync, the file system's own commit) shares the node's cores with the next steps.
// Young/Daly's interval for the timer's figure alone was shorter than the optimum.
//
// The meter takes the time from the boundary where an epoch began to the boundary `window`
// steps after it, less what as many steps take without an epoch (the median of recent steps
// with no epoch near them). The window also ends once it has lasted `span` times the epoch's
// own step: where one step takes minutes, the ordinary spread of 50 of them would swamp the
// epoch's cost.
//
// Single measurements swing with the node (a slow spell in the window passes for the epoch's
// doing), so what the interval rule is given is steadier: each measurement held between one and
// four times the write's own time (on a 2-core VM the steps after an epoch lost 0.2 to 2 times
// what the write took, one epoch to the next), and the median of the last five of those.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

namespace perennial {

class EpochCostMeter {
 public:
  /// One epoch's cost to the stage, its write's own time (what the writer timed), and what
  /// to charge an epoch from now on: the median of the last five bounded measurements.
  struct Cost {
    double whole = 0.0;
    double write = 0.0;
    double charged = 0.0;
  };

  /// `window`: steps after the epoch that are charged to it, at most; `span`: the window's
  /// most time, in durations of the epoch's step; `history`: steps without an
  /// epoch near them that make the baseline (the median); `min_history`: fewer, no estimate.
  explicit EpochCostMeter(std::size_t window = 50, double span = 5.0, std::size_t history = 63,
                          std::size_t min_history = 8);

  /// A step boundary at `seconds` (any steady clock). Returns the whole cost of the epoch
  /// written at an earlier boundary once its window has passed (or once a new epoch starts
  /// before that), else nothing.
  std::optional<Cost> boundary(double seconds);
  /// A synchronous epoch, whose write took `write_seconds`, was written at the last boundary
  /// passed to boundary().
  void epoch_written(double write_seconds);
  /// The median step without an epoch near it, once enough are known.
  std::optional<double> baseline() const;

 private:
  std::optional<Cost> close(double seconds);

  std::size_t window_;
  double span_;
  std::size_t history_, min_history_;
  std::optional<double> last_;          ///< the previous boundary
  std::deque<double> clean_;            ///< recent step durations with no epoch near them
  std::optional<double> epoch_from_;    ///< the boundary where the open epoch began
  std::size_t steps_since_epoch_ = 0;   ///< boundaries passed since then
  double epoch_step_ = 0.0;             ///< the duration of the step with the epoch
  bool epoch_pending_ = false;          ///< epoch_written() since the last boundary
  double pending_write_ = 0.0;          ///< that epoch's write time
  double open_write_ = 0.0;             ///< the open epoch's write time
  std::deque<double> recent_;           ///< the last five bounded measurements
};

}  // namespace perennial
