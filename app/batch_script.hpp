#pragma once
// The Slurm batch script `perennial sbatch` writes, as plain text from plain values: its
// #SBATCH lines, the signal's lead, and the shell that runs the campaign, forwards Slurm's
// warning signal and requeues the job while the campaign is unfinished. No MPI, no Slurm:
// tested as text (tests/unit/test_batch_script.cpp); docs/slurm.md describes the script.

#include <optional>
#include <string>
#include <vector>

namespace perennial {

/// Slurm's slack on `--signal`: slurmctld looks at time limits every 30 s and sends the
/// signal once the job's end is within lead + 30 s, so it comes up to 60 s early (measured on
/// Slurm 22.05, /work/shared/notes/slurm-22.05-facts.md) and never late.
inline constexpr int kSlurmSignalSlackSeconds = 60;
/// A checkpoint's cost when no run in the output folder measured one (and none is given).
inline constexpr double kDefaultCheckpointSeconds = 30.0;
/// The measured cost is multiplied by this: a later epoch may be larger, a file system busier.
inline constexpr double kCheckpointSafetyFactor = 2.0;

/// Seconds in a Slurm `--time` value: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS.
/// Throws BadOption naming --time for anything else (UNLIMITED included: a job that never
/// ends needs no warning).
long parse_slurm_time(const std::string& text);

/// The `--signal=B:USR1@LEAD` lead, in seconds: a checkpoint's cost times the safety factor,
/// rounded up, plus Slurm's slack.
int signal_lead_seconds(double checkpoint_seconds);

/// Everything the script says; strings are as the user gave them (quoted by the writer).
struct BatchScriptSpec {
  std::string job_name;
  std::string perennial;   ///< absolute path of the perennial executable
  std::string campaign;    ///< absolute path of the campaign file
  std::string output_dir;  ///< absolute; the script, the job's output and the books live there
  int nodes = 1;
  int ntasks_per_node = 2;
  std::string time;  ///< Slurm's --time as given (checked), empty: the partition's default
  std::string account;
  std::string partition;
  int lead_seconds = 0;
  std::string lead_reason;  ///< where the checkpoint cost came from, for the script's comment
  int max_requeues = 5;
  std::vector<std::string> launch_args;  ///< extra arguments for `perennial launch` / `run`
};

/// `text` as one shell word (single quotes; a quote inside becomes '\'').
std::string shell_quote(const std::string& text);

/// The batch script. Throws BadOption when a value cannot go into a #SBATCH line (a double
/// quote or a line break in a path or name).
std::string batch_script_text(const BatchScriptSpec& spec);

}  // namespace perennial
