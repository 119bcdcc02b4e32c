// The subcommands that need no MPI job: validate, plan, simulate, status.

#include "commands.hpp"
#include "forecast.hpp"

#include <perennial/accounting/climate_figures.hpp>
#include <perennial/accounting/store.hpp>
#include <perennial/accounting/summary.hpp>

#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/clock.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/coordinator/run_status.hpp>
#include <perennial/coordinator/simulator.hpp>
#include <perennial/errors.hpp>
#include <perennial/kernel.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <vector>

namespace perennial {

Validated validate_campaign(const std::string& file, int worker_ranks, const std::string& cluster_file) {
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

namespace {

// Keeps a command's campaign until the process exits, which returns its memory at once:
// freeing a 100,000-stage campaign piece by piece took a tenth of `validate`'s time. Held
// from a static, so leak checkers see it as reachable.
void keep_until_exit(Validated&& v) {
  static auto* kept = new std::vector<Validated>();  // never destroyed: that is the point
  kept->push_back(std::move(v));
}

}  // namespace

int command_validate(const std::string& file, int ranks) {
  auto v = validate_campaign(file, ranks > 0 ? ranks - 1 : 0);
  if (!v.diagnostics.empty()) return print_diagnostics(v.diagnostics);
  fmt::print("{}: valid campaign '{}' with {} stages\n", file, v.graph->campaign().name, v.graph->size());
  keep_until_exit(std::move(v));
  return 0;
}

int command_plan(const std::string& file) {
  auto v = validate_campaign(file, 0);
  if (!v.diagnostics.empty()) return print_diagnostics(v.diagnostics);
  std::fputs(format_plan(*v.graph, make_plan(*v.graph)).c_str(), stdout);
  return 0;
}

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

// `perennial status DIR`: what log/status.json (written by rank 0 once a second) says.
namespace {

// `perennial priority` on the stopped campaign since its newest run started: not in that run's
// status, applied when the next run starts.
std::string hand_for_next_run(const std::filesystem::path& journal) {
  std::vector<nlohmann::json> hand;
  for (const auto& record : Journal::read(journal).records) {
    if (record.value("type", "") == "run_started") hand.clear();
    if (record.value("type", "") == "hand" && record.value("source", "") == "cli") hand.push_back(record);
  }
  std::string out;
  for (const auto& h : hand) {
    std::string what = h.value("action", "?");
    if (h.contains("value")) {
      what += ' ';
      what += h["value"].dump();
    }
    out += fmt::format("  by hand  {:<28} {} (from the next run)\n", h.value("stage", "?"), what);
  }
  return out;
}

}  // namespace

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
  std::fputs(hand_for_next_run(std::filesystem::path(dir) / "journal.jsonl").c_str(), stdout);
  const auto books = std::filesystem::path(dir) / "accounting.db";
  if (!std::filesystem::exists(books)) return 0;
  try {
    std::fputs(accounting_text(books).c_str(), stdout);
  } catch (const accounting::AccountingError& e) {
    std::fprintf(stderr, "perennial status: %s\n", e.what());
    return kExitIncomplete;
  }
  // The forecast: a few draws, enough for a glance (`perennial forecast` takes more).
  ForecastSettings forecast;
  forecast.target = dir;
  forecast.draws = 20;
  try {
    std::fputs(forecast_folder(forecast).to_text().c_str(), stdout);
  } catch (const std::exception& e) {
    fmt::print("forecast: unavailable: {}\n", e.what());
  }
  return 0;
}

// Every run's use per project, against its allocation, from the accounting store.
std::string accounting_text(const std::filesystem::path& books) {
  const accounting::AccountingStore store(books, accounting::AccountingStore::Mode::read_only);
  const auto runs = store.runs();
  std::string out = fmt::format("use over {} run(s), from {}:\n", runs.size(), books.string());
  for (const auto& u : accounting::use_by_project(store.segments(), store.allocations())) {
    out += fmt::format("  project {:<16} grant {:<16} {}", u.project.empty() ? "(none)" : u.project,
                       u.grant.empty() ? "(none)" : u.grant, accounting::format_core_hours(u.core_hours));
    if (u.allocation_core_hours) {
      out += fmt::format(" of {} allocated ({:.1f}%)", accounting::format_core_hours(*u.allocation_core_hours),
                         100.0 * u.core_hours / *u.allocation_core_hours);
    }
    out += fmt::format(", {:.2f} node-h", u.node_hours);
    if (u.gpu_hours > 0) out += fmt::format(", {:.2f} GPU-h", u.gpu_hours);
    if (u.lost_core_hours > 0) out += fmt::format(", {} recomputed after failures", accounting::format_core_hours(u.lost_core_hours));
    out += u.energy_joules ? fmt::format(", {:.3g} kWh", *u.energy_joules / 3.6e6) : std::string(", energy unavailable");
    out += fmt::format(" ({} segment(s){})\n", u.segments, u.running > 0 ? fmt::format(", {} running", u.running) : "");
  }
  // Per Slurm job (a campaign run by `perennial sbatch`): each requeue's segments and use.
  std::map<std::string, std::map<int, std::pair<int, double>>> by_job;
  for (const auto& seg : store.segments()) {
    if (!seg.slurm_job_id) continue;
    auto& [count, core_hours] = by_job[*seg.slurm_job_id][seg.slurm_restart_count.value_or(0)];
    ++count;
    core_hours += seg.core_hours();
  }
  for (const auto& [job, restarts] : by_job) {
    out += fmt::format("  Slurm job {}:", job);
    for (const auto& [restart, use] : restarts) {
      out += fmt::format(" restart {} {} segment(s) {};", restart, use.first, accounting::format_core_hours(use.second));
    }
    out.back() = '\n';
  }
  // Climate figures of the scenarios whose kernels advance model time.
  const double days_per_year = runs.empty() ? 365.0 : runs.back().days_per_year;
  for (const auto& f : accounting::figures_by_scenario(store.segments(), days_per_year)) {
    if (!f.sypd) continue;
    out += fmt::format("  scenario {:<24} {:.3g} simulated years: SYPD {:.3g}, ASYPD {:.3g}, CHSY {:.4g}{}, checkpoints {:.1f}% "
                       "of run time\n",
                       f.name, f.simulated_years, *f.sypd, f.asypd.value_or(0.0), f.chsy.value_or(0.0),
                       f.jpsy ? fmt::format(", JPSY {:.3g}", *f.jpsy) : std::string(), 100.0 * f.checkpoint_share);
  }
  return out;
}

}  // namespace perennial
