// The MPI job: `perennial run` on every rank mpirun starts (rank 0 coordinates, the others
// serve as workers) and `perennial worker`, the replacements rank 0 spawns.

#include "commands.hpp"
#include "launch.hpp"
#include "finalize_bound.hpp"
#include "startup_watchdog.hpp"

#include <perennial/campaign_loader.hpp>
#include <perennial/control_channel.hpp>
#include <perennial/coordinator/clock.hpp>
#include <perennial/coordinator/coordinator.hpp>
#include <perennial/coordinator/output_folder.hpp>
#include <perennial/coordinator/rank_replacement.hpp>
#include <perennial/coordinator/respawner.hpp>
#include <perennial/coordinator/startup_beats.hpp>
#include <perennial/coordinator/worker_pools.hpp>
#include <perennial/errors.hpp>
#include <perennial/worker/worker.hpp>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/environment.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

namespace perennial {

namespace {

// Set by SIGUSR1/SIGTERM on rank 0; the coordinator polls it between messages.
std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int signal) { g_stop_signal.store(signal); }

// Rank 0 turns SIGUSR1 and SIGTERM into "checkpoint everything, then stop". Workers ignore
// them: the coordinator drives their checkpoints, and a worker killed by the signal's
// default action would lose the work the signal is meant to save. (mpirun forwards SIGUSR1
// to every rank; on SIGTERM it sends SIGKILL odls_base_sigkill_timeout seconds later.)
void install_signal_handlers(bool coordinator) {
  struct sigaction action {};
  sigemptyset(&action.sa_mask);
  action.sa_handler = coordinator ? on_stop_signal : SIG_IGN;
  sigaction(SIGUSR1, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// After a rank died MPI_Finalize waits for it forever (measured with Open MPI 4.1): flush
// what this process wrote and leave without it; mpirun then exits normally.
[[noreturn]] void exit_without_finalize(int code) {
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& log) { log->flush(); });
  std::fflush(nullptr);
  ::_exit(code);
}

// Perennial never uses MPI-IO shared file pointers, but Open MPI's OMPIO sets them up at every
// file open: the `sm` component prints an error per file under mpirun --enable-recovery;
// `individual` creates four files per two-rank open; `lockedfile` creates one lock file,
// removed at close. (A full disk makes that lock file's collective open hang: checkpoints
// check the free space first.) setenv before MPI_Init is how a process sets its own MCA
// defaults; an explicit user setting wins.
void use_lazy_shared_file_pointers() { ::setenv("OMPI_MCA_sharedfp", "^sm,individual", 0); }

bool under_mpirun() { return std::getenv("OMPI_MCA_orte_hnp_uri") != nullptr; }

bool recovery_enabled() {
  const char* value = std::getenv("OMPI_MCA_orte_enable_recovery");
  return value && (std::string(value) == "1" || std::string(value) == "true");
}

std::string host_name() {
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int length = 0;
  MPI_Get_processor_name(name, &length);
  return std::string(name, static_cast<std::size_t>(length));
}

// This host's name from the kernel, usable before MPI_Init (--spawned-by is read then).
std::string kernel_host_name() {
  char name[256] = {};
  ::gethostname(name, sizeof(name) - 1);
  return name;
}

// When the allocation ends, as Unix time: `--end-time` takes a Unix time, a local date-time
// as `squeue -h -j $SLURM_JOB_ID -o %e` prints it (2026-11-25T18:00:00), or a duration from now
// (45min); without it, SLURM_JOB_END_TIME (a Unix time, set by newer Slurm) is used.
std::optional<double> allocation_end(const std::string& text) {
  const double now = unix_time_seconds();
  std::string value = text;
  if (value.empty()) {
    const char* slurm = std::getenv("SLURM_JOB_END_TIME");
    if (!slurm || !*slurm) return std::nullopt;
    value = slurm;
  }
  std::tm tm{};
  if (const char* end = ::strptime(value.c_str(), "%Y-%m-%dT%H:%M:%S", &tm); end && *end == '\0') {
    tm.tm_isdst = -1;
    return static_cast<double>(std::mktime(&tm));
  }
  char* end = nullptr;
  const double number = std::strtod(value.c_str(), &end);
  if (end && *end == '\0' && number > 1e9) return number;
  if (auto seconds = parse_duration_seconds(value); seconds && *seconds > 0 && std::isfinite(*seconds)) return now + *seconds;
  throw Error(fmt::format("--end-time '{}': give a Unix time, a date-time like 2026-11-25T18:00:00, or a duration like 45min",
                          value));
}

// Every process of a pool says who it is; workers learn which processes share their node.
std::vector<msg::Hello> exchange_hellos(const ControlChannel& control, msg::Hello mine) {
  std::vector<msg::Hello> all;
  boost::mpi::all_gather(control.comm(), mine, all);
  return all;
}

WorkerIdentity identity_from(const std::vector<msg::Hello>& hellos, int my_rank, const RunSettings& settings) {
  WorkerIdentity me;
  me.id = hellos.at(static_cast<std::size_t>(my_rank)).worker_id;
  me.node = hellos.at(static_cast<std::size_t>(my_rank)).node;
  me.coordinator_timeout_seconds = settings.coordinator_timeout;
  for (std::size_t r = 1; r < hellos.size(); ++r) {
    if (hellos[r].node == me.node) me.node_pids.push_back(hellos[r].pid);
  }
  return me;
}

int serve_as_worker(const ControlChannel& control, const WorkerIdentity& me) {
  WorkerExit how;
  const int code = run_worker(control, me, &how);
  if (how.skip_finalize) exit_without_finalize(code);
  return code;
}

// The arguments a respawned worker gets: what it must agree on with the others.
// --spawned-by: rank 0's host and pid, which a new worker on the same host watches while it
// starts (StartupWatchdog): a rank 0 that dies meanwhile can never take it in.
std::vector<std::string> worker_arguments(const RunSettings& settings) {
  return {"worker", "--coordinator-timeout", fmt::format("{}", settings.coordinator_timeout), "--startup-timeout",
          fmt::format("{}", settings.startup_timeout), "--fake-nodes", std::to_string(settings.fake_nodes),
          "--spawned-by", fmt::format("{}:{}", kernel_host_name(), ::getpid())};
}

void write_outcome(const std::filesystem::path& output_dir, const CampaignOutcome& outcome) {
  // mpirun --enable-recovery exits 0 whatever the ranks return (Open MPI 4.1, measured):
  // scripts read the outcome here (or use the summary on stderr).
  nlohmann::json j{{"exit_code", outcome.exit_code},
                   {"status", outcome.exit_code == 0 ? (outcome.checkpointed ? "checkpointed" : "completed") : "incomplete"},
                   {"wall_seconds", outcome.wall_seconds},
                   {"lost_ranks", outcome.dead_ranks},
                   {"summary", outcome.summary}};
  std::error_code ec;
  std::filesystem::create_directories(output_dir / "log", ec);
  std::ofstream(output_dir / "log" / "outcome.json") << j.dump(2) << "\n";
}

// Each worker's heartbeat thread talks to rank 0 while its main thread computes (or hangs in
// a collective with a dead rank): Perennial needs MPI_THREAD_MULTIPLE, and says so plainly
// when the MPI library gives less. Returns false then (every rank; world rank 0 prints).
bool has_thread_multiple(const boost::mpi::environment& env) {
  if (env.thread_level() >= boost::mpi::threading::multiple) return true;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    std::ostringstream level;
    level << env.thread_level();
    std::fprintf(stderr,
                 "perennial: this MPI library gives thread support '%s', but Perennial needs MPI_THREAD_MULTIPLE "
                 "(each worker's heartbeat thread talks to rank 0 while the stage computes). Use an MPI built with "
                 "thread support (Debian's Open MPI 4.1 has it; check `ompi_info | grep -i thread`).\n",
                 level.str().c_str());
  }
  return false;
}

