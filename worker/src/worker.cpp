#include "fault_drills.hpp"
#include "heartbeat.hpp"

#include <perennial/worker/stage_runner.hpp>
#include <perennial/worker/worker.hpp>

#include <spdlog/spdlog.h>

namespace perennial {

int run_worker(const ControlChannel& control, const WorkerIdentity& me, WorkerExit* exit) {
  FaultDrills::instance().set_identity(me);
  HeartbeatThread heartbeat(control.heartbeat(), kHeartbeatPeriod,
                            std::chrono::duration<double>(me.coordinator_timeout_seconds));
  IdleBackoff backoff;
  while (true) {
    // The next assignment of a burst of short stages is usually microseconds away; once none
    // came while the wait was hot, the worker is idle and its log is written out.
    auto envelope = control.wait(IdleBackoff::kHot, 0, backoff);
    if (!envelope) {
      flush_stage_log();
      envelope = control.wait(std::chrono::hours(24 * 365), 0, backoff);
    }
    if (!envelope) continue;
    switch (envelope->tag()) {
      case msg::kAssignStage: {
        auto assignment = control.receive<msg::AssignStage>(*envelope);
        auto report = run_stage(assignment, control.stage_parent(), control, me);
        control.send(0, msg::kStageDone, report);
        backoff.reset();
        break;
      }
      case msg::kShutdown: {
        const auto shutdown = control.receive<msg::Shutdown>(*envelope);
        if (exit) exit->skip_finalize = shutdown.skip_finalize;
        return shutdown.exit_code;
      }
      case msg::kCheckpointRequest:
        // A stop or checkpoint request that crossed the stage's end on the way: the stage it
        // names is over, so there is nothing to checkpoint.
        control.discard(*envelope);
        break;
      default:
        // Only a coordinator of another Perennial version sends what we do not know. Leaving
        // would look like a dead rank to rank 0; drop it and stay.
        spdlog::warn("worker {}: dropped a control message with unknown tag {}", me.id, envelope->tag());
        control.discard(*envelope);
        break;
    }
  }
}

}  // namespace perennial
