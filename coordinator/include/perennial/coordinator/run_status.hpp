#pragma once
// RunStatus: what a run is doing, as `log/status.json` holds it. Rank 0 writes it (at most
// once a second, less often when it is large, and at the end); `perennial status DIR` reads
// it. One type for both sides, so the file's fields cannot drift apart. Plain C++.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace perennial {

class CampaignRun;

struct RunStatus {
  struct Running {
    std::string stage;
    std::vector<int> ranks;
    double running_seconds = 0.0;
    bool stopping = false;  ///< told to checkpoint and stop
    std::uint64_t step = 0;   ///< the newest step its group reported
    std::uint64_t steps = 0;  ///< of this many
    std::optional<double> steps_per_second;  ///< measured over this run of it, once it moved
    std::optional<double> eta_seconds;       ///< at that rate
    /// Sent to its worker but not begun: it waits there for this stage to end (a short stage
    /// queued on a busy worker, README: Scheduling).
    std::optional<std::string> queued_behind;
  };
  /// Checkpointed and stopped with the run (a signal, the allocation's end): resumes next run;
  /// or paused (by promise or the scientist), until resumed.
  struct Suspended {
    std::string stage;
    std::string reason;
  };
  struct Waiting {
    std::string stage;
    std::string reason;  ///< the policy's reason (priority, resources, reservation, ...)
    std::string detail;
    double priority_score = 0.0;
    std::optional<double> expected_start_in_seconds;
  };
  /// What the scientist's hand changed (`perennial priority`): a hold, a priority, or both.
  struct ByHand {
    std::string stage;
    std::string what;  ///< "paused by hand", "stopped by hand", "priority 5 (campaign file: 0)"
  };
  struct OnDependencies {
    std::string stage;
    std::vector<std::string> waits_for;
  };

  std::string campaign;
  double written_at_unix = 0.0;
  double elapsed_seconds = 0.0;
  bool finished = false;
  std::size_t stages = 0;
  std::size_t completed = 0;
  std::size_t failed = 0;
  std::vector<Running> running;
  std::vector<Waiting> waiting;
  std::vector<OnDependencies> waiting_on_dependencies;
  std::vector<Suspended> suspended;
  std::vector<ByHand> by_hand;
  std::map<std::string, double> core_hours_by_project;  ///< this run's, as the scheduler charged them
  std::uint64_t preemptions = 0;
  std::uint64_t protected_interruptions = 0;
  std::uint64_t backfilled = 0;
  std::size_t worker_ranks = 0;
  std::size_t free_worker_ranks = 0;

  /// The run as it stands at `now` (its clock) and `unix_now`.
  static RunStatus of(const CampaignRun& run, double now, double unix_now);
  /// The status as status.json holds it: one object, each listed stage on a line of its own.
  std::string json_text() const;
  nlohmann::json to_json() const;  ///< json_text(), parsed
  /// Throws Error naming the field that is missing or of the wrong type.
  static RunStatus from_json(const nlohmann::json& j);
  /// Written under a temporary name and renamed: a reader never sees half a file.
  void write(const std::filesystem::path& file) const;
  /// Throws Error naming the file when it cannot be read or is not a status.
  static RunStatus read(const std::filesystem::path& file);
  /// What `perennial status` prints; `unix_now` gives the status's age.
  std::string to_text(double unix_now) const;
};

}  // namespace perennial
