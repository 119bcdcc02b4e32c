#pragma once
// ControlChannel: the point-to-point link between the coordinator (rank 0) and the workers,
// on a communicator duplicated from MPI_COMM_WORLD at start-up. No collective is ever
// called on it once stages run: ranks may die, and a collective with a dead rank hangs.

#include <perennial/messages.hpp>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/status.hpp>

#include <chrono>
#include <optional>

namespace perennial {

/// Waiting without burning a core: a few yields first (a reply is often microseconds
/// away), then sleeps of about 2% of the time already waited, up to `max_sleep`. The wake-up
/// delay so stays a small share of the wait itself: a 100 us round trip is answered within
/// microseconds, an hour-long stage costs one wake-up per `max_sleep`. Rank 0 and idle
/// workers share cores with computing ranks, so Open MPI's busy-polling blocking receive
/// is not an option.
class IdleBackoff {
 public:
  explicit IdleBackoff(std::chrono::microseconds max_sleep = std::chrono::microseconds(20000))
      : max_sleep_(max_sleep) {}
  void reset() { idle_polls_ = 0; }
  void pause();

 private:
  std::chrono::microseconds max_sleep_;
  std::chrono::steady_clock::time_point idle_since_;
  int idle_polls_ = 0;
};

class ControlChannel {
 public:
  /// Duplicates `world` three times (collective over it: call once at start-up on every
  /// rank, before any stage runs) and sets MPI_ERRORS_RETURN on the duplicates.
  explicit ControlChannel(const boost::mpi::communicator& world);

  int rank() const { return comm_.rank(); }
  int size() const { return comm_.size(); }
  const boost::mpi::communicator& comm() const { return comm_; }
  /// The communicator stage groups are carved from (MPI_Comm_create_group), kept apart
  /// from control traffic.
  const boost::mpi::communicator& stage_parent() const { return stage_parent_; }
  /// Heartbeats and aborts travel here, between rank 0 and each worker's heartbeat thread,
  /// so they never queue behind control traffic or a stage's messages.
  const boost::mpi::communicator& heartbeat() const { return heartbeat_; }

  template <class Message>
  void send(int destination, msg::Tag tag, const Message& message) const {
    comm_.send(destination, tag, message);
  }

  /// The next message's envelope, waiting at most `timeout` (returns nothing then).
  /// `source` may be boost::mpi::any_source.
  std::optional<boost::mpi::status> wait(std::chrono::nanoseconds timeout, int source, IdleBackoff& backoff) const;
  std::optional<boost::mpi::status> poll(int source, int tag = boost::mpi::any_tag) const;

  template <class Message>
  Message receive(const boost::mpi::status& envelope) const {
    Message message;
    comm_.recv(envelope.source(), envelope.tag(), message);
    return message;
  }
  /// Receives and drops the message `envelope` announced (a stale or unknown one), so it
  /// cannot clog the queue.
  void discard(const boost::mpi::status& envelope) const;

 private:
  boost::mpi::communicator comm_;
  boost::mpi::communicator stage_parent_;
  boost::mpi::communicator heartbeat_;
};

}  // namespace perennial
