#pragma once
// WorkerPools: every worker process rank 0 can talk to, original or spawned, and how to
// reach it. A pool is one control communicator shared by rank 0 and a set of workers: pool 0
// is the ranks mpirun started; each respawn adds a pool (MPI_Comm_spawn, then
// MPI_Intercomm_merge, so the workers' code sees a world like the first one). A stage group
// lives inside one pool: MPI_Comm_create_group needs a common parent communicator.
// Workers are named by worker id (see WorkerIdentity), never by pool rank. Thin MPI glue.
//
// Rank 0 never blocks on a worker: every control message leaves through MPI_Isend and waits
// in an outbox until it has gone. A worker that died while idle never receives (Open MPI 4.1
// gives no error: a blocking send to it would hang rank 0 forever, and with it the
// heartbeats that would have declared the death), so its sends are simply left behind once
// the heartbeat monitor declares it dead.

#include <perennial/control_channel.hpp>
#include <perennial/messages.hpp>

#include <boost/mpi/request.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

struct WorkerRecord {
  int id = 0;
  std::size_t pool = 0;
  int rank = 0;       ///< rank in the pool's communicators
  msg::Hello hello;   ///< pid, host, node
  bool spawned = false;
  bool alive = true;
};

class WorkerPools {
 public:
  /// Pool 0: the world's ranks 1..n-1, worker id = world rank. `hellos` is the start-up
  /// all-gather, indexed by world rank.
  WorkerPools(const ControlChannel& world, const std::vector<msg::Hello>& hellos);

  /// Adds a spawned pool; its workers' ids are in their hellos. Returns the pool index.
  std::size_t add(std::unique_ptr<ControlChannel> channel, const std::vector<msg::Hello>& hellos);

  const WorkerRecord& worker(int id) const { return workers_.at(static_cast<std::size_t>(id)); }
  bool known(int id) const { return id > 0 && static_cast<std::size_t>(id) < workers_.size() && workers_[id].id == id; }
  std::vector<int> pool_workers(std::size_t pool) const;
  std::vector<int> live_workers() const;
  /// The worker is gone: nothing more is sent to it, and its pending sends are abandoned.
  void mark_dead(int id);
  /// The id the next spawned worker gets: above every id ever used.
  int next_id() const { return static_cast<int>(workers_.size()); }
  std::size_t pool_count() const { return pools_.size(); }

  /// Posts a message to worker `id` and returns at once (the message is packed and kept
  /// until it has left). Messages to one worker arrive in the order they were posted.
  template <class Message>
  void send(int id, msg::Tag tag, const Message& message) {
    const WorkerRecord& w = worker(id);
    outbox_.push_back({id, isend_packed(pools_[w.pool].channel->comm(), w.rank, tag, message)});
  }
  /// Retires the sends that have left, and sets aside those to workers marked dead (their
  /// buffers are kept: a silent worker declared dead may still be reading). Tests every
  /// pending send: an MPI_Test that finds one still in flight yields the core under
  /// oversubscription, so call it when sends pile up or now and then (sends leave by
  /// themselves as any MPI call progresses; testing only frees their buffers).
  void progress_sends();
  std::size_t pending_sends() const { return outbox_.size(); }
  /// Progresses sends until all have left or `timeout` passed; returns the workers whose
  /// sends are still pending then (at the end of a run: their shutdown never arrived).
  std::vector<int> flush_sends(std::chrono::duration<double> timeout);

  /// A message waiting on any pool's control communicator.
  struct Envelope {
    int worker = 0;
    std::size_t pool = 0;
    boost::mpi::status status;
  };
  std::optional<Envelope> poll();
  /// poll() until `timeout`, sleeping with `backoff` in between.
  std::optional<Envelope> wait(std::chrono::nanoseconds timeout, IdleBackoff& backoff);
  template <class Message>
  Message receive(const Envelope& e) const {
    return pools_[e.pool].channel->receive<Message>(e.status);
  }
  /// Drops a message of a tag rank 0 does not know (so it cannot clog the queue).
  void discard(const Envelope& e) const;

  /// Worker ids whose heartbeats arrived since the last call (drains every pool).
  std::vector<int> drain_heartbeats() const;
  /// Tells `id`'s heartbeat thread to end its process now (it may be stuck in a collective).
  void send_abort(int id, int stage) const;
  /// Rank 0's own beat to every live worker: a worker that stops hearing it ends itself.
  void beat_live_workers() const;

 private:
  struct Pool {
    std::unique_ptr<ControlChannel> owned;
    const ControlChannel* channel = nullptr;
    std::vector<int> ids_by_rank;  ///< [pool rank] -> worker id (rank 0: the coordinator, 0)
  };
  std::vector<Pool> pools_;
  std::vector<WorkerRecord> workers_;  ///< by id; [0] is the coordinator's placeholder
  struct Outgoing {
    int worker = 0;
    boost::mpi::request request;
  };
  std::deque<Outgoing> outbox_;
  std::vector<Outgoing> abandoned_;  ///< to dead workers; never freed while MPI might read them
  std::size_t next_poll_ = 0;
  mutable std::deque<int> abort_payloads_;
};

}  // namespace perennial
