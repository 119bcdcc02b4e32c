// bench_plan: how long `perennial validate` / `perennial plan` take on a very large campaign.
//
// A layered DAG (default 100 layers x 1,000 stages of kernel `noop`): every stage of layer
// k > 0 names two stages of layer k-1 in `after:` and reads the declared output of a third
// through `inputs:`, so each stage has a fan-in and a fan-out of 3. The same campaign is
// built twice: directly as a Campaign in memory, and as YAML text.
//
// Timed, each as the median of --repetitions runs:
//   build + plan  StageGraph::build (references, cycle check, kernel check) + make_plan,
//                 on a fresh copy of the in-memory Campaign;
//   YAML parse    load_campaign_text of the equivalent YAML;
//   total         parse + build + plan, measured end to end in one go (what validate costs).
// Prints figures, never fails on them: this is a benchmark, not a test. The last line,
// `summary: key=value ...`, is read by run-all.sh. Options: --layers N, --width N,
// --repetitions N, --no-yaml (build + plan only: seconds, not minutes), --write-yaml FILE
// (write the campaign and stop, e.g. to profile `perennial plan FILE`).

#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/stage_graph.hpp>
#include <perennial/kernel.hpp>
#include <perennial/resource_usage.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace {

using namespace perennial;

// The goal for validate + plan of 100,000 stages.
constexpr double kGoalSeconds = 0.1;
const char* const kFile = "/bench/layered-100k.yaml";

class Noop final : public Kernel {
 public:
  void initialize(StageContext&) override {}
  void step(StageContext&) override {}
  void write_outputs(StageContext&, OutputSink&) override {}
};

struct Shape {
  int layers = 100;
  int width = 1000;
  int repetitions = 5;
  std::string write_yaml;  ///< when set: write the YAML there and stop (to profile `perennial plan` on it)
  bool yaml = true;        ///< false: time build + plan only (seconds instead of minutes)
};

std::string stage_name(int layer, int index) { return fmt::format("l{:03}-s{:04}", layer, index); }

// The campaign both as structs and as the YAML text that loads into the same structs
// (same names, dependencies and source lines).
struct Generated {
  Campaign campaign;
  std::string yaml;
};

Generated generate(const Shape& shape) {
  Generated g;
  Campaign& c = g.campaign;
  c.name = "layered-bench";
  c.file = kFile;
  c.output_dir = "/bench/runs/layered-bench";
  c.where = {kFile, 1, 1};
  c.stages.reserve(static_cast<std::size_t>(shape.layers) * static_cast<std::size_t>(shape.width));

  std::string& y = g.yaml;
  y.reserve(static_cast<std::size_t>(shape.layers) * static_cast<std::size_t>(shape.width) * 200);
  int line = 1;
  auto emit = [&](const std::string& text) {
    y += text;
    y += '\n';
    return line++;
  };
  emit("campaign: layered-bench");
  emit("output_dir: runs/layered-bench");
  emit("stages:");
  for (int k = 0; k < shape.layers; ++k) {
    for (int i = 0; i < shape.width; ++i) {
      StageSpec s;
      s.name = s.template_name = stage_name(k, i);
      s.kernel = "noop";
      s.parameters.set_stage(s.name);
      const int name_line = emit("  - name: " + s.name);
      s.where = {kFile, name_line, 11};
      s.field_where.set("name", s.where);
      s.field_where.set("kernel", SourceLocation{kFile, emit("    kernel: noop"), 13});
      if (k > 0) {
        const std::string a = stage_name(k - 1, i);
        const std::string b = stage_name(k - 1, (i + 1) % shape.width);
        const std::string from = stage_name(k - 1, (i + shape.width / 2) % shape.width);
        const int after_line = emit(fmt::format("    after: [{}, {}]", a, b));
        s.field_where.set("after", SourceLocation{kFile, after_line, 12});
        s.after.emplace_back(a, SourceLocation{kFile, after_line, 12});
        s.after.emplace_back(b, SourceLocation{kFile, after_line, 12});
        const int inputs_line = emit(fmt::format("    inputs: {{initial: {}.state}}", from));
        s.field_where.set("inputs", SourceLocation{kFile, inputs_line, 13});
        InputBinding in;
        in.name = "initial";
        in.stage_pattern = from;
        in.output = "state";
        in.where = {kFile, inputs_line, 23};
        s.inputs.push_back(std::move(in));
      }
      const int outputs_line = emit("    outputs: {state: {dtype: float64, dims: [x], units: \"1\"}}");
      s.field_where.set("outputs", SourceLocation{kFile, outputs_line, 14});
      OutputSpec o;
      o.name = "state";
      o.dtype = DType::float64;
      o.dims = {"x"};
      o.units = "1";
      o.where = {kFile, outputs_line, 15};
      s.outputs.push_back(std::move(o));
      c.stages.push_back(std::move(s));
    }
  }
  return g;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double peak_rss_mib() { return static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0); }