// MPI_Finalize waits for every rank: as long as a worker waits for a silent coordinator
// (--coordinator-timeout), and at least 5 s, since rank 0 reaches it after closing its records.
std::chrono::duration<double> finalize_limit(const RunSettings& settings) {
  return std::chrono::duration<double>(std::max(5.0, settings.coordinator_timeout));
}

// Runs `body` between MPI_Init and a bounded MPI_Finalize (FinalizeBound); `body` returns the
// exit code.
template <class Body>
int with_mpi(const RunSettings& settings, Body&& body) {
  FinalizeBound finalize_bound(finalize_limit(settings));
  boost::mpi::environment env(boost::mpi::threading::multiple, false);
  int code = kExitIncomplete;
  try {
    code = has_thread_multiple(env) ? body() : kExitBadInput;
  } catch (...) {
    finalize_bound.arm(kExitIncomplete);
    throw;
  }
  finalize_bound.arm(code);
  return code;  // env's destructor calls MPI_Finalize, within the bound
}

int run_rank(const std::string& file, const std::string& output_dir, const RunSettings& settings,
             StartupWatchdog& watchdog) {
  boost::mpi::communicator world;
  ControlChannel control(world);  // collective at start-up, before any stage runs
  install_signal_handlers(control.rank() == 0);
  // Fake nodes split the worker ranks into K contiguous blocks, for node-failure drills on
  // one machine; otherwise a node is a host.
  const int workers = control.size() - 1;
  std::string node = host_name();
  if (settings.fake_nodes > 0 && control.rank() > 0) {
    node = fmt::format("fake-node-{}", (control.rank() - 1) * settings.fake_nodes / std::max(1, workers));
  }
  auto hellos = exchange_hellos(control, msg::Hello{static_cast<int>(::getpid()), host_name(), node, control.rank()});
  watchdog.disarm();
  if (control.rank() != 0) return serve_as_worker(control, identity_from(hellos, control.rank(), settings));

  if (!settings.started_marker.empty()) std::ofstream(settings.started_marker) << ::getpid() << "\n";
  WorkerPools pools(control, hellos);
  // From here the workers watch for rank 0's beats: beat while validating, before the loop.
  StartupBeats startup_beats(pools, std::chrono::milliseconds(250), std::chrono::minutes(30));
  auto send_shutdown = [&pools, &startup_beats] {
    startup_beats.stop();
    for (int id : pools.live_workers()) pools.send(id, msg::kShutdown, msg::Shutdown{0, false});
    pools.flush_sends(std::chrono::seconds(10));
  };
  if (control.size() < 2) {
    std::fprintf(stderr, "perennial run needs at least 2 ranks: rank 0 coordinates, the others run stages "
                         "(e.g. mpirun -np 4 perennial run %s)\n", file.c_str());
    return kExitBadInput;
  }
  auto v = validate_campaign(file, control.size() - 1);
  if (!v.diagnostics.empty()) {
    print_diagnostics(v.diagnostics);
    std::fprintf(stderr, "%s: not started: fix the errors above\n", file.c_str());
    send_shutdown();
    return kExitBadInput;
  }
  const bool recovery = recovery_enabled() || !under_mpirun();
  if (settings.max_restarts > 0 && under_mpirun() && !recovery_enabled()) {
    std::fprintf(stderr,
                 "perennial: not started: this run recovers from dead ranks (--max-restarts %d), but mpirun was started "
                 "without --enable-recovery, so one dead rank would end the whole job.\n"
                 "  Run: mpirun --enable-recovery -np %d perennial run %s\n"
                 "  (or pass --max-restarts 0 to run without recovery)\n",
                 settings.max_restarts, control.size(), file.c_str());
    send_shutdown();
    return kExitBadInput;
  }
  if (!output_dir.empty()) {
    Campaign campaign = v.graph->campaign();
    campaign.output_dir = std::filesystem::absolute(output_dir);
    Diagnostics again;
    v.graph = StageGraph::build(std::move(campaign), &KernelRegistry::instance(), again);
  }
  std::optional<OutputFolderLock> folder_lock;
  try {
    folder_lock.emplace(v.graph->campaign().output_dir, v.graph->campaign().name);
  } catch (const Error& e) {
    std::fprintf(stderr, "perennial: not started: %s\n", e.what());
    send_shutdown();
    return kExitBadInput;
  }
  CoordinatorOptions options;
  options.failure_grace = std::chrono::duration<double>(settings.failure_grace);
  options.quiet = settings.quiet;
  options.stop_signal = &g_stop_signal;
  options.heartbeat_timeout = std::chrono::duration<double>(settings.heartbeat_timeout);
  options.recovery = recovery;
  options.max_restarts = settings.max_restarts;
  options.spawn_timeout = std::chrono::duration<double>(settings.spawn_timeout);
  options.faults = settings.faults;
  options.end_epoch_seconds = allocation_end(settings.end_time);
  options.startup_beats = &startup_beats;
  // A drill kills ranks or fills the checkpoint file system (on shared scratch, other users'
  // too): the campaign file's list runs only when the command line asks for it.
  const auto& listed = v.graph->campaign().faults;
  if (settings.drills) {
    for (std::size_t i = 0; i < listed.size(); ++i) {
      options.faults.append(FaultPlan::parse(listed[i], fmt::format("faults[{}]", i)));
    }
  } else if (!listed.empty()) {
    std::fprintf(stderr, "perennial: %zu fault drill(s) in %s's faults: list skipped; pass --drills to carry them out\n",
                 listed.size(), file.c_str());
  }
  std::optional<Respawner> respawner;
  if (recovery && settings.respawn && settings.max_restarts > 0) {
    respawner.emplace(own_executable(), worker_arguments(settings));
    options.respawner = &*respawner;
    options.spares = static_cast<std::size_t>(settings.spares);
  }
  CampaignOutcome outcome;
  try {
    outcome = run_campaign(*v.graph, pools, options);
  } catch (const std::exception& e) {
    // The coordinator cannot go on (e.g. the output folder is not writable): take the job
    // down rather than leave workers waiting.
    std::fprintf(stderr, "perennial: coordinator error: %s\n", e.what());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, kExitIncomplete);
    return kExitIncomplete;
  }
  std::fputs(outcome.summary.c_str(), stderr);
  // The coordinator looked at this host's workers just before their shutdown. When it had lost
  // none, they all wait inside MPI_Finalize now, alive: one whose process has ended died after
  // that look, too late to tell the others (at worst they leave through FinalizeBound). It goes on
  // record here; MPI_Finalize would wait for it for ever, so rank 0 leaves without it below.
  if (outcome.dead_ranks.empty() && outcome.stuck_ranks.empty()) {
    const std::string here = host_name();
    for (std::size_t r = 1; r < hellos.size(); ++r) {
      if (hellos[r].host != here || process_running(hellos[r].pid)) continue;
      outcome.dead_ranks.push_back(static_cast<int>(r));
      std::fprintf(stderr, "perennial: worker rank %zu ended after its shutdown was sent; the others may wait for it "
                           "in MPI_Finalize up to its bound\n", r);
    }
  }
  write_outcome(v.graph->campaign().output_dir, outcome);
  if (!outcome.stuck_ranks.empty()) {
    // Stuck ranks would hang MPI_Finalize and mpirun: end the job now (results are on disk).
    std::fprintf(stderr, "perennial: aborting the job to end stuck worker ranks\n");
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, kExitIncomplete);
  }
  if (!outcome.dead_ranks.empty()) {
    respawner.reset();
    exit_without_finalize(outcome.exit_code);
  }
  return outcome.exit_code;
}

