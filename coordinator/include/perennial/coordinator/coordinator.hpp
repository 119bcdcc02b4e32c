#pragma once
// The coordinator loop on rank 0: dispatches ready stages to worker groups, collects their
// reports and metrics, watches heartbeats, and when ranks die tears down their groups,
// respawns ranks and resumes the stages from their last verified epochs. Ends with a summary.
// Thin MPI glue over StageGraph, CampaignProgress and the scheduler.

#include <perennial/coordinator/respawner.hpp>
#include <perennial/coordinator/stage_graph.hpp>
#include <perennial/coordinator/startup_beats.hpp>
#include <perennial/coordinator/worker_pools.hpp>
#include <perennial/fault_plan.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>

namespace perennial {

struct CoordinatorOptions {
  /// After one member of a group reports a failure, how long the others get to report
  /// before they are declared stuck (e.g. blocked in a collective with the failed rank).
  std::chrono::duration<double> failure_grace{10.0};
  bool quiet = false;  ///< no progress lines on stderr
  /// A worker silent this long is declared dead (its heartbeats come every 0.25 s).
  std::chrono::duration<double> heartbeat_timeout{2.0};
  /// Set (to the signal number) by a SIGUSR1/SIGTERM handler: every running stage
  /// checkpoints at its next step boundary and stops; the run ends "checkpointed, resumable".
  const std::atomic<int>* stop_signal = nullptr;
  /// Whether the job outlives a dead rank (mpirun --enable-recovery). Without it, ranks are
  /// never ended on purpose: that would end the whole job.
  bool recovery = false;
  /// How often one stage may lose ranks and be resumed from its checkpoint in one run.
  int max_restarts = 3;
  /// Spawns replacement ranks for lost ones (null: lost ranks are not replaced).
  Respawner* respawner = nullptr;
  /// A spawn not finished after this long counts as failed.
  std::chrono::duration<double> spawn_timeout{60.0};
  /// Worker ranks spawned at the start and kept idle, to replace lost ranks at once (needs a
  /// respawner); spawning refills them. Not capacity: see SparePool.
  std::size_t spares = 0;
  /// When the allocation ends (Unix time): nothing starts that cannot checkpoint first, and
  /// running stages checkpoint and stop in time (`--end-time`, `SLURM_JOB_END_TIME`).
  std::optional<double> end_epoch_seconds;
  /// Drills for this run (--inject and the campaign's faults:), sent with every assignment.
  FaultPlan faults;
  /// Rank 0's beats during its start-up; the loop stops them when it starts beating itself.
  StartupBeats* startup_beats = nullptr;
  /// How long the workers get to take their shutdown message at the end; one that has not
  /// by then is dead or stuck, and the job ends without MPI_Finalize.
  std::chrono::duration<double> shutdown_timeout{10.0};
};

struct CampaignOutcome {
  int exit_code = 0;         ///< 0 when every stage completed (or all checkpointed on request), 1 otherwise
  bool checkpointed = false; ///< stopped on a signal after checkpointing every running stage
  std::string summary;       ///< what completed, failed and never started
  double wall_seconds = 0.0;
  double coordinator_cpu_seconds = 0.0;
  std::vector<int> stuck_ranks;  ///< workers that never reported back; the job cannot finalize cleanly
  std::vector<int> dead_ranks;   ///< workers declared dead (silent) or ended on purpose; no MPI_Finalize then
};

/// Runs the campaign to the end, resuming from `<output_dir>/journal.jsonl` when an earlier
/// run left one, then tells every live worker to shut down. Point-to-point only; rank 0
/// sleeps (does not spin) while workers compute.
CampaignOutcome run_campaign(const StageGraph& graph, WorkerPools& workers, const CoordinatorOptions& options);

}  // namespace perennial
