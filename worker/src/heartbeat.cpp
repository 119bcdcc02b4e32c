#include "heartbeat.hpp"

#include "fault_drills.hpp"

#include <perennial/messages.hpp>

#include <spdlog/spdlog.h>

#include <mpi.h>
#include <unistd.h>

namespace perennial {

namespace {

const auto kProcessStart = std::chrono::steady_clock::now();

[[noreturn]] void end_process(int code, const std::string& why) {
  spdlog::apply_all([&why](const std::shared_ptr<spdlog::logger>& log) {
    log->error("{}", why);
    log->flush();
  });
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
  const int me = comm_.rank();
  MPI_Request pending = MPI_REQUEST_NULL;
  auto next_beat = std::chrono::steady_clock::now();
  // Armed at the coordinator's first beat: before it, rank 0 may still be reading a large
  // campaign file.
  std::optional<std::chrono::steady_clock::time_point> coordinator_heard;
  auto& drills = FaultDrills::instance();
  while (!stop_) {
    const auto now = std::chrono::steady_clock::now();
    drills.on_clock(std::chrono::duration<double>(now - kProcessStart).count());
    if (now >= next_beat && !drills.silenced()) {
      // Never block, never pile up: a beat is sent only once the previous one has left.
      int sent = 1;
      if (pending != MPI_REQUEST_NULL) MPI_Test(&pending, &sent, MPI_STATUS_IGNORE);
      if (sent) MPI_Isend(&me, 1, MPI_INT, 0, msg::kHeartbeat, comm, &pending);
      next_beat = now + period_;
    }
    int arrived = 0;
    MPI_Status status;
    while (MPI_Iprobe(0, msg::kCoordinatorBeat, comm, &arrived, &status) == MPI_SUCCESS && arrived) {
      int ignored = 0;
      MPI_Recv(&ignored, 1, MPI_INT, 0, msg::kCoordinatorBeat, comm, MPI_STATUS_IGNORE);
      coordinator_heard = now;
    }
    if (coordinator_heard && now - *coordinator_heard > coordinator_timeout_) {
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
