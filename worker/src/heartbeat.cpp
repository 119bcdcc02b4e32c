#include "heartbeat.hpp"

#include "fault_drills.hpp"
#include "node_energy.hpp"

#include <perennial/messages.hpp>
#include <perennial/worker/stage_runner.hpp>

#include <spdlog/spdlog.h>

#include <mpi.h>
#include <unistd.h>

namespace perennial {

namespace {

const auto kProcessStart = std::chrono::steady_clock::now();

// What each beat carries (this worker's rank on the heartbeat communicator). A beat still on
// its way when the thread ends is freed, not waited for (rank 0 may be gone), so MPI may
// read its buffer later: it must live as long as the process.
int g_beat_payload = -1;

[[noreturn]] void end_process(int code, const std::string& why) {
  spdlog::apply_all([&why](const std::shared_ptr<spdlog::logger>& log) {
    log->error("{}", why);
    log->flush();
  });
  // The stage log is not registered with spdlog and is flushed only when the worker goes
  // idle: what the stage wrote since then would be lost with the process. (Its logger is set
  // before the stage starts, and an abort comes while one runs.)
  flush_stage_log();
  ::_exit(code);
}

}  // namespace

HeartbeatThread::HeartbeatThread(const boost::mpi::communicator& heartbeat, std::chrono::milliseconds period,
                                 std::chrono::duration<double> coordinator_timeout)
    : comm_(heartbeat), period_(period), coordinator_timeout_(coordinator_timeout), thread_([this] { run(); }) {}

HeartbeatThread::~HeartbeatThread() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void HeartbeatThread::run() {
  const MPI_Comm comm = static_cast<MPI_Comm>(comm_);
  g_beat_payload = comm_.rank();
  MPI_Request pending = MPI_REQUEST_NULL;
  auto next_beat = std::chrono::steady_clock::now();
  // Armed from the start: rank 0 beats from the moment the ranks have met, while it still
  // validates the campaign, so a coordinator that dies before its first stage is noticed too.
  auto coordinator_heard = next_beat;
  auto& drills = FaultDrills::instance();
  while (!stop_) {
    const auto now = std::chrono::steady_clock::now();
    drills.on_clock(std::chrono::duration<double>(now - kProcessStart).count());
    NodeEnergy::instance().keep_up();
    if (now >= next_beat && !drills.silenced()) {
      // Never block, never pile up: a beat is sent only once the previous one has left.
      int sent = 1;
      if (pending != MPI_REQUEST_NULL) MPI_Test(&pending, &sent, MPI_STATUS_IGNORE);
      if (sent) MPI_Isend(&g_beat_payload, 1, MPI_INT, 0, msg::kHeartbeat, comm, &pending);
      next_beat = now + period_;
    }
    int arrived = 0;
    MPI_Status status;
    while (MPI_Iprobe(0, msg::kCoordinatorBeat, comm, &arrived, &status) == MPI_SUCCESS && arrived) {
      int ignored = 0;
      MPI_Recv(&ignored, 1, MPI_INT, 0, msg::kCoordinatorBeat, comm, MPI_STATUS_IGNORE);
      coordinator_heard = now;
    }
    if (now - coordinator_heard > coordinator_timeout_) {
      end_process(kOrphanedExitCode,
                  fmt::format("no word from the coordinator (rank 0) for {:.1f} s: it is taken for dead and this "
                              "worker ends; run the same command again to resume from the journal",
                              coordinator_timeout_.count()));
    }
    MPI_Iprobe(0, msg::kAbortStage, comm, &arrived, &status);
    if (arrived) {
      int stage = -1;
      MPI_Recv(&stage, 1, MPI_INT, 0, msg::kAbortStage, comm, MPI_STATUS_IGNORE);
      end_process(kAbortedExitCode,
                  fmt::format("aborted by the coordinator: stage id {}'s group lost a member (or this rank was "
                              "declared dead); ending this process",
                              stage));
    }
    // 20 wake-ups a second: an abort waits at most 50 ms, and the thread costs the
    // computing ranks next to nothing.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (pending != MPI_REQUEST_NULL) MPI_Request_free(&pending);
}

}  // namespace perennial
