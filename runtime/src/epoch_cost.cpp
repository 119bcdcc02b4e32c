#include <perennial/epoch_cost.hpp>

#include <algorithm>
#include <vector>

namespace perennial {
namespace {

/// The k-th smallest of `values`.
double kth_smallest(std::vector<double> values, std::size_t k) {
  const auto at = values.begin() + static_cast<std::ptrdiff_t>(k);
  std::nth_element(values.begin(), at, values.end());
  return *at;
}

}  // namespace

EpochCostMeter::EpochCostMeter(std::size_t window, double span, std::size_t history, std::size_t min_history)
    : window_(std::max<std::size_t>(1, window)), span_(std::max(1.0, span)), history_(std::max<std::size_t>(1, history)),
      min_history_(std::max<std::size_t>(1, min_history)) {}

std::optional<double> EpochCostMeter::baseline() const {
  if (clean_.size() < min_history_) return std::nullopt;
  return kth_smallest({clean_.begin(), clean_.end()}, clean_.size() / 2);
}

std::optional<EpochCostMeter::Cost> EpochCostMeter::close(double seconds) {
  const double from = *epoch_from_;
  const std::size_t steps = steps_since_epoch_;
  epoch_from_.reset();
  steps_since_epoch_ = 0;
  const auto step = baseline();
  if (!step || steps == 0) return std::nullopt;
  const double whole = std::max(0.0, seconds - from - static_cast<double>(steps) * *step);
  recent_.push_back(std::clamp(whole, open_write_, 4 * open_write_));
  if (recent_.size() > 5) recent_.pop_front();
  // Of two, the smaller.
  return Cost{whole, open_write_, kth_smallest({recent_.begin(), recent_.end()}, (recent_.size() - 1) / 2)};
}

std::optional<EpochCostMeter::Cost> EpochCostMeter::boundary(double seconds) {
  std::optional<Cost> cost;
  if (epoch_pending_) {
    // The epoch ran between the last boundary and this one. One still open ends here: what
    // follows belongs to the new one.
    epoch_pending_ = false;
    if (epoch_from_) cost = close(*last_);
    epoch_from_ = last_;
    open_write_ = pending_write_;
    steps_since_epoch_ = 0;
  }
  if (epoch_from_) {
    ++steps_since_epoch_;
    if (steps_since_epoch_ == 1) epoch_step_ = seconds - *epoch_from_;
    // The epoch's step and up to `window_` steps after it.
    if (steps_since_epoch_ > window_ || seconds - *epoch_from_ >= span_ * epoch_step_) cost = close(seconds);
  } else if (last_ && seconds >= *last_) {
    clean_.push_back(seconds - *last_);
    if (clean_.size() > history_) clean_.pop_front();
  }
  last_ = seconds;
  return cost;
}

void EpochCostMeter::epoch_written(double write_seconds) {
  // Before any boundary there is nothing to measure from.
  if (!last_) return;
  epoch_pending_ = true;
  pending_write_ = write_seconds;
}

}  // namespace perennial
