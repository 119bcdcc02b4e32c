#include "cli.hpp"
#include "launch.hpp"
#include "startup_watchdog.hpp"

#include <perennial/campaign_loader.hpp>
#include <perennial/control_channel.hpp>
#include <perennial/errors.hpp>
#include <perennial/coordinator/clock.hpp>
#include <perennial/coordinator/coordinator.hpp>
#include <perennial/coordinator/output_folder.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/coordinator/run_status.hpp>
#include <perennial/coordinator/simulator.hpp>
#include <perennial/coordinator/stage_graph.hpp>
#include <perennial/kernel.hpp>
#include <perennial/worker/worker.hpp>
#include <perennial/fault_plan.hpp>

#include <boost/mpi/collectives.hpp>
#include <nlohmann/json.hpp>
#include <fstream>

#include <CLI/CLI.hpp>
#include <boost/mpi/environment.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <atomic>
#include <cstdlib>

#include <cstdio>
#include <iostream>
#include <sstream>

namespace perennial {

namespace {

constexpr int kExitIncomplete = 1;

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
constexpr int kExitBadInput = 2;

struct BadOption : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Validated {
  std::optional<StageGraph> graph;
  Diagnostics diagnostics;
};

// Loads and checks a campaign; `worker_ranks` > 0 also checks stage sizes against the job.
// A `cluster_file` replaces the campaign's own cluster: section.
Validated validate_campaign(const std::string& file, int worker_ranks, const std::string& cluster_file = {}) {
  Validated v;
  auto loaded = load_campaign_file(file);
  v.diagnostics = std::move(loaded.diagnostics);
  if (!cluster_file.empty()) {
    auto cluster = load_cluster_file(cluster_file);
    for (const auto& d : cluster.diagnostics.items()) v.diagnostics.add(d.where, d.field, d.message);
    if (loaded.campaign) loaded.campaign->cluster = std::move(cluster.cluster);
  }
  if (!loaded.campaign) return v;
  v.graph = StageGraph::build(std::move(*loaded.campaign), &KernelRegistry::instance(), v.diagnostics);
  if (worker_ranks > 0) check_job_size(*v.graph, worker_ranks, v.diagnostics);
  return v;
}

int print_diagnostics(const Diagnostics& d) {
  std::fputs(d.to_string().c_str(), stderr);
  std::fprintf(stderr, "%zu error(s)\n", d.size());
  return kExitBadInput;
}

int command_validate(const std::string& file, int ranks) {
  auto v = validate_campaign(file, ranks > 0 ? ranks - 1 : 0);
  if (!v.diagnostics.empty()) return print_diagnostics(v.diagnostics);
  fmt::print("{}: valid campaign '{}' with {} stages\n", file, v.graph->campaign().name, v.graph->size());
  return 0;
}

int command_plan(const std::string& file) {
  auto v = validate_campaign(file, 0);
  if (!v.diagnostics.empty()) return print_diagnostics(v.diagnostics);
  std::fputs(format_plan(*v.graph, make_plan(*v.graph)).c_str(), stdout);
  return 0;
}

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

int command_simulate(const std::string& file, const SimulateSettings& o) {
  auto v = validate_campaign(file, 0, o.cluster_file);
  if (!v.diagnostics.empty()) return print_diagnostics(v.diagnostics);
  const Campaign& c = v.graph->campaign();
  if (!c.cluster.declared()) {
    std::fprintf(stderr, "perennial simulate: %s declares no cluster: add a cluster: section or pass --cluster FILE\n",
                 file.c_str());
    return kExitBadInput;
  }
  auto duration = [](const std::string& option, const std::string& text) -> std::optional<double> {
    if (text.empty()) return std::nullopt;
    auto seconds = parse_duration_seconds(text);
    if (!seconds || *seconds <= 0 || !std::isfinite(*seconds)) throw BadOption(fmt::format("{}: '{}' is not a positive duration (e.g. 90s, 4h, 2d, 5w)", option, text));
    return seconds;
  };
  SimulationOptions options;
  PolicyConfig config = policy_config_for(c);
  try {
    options.node_mtbf_seconds = duration("--mtbf", o.mtbf);
    options.checkpoint_cost_seconds = *duration("--checkpoint-cost", o.checkpoint_cost);
    options.repair_seconds = *duration("--repair", o.repair);
    options.stop_at = duration("--until", o.until);
    config.end_time = duration("--end", o.end);
  } catch (const BadOption& e) {
    std::fprintf(stderr, "perennial simulate: %s\n", e.what());
    return kExitBadInput;
  }
  options.seed = o.seed;
  options.trace_csv = o.trace.empty() ? c.output_dir / "simulation" / "trace.csv" : std::filesystem::path(o.trace);
  Machine machine = machine_for(c.cluster);
  const std::int64_t cores = machine.total_cores();
  const auto report = simulate_campaign(*v.graph, std::move(machine), config, options);
  if (o.json) {
    auto j = report.to_json();
    j["trace"] = options.trace_csv.string();
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("campaign {}: {} stages on {} nodes ({} cores), simulated\n", c.name, v.graph->size(),
               c.cluster.node_count(), cores);
    std::fputs(report.to_text().c_str(), stdout);
    fmt::print("event trace              {}\n", options.trace_csv.string());
  }
  return 0;
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

/// What `perennial run` and `perennial worker` share on the command line.
struct RunSettings {
  double failure_grace = 10.0;
  double heartbeat_timeout = 2.0;
  double coordinator_timeout = 10.0;
  double startup_timeout = 120.0;  ///< the ranks must have met within this (see StartupWatchdog)
  int fake_nodes = 0;
  int max_restarts = 3;
  bool respawn = true;
  double spawn_timeout = 60.0;
  bool quiet = false;
  FaultPlan faults;      ///< --inject: drills asked for on the command line
  bool drills = false;   ///< --drills: also carry out the campaign file's faults: list
  std::string end_time;  ///< --end-time as given
  std::string started_marker;  ///< --started-marker: created by rank 0 once the ranks have met
};

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

// `perennial status DIR`: what log/status.json (written by rank 0 once a second) says.
int command_status(const std::string& dir) {
  std::filesystem::path path = std::filesystem::path(dir) / "log" / "status.json";
  if (!std::filesystem::exists(path)) path = std::filesystem::path(dir) / "status.json";
  if (!std::filesystem::exists(path)) {
    std::fprintf(stderr, "perennial status: no %s: give a campaign's output folder (it has log/status.json once a run started)\n",
                 (std::filesystem::path(dir) / "log" / "status.json").c_str());
    return kExitBadInput;
  }
  try {
    std::fputs(RunStatus::read(path).to_text(unix_time_seconds()).c_str(), stdout);
  } catch (const Error& e) {
    std::fprintf(stderr, "perennial status: %s\n", e.what());
    return kExitIncomplete;
  }
  return 0;
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
std::vector<std::string> worker_arguments(const RunSettings& settings) {
  return {"worker", "--coordinator-timeout", fmt::format("{}", settings.coordinator_timeout), "--startup-timeout",
          fmt::format("{}", settings.startup_timeout), "--fake-nodes", std::to_string(settings.fake_nodes)};
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

int command_run(const std::string& file, const std::string& output_dir, const RunSettings& settings) {
  use_lazy_shared_file_pointers();
  // Armed before MPI_Init: a rank killed while the job starts leaves the others waiting
  // inside MPI_Init itself (seen in PMIx_Get), where no MPI error ever comes.
  StartupWatchdog watchdog(std::chrono::duration<double>(settings.startup_timeout));
  boost::mpi::environment env(boost::mpi::threading::multiple, false);
  if (!has_thread_multiple(env)) return kExitBadInput;
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

// A worker spawned by the coordinator to replace lost ranks: it joins rank 0 through the
// parent intercommunicator and then serves assignments like any other worker.
int command_worker(int first_id, const RunSettings& settings) {
  use_lazy_shared_file_pointers();
  StartupWatchdog watchdog(std::chrono::duration<double>(settings.startup_timeout));  // before MPI_Init, as in command_run
  boost::mpi::environment env(boost::mpi::threading::multiple, false);
  if (!has_thread_multiple(env)) return kExitBadInput;
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

int cli_main(int argc, char** argv) {
  register_builtin_kernels();
  CLI::App app{"Perennial: months-long simulation campaigns on MPI clusters"};
  app.require_subcommand(1);
  std::string file, output_dir;
  int ranks = 0;
  RunSettings settings;
  std::string inject;
  int first_id = 0;

  auto* validate = app.add_subcommand("validate", "check a campaign file; print every error as FILE:LINE:COLUMN: field: message");
  validate->add_option("campaign", file, "campaign YAML file")->required();
  // A job is rank 0, the coordinator, plus at least one worker: fewer ranks is no job at all.
  const CLI::Validator job_size(
      [](std::string& text) -> std::string {
        int n = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (ec == std::errc() && end == text.data() + text.size() && n >= 2) return {};
        return "must be at least 2 (rank 0 coordinates, the others run stages), not " + text;
      },
      "RANKS >= 2");
  validate->add_option("--ranks", ranks, "also check stage sizes against a job of this many ranks")->check(job_size);

  auto* plan = app.add_subcommand("plan", "print the stages in dependency waves and the critical path");
  plan->add_option("campaign", file, "campaign YAML file")->required();

  auto* run = app.add_subcommand("run", "run a campaign: mpirun -np N perennial run campaign.yaml");
  run->add_option("campaign", file, "campaign YAML file")->required();
  run->add_option("--output-dir", output_dir, "override the campaign's output_dir");
  run->add_option("--failure-grace", settings.failure_grace,
                  "seconds the rest of a group gets to report after one member failed (default 10)");
  run->add_option("--heartbeat-timeout", settings.heartbeat_timeout,
                  "seconds of heartbeat silence after which a worker rank is declared dead (default 2)");
  run->add_option("--coordinator-timeout", settings.coordinator_timeout,
                  "seconds without word from rank 0 after which workers end themselves (default 10)");
  run->add_option("--startup-timeout", settings.startup_timeout,
                  "seconds the job's ranks get to start and meet (MPI_Init and the first exchange); a rank that "
                  "died meanwhile leaves the others waiting there, so past it they end (default 120)")
      ->check(CLI::PositiveNumber);
  run->add_option("--max-restarts", settings.max_restarts,
                  "times one stage may lose ranks and resume from its checkpoint (default 3; 0: no recovery, "
                  "and then mpirun --enable-recovery is not needed)");
  run->add_flag("!--no-respawn", settings.respawn, "do not spawn ranks to replace lost ones; run on those left");
  run->add_option("--spawn-timeout", settings.spawn_timeout, "seconds a respawn may take before it counts as failed");
  run->add_option("--fake-nodes", settings.fake_nodes,
                  "split the worker ranks into this many pretend nodes (node-failure drills on one machine)");
  run->add_flag("--quiet", settings.quiet, "no progress lines on stderr");
  run->add_option("--end-time", settings.end_time,
                  "when the allocation ends (Unix time, 2026-11-25T18:00:00, or a duration such as 45min; default "
                  "SLURM_JOB_END_TIME): nothing starts that cannot checkpoint first, running stages checkpoint in time");
  run->add_option("--started-marker", settings.started_marker)->group("");  // set by `perennial launch`
  run->add_flag("--drills", settings.drills,
                "carry out the fault drills of the campaign file's faults: list (they kill ranks, fill disks); "
                "skipped otherwise");
  run->add_option("--inject", inject,
                  "failures to cause on purpose, e.g. 'kill:rank=3,step=120' (';' separates several; see the README)");

  LaunchSettings launch_settings;
  auto* launch = app.add_subcommand("launch",
                                    "start mpirun --enable-recovery for a campaign and exit with the campaign's outcome "
                                    "(mpirun itself exits 0 after failures); other options go to 'perennial run'");
  launch->add_option("-n,--np", launch_settings.ranks, "ranks: 1 coordinator + workers")->required();
  launch->add_option("--mpirun", launch_settings.mpirun, "the mpirun to use (default: mpirun on PATH)");
  launch->add_option("--mpirun-args", launch_settings.mpirun_args, "extra mpirun flags, e.g. '--oversubscribe'");
  launch->add_option("campaign", launch_settings.campaign, "campaign YAML file")->required();
  launch->add_option("--output-dir", launch_settings.output_dir, "override the campaign's output_dir");
  launch->allow_extras();

  auto* worker = app.add_subcommand("worker", "(internal) a replacement worker spawned by 'perennial run'");
  worker->group("");  // not listed in --help: users never start it
  worker->add_option("--first-id", first_id)->required();
  worker->add_option("--coordinator-timeout", settings.coordinator_timeout);
  worker->add_option("--startup-timeout", settings.startup_timeout);
  worker->add_option("--fake-nodes", settings.fake_nodes);

  auto* kernels = app.add_subcommand("kernels", "list the kernels this executable knows");

  std::string status_dir;
  auto* status = app.add_subcommand("status", "what a campaign run is doing: running stages, and why each waiting one waits");
  status->add_option("output_dir", status_dir, "the campaign's output folder")->required();

  SimulateSettings sim;
  auto* simulate = app.add_subcommand("simulate",
                                      "run the campaign through the scheduling policy on a virtual clock: makespan, "
                                      "utilisation, preemptions, lost work and core-hours per project, in seconds");
  simulate->add_option("campaign", file, "campaign YAML file")->required();
  simulate->add_option("--cluster", sim.cluster_file, "cluster file (cluster: {nodes: [...]}) instead of the campaign's");
  simulate->add_option("--mtbf", sim.mtbf, "mean time between failures of one node, e.g. 5w (default: no failures)");
  simulate->add_option("--seed", sim.seed, "seed of the failure draws (default 1)");
  simulate->add_option("--checkpoint-cost", sim.checkpoint_cost, "time one checkpoint takes (default 60s)");
  simulate->add_option("--repair", sim.repair, "time a failed node stays down (default 4h)");
  simulate->add_option("--until", sim.until, "stop the simulation after this much simulated time");
  simulate->add_option("--end", sim.end, "the allocation ends after this long: nothing starts that cannot checkpoint first");
  simulate->add_option("--trace", sim.trace, "event trace CSV (default OUTPUT_DIR/simulation/trace.csv)");
  simulate->add_flag("--json", sim.json, "print one JSON object instead of the table");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitBadInput;
  }
  if (const auto& twice = KernelRegistry::instance().duplicates(); !twice.empty()) {
    std::fprintf(stderr, "perennial: kernel name(s) registered twice in this executable: %s\n",
                 fmt::format("{}", fmt::join(twice, ", ")).c_str());
    return kExitBadInput;
  }
  try {
    if (*validate) return command_validate(file, ranks);
    if (*plan) return command_plan(file);
    if (*simulate) return command_simulate(file, sim);
    if (*status) return command_status(status_dir);
    if (*kernels) {  // each name, then its parameters indented: `nx  integer, required, >= 3, in cells: ...`
      for (const auto& name : KernelRegistry::instance().names()) {
        const KernelInfo info = KernelRegistry::instance().create(name, "")->info();
        fmt::print("{}\n", name);
        if (info.parameters.empty()) fmt::print("  {}\n", info.parameters_open ? "(any parameters)" : "(no parameters)");
        for (const auto& [p, spec] : info.parameters) fmt::print("  {:<16} {}: {}\n", p, describe(spec), spec.description);
      }
      return 0;
    }
    if (*worker) return command_worker(first_id, settings);
    if (*launch) {
      launch_settings.run_args = launch->remaining();
      return command_launch(launch_settings);
    }
    if (*run) {
      try {
        settings.faults = FaultPlan::parse(inject);
      } catch (const Error& e) {
        std::fprintf(stderr, "perennial: %s\n", e.what());
        return kExitBadInput;
      }
      return command_run(file, output_dir, settings);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "perennial: %s\n", e.what());
    return kExitIncomplete;
  }
  return kExitBadInput;
}

}  // namespace perennial
