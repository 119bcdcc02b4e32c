#include <perennial/errors.hpp>
#include <perennial/external_model.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <set>

namespace perennial {

namespace {

// Walks `text`, calling on_text for literal runs and on_name for each `{name}`; `{{` and `}}`
// are literal braces. Returns "" or what is malformed (an unclosed brace), with its line.
template <class Text, class Name>
std::string scan_template(const std::string& text, Text on_text, Name on_name) {
  std::size_t line = 1;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n') ++line;
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      on_text(std::string(1, c), line);
      i += 2;
      continue;
    }
    if (c == '{') {
      const auto close = text.find('}', i + 1);
      const auto newline = text.find('\n', i + 1);
      if (close == std::string::npos || (newline != std::string::npos && newline < close)) {
        return fmt::format("line {}: '{{' is not closed on its line (write '{{{{' for a brace)", line);
      }
      on_name(text.substr(i + 1, close - i - 1), line);
      i = close + 1;
      continue;
    }
    on_text(std::string(1, c), line);
    ++i;
  }
  return {};
}

}  // namespace

const std::vector<std::string>& builtin_placeholders() {
  static const std::vector<std::string> names = {"stage", "ranks", "steps", "restart_step", "checkpoint_steps", "run_dir"};
  return names;
}

std::vector<std::string> template_placeholders(const std::string& text) {
  std::vector<std::string> names;
  const auto problem = scan_template(text, [](const std::string&, std::size_t) {},
                                     [&names](const std::string& name, std::size_t) { names.push_back(name); });
  if (!problem.empty()) throw Error(problem);
  return names;
}

std::string fill_template(const std::string& text, const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(text.size());
  std::string missing;
  const auto problem = scan_template(
      text, [&out](const std::string& t, std::size_t) { out += t; },
      [&](const std::string& name, std::size_t line) {
        auto it = values.find(name);
        if (it != values.end()) {
          out += it->second;
        } else if (missing.empty()) {
          missing = fmt::format("line {}: no value for '{{{}}}'", line, name);
        }
      });
  if (!problem.empty()) throw Error(problem);
  if (!missing.empty()) throw Error(missing);
  return out;
}

std::vector<std::string> launch_line(const ExternalModelSpec& spec, const std::vector<std::string>& model_argv,
                                     const std::vector<std::string>& hosts, bool in_slurm, bool as_root) {
  // Hosts in order of first appearance, with their rank counts: the slots mpirun may use.
  std::vector<std::pair<std::string, int>> slots;
  for (const auto& h : hosts) {
    auto it = std::find_if(slots.begin(), slots.end(), [&h](const auto& s) { return s.first == h; });
    if (it == slots.end()) slots.emplace_back(h, 1);
    else ++it->second;
  }
  std::vector<std::string> names, with_slots;
  for (const auto& [h, n] : slots) {
    names.push_back(h);
    with_slots.push_back(fmt::format("{}:{}", h, n));
  }
  const std::map<std::string, std::string> values = {{"ranks", std::to_string(hosts.size())},
                                                     {"hosts", fmt::format("{}", fmt::join(names, ","))},
                                                     {"host_slots", fmt::format("{}", fmt::join(with_slots, ","))},
                                                     {"nodes", std::to_string(slots.size())}};
  std::vector<std::string> prefix;
  std::string kind = spec.launcher.size() == 1 ? spec.launcher[0] : std::string();
  if (kind == "auto") kind = in_slurm ? "srun" : "mpirun";
  if (kind == "mpirun") {
    // The stage's ranks hold their cores already; binding the model's processes would stack
    // every model on a node onto its first cores, so they are left to the kernel's scheduler.
    prefix = {"mpirun", "--host", "{host_slots}", "-np", "{ranks}", "--bind-to", "none"};
    // Perennial itself was allowed to run as root; the model's mpirun refuses without this.
    if (as_root) prefix.insert(prefix.begin() + 1, "--allow-run-as-root");
  } else if (kind == "srun") {
    // A job step inside the allocation; --overlap because the stage's ranks (this step's
    // processes) hold the CPUs the model is to use.
    prefix = {"srun", "--overlap", "--ntasks={ranks}", "--nodelist={hosts}", "--cpu-bind=none", "--kill-on-bad-exit=1"};
  } else if (kind == "none") {
    prefix = {};
  } else {
    prefix = spec.launcher;
  }
  std::vector<std::string> line;
  for (const auto& item : prefix) line.push_back(fill_template(item, values));
  line.insert(line.end(), model_argv.begin(), model_argv.end());
  return line;
}

