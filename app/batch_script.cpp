#include "batch_script.hpp"

#include "commands.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cmath>

namespace perennial {

namespace {

// Digits only, not empty; -1 otherwise.
long number(const std::string& text) {
  if (text.empty() || text.size() > 9) return -1;
  long n = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

std::vector<std::string> split(const std::string& text, char by) {
  std::vector<std::string> parts{{}};
  for (char c : text) {
    if (c == by) {
      parts.emplace_back();
    } else {
      parts.back() += c;
    }
  }
  return parts;
}

// A value inside double quotes on a #SBATCH line (sbatch strips them; it knows no escapes).
std::string sbatch_quoted(const std::string& option, const std::string& value) {
  if (value.find_first_of("\"\n\r") != std::string::npos) {
    throw BadOption(fmt::format("{} '{}': a double quote or a line break cannot go into a #SBATCH line", option, value));
  }
  return "\"" + value + "\"";
}

// Slurm expands %j, %x, ... in --output; a literal % is written %%.
std::string percent_escaped(const std::string& path) {
  std::string out;
  for (char c : path) out += c == '%' ? std::string("%%") : std::string(1, c);
  return out;
}

}  // namespace

long parse_slurm_time(const std::string& text) {
  const auto bad = [&text] {
    return BadOption(fmt::format("--time '{}': give Slurm's minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS "
                                 "(e.g. 00:30:00 or 1-12:00:00), at least a minute",
                                 text));
  };
  long days = 0;
  std::string clock = text;
  const bool with_days = text.find('-') != std::string::npos;
  if (with_days) {
    const auto dash = text.find('-');
    days = number(text.substr(0, dash));
    clock = text.substr(dash + 1);
    if (days < 0) throw bad();
  }
  const auto parts = split(clock, ':');
  std::vector<long> n;
  for (const auto& p : parts) {
    n.push_back(number(p));
    if (n.back() < 0) throw bad();
  }
  long seconds = 0;
  if (with_days) {
    // D-HH, D-HH:MM, D-HH:MM:SS
    if (n.size() > 3) throw bad();
    seconds = days * 86400 + n[0] * 3600 + (n.size() > 1 ? n[1] * 60 : 0) + (n.size() > 2 ? n[2] : 0);
  } else if (n.size() == 1) {
    seconds = n[0] * 60;  // minutes
  } else if (n.size() == 2) {
    seconds = n[0] * 60 + n[1];  // MM:SS
  } else if (n.size() == 3) {
    seconds = n[0] * 3600 + n[1] * 60 + n[2];
  } else {
    throw bad();
  }
  // Slurm rounds a limit up to whole minutes; below one there is no time to warn in.
  if (seconds < 60) throw bad();
  return seconds;
}

int signal_lead_seconds(double checkpoint_seconds) {
  const double cost = std::max(0.0, checkpoint_seconds) * kCheckpointSafetyFactor;
  return static_cast<int>(std::ceil(cost)) + kSlurmSignalSlackSeconds;
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string batch_script_text(const BatchScriptSpec& s) {
  std::string launch_args;
  for (const auto& a : s.launch_args) {
    launch_args += ' ';
    launch_args += shell_quote(a);
  }
  const std::string slurm_dir = s.output_dir + "/slurm";

  std::string out = "#!/bin/bash\n";
  out += fmt::format("# Written by `perennial sbatch` (job {}): runs the campaign, checkpoints every stage when Slurm\n"
                     "# warns that the time limit is near, and requeues itself until the campaign is finished.\n"
                     "# docs/slurm.md says what each part does.\n",
                     s.job_name);
  out += "#SBATCH --job-name=" + sbatch_quoted("--job-name", s.job_name) + "\n";
  out += fmt::format("#SBATCH --nodes={}\n", s.nodes);
  out += fmt::format("#SBATCH --ntasks-per-node={}\n", s.ntasks_per_node);
  if (!s.time.empty()) out += "#SBATCH --time=" + s.time + "\n";
  if (!s.account.empty()) out += "#SBATCH --account=" + sbatch_quoted("--account", s.account) + "\n";
  if (!s.partition.empty()) out += "#SBATCH --partition=" + sbatch_quoted("--partition", s.partition) + "\n";
  out += fmt::format("# Lead: {}, plus {} s because Slurm may signal up to that much early.\n", s.lead_reason,
                     kSlurmSignalSlackSeconds);
  out += fmt::format("#SBATCH --signal=B:USR1@{}\n", s.lead_seconds);
  out += "#SBATCH --requeue\n";
  out += "#SBATCH --open-mode=append\n";
  out += "#SBATCH --output=" + sbatch_quoted("--output-dir", percent_escaped(slurm_dir) + "/perennial-%j.out") + "\n";
  out += "\n";
  out += "set -u\n";
  out += "perennial=" + shell_quote(s.perennial) + "\n";
  out += "campaign=" + shell_quote(s.campaign) + "\n";
  out += "output_dir=" + shell_quote(s.output_dir) + "\n";
  out += fmt::format("lead={}\n", s.lead_seconds);
  out += fmt::format("max_requeues={}\n", s.max_requeues);
  out += "restart=${SLURM_RESTART_COUNT:-0}\n";
  out += "say() { echo \"perennial sbatch: $(date -u +%Y-%m-%dT%H:%M:%SZ) $*\"; }\n";
  out += "say \"job ${SLURM_JOB_ID:-?} (restart $restart) on $(hostname) with ${SLURM_NTASKS:-?} tasks\"\n";
  out += R"sh(
# The allocation's end: SLURM_JOB_END_TIME where Slurm sets it (23.02 on), else squeue's %e
# (Slurm 22.05 sets no such variable). The run then starts nothing it cannot checkpoint in time.
end_time=${SLURM_JOB_END_TIME:-}
if [ -z "$end_time" ] && [ -n "${SLURM_JOB_ID:-}" ]; then
  end_time=$(squeue -h -j "$SLURM_JOB_ID" -o %e 2>/dev/null | head -n 1)
fi
end_args=()
case "$end_time" in
  "" | N/A | NONE | Unknown | UNLIMITED) end_time= ;;
  *) end_args=(--end-time "$end_time") ;;
esac

# Slurm's warning (USR1, --signal=B: to this shell only) and a TERM (scancel, preemption)
# go to `perennial launch`, which asks rank 0 to checkpoint every running stage and stop.
child=
warned=0
forward() {
  warned=1
  say "$1 from Slurm: asking every stage to checkpoint and stop"
  if [ -n "$child" ]; then kill -USR1 "$child" 2>/dev/null || true; fi
}
trap 'forward USR1' USR1
trap 'forward TERM' TERM

code=0
if [ "$warned" = 0 ]; then
)sh";
  out += "  \"$perennial\" launch -n \"${SLURM_NTASKS:-" + std::to_string(s.nodes * s.ntasks_per_node) +
         "}\" \"$campaign\" --output-dir \"$output_dir\" \"${end_args[@]}\"" + launch_args + " &\n";
  out += R"sh(  child=$!
  # A trapped signal ends `wait` early: wait again until launch itself has ended.
  wait "$child" || code=$?
  while kill -0 "$child" 2>/dev/null; do
    code=0
    wait "$child" || code=$?
  done
fi

# launch exits 0 for a completed campaign and for one that checkpointed and stopped; the
# outcome file (written by rank 0, removed by launch before the run) tells them apart.
status=$(sed -n 's/^ *"status": *"\([a-z]*\)".*/\1/p' "$output_dir/log/outcome.json" 2>/dev/null | head -n 1)
if [ "$warned" = 1 ] && [ -z "$child" ]; then code=0; status=checkpointed; fi  # warned before it started
say "perennial launch exited $code, campaign ${status:-without an outcome}"

if [ "$code" = 0 ] && [ "$status" = completed ]; then
  say "campaign finished"
  exit 0
fi
if [ "$code" != 0 ] || [ "$status" != checkpointed ]; then
  say "not requeued: the campaign failed (a requeue would fail again); see $output_dir/log, fix it and submit again"
  [ "$code" != 0 ] || code=1
  exit "$code"
fi
# Checkpointed. Requeue only for the allocation's end: a stop for another reason (a project
# at its hard cap) would stop the same way in the next job.
near_end=$warned
if [ "$near_end" = 0 ] && [ -n "$end_time" ]; then
  case "$end_time" in
    *[!0-9.]*) end_s=$(date -d "$end_time" +%s 2>/dev/null || echo 0) ;;
    *) end_s=${end_time%.*} ;;
  esac
  if [ $((end_s - $(date +%s))) -le $((lead + 60)) ]; then near_end=1; fi
fi
if [ "$near_end" = 0 ]; then
  say "not requeued: the campaign stopped before the allocation's end (see $output_dir/log); submit again to continue"
  exit 1
fi
if [ "$restart" -ge "$max_requeues" ]; then
  say "not requeued: restart $restart reached --max-requeues $max_requeues; submit again to continue"
  exit 1
fi
say "requeueing job $SLURM_JOB_ID: the next run resumes from the journal"
if scontrol requeue "$SLURM_JOB_ID"; then exit 0; fi
say "scontrol requeue failed: submit again to continue (the journal keeps the progress)"
exit 1
)sh";
  return out;
}

}  // namespace perennial
