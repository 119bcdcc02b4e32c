// `perennial sbatch FILE`: writes the campaign's Slurm batch script into its output folder
// (OUTPUT_DIR/slurm/perennial.sbatch, kept with the campaign) and submits it with sbatch.
// The script's text is batch_script.cpp's; this file finds its values: the campaign's name
// and folder, the job's size, and the checkpoint cost earlier runs measured.
#include "batch_script.hpp"
#include "commands.hpp"
#include "launch.hpp"

#include <perennial/accounting/store.hpp>
#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/stage_graph.hpp>
#include <perennial/errors.hpp>
#include <perennial/kernel.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sys/wait.h>

namespace perennial {

namespace {

// The largest epoch write time the books of earlier runs in this folder hold, if any.
std::optional<double> measured_checkpoint_seconds(const std::filesystem::path& books) {
  std::error_code ec;
  if (!std::filesystem::exists(books, ec)) return std::nullopt;
  try {
    const accounting::AccountingStore store(books, accounting::AccountingStore::Mode::read_only);
    std::optional<double> largest;
    for (const auto& c : store.checkpoints()) largest = std::max(largest.value_or(0.0), c.seconds);
    return largest;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "perennial sbatch: cannot read the measured checkpoint cost (%s); using the default\n", e.what());
    return std::nullopt;
  }
}

}  // namespace