std::vector<RestartSet> find_restart_sets(const RestartFilesSpec& spec, const std::vector<std::string>& relative_files) {
  // The pattern as a regex: glob characters translated, `{step}` captured.
  auto to_regex = [](const std::string& glob) {
    std::string re;
    for (std::size_t i = 0; i < glob.size(); ++i) {
      const char c = glob[i];
      if (glob.compare(i, 6, "{step}") == 0) {
        re += "([0-9]+)";
        i += 5;
      } else if (c == '*') {
        re += "[^/]*";
      } else if (c == '?') {
        re += "[^/]";
      } else if (std::string_view(".^$|()[]{}+\\").find(c) != std::string_view::npos) {
        re += '\\';
        re += c;
      } else {
        re += c;
      }
    }
    return std::regex(re);
  };
  const std::regex files = to_regex(spec.files);
  std::optional<std::regex> marker;
  if (!spec.marker.empty()) marker = to_regex(spec.marker);
  std::map<std::uint64_t, RestartSet> by_step;
  auto step_of = [](const std::smatch& m) -> std::optional<std::uint64_t> {
    std::uint64_t step = 0;
    const std::string digits = m[1].str();
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), step);
    if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return step;
  };
  for (const auto& f : relative_files) {
    std::smatch m;
    if (marker && std::regex_match(f, m, *marker)) {
      if (auto step = step_of(m)) {
        by_step[*step].step = *step;
        by_step[*step].marked = true;
        by_step[*step].marker_file = f;
      }
      continue;
    }
    if (std::regex_match(f, m, files)) {
      if (auto step = step_of(m)) {
        by_step[*step].step = *step;
        by_step[*step].files.push_back(f);
      }
    }
  }
  std::vector<RestartSet> sets;
  for (auto& [step, set] : by_step) {
    std::sort(set.files.begin(), set.files.end());
    sets.push_back(std::move(set));
  }
  return sets;
}

std::optional<RestartSet> newest_whole_set(const RestartFilesSpec& spec, const std::vector<RestartSet>& sets, int ranks,
                                           bool model_exited) {
  const std::size_t want = static_cast<std::size_t>(spec.files_per_set > 0 ? spec.files_per_set : ranks);
  for (auto it = sets.rbegin(); it != sets.rend(); ++it) {
    if (it->files.size() != want) continue;
    if (!spec.marker.empty()) {
      if (it->marked) return *it;
      continue;
    }
    // Without a marker a set is whole once the model went past it: a model writes its sets in
    // order, so a later set (any file of it) or the model's end means this one is finished.
    const bool later = it != sets.rbegin();
    if (later || model_exited) return *it;
  }
  return std::nullopt;
}

std::string pattern_problem(const std::string& pattern, std::size_t groups) {
  try {
    const std::regex re(pattern);
    if (re.mark_count() < groups) {
      return fmt::format("has {} capture group(s); it needs {} (the value in parentheses)", re.mark_count(), groups);
    }
  } catch (const std::regex_error& e) {
    return fmt::format("is not a valid regular expression ({})", e.what());
  }
  return {};
}

ModelOutputReader::ModelOutputReader(const ExternalModelSpec& spec) {
  if (!spec.progress_pattern.empty()) progress_.emplace(spec.progress_pattern);
  for (const auto& [name, pattern] : spec.metric_patterns) metrics_.emplace_back(name, std::regex(pattern));
}

ModelOutputReader::Seen ModelOutputReader::line(const std::string& text) const {
  Seen seen;
  auto number = [](const std::string& digits, auto& value) {
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    return ec == std::errc() && end == digits.data() + digits.size();
  };
  std::smatch m;
  if (progress_ && std::regex_search(text, m, *progress_)) {
    std::uint64_t step = 0;
    if (number(m[1].str(), step)) seen.step = step;
    double time = 0.0;
    if (m.size() > 2 && m[2].matched && number(m[2].str(), time)) seen.time = time;
  }
  for (const auto& [name, re] : metrics_) {
    double value = 0.0;
    if (std::regex_search(text, m, re) && number(m[1].str(), value)) seen.metrics.emplace_back(name, value);
  }
  return seen;
}

int signal_number(const std::string& name) {
  std::string n = name;
  if (n.rfind("SIG", 0) == 0) n = n.substr(3);
  static const std::map<std::string, int> known = {{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM},
                                                   {"INT", SIGINT},   {"HUP", SIGHUP},   {"QUIT", SIGQUIT},
                                                   {"URG", SIGURG},   {"XCPU", SIGXCPU}};
  auto it = known.find(n);
  return it == known.end() ? 0 : it->second;
}

}  // namespace perennial
