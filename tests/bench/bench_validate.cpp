// bench_validate: how long validating and planning a 100,000-stage campaign file takes, and
// the peak memory it needs (issue 16, point 4: at most 1 s and 300 MiB).
//
// Two campaign files of the same size are written to a temporary folder:
//   stage by stage  every stage its own block, as a script writes one out: name, kernel, ranks,
//                   steps, after (the previous stage of its chain of 100), parameters (two
//                   values and a list) and one output with dtype, dims and units;
//   for_each        one stage, `spinup`, and a template whose for_each lists (N/1000 x 1000
//                   values) expand to N members, each reading spinup's output.
// Each is timed --repetitions times, each run in a fresh process (so that its peak RSS is its
// own): the library path (load_campaign_file + StageGraph::build + make_plan, with each phase
// timed) and, given --perennial PATH, the command `perennial validate FILE` itself. Wall
// seconds, CPU seconds (user + system: what the run itself costs on a loaded machine) and peak
// RSS, medians. For scale, the same run also times libyaml reading the file's events and
// nothing else (the floor of any loader built on it, on one thread), and the YAML tree the
// loader builds, by one thread and as the loader does (two threads from 4 MiB).
// Prints figures, never fails on them. The last line, `summary: key=value ...`, is read by
// run-all.sh. Options: --stages N (default 100000), --repetitions N (default 5),
// --perennial PATH, --keep DIR (write the files there and keep them).

#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/stage_graph.hpp>
#include <perennial/kernel.hpp>

#include "yaml_document.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

extern char** environ;

namespace {

using namespace perennial;
namespace fs = std::filesystem;

constexpr double kGoalSeconds = 1.0;
constexpr double kGoalMiB = 300.0;
constexpr int kChain = 100;  // stages per chain in the stage-by-stage file

class Noop final : public Kernel {
 public:
  void initialize(StageContext&) override {}
  void step(StageContext&) override {}
  void write_outputs(StageContext&, OutputSink&) override {}
};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "bench_validate: %s\n", what.c_str());
  std::exit(1);
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out.flush()) fail("cannot write " + path.string());
}

// One block per stage, as a script writing a campaign out stage by stage would.
std::string stage_by_stage(int n) {
  std::string y;
  y.reserve(static_cast<std::size_t>(n) * 260);
  y += fmt::format("campaign: stages-{}\noutput_dir: runs/stages\nstages:\n", n);
  for (int i = 0; i < n; ++i) {
    y += fmt::format("  - name: run-{:06}\n    kernel: noop\n    ranks: {}\n    steps: {}\n", i, 1 + i % 8, 100 + i % 50);
    if (i % kChain != 0) y += fmt::format("    after: [run-{:06}]\n", i - 1);
    y += fmt::format("    parameters:\n      forcing: {}.{}\n      seed: {}\n      levels: [1000, 850, 500]\n", i % 9,
                     i % 10, i);
    y += "    outputs:\n      state:\n        dtype: float64\n        dims: [lat, lon]\n        units: K\n";
  }
  return y;
}

// A spinup and one template expanding to n members (n / 1000 forcings x 1000 members).
std::string for_each_campaign(int n) {
  const int members = std::min(n, 1000);
  const int forcings = std::max(1, n / members);
  std::string y = fmt::format(
      "campaign: ensemble-{}\noutput_dir: runs/ensemble\nstages:\n"
      "  - name: spinup\n    kernel: noop\n    steps: 1000\n"
      "    outputs:\n      state: {{dtype: float64, dims: [lat, lon], units: K}}\n"
      "  - name: run-{{forcing}}-{{member}}\n    for_each:\n      forcing: [",
      n);
  for (int f = 0; f < forcings; ++f) y += fmt::format("{}{}.{:02}", f ? ", " : "", f / 100, f % 100);
  y += "]\n      member: [";
  for (int m = 0; m < members; ++m) y += fmt::format("{}{}", m ? ", " : "", m);
  y += "]\n    kernel: noop\n    ranks: 4\n    steps: 120\n    inputs: {initial: spinup.state}\n"
       "    parameters:\n      seed: 7\n      levels: [1000, 850, 500]\n"
       "    outputs:\n      state:\n        dtype: float64\n        dims: [lat, lon]\n        units: K\n";
  return y;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// --- the child: one measured run, its phase times on stdout -----------------------------

int child_library(const std::string& file) {
  KernelRegistry kernels;
  kernels.add("noop", [] { return std::make_unique<Noop>(); });
  const auto t0 = std::chrono::steady_clock::now();
  LoadedCampaign loaded = load_campaign_file(file);
  const double load = seconds_since(t0);
  if (!loaded.campaign || !loaded.diagnostics.empty()) fail(file + " does not load:\n" + loaded.diagnostics.to_string());
  Diagnostics diagnostics;
  const auto t1 = std::chrono::steady_clock::now();
  StageGraph graph = StageGraph::build(std::move(*loaded.campaign), &kernels, diagnostics);
  const double build = seconds_since(t1);
  const auto t2 = std::chrono::steady_clock::now();
  CampaignPlan plan = make_plan(graph);
  const double planned = seconds_since(t2);
  if (!diagnostics.empty() || !graph.acyclic() || plan.waves.empty()) fail(file + " does not validate:\n" + diagnostics.to_string());
  std::printf("%zu %.6f %.6f %.6f\n", graph.size(), load, build, planned);
  return 0;
}

std::string read_whole(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// libyaml's events and nothing else: what reading the file costs before any tree or check.
int child_events(const std::string& file) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string yaml = read_whole(file);
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) fail("yaml_parser_initialize");
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(yaml.data()), yaml.size());
  std::size_t events = 0;
  for (bool end = false; !end; ++events) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) fail(file + ": libyaml: " + (parser.problem ? parser.problem : "error"));
    end = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
  }
  yaml_parser_delete(&parser);
  std::printf("%zu %.6f 0 0\n", events, seconds_since(t0));
  return 0;
}

