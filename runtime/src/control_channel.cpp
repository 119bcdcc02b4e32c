#include <perennial/control_channel.hpp>
#include <perennial/errors.hpp>

#include <mpi.h>

#include <thread>

namespace perennial {

void IdleBackoff::pause() {
  if (++idle_polls_ <= 64) {
    std::this_thread::yield();
    return;
  }
  std::this_thread::sleep_for(sleep_);
  sleep_ = std::min(sleep_ * 2, max_sleep_);
}

namespace {
boost::mpi::communicator duplicate_with_errors_return(const boost::mpi::communicator& world) {
  MPI_Comm dup = MPI_COMM_NULL;
  check_mpi(MPI_Comm_dup(static_cast<MPI_Comm>(world), &dup), "MPI_Comm_dup");
  check_mpi(MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  return boost::mpi::communicator(dup, boost::mpi::comm_take_ownership);
}
}  // namespace

ControlChannel::ControlChannel(const boost::mpi::communicator& world)
    : comm_(duplicate_with_errors_return(world)), stage_parent_(duplicate_with_errors_return(world)) {}

std::optional<boost::mpi::status> ControlChannel::poll(int source) const {
  if (auto envelope = comm_.iprobe(source, boost::mpi::any_tag)) return *envelope;
  return std::nullopt;
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
