#include "cli.hpp"
#include "commands.hpp"
#include "forecast.hpp"
#include "launch.hpp"

#include <perennial/dtype.hpp>
#include <perennial/errors.hpp>
#include <perennial/fault_plan.hpp>
#include <perennial/kernel.hpp>
#include <perennial/worker/worker.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace perennial {

// `perennial kernels [NAMES] [--describe]`: each name, then its parameters indented (`nx
// integer, required, >= 3, in cells: ...`) and its metrics; --describe adds its inputs and
// outputs and whether it checkpoints. An unknown name is an error naming the known ones.
int command_kernels(const std::vector<std::string>& only, bool full) {
  const auto& registry = KernelRegistry::instance();
  const auto known = registry.names();
  for (const auto& name : only) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::fprintf(stderr, "perennial kernels: no kernel '%s' in this executable (it has: %s)\n", name.c_str(),
                   fmt::format("{}", fmt::join(known, ", ")).c_str());
      return kExitBadInput;
    }
  }
  auto schema = [](const ArraySchema& a) {
    std::string out = a.dtype ? std::string(dtype_name(*a.dtype)) : std::string("any dtype");
    out += a.dims ? fmt::format(" [{}]", fmt::join(*a.dims, ", ")) : std::string(" [any dims]");
    out += a.units ? fmt::format(" in {}", *a.units) : std::string(", any units");
    return out;
  };
  for (const auto& name : known) {
    if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) continue;
    const KernelInfo info = registry.create(name, "")->info();
    fmt::print("{}\n", name);
    if (info.parameters.empty()) fmt::print("  {}\n", info.parameters_open ? "(any parameters)" : "(no parameters)");
    for (const auto& [p, spec] : info.parameters) fmt::print("  {:<16} {}: {}\n", p, describe(spec), spec.description);
    for (const auto& [m, spec] : info.metrics) fmt::print("  metric {:<9} in {}: {}\n", m, spec.units, spec.description);
    if (!full) continue;
    for (const auto& [i, a] : info.inputs) fmt::print("  input  {:<9} {}\n", i, schema(a));
    if (info.inputs.empty()) fmt::print("  input  {}\n", info.inputs_open ? "(any inputs)" : "(none)");
    for (const auto& [o, a] : info.outputs) fmt::print("  output {:<9} {}\n", o, schema(a));
    if (info.outputs.empty()) fmt::print("  output (none declared)\n");
    fmt::print("  checkpoints: {}\n", info.checkpoints ? "yes (it can be preempted, paused, moved and resumed)"
                                                       : "no (it runs to its end, or again from its inputs)");
  }
  return 0;
}

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
  run->add_option("--spares", settings.spares,
                  "worker ranks spawned at the start and kept idle: a stage that loses ranks resumes on them at once, "
                  "and spawning refills them in the background; they run no stage otherwise (default 0)")
      ->check(CLI::NonNegativeNumber);
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

  SbatchSettings sbatch_settings;
  auto* sbatch = app.add_subcommand(
      "sbatch", "write a Slurm batch script for the campaign into OUTPUT_DIR/slurm and submit it: the job checkpoints "
                "every stage when Slurm warns of its time limit and requeues itself until the campaign is finished; "
                "other options go to 'perennial launch'");
  sbatch->add_option("campaign", sbatch_settings.campaign, "campaign YAML file")->required();
  sbatch->add_option("--output-dir", sbatch_settings.output_dir, "override the campaign's output_dir");
  sbatch->add_option("--nodes", sbatch_settings.nodes, "nodes to ask for (default 1)");
  sbatch->add_option("--ntasks-per-node", sbatch_settings.ntasks_per_node,
                     "MPI ranks per node (default: enough for rank 0 and the widest stage)");
  sbatch->add_option("--time", sbatch_settings.time, "Slurm's time limit: minutes, HH:MM:SS or D-HH:MM:SS (default: "
                                                     "the partition's)");
  sbatch->add_option("--account", sbatch_settings.account, "Slurm account to charge");
  sbatch->add_option("--partition", sbatch_settings.partition, "Slurm partition");
  sbatch->add_option("--checkpoint-cost", sbatch_settings.checkpoint_cost,
                     "time one checkpoint takes, for the warning's lead (default: the largest measured in the output "
                     "folder's books, else 30s); the lead is twice it plus 60 s");
  sbatch->add_option("--max-requeues", sbatch_settings.max_requeues,
                     "the job requeues itself at most this many times (SLURM_RESTART_COUNT; default 5)");
  sbatch->add_flag("--dry-run", sbatch_settings.dry_run, "print the script instead of writing and submitting it");
  sbatch->add_option("--sbatch", sbatch_settings.sbatch, "the sbatch to use (default: sbatch on PATH)");
  sbatch->allow_extras();

  auto* worker = app.add_subcommand("worker", "(internal) a replacement worker spawned by 'perennial run'");
  worker->group("");  // not listed in --help: users never start it
  worker->add_option("--first-id", first_id)->required();
  worker->add_option("--coordinator-timeout", settings.coordinator_timeout);
  worker->add_option("--startup-timeout", settings.startup_timeout);
  worker->add_option("--fake-nodes", settings.fake_nodes);
  worker->add_option("--spawned-by", settings.spawned_by);

  auto* kernels = app.add_subcommand("kernels", "list the kernels this executable knows");
  bool describe_kernels = false;
  std::vector<std::string> kernel_names;
  kernels->add_flag("--describe", describe_kernels,
                    "also each kernel's inputs, outputs (dtype, dims, units) and whether it checkpoints");
  kernels->add_option("names", kernel_names, "only these kernels");

  std::string status_dir;
  auto* status = app.add_subcommand("status", "what a campaign run is doing: running stages, and why each waiting one waits");
  status->add_option("output_dir", status_dir, "the campaign's output folder")->required();

  ReportSettings report_settings;
  auto* report = app.add_subcommand("report",
                                    "the accounting report of one or more output folders: use per grant, project, "
                                    "scenario and stage, burn rate and exhaustion, efficiency, recommendations, charts");
  report->add_option("output_dir", report_settings.folders, "campaign output folders (each has accounting.db); a grant "
                                                            "spanning several campaigns merges them")
      ->required();
  report->add_option("--project", report_settings.project, "only this project");
  report->add_option("--grant", report_settings.grant, "only this grant's projects");
  report->add_option("--from", report_settings.from, "start of the window: unix time, 2026-11-25 or 2026-11-25T18:00:00 (UTC)");
  report->add_option("--to", report_settings.to, "end of the window (excluded), in the same forms");
  report->add_option("--format", report_settings.format, "md, csv, json or html")->required();
  report->add_option("--output", report_settings.output, "write the report to this file (default: stdout)");
  report->add_option("--charts", report_settings.charts, "write the charts as SVG and PNG into this folder");
  report->add_option("--mtbf", report_settings.mtbf,
                     "mean time between failures of one node, for the checkpoint-interval advice (default 24h)");

  ForecastSettings forecast_settings;
  auto* forecast = app.add_subcommand("forecast",
                                      "when the campaign will finish and the core-hours it will still take, per project, "
                                      "grant and scenario, with 80% intervals: the accelerated mode from where it stands");
  forecast->add_option("output_dir", forecast_settings.target, "the campaign's output folder (or its campaign file)")->required();
  forecast->add_option("--campaign", forecast_settings.campaign_file, "the campaign file (default: the one its newest run used)");
  forecast->add_option("--cluster", forecast_settings.cluster_file, "cluster file instead of the campaign's or the run's nodes");
  forecast->add_option("--mtbf", forecast_settings.mtbf, "mean time between failures of one node (default: the campaign's)");
  forecast->add_option("--repair", forecast_settings.repair, "a failed node's ranks are back after this (default 60s)");
  forecast->add_option("--draws", forecast_settings.draws, "simulations to draw rates and failures from (default 40)");
  forecast->add_option("--seed", forecast_settings.seed, "seed of the draws (default 1)");
  forecast->add_flag("--json", forecast_settings.json, "print one JSON object");

  std::string scenarios_dir;
  bool scenarios_json = false;
  auto* scenarios = app.add_subcommand("scenarios", "the scenarios ranked by promise: each one's metric trajectory, "
                                                    "core-hours, state, ranks and last move");
  scenarios->add_option("output_dir", scenarios_dir, "the campaign's output folder (or its campaign file)")->required();
  scenarios->add_flag("--json", scenarios_json, "print one JSON object");

  PrioritySettings priority_settings;
  auto* priority = app.add_subcommand(
      "priority", "the scientist's hand on one stage: a new priority, or pause, resume or stop it; a running campaign "
                  "answers within a second, a stopped one journals it for its next run");
  priority->add_option("output_dir", priority_settings.folder, "the campaign's output folder")->required();
  priority->add_option("stage", priority_settings.stage, "the stage's name")->required();
  priority->add_option("value", priority_settings.value, "its new priority (an integer, as priority: in the campaign file)");
  priority->add_flag("--pause", priority_settings.pause, "pause it (a running stage checkpoints first) until --resume");
  priority->add_flag("--resume", priority_settings.resume, "resume a stage paused or stopped by hand (or by promise)");
  priority->add_flag("--stop", priority_settings.stop,
                     "stop it for this campaign (a running stage checkpoints first); only --resume brings it back");
  priority->add_option("--wait", priority_settings.wait_seconds,
                       "seconds to wait for a running coordinator's answer (default 5)")->check(CLI::PositiveNumber);

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
    if (*report) return command_report(report_settings);
    if (*forecast) return command_forecast(forecast_settings);
    if (*scenarios) return command_scenarios(scenarios_dir, scenarios_json);
    if (*priority) return command_priority(priority_settings);
    if (*kernels) return command_kernels(kernel_names, describe_kernels);
    if (*worker) return command_worker(first_id, settings);
    if (*sbatch) {
      sbatch_settings.launch_args = sbatch->remaining();
      return command_sbatch(sbatch_settings);
    }
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
