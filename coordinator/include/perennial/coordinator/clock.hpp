#pragma once
// Clock: where the scheduling policy reads the time. Real runs use the wall clock; tests and
// the accelerated mode (`perennial simulate`) drive a virtual one, so the same policy code
// makes the decisions in both. Seconds as double, from an arbitrary origin.

#include <chrono>

namespace perennial {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now() const = 0;
};

/// Monotonic wall time since construction.
class WallClock final : public Clock {
 public:
  double now() const override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

/// Time that moves only when told to; never backwards.
class VirtualClock final : public Clock {
 public:
  explicit VirtualClock(double start = 0.0) : now_(start) {}
  double now() const override { return now_; }
  void advance_to(double t) {
    if (t > now_) now_ = t;
  }
  void advance_by(double seconds) { advance_to(now_ + seconds); }

 private:
  double now_;
};

}  // namespace perennial
