#pragma once
// Respawner: starts fresh worker processes to replace dead ones, on a thread of its own so
// that rank 0 keeps serving the running stages meanwhile (MPI_THREAD_MULTIPLE). Each request
// is one MPI_Comm_spawn of `perennial worker` from rank 0 alone (MPI_COMM_SELF), an
// MPI_Intercomm_merge that puts rank 0 first, the three control communicators of a
// ControlChannel, and the start-up hello. Requests are served one at a time, in order.
// Thin MPI glue.
//
// The new processes are told which point-to-point layer (Open MPI's PML) this job's ranks
// chose, so that their MPI_Init does not probe the others again: on this machine kind the cm
// PML's probe of the PSM and PSM2 transports took about 0.2 s of a 0.25 s spawn of two
// ranks, for hardware that is not there (tests/bench/bench_recovery.sh measures both).

#include <perennial/control_channel.hpp>
#include <perennial/messages.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace perennial {

struct SpawnResult {
  std::uint64_t ticket = 0;
  int ranks = 0;
  std::unique_ptr<ControlChannel> channel;  ///< null when the spawn failed
  std::vector<msg::Hello> hellos;           ///< [pool rank]; [0] is rank 0's own
  std::string error;                        ///< why it failed (e.g. no free slots)
  double seconds = 0.0;
};

class Respawner {
 public:
  /// `executable` and `arguments` start one worker (`perennial worker ...`); each request
  /// adds `--first-id N` so the new workers get fresh ids.
  Respawner(std::string executable, std::vector<std::string> arguments);
  ~Respawner();  ///< joins the thread when it is idle; a spawn stuck inside MPI is left behind (with its state)
  Respawner(const Respawner&) = delete;
  Respawner& operator=(const Respawner&) = delete;

  /// Queues a spawn of `ranks` workers with ids first_id, first_id+1, ...; returns its ticket.
  std::uint64_t request(int ranks, int first_id);
  /// A finished spawn, if any.
  std::optional<SpawnResult> poll();
  /// Requests not yet finished, and seconds since the oldest started (0 when none).
  std::size_t pending() const;
  double oldest_pending_seconds() const;
  /// The PML the new processes are told to use, or empty (they choose for themselves).
  const std::string& pml() const { return state_->pml; }

 private:
  struct Request {
    std::uint64_t ticket;
    int ranks;
    int first_id;
  };
  // Everything the spawning thread touches. The thread holds it too: when a spawn hangs
  // inside MPI the thread is left behind at destruction, and must not outlive what it reads.
  struct State {
    std::string executable;
    std::vector<std::string> arguments;
    std::string pml;  ///< passed to the spawned job as OMPI_MCA_pml; empty: none
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Request> queue;
    std::deque<SpawnResult> done;
    std::optional<std::chrono::steady_clock::time_point> busy_since;
    std::size_t in_flight = 0;
    std::uint64_t next_ticket = 1;
    bool stop = false;
  };
  static void run(const std::shared_ptr<State>& state);
  static SpawnResult spawn(const State& state, const Request& r);

  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace perennial
