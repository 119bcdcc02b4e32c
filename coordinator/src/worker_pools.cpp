#include <perennial/coordinator/worker_pools.hpp>

#include <mpi.h>

#include <algorithm>

namespace perennial {

WorkerPools::WorkerPools(const ControlChannel& world, const std::vector<msg::Hello>& hellos) {
  Pool pool;
  pool.channel = &world;
  workers_.resize(static_cast<std::size_t>(world.size()));
  for (int r = 0; r < world.size(); ++r) {
    pool.ids_by_rank.push_back(r);
    if (r == 0) continue;
    workers_[r] = WorkerRecord{r, 0, r, hellos.at(static_cast<std::size_t>(r)), false, true};
  }
  pools_.push_back(std::move(pool));
}

std::size_t WorkerPools::add(std::unique_ptr<ControlChannel> channel, const std::vector<msg::Hello>& hellos) {
  Pool pool;
  pool.channel = channel.get();
  pool.owned = std::move(channel);
  const std::size_t index = pools_.size();
  pool.ids_by_rank.push_back(0);
  for (std::size_t r = 1; r < hellos.size(); ++r) {
    const int id = hellos[r].worker_id;
    if (static_cast<std::size_t>(id) >= workers_.size()) workers_.resize(static_cast<std::size_t>(id) + 1);
    workers_[static_cast<std::size_t>(id)] = WorkerRecord{id, index, static_cast<int>(r), hellos[r], true, true};
    pool.ids_by_rank.push_back(id);
  }
  pools_.push_back(std::move(pool));
  return index;
}

void WorkerPools::mark_dead(int id) {
  workers_.at(static_cast<std::size_t>(id)).alive = false;
  progress_sends();
}

void WorkerPools::progress_sends() {
  std::erase_if(outbox_, [this](Outgoing& o) {
    if (o.request.test()) return true;
    if (workers_[static_cast<std::size_t>(o.worker)].alive) return false;
    abandoned_.push_back(std::move(o));
    return true;
  });
}

std::vector<int> WorkerPools::flush_sends(std::chrono::duration<double> timeout) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
  IdleBackoff backoff(std::chrono::milliseconds(5));
  while (true) {
    progress_sends();
    if (outbox_.empty() || std::chrono::steady_clock::now() >= deadline) break;
    backoff.pause();
  }
  std::vector<int> late;
  for (const auto& o : outbox_) {
    if (std::find(late.begin(), late.end(), o.worker) == late.end()) late.push_back(o.worker);
  }
  return late;
}

std::vector<int> WorkerPools::pool_workers(std::size_t pool) const {
  std::vector<int> out(pools_.at(pool).ids_by_rank.begin() + 1, pools_.at(pool).ids_by_rank.end());
  return out;
}

std::vector<int> WorkerPools::live_workers() const {
  std::vector<int> out;
  for (const auto& w : workers_) {
    if (w.id > 0 && w.alive) out.push_back(w.id);
  }
  return out;
}

std::optional<WorkerPools::Envelope> WorkerPools::poll() {
  // Round robin over the pools, so a busy pool cannot starve another one's messages.
  for (std::size_t i = 0; i < pools_.size(); ++i) {
    const std::size_t p = (next_poll_ + i) % pools_.size();
    if (auto status = pools_[p].channel->poll(boost::mpi::any_source)) {
      next_poll_ = p + 1;
      return Envelope{pools_[p].ids_by_rank.at(static_cast<std::size_t>(status->source())), p, *status};
    }
  }
  return std::nullopt;
}

std::optional<WorkerPools::Envelope> WorkerPools::wait(std::chrono::nanoseconds timeout, IdleBackoff& backoff) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (auto e = poll()) {
      backoff.reset();
      return e;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    backoff.pause();
  }
}

void WorkerPools::discard(const Envelope& e) const { pools_[e.pool].channel->discard(e.status); }

std::vector<int> WorkerPools::drain_heartbeats() const {
  std::vector<int> beat;
  for (const auto& pool : pools_) {
    const MPI_Comm comm = static_cast<MPI_Comm>(pool.channel->heartbeat());
    while (true) {
      int arrived = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, msg::kHeartbeat, comm, &arrived, &status);
      if (!arrived) break;
      int ignored = -1;
      MPI_Recv(&ignored, 1, MPI_INT, status.MPI_SOURCE, msg::kHeartbeat, comm, MPI_STATUS_IGNORE);
      beat.push_back(pool.ids_by_rank.at(static_cast<std::size_t>(status.MPI_SOURCE)));
    }
  }
  return beat;
}

void WorkerPools::send_abort(int id, int stage) const {
  const WorkerRecord& w = worker(id);
  // Never blocks on a dead peer: the request is freed at once, and the payload lives in a
  // deque (whose elements never move) for as long as the send might read it.
  abort_payloads_.push_back(stage);
  MPI_Request request;
  MPI_Isend(&abort_payloads_.back(), 1, MPI_INT, w.rank, msg::kAbortStage, static_cast<MPI_Comm>(pools_[w.pool].channel->heartbeat()),
            &request);
  MPI_Request_free(&request);
}

void WorkerPools::beat_live_workers() const {
  static const int payload = 0;
  for (const auto& w : workers_) {
    if (w.id <= 0 || !w.alive) continue;
    MPI_Request request;
    MPI_Isend(&payload, 1, MPI_INT, w.rank, msg::kCoordinatorBeat,
              static_cast<MPI_Comm>(pools_[w.pool].channel->heartbeat()), &request);
    MPI_Request_free(&request);
  }
}

}  // namespace perennial