std::string verdict(double seconds) {
  return seconds <= kGoalSeconds ? "meets the goal" : fmt::format("{:.1f}x over the goal", seconds / kGoalSeconds);
}

// A graph that does not validate or plan as designed would time the wrong work: stop.
void require(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "bench_plan: %s\n", what.c_str());
    std::exit(1);
  }
}

void check_graph(const StageGraph& graph, const Diagnostics& diagnostics, const Shape& shape, const char* source) {
  require(diagnostics.empty(), fmt::format("{} campaign does not validate:\n{}", source, diagnostics.to_string()));
  require(graph.size() == static_cast<std::size_t>(shape.layers) * static_cast<std::size_t>(shape.width),
          fmt::format("{} campaign has {} stages", source, graph.size()));
  require(graph.acyclic(), fmt::format("{} campaign is not acyclic", source));
  const auto last = static_cast<StageId>(graph.size() - 1);
  require(graph.upstream(last).size() == (shape.layers > 1 ? 3u : 0u) &&
              graph.downstream(0).size() == (shape.layers > 1 ? 3u : 0u),
          fmt::format("{} campaign does not have fan-in and fan-out 3", source));
}

Shape parse_arguments(int argc, char** argv) {
  Shape shape;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto text = [&] {
      require(i + 1 < argc, "missing value after " + arg);
      return std::string(argv[++i]);
    };
    auto value = [&] { return std::atoi(text().c_str()); };
    if (arg == "--layers") shape.layers = value();
    else if (arg == "--width") shape.width = value();
    else if (arg == "--repetitions") shape.repetitions = value();
    else if (arg == "--write-yaml") shape.write_yaml = text();
    else if (arg == "--no-yaml") shape.yaml = false;
    else {
      std::fprintf(stderr, "usage: bench_plan [--layers N] [--width N] [--repetitions N] [--no-yaml] [--write-yaml FILE]\n");
      std::exit(arg == "--help" ? 0 : 2);
    }
  }
  require(shape.layers >= 1 && shape.width >= 3 && shape.repetitions >= 1, "layers >= 1, width >= 3, repetitions >= 1");
  return shape;
}

}  // namespace

