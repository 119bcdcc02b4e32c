#pragma once
// `perennial launch`: starts `mpirun --enable-recovery ... perennial run` and exits with the
// campaign's real outcome. Under --enable-recovery, mpirun (Open MPI 4.1) exits 0 whatever the
// ranks return (measured), so a batch script could not tell a completed campaign from a
// broken one; launch reads the outcome rank 0 wrote instead. It also turns SIGTERM and SIGINT
// (Ctrl-C) into the SIGUSR1 that mpirun forwards, so the campaign checkpoints and stops (mpirun
// itself SIGKILLs the ranks a second after a SIGTERM); a second SIGINT ends the job at once. A
// stop asked for before the ranks have met (a batch script forwarding Slurm's early warning)
// is held until they have: USR1 would end mpirun or rank 0 before their handlers are in place.
// mpirun runs in a process group of its own, so a Ctrl-C at the terminal reaches launch only,
// and it is ended if launch dies. When mpirun cannot start the job at all (too few slots, root
// without the allow flags), launch says so and why, instead of reporting a dead coordinator.

#include <filesystem>
#include <string>
#include <vector>

namespace perennial {

struct LaunchSettings {
  int ranks = 0;
  std::string mpirun = "mpirun";
  std::string mpirun_args;             ///< extra mpirun flags, split on spaces
  std::string campaign;
  std::string output_dir;              ///< forwarded as --output-dir when set
  std::vector<std::string> run_args;   ///< forwarded to `perennial run` as given
};

/// This executable's path (/proc/self/exe), for re-running it under mpirun or MPI_Comm_spawn.
std::string own_executable();

/// Exit code: the campaign's (0 completed or checkpointed on request, 1 incomplete), 2 for
/// bad input, 1 when the job ended without an outcome (rank 0 died: rerun to resume), 3 when
/// mpirun could not start the job.
int command_launch(const LaunchSettings& settings);

/// Where rank 0 notes that the job's ranks have met (`perennial run --started-marker FILE`):
/// launch tells a job that never started from one whose coordinator died.
std::filesystem::path started_marker(const std::filesystem::path& output_dir);

}  // namespace perennial
