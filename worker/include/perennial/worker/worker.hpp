#pragma once
// The worker side: every rank but 0 waits for stage assignments from the coordinator, runs
// them with its stage group, and reports back.

#include <perennial/control_channel.hpp>
#include <perennial/worker/fault_injection.hpp>

#include <chrono>

namespace perennial {

/// How often a worker's heartbeat thread tells rank 0 it is alive.
inline constexpr std::chrono::milliseconds kHeartbeatPeriod{250};

/// How a worker should leave, as the coordinator said in Shutdown.
struct WorkerExit {
  bool skip_finalize = false;  ///< a rank died: MPI_Finalize would hang, so flush and _exit
};

/// Serves assignments until the coordinator sends Shutdown; returns the exit code it carries.
/// Idle waits sleep instead of spinning, so idle workers leave the cores to computing ones.
/// A heartbeat thread runs meanwhile (see heartbeat.hpp).
int run_worker(const ControlChannel& control, WorkerExit* exit = nullptr, const FaultPlan& faults = {});

/// Registers the diagnostic kernels every perennial executable has: `noop` (does nothing),
/// `burn-cpu` (computes for `seconds_per_step`), `fail-at-step` (throws at step `fail_at_step`).
void register_builtin_kernels();

}  // namespace perennial
