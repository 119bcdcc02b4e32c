#pragma once
// Clock: where the scheduling policy's time comes from. The policy takes the time as an
// argument of every call (so a test can hand it any instant); its drivers read it here: the
// coordinator of a real run from a WallClock (its event log's `t` too), `perennial simulate`
// from a VirtualClock that jumps from event to event. Seconds as double, from the start.

#include <chrono>

namespace perennial {

/// Unix time now, in seconds: for records read outside the run (events' `wall`, status.json,
/// an allocation's end), never for the policy's time.
inline double unix_time_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

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
