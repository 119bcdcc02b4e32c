#pragma once
// DeathWatch: learns within milliseconds that a worker process on this host has ended, where
// heartbeats take their whole timeout (2 s by default). One pidfd per process (Linux 5.3+:
// readable once the process has exited, also for a process that is not our child, and never
// confused with a later process given the same pid), polled without blocking. Heartbeats stay
// for what this cannot see: a rank that hangs but lives, and ranks on other hosts. Thin glue
// over pidfd_open and poll.

#include <map>
#include <vector>

namespace perennial {

class DeathWatch {
 public:
  DeathWatch() = default;
  DeathWatch(const DeathWatch&) = delete;
  DeathWatch& operator=(const DeathWatch&) = delete;
  ~DeathWatch();

  /// Watches worker `id`'s process `pid` (on this host). A process already gone is reported
  /// by the next ended(); one that cannot be watched (no pidfd support) is left to heartbeats.
  void watch(int id, int pid);
  /// Stops watching (the worker was ended on purpose or declared dead otherwise).
  void forget(int id);
  /// Workers whose process has ended since the last call; each is reported once and forgotten.
  std::vector<int> ended();
  std::size_t watched() const { return fds_.size() + gone_.size(); }

 private:
  std::map<int, int> fds_;  ///< worker id -> pidfd
  std::vector<int> gone_;   ///< already gone when watch() was called
};

}  // namespace perennial
