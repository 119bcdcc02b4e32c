#include "command_stage_loader.hpp"

#include <perennial/campaign_loader.hpp>
#include <perennial/errors.hpp>
#include <perennial/external_model.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include <unistd.h>

namespace perennial::loader {

namespace {

const std::vector<std::string> kRestartFields = {"files", "count", "marker", "request", "timeout"};
const std::vector<std::string> kProgressFields = {"pattern", "file"};

// Where `program` would be run from: itself when it names a path, else the first match on PATH.
std::string find_program(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0 ? program : std::string();
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const auto candidate = std::filesystem::path(dir.empty() ? "." : dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

}  // namespace

const std::vector<std::string>& command_stage_fields() {
  static const std::vector<std::string> f = {"command", "templates", "restart", "progress", "metrics", "launcher"};
  return f;
}

const std::vector<std::string>& command_output_fields() {
  static const std::vector<std::string> f = {"file", "dataset"};
  return f;
}

void read_command_stage(Reader& r, const yaml::Node& node, const std::string& field,
                        const std::filesystem::path& campaign_dir, StageSpec& s) {
  const yaml::Node command = node["command"];
  if (!command) {
    for (const auto& f : command_stage_fields()) {
      if (node[f]) r.error(node[f], field + "." + f, "only a stage that runs a `command:` takes this (this one runs a kernel)");
    }
    if (const auto outputs = node["outputs"]; outputs && outputs.IsMap()) {
      for (auto it = outputs.begin(); it != outputs.end(); ++it) {
        if (!it->second.IsMap()) continue;
        for (const auto& f : command_output_fields()) {
          if (it->second[f]) {
            r.error(it->second[f], field + ".outputs." + it->first.Scalar() + "." + f,
                    "only outputs of a `command:` stage come from a file (a kernel writes its outputs itself)");
          }
        }
      }
    }
    return;
  }
  ExternalModelSpec m;
  if (const auto ranks = node["ranks"]; ranks && ranks.IsMap()) {
    r.error(ranks, sub(field, "ranks"),
            "a model executable runs on a fixed number of ranks (its decomposition and restart files depend on it): "
            "give one number");
  }
  if (!command.IsSequence() || command.size() == 0) {
    r.error(command, sub(field, "command"),
            "must be a non-empty list: the program and its arguments, e.g. [ocean_model, input.nml] (never a shell line)");
  } else {
    m.command = r.string_list(command, sub(field, "command"));
  }
  if (!m.command.empty() && m.command[0].find('{') == std::string::npos) {
    // A program named by a path is found from the campaign file's folder; a bare name on PATH.
    std::string program = m.command[0];
    if (program.find('/') != std::string::npos && std::filesystem::path(program).is_relative()) {
      program = (campaign_dir / program).lexically_normal().string();
    }
    if (find_program(program).empty()) {
      r.error(command[0], field + ".command[0]",
              program.find('/') != std::string::npos
                  ? fmt::format("'{}' is not an executable file", program)
                  : fmt::format("'{}' is not found on PATH (give its path, relative to the campaign file)", program));
    } else {
      m.command[0] = program;
    }
  }
  if (const auto templates = node["templates"]) {
    if (r.require_map(templates, sub(field, "templates"))) {
      for (auto it = templates.begin(); it != templates.end(); ++it) {
        ExternalModelSpec::Template t;
        t.target = it->first.Scalar();
        const std::string tfield = field + ".templates." + t.target;
        if (t.target.empty() || std::filesystem::path(t.target).is_absolute() || t.target.find("..") != std::string::npos) {
          r.error(it->first, tfield, "must be a file name inside the stage's run folder (no absolute path, no '..')");
          continue;
        }
        auto source = r.nonempty_string(it->second, tfield);
        if (!source) continue;
        t.source = (campaign_dir / *source).lexically_normal().string();
        std::ifstream in(t.source);
        if (!in || std::filesystem::is_directory(t.source)) {
          r.error(it->second, tfield, fmt::format("template '{}' cannot be read (does it exist?)", t.source));
          continue;
        }
        std::ostringstream text;
        text << in.rdbuf();
        t.text = text.str();
        try {
          template_placeholders(t.text);
        } catch (const Error& e) {
          r.error(it->second, tfield, fmt::format("template {}: {}", t.source, e.what()));
          continue;
        }
        m.templates.push_back(std::move(t));
      }
    }
  }
  if (const auto restart = node["restart"]) {
    const std::string rfield = field + ".restart";
    if (r.require_map(restart, rfield)) {
      r.check_keys(restart, rfield, kRestartFields);
      RestartFilesSpec spec;
      if (const auto f = restart["files"]) {
        if (auto text = r.nonempty_string(f, sub(rfield, "files"))) {
          spec.files = *text;
          if (spec.files.find("{step}") == std::string::npos) {
            r.error(f, sub(rfield, "files"), "must contain {step} where the model writes the step number, e.g. restart.{step}.*.bin");
          }
        }
      } else {
        r.error(restart, rfield, "missing required field 'files' (the pattern of the restart files, with {step})");
      }
      if (const auto f = restart["count"]) {
        if (!(f.IsScalar() && f.Scalar() == "ranks")) {
          if (auto v = r.number<int>(f, sub(rfield, "count"), 1, limits::kCount)) spec.files_per_set = *v;
        }
      }
      if (const auto f = restart["marker"]) {
        if (auto text = r.nonempty_string(f, sub(rfield, "marker"))) {
          spec.marker = *text;
          if (spec.marker.find("{step}") == std::string::npos) r.error(f, sub(rfield, "marker"), "must contain {step}");
        }
      }
      if (const auto f = restart["request"]) {
        if (auto text = r.nonempty_string(f, sub(rfield, "request"))) {
          if (*text != "interval") {
            spec.signal = signal_number(*text);
            if (spec.signal == 0) {
              r.error(f, sub(rfield, "request"),
                      fmt::format("'{}' is neither `interval` (the model's own) nor a signal such as SIGUSR1", *text));
            }
          }
        }
      }
      if (const auto f = restart["timeout"]) {
        auto text = r.nonempty_string(f, sub(rfield, "timeout"));
        auto seconds = text ? parse_duration_seconds(*text) : std::nullopt;
        if (text && (!seconds || *seconds <= 0)) r.error(f, sub(rfield, "timeout"), fmt::format("'{}' is not a duration", *text));
        else if (seconds) spec.timeout_seconds = *seconds;
      }
      m.restart = spec;
    }
  }
  if (const auto progress = node["progress"]) {
    const std::string pfield = field + ".progress";
    const yaml::Node pattern = progress.IsMap() ? progress["pattern"] : progress;
    if (progress.IsMap()) {
      r.check_keys(progress, pfield, kProgressFields);
      if (const auto f = progress["file"]) {
        if (auto text = r.nonempty_string(f, sub(pfield, "file"))) m.progress_file = *text;
      }
    }
    if (!pattern) {
      r.error(progress, pfield, "missing required field 'pattern' (a regular expression; group 1 the step)");
    } else if (auto text = r.nonempty_string(pattern, sub(pfield, "pattern"))) {
      if (auto bad = pattern_problem(*text, 1); !bad.empty()) r.error(pattern, sub(pfield, "pattern"), "'" + *text + "' " + bad);
      else m.progress_pattern = *text;
    }
  }
  if (const auto metrics = node["metrics"]) {
    if (r.require_map(metrics, sub(field, "metrics"))) {
      for (auto it = metrics.begin(); it != metrics.end(); ++it) {
        const std::string mfield = field + ".metrics." + it->first.Scalar();
        if (auto text = r.nonempty_string(it->second, mfield)) {
          if (auto bad = pattern_problem(*text, 1); !bad.empty()) r.error(it->second, mfield, "'" + *text + "' " + bad);
          else m.metric_patterns[it->first.Scalar()] = *text;
        }
      }
    }
  }
  if (const auto launcher = node["launcher"]) {
    const auto items = r.string_list(launcher, sub(field, "launcher"));
    static const std::set<std::string> kinds = {"auto", "mpirun", "srun", "none"};
    if (items.size() == 1 && !kinds.count(items[0])) {
      r.error(launcher, sub(field, "launcher"),
              fmt::format("'{}' is none of auto, mpirun, srun, none; or give the launcher's argv as a list", items[0]));
    } else if (!items.empty()) {
      m.launcher = items;
    }
  }
  // Outputs: each from a dataset of a file the model writes.
  if (const auto outputs = node["outputs"]; outputs && outputs.IsMap()) {
    for (auto it = outputs.begin(); it != outputs.end(); ++it) {
      if (!it->second.IsMap()) continue;
      ModelOutputSource source;
      source.output = it->first.Scalar();
      const std::string ofield = field + ".outputs." + source.output;
      if (const auto f = it->second["file"]) {
        if (auto text = r.nonempty_string(f, sub(ofield, "file"))) source.file = *text;
      } else {
        r.error(it->second, ofield, "missing required field 'file' (the HDF5 or netCDF-4 file the model writes it to)");
      }
      source.dataset = source.output;
      if (const auto f = it->second["dataset"]) {
        if (auto text = r.nonempty_string(f, sub(ofield, "dataset"))) source.dataset = *text;
      }
      m.outputs.push_back(std::move(source));
    }
  }
  // Without restart files the model cannot checkpoint: it is never preempted or stopped
  // early, and reruns from its start after a loss (as a kernel without save()).
  if (!m.restart) s.checkpoint.enabled = false;
  s.command = std::move(m);
}

void check_command_placeholders(Reader& r, const std::vector<StageSpec>& stages) {
  std::set<std::string> reported;
  for (const auto& s : stages) {
    if (!s.command) continue;
    std::set<std::string> known(builtin_placeholders().begin(), builtin_placeholders().end());
    for (const auto& [name, value] : s.parameters.raw()) known.insert(name);
    for (const auto& in : s.inputs) known.insert("inputs." + in.name);  // the input's file path(s)
    auto check = [&](const std::string& text, const std::string& f, const SourceLocation& where, const std::string& what) {
      std::vector<std::string> names;
      try {
        names = template_placeholders(text);
      } catch (const Error&) {
        return;  // malformed: reported when read
      }
      for (const auto& name : names) {
        if (name == "checkpoint_steps" && !s.checkpoint.interval_steps) {
          if (reported.insert(s.template_name + f + name).second) {
            r.error(where, f, fmt::format("{} uses {{checkpoint_steps}}, which needs `checkpoint: {{interval: N steps}}`", what));
          }
          continue;
        }
        if (known.count(name)) continue;
        std::vector<std::string> candidates(known.begin(), known.end());
        std::string message = fmt::format("{} uses {{{}}}, which is no parameter of the stage nor a built-in ({})", what,
                                          name, fmt::join(builtin_placeholders(), ", "));
        if (auto hint = nearest_name(name, candidates); !hint.empty()) message += fmt::format("; did you mean '{}'?", hint);
        if (reported.insert(s.template_name + f + name).second) r.error(where, f, message);
      }
    };
    const std::string base = "stages." + s.template_name;
    for (std::size_t i = 0; i < s.command->command.size(); ++i) {
      check(s.command->command[i], base + fmt::format(".command[{}]", i), s.location_of("command"), "the command");
    }
    for (const auto& t : s.command->templates) {
      check(t.text, base + ".templates." + t.target, s.location_of("templates"), "template " + t.source);
    }
  }
}

}  // namespace perennial::loader
