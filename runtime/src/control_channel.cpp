#include <perennial/control_channel.hpp>
#include <perennial/errors.hpp>

#include <mpi.h>
#include <sys/prctl.h>

#include <algorithm>
#include <vector>
#include <thread>

namespace perennial {

void IdleBackoff::pause() {
  const auto now = std::chrono::steady_clock::now();
  if (idle_polls_++ == 0) idle_since_ = now;
  const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(now - idle_since_);
  if (waited < hot_) {
    std::this_thread::yield();
    return;
  }
  const auto sleep = std::clamp(waited / 50, std::chrono::microseconds(10), max_sleep_);
  std::this_thread::sleep_for(sleep);
}

void tighten_timer_slack() { ::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL); }  // 1 us, in ns

namespace {
boost::mpi::communicator duplicate_with_errors_return(const boost::mpi::communicator& world) {
  MPI_Comm dup = MPI_COMM_NULL;
  check_mpi(MPI_Comm_dup(static_cast<MPI_Comm>(world), &dup), "MPI_Comm_dup");
  check_mpi(MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  return boost::mpi::communicator(dup, boost::mpi::comm_take_ownership);
}
}  // namespace

ControlChannel::ControlChannel(const boost::mpi::communicator& world)
    : comm_(duplicate_with_errors_return(world)), stage_parent_(duplicate_with_errors_return(world)),
      heartbeat_(duplicate_with_errors_return(world)) {
  // Every rank makes its control channel once, on its main thread: the thread that waits.
  tighten_timer_slack();
}

std::optional<boost::mpi::status> ControlChannel::poll(int source, int tag) const {
  if (auto envelope = comm_.iprobe(source, tag)) return *envelope;
  return std::nullopt;
}

void ControlChannel::discard(const boost::mpi::status& envelope) const {
  // Boost.MPI sends a serialized message as one MPI_PACKED message (it uses matched probes):
  // receiving that one message takes all of it.
  MPI_Status status = envelope;
  int bytes = 0;
  MPI_Get_count(&status, MPI_BYTE, &bytes);
  std::vector<char> sink(static_cast<std::size_t>(std::max(bytes, 1)));
  MPI_Recv(sink.data(), bytes, MPI_BYTE, envelope.source(), envelope.tag(), static_cast<MPI_Comm>(comm_), MPI_STATUS_IGNORE);
}

std::optional<boost::mpi::status> ControlChannel::wait(std::chrono::nanoseconds timeout, int source,
                                                       IdleBackoff& backoff) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (auto envelope = poll(source)) {
      backoff.reset();
      return envelope;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    backoff.pause();
  }
}

}  // namespace perennial
