#pragma once
// run_external_stage: a `command:` stage's part on one member of its group. The group's first
// rank prepares the run folder (restart files restored from the newest verified epoch,
// configuration files filled from their templates), starts the model through the site's
// launcher on the group's hosts, and watches it: its output lines give progress and metrics,
// each whole restart set it writes becomes a checkpoint epoch (copied, checksummed,
// verified), requests from rank 0 are passed on to it (by signal) or waited for (its own
// interval), and at its end the declared outputs are read from its files into the stage's
// output file. The other members hold their cores and follow in lockstep, sleeping between
// the first rank's ticks.

#include <perennial/control_channel.hpp>
#include <perennial/messages.hpp>
#include <perennial/worker/worker.hpp>

#include <boost/mpi/communicator.hpp>

#include <memory>

namespace spdlog { class logger; }

namespace perennial {

/// Collective over `group`. Fills `done` (ok, stopped, steps_done, simulated, output_seconds)
/// and keeps `step` at the model's step; throws Error (ModelError-like messages naming the
/// stage) on a failure, which run_stage reports.
void run_external_stage(const msg::AssignStage& a, const boost::mpi::communicator& group, const ControlChannel& control,
                        const std::shared_ptr<spdlog::logger>& log, msg::StageDone& done, std::uint64_t& step);

}  // namespace perennial
