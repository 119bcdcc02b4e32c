#pragma once
// The worker side: every rank but 0 waits for stage assignments from the coordinator, runs
// them with its stage group, and reports back.

#include <perennial/control_channel.hpp>

namespace perennial {

/// Serves assignments until the coordinator sends Shutdown; returns the exit code it carries.
/// Idle waits sleep instead of spinning, so idle workers leave the cores to computing ones.
int run_worker(const ControlChannel& control);

/// Registers the diagnostic kernels every perennial executable has: `noop` (does nothing),
/// `burn-cpu` (computes for `seconds_per_step`), `fail-at-step` (throws at step `fail_at_step`).
void register_builtin_kernels();

}  // namespace perennial
