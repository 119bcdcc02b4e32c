#include "heartbeat.hpp"

#include <perennial/messages.hpp>

#include <spdlog/spdlog.h>

#include <mpi.h>
#include <unistd.h>

namespace perennial {

HeartbeatThread::HeartbeatThread(const boost::mpi::communicator& heartbeat, std::chrono::milliseconds period)
    : comm_(heartbeat), period_(period), thread_([this] { run(); }) {}

HeartbeatThread::~HeartbeatThread() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void HeartbeatThread::run() {
  const MPI_Comm comm = static_cast<MPI_Comm>(comm_);
  const int me = comm_.rank();
  MPI_Request pending = MPI_REQUEST_NULL;
  auto next_beat = std::chrono::steady_clock::now();
  while (!stop_) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_beat) {
      // Never block, never pile up: a beat is sent only once the previous one has left.
      int sent = 1;
      if (pending != MPI_REQUEST_NULL) MPI_Test(&pending, &sent, MPI_STATUS_IGNORE);
      if (sent) MPI_Isend(&me, 1, MPI_INT, 0, msg::kHeartbeat, comm, &pending);
      next_beat = now + period_;
    }
    int arrived = 0;
    MPI_Status status;
    MPI_Iprobe(0, msg::kAbortStage, comm, &arrived, &status);
    if (arrived) {
      int stage = -1;
      MPI_Recv(&stage, 1, MPI_INT, 0, msg::kAbortStage, comm, MPI_STATUS_IGNORE);
      spdlog::apply_all([stage](const std::shared_ptr<spdlog::logger>& log) {
        log->error("aborted by the coordinator: a member of stage id {}'s group died; ending this process", stage);
        log->flush();
      });
      ::_exit(kAbortedExitCode);
    }
    // 20 wake-ups a second: an abort waits at most 50 ms, and the thread costs the
    // computing ranks next to nothing.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (pending != MPI_REQUEST_NULL) MPI_Request_free(&pending);
}

}  // namespace perennial