// The YAML tree the loader reads the file into, by one thread or as the loader does (two
// threads for a file of 4 MiB or more: runtime/src/yaml_document.hpp).
int child_tree(const std::string& file, bool as_loader) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string yaml = read_whole(file);
  const yaml::Document document(yaml, as_loader ? yaml::ReadOptions{} : yaml::ReadOptions{std::numeric_limits<std::size_t>::max(), 0});
  if (as_loader && yaml.size() >= yaml::ReadOptions{}.two_threads_from && !document.read_by_two_threads()) {
    fail(file + ": expected to be read by two threads");
  }
  std::printf("%d %.6f 0 0\n", document.read_by_two_threads() ? 2 : 1, seconds_since(t0));
  return 0;
}

// --- the parent: runs children, collects what they and the kernel report ----------------

struct Run {
  double wall = 0, cpu = 0, rss_mib = 0;  // whole process, from wait4
  std::size_t count = 0;                  // stages (or events)
  double load = 0, build = 0, plan = 0;   // the library path's phases, as the child measured them
};

Run run_process(std::vector<std::string> args, bool quiet_stdout) {
  int out[2];
  if (::pipe(out) != 0) fail("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (quiet_stdout) {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  } else {
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  }
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addclose(&actions, out[1]);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const auto t0 = std::chrono::steady_clock::now();
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) fail("cannot run " + args[0]);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t got; (got = ::read(out[0], buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(got));
  ::close(out[0]);
  int status = 0;
  rusage usage{};
  if (::wait4(pid, &status, 0, &usage) != pid) fail("wait4");
  Run r;
  r.wall = seconds_since(t0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail(fmt::format("{} failed (status {})", fmt::join(args, " "), status));
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  r.cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
  r.rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
  if (!quiet_stdout) std::istringstream(text) >> r.count >> r.load >> r.build >> r.plan;
  return r;
}

struct Figures {
  double wall, cpu, rss_mib, load, build, plan;
  std::size_t count;
};

Figures measure(const std::vector<std::string>& args, bool quiet_stdout, int repetitions) {
  std::vector<double> wall, cpu, rss, load, build, plan;
  std::size_t count = 0;
  for (int i = 0; i < repetitions; ++i) {
    const Run r = run_process(args, quiet_stdout);
    wall.push_back(r.wall);
    cpu.push_back(r.cpu);
    rss.push_back(r.rss_mib);
    load.push_back(r.load);
    build.push_back(r.build);
    plan.push_back(r.plan);
    count = r.count;
  }
  return {median(wall), median(cpu), median(rss), median(load), median(build), median(plan), count};
}

std::string verdict(const Figures& f) {
  std::vector<std::string> over;
  if (f.wall > kGoalSeconds) over.push_back(fmt::format("{:.2f}x the time", f.wall / kGoalSeconds));
  if (f.rss_mib > kGoalMiB) over.push_back(fmt::format("{:.2f}x the memory", f.rss_mib / kGoalMiB));
  return over.empty() ? "meets the goal" : fmt::format("{}", fmt::join(over, ", "));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--child") {
    const std::string mode = argv[2];
    if (mode == "tree") return child_tree(argv[3], false);
    if (mode == "tree-as-loader") return child_tree(argv[3], true);
    return mode == "library" ? child_library(argv[3]) : child_events(argv[3]);
  }
  int stages = 100000, repetitions = 5;
  std::string perennial, keep;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail("missing value after " + arg);
      return argv[++i];
    };
    if (arg == "--stages") stages = std::atoi(value().c_str());
    else if (arg == "--repetitions") repetitions = std::atoi(value().c_str());
    else if (arg == "--perennial") perennial = value();
    else if (arg == "--keep") keep = value();
    else {
      std::fprintf(stderr, "usage: bench_validate [--stages N] [--repetitions N] [--perennial PATH] [--keep DIR]\n");
      return arg == "--help" ? 0 : 2;
    }
  }
  if (stages < 1000 || repetitions < 1) fail("--stages at least 1000, --repetitions at least 1");

  fs::path dir;
  if (keep.empty()) {
    std::string pattern = (fs::temp_directory_path() / "bench-validate.XXXXXX").string();
    if (!::mkdtemp(pattern.data())) fail("mkdtemp");
    dir = pattern;
  } else {
    dir = keep;
    fs::create_directories(dir);
  }
  const fs::path by_stage = dir / "stage-by-stage.yaml", ensemble = dir / "for-each.yaml";
  const std::string by_stage_text = stage_by_stage(stages), ensemble_text = for_each_campaign(stages);
  write_file(by_stage, by_stage_text);
  write_file(ensemble, ensemble_text);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  fmt::print("bench_validate: {} stages, {} repetitions (each a fresh process), {} cores\n", stages, repetitions,
             ::sysconf(_SC_NPROCESSORS_ONLN));
  fmt::print("  stage by stage: {} ({:.1f} MiB, {} lines)\n", by_stage.string(),
             static_cast<double>(by_stage_text.size()) / (1024.0 * 1024.0),
             std::count(by_stage_text.begin(), by_stage_text.end(), '\n'));
  fmt::print("  for_each:       {} ({:.1f} KiB)\n", ensemble.string(), static_cast<double>(ensemble_text.size()) / 1024.0);

  auto row = [](const std::string& what, const Figures& f, bool phases) {
    fmt::print("  {:<44} wall {:6.3f} s  cpu {:6.3f} s  peak RSS {:5.0f} MiB", what, f.wall, f.cpu, f.rss_mib);
    if (phases) fmt::print("  (load {:.3f}, build {:.3f}, plan {:.3f})", f.load, f.build, f.plan);
    fmt::print("\n");
  };
  std::string summary;
  for (const auto& [key, file, label] : {std::tuple{"stages", by_stage, "stage by stage"},
                                         std::tuple{"foreach", ensemble, "for_each"}}) {
    const Figures floor = measure({self, "--child", "events", file.string()}, false, repetitions);
    const Figures lib = measure({self, "--child", "library", file.string()}, false, repetitions);
    fmt::print("{} ({} stages):\n", label, lib.count);
    row("libyaml events only (one thread's floor)", floor, false);
    const Figures tree = measure({self, "--child", "tree", file.string()}, false, repetitions);
    const Figures tree_loader = measure({self, "--child", "tree-as-loader", file.string()}, false, repetitions);
    row("YAML tree, one thread", tree, false);
    row(tree_loader.count == 2 ? "YAML tree, two threads (as the loader)" : "YAML tree as the loader (one thread)",
        tree_loader, false);
    row("library: load + build + plan", lib, true);
    fmt::print("    {}; {:.1f}x the floor's wall time\n", verdict(lib), floor.wall > 0 ? lib.wall / floor.wall : 0.0);
    summary += fmt::format(" {}_wall_s={:.3f} {}_cpu_s={:.3f} {}_rss_mib={:.0f} {}_floor_s={:.3f} {}_tree1_s={:.3f} {}_tree_s={:.3f}",
                           key, lib.wall, key, lib.cpu, key, lib.rss_mib, key, floor.wall, key, tree.wall, key,
                           tree_loader.wall);
    if (!perennial.empty()) {
      const Figures cli = measure({perennial, "validate", file.string()}, true, repetitions);
      row("perennial validate", cli, false);
      fmt::print("    {}\n", verdict(cli));
      summary += fmt::format(" {}_validate_s={:.3f} {}_validate_cpu_s={:.3f} {}_validate_rss_mib={:.0f}", key, cli.wall,
                             key, cli.cpu, key, cli.rss_mib);
    }
  }
  fmt::print("  goal: validate + plan in at most {:.0f} s and {:.0f} MiB (medians; wall time depends on the load of "
             "the machine, cpu less so)\n", kGoalSeconds, kGoalMiB);
  if (keep.empty()) fs::remove_all(dir);
  fmt::print("summary:{} stages={}\n", summary, stages);
  return 0;
}
