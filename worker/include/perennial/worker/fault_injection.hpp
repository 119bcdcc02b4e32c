#pragma once
// FaultPlan: failures to cause on purpose, for tests and for users' own drills:
//   perennial run campaign.yaml --inject 'kill:rank=3,step=120'
// Several faults are separated by ';'. A `kill` SIGKILLs the given world rank right after
// it completes that step of whatever stage it runs: a real, unannounced process death.

#include <cstdint>
#include <string>
#include <vector>

namespace perennial {

struct KillAtStep {
  int rank = -1;
  std::uint64_t step = 0;
};

struct FaultPlan {
  std::vector<KillAtStep> kills;

  /// Parses the --inject text; throws Error naming the bad part.
  static FaultPlan parse(const std::string& text);
  /// Whether `rank` must die now, having completed `step` steps.
  bool kill_now(int rank, std::uint64_t step) const;
};

}  // namespace perennial