int main(int argc, char** argv) {
  const Shape shape = parse_arguments(argc, argv);
  KernelRegistry kernels;
  kernels.add("noop", [] { return std::make_unique<Noop>(); });

  const auto generated = generate(shape);
  const std::size_t n = generated.campaign.stages.size();
  if (!shape.write_yaml.empty()) {
    std::FILE* out = std::fopen(shape.write_yaml.c_str(), "w");
    require(out && std::fwrite(generated.yaml.data(), 1, generated.yaml.size(), out) == generated.yaml.size() &&
                std::fclose(out) == 0,
            "cannot write " + shape.write_yaml);
    fmt::print("bench_plan: wrote {} stages to {}\n", n, shape.write_yaml);
    return 0;
  }
  fmt::print("bench_plan: {} stages ({} layers x {}), fan-in/out 3 (2 after: + 1 inputs:), {} repetitions, "
             "YAML {:.1f} MiB\n", n, shape.layers, shape.width, shape.repetitions,
             static_cast<double>(generated.yaml.size()) / (1024.0 * 1024.0));

  // 1. build + plan from the in-memory Campaign (the copy is made outside the timed region).
  std::vector<double> build_s, plan_s, build_plan_s;
  for (int rep = 0; rep < shape.repetitions; ++rep) {
    Campaign copy = generated.campaign;
    Diagnostics diagnostics;
    const auto t0 = std::chrono::steady_clock::now();
    StageGraph graph = StageGraph::build(std::move(copy), &kernels, diagnostics);
    const double built = seconds_since(t0);
    const auto t1 = std::chrono::steady_clock::now();
    CampaignPlan plan = make_plan(graph);
    const double planned = seconds_since(t1);
    build_s.push_back(built);
    plan_s.push_back(planned);
    build_plan_s.push_back(built + planned);
    check_graph(graph, diagnostics, shape, "in-memory");
    require(plan.waves.size() == static_cast<std::size_t>(shape.layers), "plan does not have one wave per layer");
  }
  const double rss_after_build = peak_rss_mib();

  // 2. YAML parse alone (the loaded campaign is destroyed outside the timed region).
  std::vector<double> parse_s;
  for (int rep = 0; shape.yaml && rep < shape.repetitions; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    LoadedCampaign loaded = load_campaign_text(generated.yaml, kFile);
    parse_s.push_back(seconds_since(t0));
    require(loaded.campaign && loaded.diagnostics.empty(), "YAML does not load:\n" + loaded.diagnostics.to_string());
    require(loaded.campaign->stages.size() == n, "YAML loads a different number of stages");
  }

  // 3. What `perennial validate` + `perennial plan` pay: parse, build and plan in one go.
  std::vector<double> total_s;
  for (int rep = 0; shape.yaml && rep < shape.repetitions; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    LoadedCampaign loaded = load_campaign_text(generated.yaml, kFile);
    require(loaded.campaign.has_value(), "YAML does not load");
    Diagnostics diagnostics = std::move(loaded.diagnostics);
    StageGraph graph = StageGraph::build(std::move(*loaded.campaign), &kernels, diagnostics);
    CampaignPlan plan = make_plan(graph);
    total_s.push_back(seconds_since(t0));
    check_graph(graph, diagnostics, shape, "YAML");
    require(plan.waves.size() == static_cast<std::size_t>(shape.layers), "plan does not have one wave per layer");
  }
  const double rss_end = peak_rss_mib();

  auto row = [](const char* what, const std::vector<double>& v) {
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    fmt::print("  {:<34} median {:8.4f} s   (min {:.4f}, max {:.4f})\n", what, median(v), *lo, *hi);
  };
  row("StageGraph::build", build_s);
  row("make_plan", plan_s);
  row("build + plan", build_plan_s);
  if (shape.yaml) {
    row("load_campaign_text (YAML parse)", parse_s);
    row("total: parse + build + plan", total_s);
  }
  fmt::print("  goal: validate + plan of {} stages in {:.2f} s\n", n, kGoalSeconds);
  fmt::print("    build + plan alone: {}\n", verdict(median(build_plan_s)));
  if (shape.yaml) fmt::print("    total with YAML:    {}\n", verdict(median(total_s)));
  fmt::print("  peak RSS: {:.0f} MiB after build + plan", rss_after_build);
  if (shape.yaml) fmt::print(", {:.0f} MiB at the end (YAML text, tree and campaign)", rss_end);
  fmt::print("\nsummary: build_plan_s={:.4f}", median(build_plan_s));
  if (shape.yaml) fmt::print(" parse_s={:.4f} total_s={:.4f}", median(parse_s), median(total_s));
  fmt::print(" peak_rss_mib={:.0f} stages={}\n", rss_end, n);
  return 0;
}
