#pragma once
// ExternalModel: a scientist's existing model executable run as a stage (`command:` instead
// of `kernel:`): its argv, the configuration files written from templates, the restart
// files that serve as its checkpoints, and how its progress and metrics are read from its
// output. Plus the plain text work around it (templates, launcher lines, restart-set
// matching, output-line patterns), which needs no MPI and is tested alone.

#include <perennial/serialization.hpp>


#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace perennial {

/// `restart:`: the files the model writes to restart from, and how to get a set of them.
struct RestartFilesSpec {
  /// Glob relative to the run folder with `{step}` where the model puts the step number,
  /// e.g. `restart/ocean.{step}.*.bin`: the files of one set share the step.
  std::string files;
  int files_per_set = 0;  ///< `count:`; 0: one file per rank
  /// A file the model writes once a set is whole (like CESM's rpointer), e.g. `restart/{step}.done`.
  /// Without one, a set is whole once the model has written a later set, or has exited.
  std::string marker;
  int signal = 0;  ///< `request: SIGUSR1`: how to ask for a set now; 0: the model's own interval only
  double timeout_seconds = 600.0;  ///< `timeout:` for a set asked for by signal

  template <class Archive> void serialize(Archive& ar, unsigned) {
    ar & files & files_per_set & marker & signal & timeout_seconds;
  }
};

/// Where a declared output comes from: a dataset in an HDF5 (or netCDF-4) file the model writes.
struct ModelOutputSource {
  std::string output;   ///< the stage's declared output name
  std::string file;     ///< relative to the run folder
  std::string dataset;  ///< path inside it; default: the output's name

  template <class Archive> void serialize(Archive& ar, unsigned) { ar & output & file & dataset; }
};

struct ExternalModelSpec {
  std::vector<std::string> command;  ///< argv, `{placeholders}` filled at run time (never a shell line)
  /// `templates: {input.nml: templates/ocean.nml}`: file written in the run folder, and the
  /// template's text (read when the campaign is loaded) with where it came from.
  struct Template {
    std::string target;
    std::string source;  ///< the template file as written (for messages)
    std::string text;
    template <class Archive> void serialize(Archive& ar, unsigned) { ar & target & source & text; }
  };
  std::vector<Template> templates;
  std::optional<RestartFilesSpec> restart;
  std::string progress_pattern;  ///< regex: group 1 the step, optional group 2 the model time in seconds
  std::string progress_file;     ///< read the pattern from this file (run folder) instead of the output
  std::map<std::string, std::string> metric_patterns;  ///< metric name -> regex, group 1 the value
  /// `launcher:` `auto` (srun inside Slurm, else mpirun), `mpirun`, `srun`, `none`, or an argv
  /// with `{ranks}`, `{hosts}` (h1,h2), `{host_slots}` (h1:2,h2:1), `{nodes}`.
  std::vector<std::string> launcher = {"auto"};
  std::vector<ModelOutputSource> outputs;
  std::string run_dir;  ///< set by the coordinator: `<output_dir>/model-runs/<stage>`

  template <class Archive> void serialize(Archive& ar, unsigned) {
    ar & command & templates & restart & progress_pattern & progress_file & metric_patterns & launcher & outputs &
        run_dir;
  }
};

/// Placeholders the runtime fills besides the stage's parameters.
const std::vector<std::string>& builtin_placeholders();

/// `{name}` placeholders in `text` (with `{{` and `}}` standing for braces), in order.
std::vector<std::string> template_placeholders(const std::string& text);

/// Fills `text`'s placeholders from `values`; one without a value throws Error naming it and
/// its line.
std::string fill_template(const std::string& text, const std::map<std::string, std::string>& values);

/// The command line: the launcher's argv (expanded for these hosts) then the model's.
/// `hosts`: one entry per rank, in group order. `in_slurm`/`as_root` choose the defaults.
std::vector<std::string> launch_line(const ExternalModelSpec& spec, const std::vector<std::string>& model_argv,
                                     const std::vector<std::string>& hosts, bool in_slurm, bool as_root);

/// A restart set found in the run folder.
struct RestartSet {
  std::uint64_t step = 0;
  std::vector<std::string> files;  ///< relative to the run folder, sorted
  bool marked = false;             ///< the marker file is there
  std::string marker_file;         ///< its path, when it is
};
/// Groups `relative_files` (every file under the run folder) into sets by the step the
/// `files` pattern captures, oldest first; the marker files themselves are left out.
std::vector<RestartSet> find_restart_sets(const RestartFilesSpec& spec, const std::vector<std::string>& relative_files);
/// The newest set that is whole: as many files as `count` (or `ranks`), and marked when a
/// marker is declared, else followed by a later set or `model_exited`.
std::optional<RestartSet> newest_whole_set(const RestartFilesSpec& spec, const std::vector<RestartSet>& sets, int ranks,
                                           bool model_exited);

/// Reads the model's output lines: progress (step, model time) and metric values.
class ModelOutputReader {
 public:
  explicit ModelOutputReader(const ExternalModelSpec& spec);
  struct Seen {
    std::optional<std::uint64_t> step;
    std::optional<double> time;
    std::vector<std::pair<std::string, double>> metrics;
  };
  Seen line(const std::string& text) const;
  bool reads_progress() const { return progress_.has_value(); }

 private:
  std::optional<std::regex> progress_;
  std::vector<std::pair<std::string, std::regex>> metrics_;
};

/// Why `pattern` cannot serve (not a valid regex, or fewer than `groups` capture groups), or "".
std::string pattern_problem(const std::string& pattern, std::size_t groups);

/// Signal names a campaign may give (`SIGUSR1`, `USR1`, `SIGTERM`...): the number, or 0.
int signal_number(const std::string& name);

}  // namespace perennial

PERENNIAL_MESSAGE_SERIALIZATION(perennial::RestartFilesSpec)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::ModelOutputSource)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::ExternalModelSpec)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::ExternalModelSpec::Template)
