#pragma once
// The worker side: every rank but 0 (and every rank the coordinator spawns to replace dead
// ones) waits for stage assignments from the coordinator, runs them with its stage group,
// and reports back.

#include <perennial/control_channel.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace perennial {

/// How often a worker's heartbeat thread tells rank 0 it is alive.
inline constexpr std::chrono::milliseconds kHeartbeatPeriod{250};

/// Who this worker is, for logs, drills and the coordinator's books.
struct WorkerIdentity {
  /// Worker id: the world rank for ranks mpirun started; ranks spawned later get ids above
  /// every earlier one, so an id never names two processes.
  int id = 0;
  std::string node;            ///< host name, or `fake-node-<i>` under --fake-nodes
  std::vector<int> node_pids;  ///< every worker process on this node (kill-node drills)
  /// With no word from the coordinator for this long (its beats come 4 times a second), the
  /// coordinator is taken for dead and this process ends: a job must not outlive rank 0.
  double coordinator_timeout_seconds = 10.0;
};

/// How a worker should leave, as the coordinator said in Shutdown.
struct WorkerExit {
  bool skip_finalize = false;  ///< a rank died: MPI_Finalize would hang, so flush and _exit
};

/// Serves assignments until the coordinator sends Shutdown; returns the exit code it carries.
/// Idle waits sleep instead of spinning, so idle workers leave the cores to computing ones.
/// A heartbeat thread runs meanwhile (see heartbeat.hpp).
int run_worker(const ControlChannel& control, const WorkerIdentity& me, WorkerExit* exit = nullptr);

/// Registers the diagnostic kernels every perennial executable has: `noop` (does nothing),
/// `burn-cpu` (computes for `seconds_per_step`), `fail-at-step` (throws at step `fail_at_step`).
void register_builtin_kernels();

}  // namespace perennial
