#include "cli.hpp"

#include <perennial/campaign_loader.hpp>
#include <perennial/control_channel.hpp>
#include <perennial/errors.hpp>
#include <perennial/coordinator/coordinator.hpp>
#include <perennial/coordinator/stage_graph.hpp>
#include <perennial/kernel.hpp>
#include <perennial/worker/worker.hpp>

#include <CLI/CLI.hpp>
#include <boost/mpi/environment.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>

#include <cstdio>
#include <iostream>

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

struct Validated {
  std::optional<StageGraph> graph;
  Diagnostics diagnostics;
};

// Loads and checks a campaign; `worker_ranks` > 0 also checks stage sizes against the job.
Validated validate_campaign(const std::string& file, int worker_ranks) {
  Validated v;
  auto loaded = load_campaign_file(file);
  v.diagnostics = std::move(loaded.diagnostics);
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

void shutdown_workers(const ControlChannel& control, int code, const std::vector<int>& lost = {}) {
  for (int r = 1; r < control.size(); ++r) {
    if (std::find(lost.begin(), lost.end(), r) != lost.end()) continue;
    control.send(r, msg::kShutdown, msg::Shutdown{code, !lost.empty()});
  }
}

// After a rank died MPI_Finalize waits for it forever (measured with Open MPI 4.1): flush
// what this process wrote and leave without it; mpirun then exits normally.
[[noreturn]] void exit_without_finalize(int code) {
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& log) { log->flush(); });
  std::fflush(nullptr);
  ::_exit(code);
}

bool recovery_enabled() {
  const char* value = std::getenv("OMPI_MCA_orte_enable_recovery");
  return value && std::string(value) == "1";
}

int command_run(const std::string& file, const std::string& output_dir, double failure_grace, double heartbeat_timeout,
                bool quiet, const FaultPlan& faults) {
  // Perennial never uses MPI-IO shared file pointers; Open MPI's shared-memory component for
  // them prints an error for every file opened under mpirun --enable-recovery. (setenv before
  // MPI_Init is how a process sets its own MCA defaults; an explicit user setting wins.)
  ::setenv("OMPI_MCA_sharedfp", "^sm", 0);
  boost::mpi::environment env(boost::mpi::threading::multiple, false);
  boost::mpi::communicator world;
  ControlChannel control(world);  // collective at start-up, before any stage runs
  install_signal_handlers(control.rank() == 0);
  if (control.rank() != 0) {
    WorkerExit how;
    const int code = run_worker(control, &how, faults);
    if (how.skip_finalize) exit_without_finalize(code);
    return code;
  }

  if (control.size() < 2) {
    std::fprintf(stderr, "perennial run needs at least 2 ranks: rank 0 coordinates, the others run stages "
                         "(e.g. mpirun -np 4 perennial run %s)\n", file.c_str());
    return kExitBadInput;
  }
  auto v = validate_campaign(file, control.size() - 1);
  if (!v.diagnostics.empty()) {
    print_diagnostics(v.diagnostics);
    std::fprintf(stderr, "%s: not started: fix the errors above\n", file.c_str());
    shutdown_workers(control, 0);
    return kExitBadInput;
  }
  if (!output_dir.empty()) {
    Campaign campaign = v.graph->campaign();
    campaign.output_dir = std::filesystem::absolute(output_dir);
    Diagnostics again;
    v.graph = StageGraph::build(std::move(campaign), &KernelRegistry::instance(), again);
  }
  CoordinatorOptions options;
  options.failure_grace = std::chrono::duration<double>(failure_grace);
  options.quiet = quiet;
  options.stop_signal = &g_stop_signal;
  options.heartbeat_timeout = std::chrono::duration<double>(heartbeat_timeout);
  if (!recovery_enabled() && std::getenv("OMPI_COMM_WORLD_SIZE")) {
    std::fprintf(stderr, "perennial: mpirun runs without --enable-recovery: a dead rank will end the whole job "
                         "(run the same command again to resume from the checkpoints)\n");
  }
  CampaignOutcome outcome;
  try {
    outcome = run_campaign(*v.graph, control, options);
  } catch (const std::exception& e) {
    // The coordinator cannot go on (e.g. the output folder is not writable): take the job
    // down rather than leave workers waiting.
    std::fprintf(stderr, "perennial: coordinator error: %s\n", e.what());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, kExitIncomplete);
    return kExitIncomplete;
  }
  std::fputs(outcome.summary.c_str(), stderr);
  if (!outcome.dead_ranks.empty()) {
    shutdown_workers(control, 0, outcome.dead_ranks);
    // Note: under --enable-recovery, mpirun (Open MPI 4.1) exits 0 whatever the ranks' exit
    // status, even after MPI_Abort (measured); the summary, events.jsonl (campaign_finished)
    // and the journal (run_ended) carry the outcome.
    exit_without_finalize(outcome.exit_code);
  }
  if (!outcome.stuck_ranks.empty()) {
    // Stuck ranks would hang MPI_Finalize and mpirun: end the job now (results are on disk).
    std::fprintf(stderr, "perennial: aborting the job to end stuck worker ranks\n");
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, kExitIncomplete);
  }
  shutdown_workers(control, 0);
  return outcome.exit_code;
}

}  // namespace

int cli_main(int argc, char** argv) {
  register_builtin_kernels();
  CLI::App app{"Perennial: months-long simulation campaigns on MPI clusters"};
  app.require_subcommand(1);
  std::string file, output_dir;
  int ranks = 0;
  double failure_grace = 10.0;
  double heartbeat_timeout = 2.0;
  std::string inject;
  bool quiet = false;

  auto* validate = app.add_subcommand("validate", "check a campaign file; print every error as FILE:LINE:COLUMN: field: message");
  validate->add_option("campaign", file, "campaign YAML file")->required();
  validate->add_option("--ranks", ranks, "also check stage sizes against a job of this many ranks");

  auto* plan = app.add_subcommand("plan", "print the stages in dependency waves and the critical path");
  plan->add_option("campaign", file, "campaign YAML file")->required();

  auto* run = app.add_subcommand("run", "run a campaign: mpirun -np N perennial run campaign.yaml");
  run->add_option("campaign", file, "campaign YAML file")->required();
  run->add_option("--output-dir", output_dir, "override the campaign's output_dir");
  run->add_option("--failure-grace", failure_grace,
                  "seconds the rest of a group gets to report after one member failed (default 10)");
  run->add_option("--heartbeat-timeout", heartbeat_timeout,
                  "seconds of heartbeat silence after which a worker rank is declared dead (default 2; "
                  "needs mpirun --enable-recovery for the job to outlive it)");
  run->add_flag("--quiet", quiet, "no progress lines on stderr");
  run->add_option("--inject", inject, "failures to cause on purpose, e.g. 'kill:rank=3,step=120' (';' separates several)");

  auto* kernels = app.add_subcommand("kernels", "list the kernels this executable knows");

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
    if (*kernels) {
      for (const auto& name : KernelRegistry::instance().names()) fmt::print("{}\n", name);
      return 0;
    }
    if (*run) {
      FaultPlan faults;
      try {
        faults = FaultPlan::parse(inject);
      } catch (const Error& e) {
        std::fprintf(stderr, "perennial: %s\n", e.what());
        return kExitBadInput;
      }
      return command_run(file, output_dir, failure_grace, heartbeat_timeout, quiet, faults);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "perennial: %s\n", e.what());
    return kExitIncomplete;
  }
  return kExitBadInput;
}

}  // namespace perennial
