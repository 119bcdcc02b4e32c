#pragma once
// The `perennial` subcommands, one function each, and what they share. cli.cpp parses the
// command line and calls them; offline.cpp holds those that need no MPI job (validate, plan,
// simulate, status), report.cpp the accounting report, run.cpp the MPI job itself (run, and
// the workers it spawns).

#include <perennial/coordinator/stage_graph.hpp>
#include <perennial/diagnostics.hpp>
#include <perennial/fault_plan.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace perennial {

constexpr int kExitIncomplete = 1;  ///< the campaign ran but did not complete
constexpr int kExitBadInput = 2;    ///< nothing was started
constexpr int kExitNoAnswer = 3;    ///< `priority`: the running coordinator did not answer in time

/// A command-line value that cannot be used, with what is wrong.
struct BadOption : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Validated {
  std::optional<StageGraph> graph;
  Diagnostics diagnostics;
};

/// Loads and checks a campaign; `worker_ranks` > 0 also checks stage sizes against the job.
/// A `cluster_file` replaces the campaign's own cluster: section.
Validated validate_campaign(const std::string& file, int worker_ranks, const std::string& cluster_file = {});
/// Prints every diagnostic and their count on stderr; returns kExitBadInput.
int print_diagnostics(const Diagnostics& d);

struct SimulateSettings {
  std::string cluster_file;
  std::string mtbf;
  std::uint64_t seed = 1;
  std::string checkpoint_cost = "60s";
  std::string repair = "4h";
  std::string until;
  std::string end;
  std::string trace;
  bool json = false;
};

/// `perennial report`'s command line, as given (report.cpp checks it).
struct ReportSettings {
  std::vector<std::string> folders;
  std::string project;
  std::string grant;
  std::string from;
  std::string to;
  std::string format;
  std::string output;  ///< empty: stdout
  std::string charts;  ///< empty: no chart files
  std::string mtbf = "24h";
};

/// What `perennial run` and `perennial worker` share on the command line.
struct RunSettings {
  double failure_grace = 10.0;
  double heartbeat_timeout = 2.0;
  double coordinator_timeout = 10.0;
  double startup_timeout = 120.0;  ///< the ranks must have met within this (see StartupWatchdog)
  std::string spawned_by;  ///< `perennial worker`: HOST:PID of the rank 0 that spawned it (watched while it starts)
  int fake_nodes = 0;
  int max_restarts = 3;
  bool respawn = true;
  double spawn_timeout = 60.0;
  int spares = 0;  ///< --spares: idle worker ranks kept to replace lost ones at once
  bool quiet = false;
  FaultPlan faults;      ///< --inject: drills asked for on the command line
  bool drills = false;   ///< --drills: also carry out the campaign file's faults: list
  std::string end_time;  ///< --end-time as given
  std::string started_marker;  ///< --started-marker: created by rank 0 once the ranks have met
};

/// `perennial sbatch FILE`'s command line, as given (sbatch.cpp checks it).
struct SbatchSettings {
  std::string campaign;
  std::string output_dir;       ///< empty: the campaign's output_dir
  int nodes = 1;
  int ntasks_per_node = 0;      ///< 0: enough for rank 0 and the widest stage
  std::string time;             ///< Slurm's --time, empty: the partition's default
  std::string account;
  std::string partition;
  std::string checkpoint_cost;  ///< empty: measured by earlier runs in the folder, else the default
  int max_requeues = 5;
  bool dry_run = false;
  std::string sbatch = "sbatch";
  std::vector<std::string> launch_args;  ///< the rest, for `perennial launch` (and `run`)
};

/// `perennial priority DIR STAGE (VALUE | --pause | --resume | --stop)`, as given.
struct PrioritySettings {
  std::string folder;
  std::string stage;
  std::string value;  ///< the new priority, as typed (empty: an action flag instead)
  bool pause = false;
  bool resume = false;
  bool stop = false;
  double wait_seconds = 5.0;  ///< how long to wait for a running coordinator's answer
};

int command_validate(const std::string& file, int ranks);
int command_plan(const std::string& file);
int command_simulate(const std::string& file, const SimulateSettings& settings);
int command_status(const std::string& dir);
/// `perennial scenarios DIR`: the scenarios ranked by promise, with their trajectories.
int command_scenarios(const std::string& dir, bool json);
/// `perennial priority`: 0 when applied (running) or journaled (stopped); kExitBadInput for a
/// folder, stage or value it cannot use; kExitIncomplete when refused; kExitNoAnswer when the
/// running coordinator did not answer in time (the request stays queued).
int command_priority(const PrioritySettings& settings);
/// `perennial report`: 0, or kExitBadInput naming what it cannot use.
int command_report(const ReportSettings& settings);
/// The accounting store's use per project against its allocation, for `status`.
std::string accounting_text(const std::filesystem::path& books);
/// `perennial sbatch`: writes OUTPUT_DIR/slurm/perennial.sbatch and submits it (prints it with
/// --dry-run); 0 with the job id on stdout, kExitBadInput for a value it cannot use,
/// kExitIncomplete when sbatch refused.
int command_sbatch(const SbatchSettings& settings);
/// `perennial run`: every rank of the job calls it (rank 0 coordinates, the others serve).
int command_run(const std::string& file, const std::string& output_dir, const RunSettings& settings);
/// `perennial worker`: a replacement worker spawned by rank 0.
int command_worker(int first_id, const RunSettings& settings);

}  // namespace perennial
