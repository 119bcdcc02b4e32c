#pragma once
// ControlChannel: the point-to-point link between the coordinator (rank 0) and the workers,
// on a communicator duplicated from MPI_COMM_WORLD at start-up. No collective is ever
// called on it once stages run: ranks may die, and a collective with a dead rank hangs.

#include <perennial/messages.hpp>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/packed_oarchive.hpp>
#include <boost/mpi/status.hpp>
#include <boost/make_shared.hpp>

#include <chrono>
#include <optional>

namespace perennial {

/// A message serialized for sending, in a buffer reserved once. Boost.MPI's own send of a
/// serialized value grows its buffer from nothing, and each growth is an MPI_Alloc_mem, a copy
/// and an MPI_Free_mem (Open MPI registers every such block in a tree), several of each for a
/// stage's assignment. Reserved once, a chain of one-step stages went from 22.5 to 20.5 us
/// per round trip. Larger messages still grow the buffer, as before.
struct PackedMessage {
  static constexpr std::size_t kReserved = 2048;
  boost::mpi::packed_oarchive::buffer_type buffer;
  boost::mpi::packed_oarchive archive;

  template <class Message>
  PackedMessage(const boost::mpi::communicator& comm, const Message& message)
      : buffer(reserved()), archive(static_cast<MPI_Comm>(comm), buffer) {
    archive << message;
  }

 private:
  static boost::mpi::packed_oarchive::buffer_type reserved() {
    boost::mpi::packed_oarchive::buffer_type b;
    b.reserve(kReserved);
    return b;
  }
};

/// Posts `message` to `destination` as Boost.MPI's isend of a value would (the receiver's
/// recv of the value matches it), from a PackedMessage the request keeps alive.
template <class Message>
boost::mpi::request isend_packed(const boost::mpi::communicator& comm, int destination, int tag,
                                 const Message& message) {
  // boost::shared_ptr: what request::preserve keeps.
  auto packed = boost::make_shared<PackedMessage>(comm, message);
  boost::mpi::request request = comm.isend(destination, tag, packed->archive);
  request.preserve(packed);
  return request;
}

/// Waiting without burning a core while nothing happens, and without sleeping through a reply
/// that is microseconds away. For `hot` after the last message the waiter polls, yielding
/// the core between polls (a short stage's report or the next assignment usually arrives
/// within tens of microseconds, and a sleeping process takes 60-100 us to wake on this kind
/// of machine, longer than the work it waits for). After that it sleeps, for about 2% of the
/// time already waited, up to `max_sleep`: an hour-long stage costs one wake-up per
/// `max_sleep`, and the wake-up delay stays a small share of the wait. Rank 0 and idle
/// workers share cores with computing ranks, so Open MPI's busy-polling blocking receive is
/// not an option.
class IdleBackoff {
 public:
  static constexpr std::chrono::microseconds kHot{250};
  explicit IdleBackoff(std::chrono::microseconds max_sleep = std::chrono::microseconds(20000),
                       std::chrono::microseconds hot = kHot)
      : max_sleep_(max_sleep), hot_(hot) {}
  /// Something arrived: the next wait starts hot again.
  void reset() { idle_polls_ = 0; }
  void pause();

 private:
  std::chrono::microseconds max_sleep_;
  std::chrono::microseconds hot_;
  std::chrono::steady_clock::time_point idle_since_;
  int idle_polls_ = 0;
};

/// Asks the kernel to wake this thread's short sleeps on time: Linux's default timer slack
/// (50 us) turns a 10 us sleep into about 100 us, which is the whole budget of a stage
/// transition. Costs nothing on an idle rank (its sleeps are long anyway).
void tighten_timer_slack();

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
    const PackedMessage packed(comm_, message);
    comm_.send(destination, tag, packed.archive);
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