int command_sbatch(const SbatchSettings& s) {
  try {
    if (!s.time.empty()) parse_slurm_time(s.time);  // a bad --time costs nothing
    if (s.nodes < 1) throw BadOption(fmt::format("--nodes {}: give at least 1", s.nodes));
    if (s.max_requeues < 0) throw BadOption(fmt::format("--max-requeues {}: give 0 or more", s.max_requeues));
  } catch (const BadOption& e) {
    std::fprintf(stderr, "perennial sbatch: %s\n", e.what());
    return kExitBadInput;
  }
  auto loaded = load_campaign_file(s.campaign);
  if (!loaded.campaign) {
    std::fputs(loaded.diagnostics.to_string().c_str(), stderr);
    return kExitBadInput;
  }
  Diagnostics diagnostics = std::move(loaded.diagnostics);
  auto graph = StageGraph::build(std::move(*loaded.campaign), &KernelRegistry::instance(), diagnostics);
  // Rank 0 coordinates; the widest stage must fit beside it.
  int widest = 1;
  for (std::size_t id = 0; id < graph.size(); ++id) widest = std::max(widest, graph.stage(static_cast<StageId>(id)).ranks);
  const int per_node = s.ntasks_per_node > 0 ? s.ntasks_per_node : (widest + 1 + s.nodes - 1) / s.nodes;
  check_job_size(graph, s.nodes * per_node - 1, diagnostics);
  if (!diagnostics.empty()) {
    std::fputs(diagnostics.to_string().c_str(), stderr);
    std::fprintf(stderr, "%zu error(s); not submitted\n", diagnostics.size());
    return kExitBadInput;
  }
  const std::filesystem::path output_dir =
      s.output_dir.empty() ? graph.campaign().output_dir : std::filesystem::absolute(s.output_dir);
  // Under a time limit the run starts only what it can show reaches a checkpoint before the
  // end; a stage with no estimate (and no rate measured by an earlier run) never starts.
  std::vector<std::string> unestimated;
  for (std::size_t id = 0; id < graph.size(); ++id) {
    const StageSpec& stage = graph.stage(static_cast<StageId>(id));
    if (!stage.walltime_seconds && !stage.step_seconds) unestimated.push_back(stage.name);
  }
  if (!unestimated.empty()) {
    std::fprintf(stderr, "perennial sbatch: warning: %zu stage(s) declare neither walltime: nor step_time: (first: %s); "
                         "inside a time limit a stage starts only when its next checkpoint can be shown to come "
                         "before the end, so without a rate measured by an earlier run they do not start\n",
                 unestimated.size(), unestimated.front().c_str());
  }

  BatchScriptSpec spec;
  spec.job_name = "perennial-" + graph.campaign().name;
  spec.perennial = own_executable();
  spec.campaign = std::filesystem::absolute(s.campaign).lexically_normal().string();
  spec.output_dir = output_dir.lexically_normal().string();
  spec.nodes = s.nodes;
  spec.ntasks_per_node = per_node;
  spec.time = s.time;
  spec.account = s.account;
  spec.partition = s.partition;
  spec.max_requeues = s.max_requeues;
  spec.launch_args = s.launch_args;
  double cost = kDefaultCheckpointSeconds;
  if (!s.checkpoint_cost.empty()) {
    const auto given = parse_duration_seconds(s.checkpoint_cost);
    if (!given || *given < 0) {
      std::fprintf(stderr, "perennial sbatch: --checkpoint-cost '%s': give a duration such as 90s or 2min\n",
                   s.checkpoint_cost.c_str());
      return kExitBadInput;
    }
    cost = *given;
    spec.lead_reason = fmt::format("checkpoint cost {:g} s (--checkpoint-cost) x {:g}", cost, kCheckpointSafetyFactor);
  } else if (const auto measured = measured_checkpoint_seconds(output_dir / "accounting.db")) {
    cost = *measured;
    spec.lead_reason = fmt::format("largest epoch write measured in this folder's books {:.3g} s x {:g}", cost,
                                   kCheckpointSafetyFactor);
  } else {
    spec.lead_reason = fmt::format("no checkpoint measured in this folder yet: {:g} s assumed x {:g}", cost,
                                   kCheckpointSafetyFactor);
  }
  spec.lead_seconds = signal_lead_seconds(cost);
  if (!s.time.empty() && spec.lead_seconds >= parse_slurm_time(s.time)) {
    std::fprintf(stderr, "perennial sbatch: --time %s is not longer than the signal's lead (%d s: %s, + %d s slack): "
                         "the warning would come at once; give a longer --time (or a smaller --checkpoint-cost)\n",
                 s.time.c_str(), spec.lead_seconds, spec.lead_reason.c_str(), kSlurmSignalSlackSeconds);
    return kExitBadInput;
  }

  std::string text;
  try {
    text = batch_script_text(spec);
  } catch (const BadOption& e) {
    std::fprintf(stderr, "perennial sbatch: %s\n", e.what());
    return kExitBadInput;
  }
  if (s.dry_run) {
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  const auto script = output_dir / "slurm" / "perennial.sbatch";
  std::error_code ec;
  std::filesystem::create_directories(script.parent_path(), ec);
  {
    std::ofstream out(script);
    out << text;
    if (!out.flush()) {
      std::fprintf(stderr, "perennial sbatch: cannot write %s\n", script.c_str());
      return kExitIncomplete;
    }
  }
  std::filesystem::permissions(script, std::filesystem::perms::owner_exec, std::filesystem::perm_options::add, ec);
  const std::string command = s.sbatch + " --parsable " + shell_quote(script.string());
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    std::fprintf(stderr, "perennial sbatch: cannot run %s\n", s.sbatch.c_str());
    return kExitIncomplete;
  }
  std::string answer;
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, pipe)) answer += buffer;
  const int status = ::pclose(pipe);
  while (!answer.empty() && (answer.back() == '\n' || answer.back() == '\r')) answer.pop_back();
  if (status != 0 || answer.empty()) {
    std::fprintf(stderr, "perennial sbatch: %s did not submit %s (status %d); the script stays there\n",
                 s.sbatch.c_str(), script.c_str(), WIFEXITED(status) ? WEXITSTATUS(status) : status);
    return kExitIncomplete;
  }
  // --parsable prints "jobid" or "jobid;cluster".
  const std::string job = answer.substr(0, answer.find(';'));
  std::printf("%s\n", job.c_str());
  std::fprintf(stderr, "perennial sbatch: submitted job %s (%s); its output goes to %s; signal lead %d s\n", job.c_str(),
               script.c_str(), (output_dir / "slurm" / ("perennial-" + job + ".out")).c_str(), spec.lead_seconds);
  return 0;
}

}  // namespace perennial