int serve_as_spawned_worker(int first_id, const RunSettings& settings, StartupWatchdog& watchdog) {
  MPI_Comm parent = MPI_COMM_NULL;
  MPI_Comm_get_parent(&parent);
  if (parent == MPI_COMM_NULL) {
    std::fprintf(stderr, "perennial worker: this process is started by 'perennial run' to replace lost ranks, "
                         "not by hand\n");
    return kExitBadInput;
  }
  install_signal_handlers(false);
  MPI_Comm merged = MPI_COMM_NULL;
  check_mpi(MPI_Intercomm_merge(parent, 1, &merged), "MPI_Intercomm_merge");  // rank 0 stays first
  boost::mpi::communicator merged_comm(merged, boost::mpi::comm_take_ownership);
  ControlChannel control(merged_comm);
  const int id = first_id + control.rank() - 1;
  const std::string node = settings.fake_nodes > 0 ? fmt::format("spawned-{}", first_id) : host_name();
  auto hellos = exchange_hellos(control, msg::Hello{static_cast<int>(::getpid()), host_name(), node, id});
  watchdog.disarm();
  return serve_as_worker(control, identity_from(hellos, control.rank(), settings));
}

}  // namespace

int command_run(const std::string& file, const std::string& output_dir, const RunSettings& settings) {
  use_lazy_shared_file_pointers();
  // Armed before MPI_Init: a rank killed while the job starts leaves the others waiting
  // inside MPI_Init itself (seen in PMIx_Get), where no MPI error ever comes.
  StartupWatchdog watchdog(std::chrono::duration<double>(settings.startup_timeout));
  return with_mpi(settings, [&] { return run_rank(file, output_dir, settings, watchdog); });
}

// A worker spawned by the coordinator to replace lost ranks: it joins rank 0 through the
// parent intercommunicator and then serves assignments like any other worker.
int command_worker(int first_id, const RunSettings& settings) {
  use_lazy_shared_file_pointers();
  StartupWatchdog watchdog(std::chrono::duration<double>(settings.startup_timeout));  // before MPI_Init, as in command_run
  if (const auto colon = settings.spawned_by.rfind(':'); colon != std::string::npos) {
    if (settings.spawned_by.substr(0, colon) == kernel_host_name()) {
      watchdog.watch(std::atoi(settings.spawned_by.c_str() + colon + 1));
    }
  }
  return with_mpi(settings, [&] { return serve_as_spawned_worker(first_id, settings, watchdog); });
}

}  // namespace perennial
