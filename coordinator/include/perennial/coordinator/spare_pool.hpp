#pragma once
// SparePool: worker ranks started ahead and kept idle (as Fenix does), so that a stage whose
// group lost ranks resumes at once on spares instead of waiting for a spawn; spawning then
// refills the pool in the background. Spares are not capacity: the scheduler sees a spare only
// once it has replaced a lost rank, so no stage ever runs on one otherwise and accounting
// charges no stage for them. A spare that dies while idle is refilled too. Plain C++ (the
// coordinator does the spawning and the MPI side).

#include <cstddef>
#include <vector>

namespace perennial {

class SparePool {
 public:
  explicit SparePool(std::size_t target) : target_(target) {}

  std::size_t target() const { return target_; }
  const std::vector<int>& idle() const { return idle_; }

  /// At the start of a run: how many ranks to spawn to fill the pool.
  std::size_t fill();
  /// `lost` ranks of a running stage are gone: the idle spares that take their places at once
  /// (up to `lost`). The caller spawns `lost` ranks: first to make up what the spares did not
  /// cover (capacity), then to refill the pool.
  std::vector<int> take(std::size_t lost);
  /// An idle spare died: true (the caller spawns one to refill) when `id` was one.
  bool lost_idle(int id);
  /// Spawned workers that joined: those that become spares are kept; the others, returned,
  /// join the machine (capacity owed for lost ranks first, then anything above the target).
  std::vector<int> joined(const std::vector<int>& ids);
  /// Spawned ranks on their way that will become capacity (the scheduler waits for those).
  std::size_t owed_capacity() const { return owed_capacity_; }
  /// Spawned ranks on their way in all (capacity and refills).
  std::size_t in_flight() const { return in_flight_; }
  /// Spawning stopped for good with `still_coming` ranks asked for and not joined: the
  /// refills that will not come are forgotten.
  void spawns_failed(std::size_t still_coming);

 private:
  std::size_t target_;
  std::vector<int> idle_;
  std::size_t owed_capacity_ = 0;
  std::size_t in_flight_ = 0;
};

}  // namespace perennial
