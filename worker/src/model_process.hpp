#pragma once
// ModelProcess: an external model's launcher process (mpirun, srun, or the model itself),
// started by a stage group's first rank and owned by it: its output lines are read and kept
// in the run folder's model.log, it is signalled on request, and it never outlives the
// worker (a worker killed by any means takes the launcher, and so the model, with it).

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

class ModelProcess {
 public:
  /// Starts `argv` (argv[0] looked up on PATH) in `run_dir`, stdout and stderr into one pipe,
  /// with the MPI launcher's variables of this worker's own job removed from its environment
  /// (a nested mpirun would take them for its own). Throws Error when it cannot be started.
  ModelProcess(const std::vector<std::string>& argv, const std::filesystem::path& run_dir);
  /// Ends the model if it still runs (terminate()).
  ~ModelProcess();
  ModelProcess(const ModelProcess&) = delete;
  ModelProcess& operator=(const ModelProcess&) = delete;

  /// Waits up to `wait` for output; each whole line goes to model.log, the last lines kept,
  /// and to `on_line`.
  void read_output(std::chrono::milliseconds wait, const std::function<void(const std::string&)>& on_line);
  /// The launcher's exit, once it has ended: its status as a shell would show it (128 + signal).
  std::optional<int> exited();
  /// How it ended, for messages: "exit status 3" or "killed by signal 9 (Killed)".
  std::string how_it_ended() const { return how_; }
  /// Sends `signal` to the launcher (mpirun and srun pass USR1/USR2/TERM on to the model's ranks).
  void signal(int signal) const;
  /// SIGTERM to the launcher, then after `grace` SIGKILL to its whole process group; waits for it.
  void terminate(std::chrono::milliseconds grace = std::chrono::seconds(10));
  /// The last lines of its output (at most 20), oldest first.
  std::vector<std::string> last_lines() const { return {last_.begin(), last_.end()}; }
  pid_t pid() const { return pid_; }

 private:
  void keep(const std::string& line);
  pid_t pid_ = -1;
  int output_ = -1;
  std::string partial_;
  std::deque<std::string> last_;
  std::ofstream log_;
  std::optional<int> status_;
  std::string how_;
};

}  // namespace perennial
