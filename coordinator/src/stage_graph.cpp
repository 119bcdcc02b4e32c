#include <perennial/coordinator/resources.hpp>
#include <perennial/coordinator/stage_graph.hpp>
#include <perennial/text.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>

namespace perennial {

namespace {

// What differs between what a reader expects and what a writer declares, as short phrases.
std::vector<std::string> schema_mismatches(const ArraySchema& expected, const OutputSpec& actual) {
  std::vector<std::string> out;
  if (expected.dtype && *expected.dtype != actual.dtype) {
    out.push_back(fmt::format("dtype {} (it is {})", dtype_name(*expected.dtype), dtype_name(actual.dtype)));
  }
  if (expected.dims && *expected.dims != actual.dims) {
    out.push_back(fmt::format("dims [{}] (it has [{}])", fmt::join(*expected.dims, ", "), fmt::join(actual.dims, ", ")));
  }
  if (expected.units && *expected.units != actual.units) {
    out.push_back(fmt::format("units '{}' (it has '{}')", *expected.units, actual.units));
  }
  return out;
}

ArraySchema schema_of(const OutputSpec& o) { return ArraySchema{o.dtype, o.dims, o.units}; }

}  // namespace

class StageGraphBuilder {
 public:
  StageGraphBuilder(StageGraph& g, const KernelRegistry* kernels, Diagnostics& diag)
      : g_(g), kernels_(kernels), diag_(diag) {}

  void run() {
    const auto n = g_.campaign_.stages.size();
    g_.upstream_.resize(n);
    g_.downstream_.resize(n);
    g_.inputs_.resize(n);
    index_names();
    std::set<std::string> projects;
    for (const auto& p : g_.campaign_.projects) projects.insert(p.name);
    for (StageId id = 0; id < n; ++id) {
      check_kernel_and_project(id, projects);
      resolve_after(id);
      resolve_inputs(id);
      auto& up = g_.upstream_[id];
      std::sort(up.begin(), up.end());
      up.erase(std::unique(up.begin(), up.end()), up.end());
      for (StageId u : up) g_.downstream_[u].push_back(id);
    }
    order_or_report_cycles();
    check_cluster_fit(g_.campaign_, diag_);
  }

 private:
  const StageSpec& stage(StageId id) const { return g_.campaign_.stages[id]; }
  std::string field(StageId id, const std::string& f) const { return "stages." + stage(id).name + "." + f; }

  void index_names() {
    g_.by_name_.reserve(g_.campaign_.stages.size());
    for (StageId id = 0; id < g_.campaign_.stages.size(); ++id) {
      const auto& s = stage(id);
      if (s.name.empty()) continue;
      auto [it, fresh] = g_.by_name_.emplace(s.name, id);
      if (!fresh) {
        const auto& first = stage(it->second).where;
        diag_.add(s.where, "stages." + s.name + ".name",
                  fmt::format("duplicate stage name '{}' after ensemble expansion (also at line {})", s.name, first.line));
      }
    }
  }

  // Names in order, for glob ranges and typo hints: built on first use, since a campaign
  // without globs or errors never needs it.
  const std::vector<std::pair<std::string, StageId>>& sorted_names() const {
    if (sorted_names_.empty() && !g_.by_name_.empty()) {
      sorted_names_.assign(g_.by_name_.begin(), g_.by_name_.end());
      std::sort(sorted_names_.begin(), sorted_names_.end());
    }
    return sorted_names_;
  }

  // Stages matching a name or glob, in name order; a glob never matches the asking stage.
  std::vector<StageId> match(const std::string& pattern, StageId self) const {
    std::vector<StageId> out;
    if (!has_glob_chars(pattern)) {
      if (auto it = g_.by_name_.find(pattern); it != g_.by_name_.end()) out.push_back(it->second);
      return out;
    }
    // Only names sharing the pattern's literal prefix can match: a range of the sorted index.
    const std::string prefix = pattern.substr(0, pattern.find_first_of("*?["));
    const auto& names = sorted_names();
    auto first = std::lower_bound(names.begin(), names.end(), std::make_pair(prefix, StageId{0}));
    for (auto it = first; it != names.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      if (it->second != self && glob_match(pattern, it->first)) out.push_back(it->second);
    }
    return out;
  }

  std::string no_match_message(const std::string& pattern) const {
    std::string message = fmt::format("no stage matches '{}'", pattern);
    if (!has_glob_chars(pattern)) {
      std::vector<std::string> names;
      if (g_.by_name_.size() <= 10000) {
        for (const auto& [name, id] : sorted_names()) names.push_back(name);
        if (auto hint = nearest_name(pattern, names); !hint.empty()) message += fmt::format("; did you mean '{}'?", hint);
      }
    }
    return message;
  }

  const KernelInfo* kernel_info(const std::string& kernel) {
    if (!kernels_ || !kernels_->contains(kernel)) return nullptr;
    auto it = kernel_info_.find(kernel);
    if (it == kernel_info_.end()) {
      it = kernel_info_.emplace(kernel, kernels_->create(kernel, "")->info()).first;
    }
    return &it->second;
  }

  void check_kernel_and_project(StageId id, const std::set<std::string>& projects) {
    const auto& s = stage(id);
    if (!s.project.empty() && !projects.count(s.project)) {
      std::vector<std::string> names(projects.begin(), projects.end());
      std::string message = projects.empty()
                                ? fmt::format("project '{}' is not declared (the campaign has no projects: list)", s.project)
                                : fmt::format("unknown project '{}'", s.project);
      if (auto hint = nearest_name(s.project, names); !hint.empty()) message += fmt::format("; did you mean '{}'?", hint);
      diag_.add(s.location_of("project"), field(id, "project"), message);
    }
    if (s.command) {
      // A model's metrics are those it has patterns for: a promise judges by one of them.
      if (s.promise && !s.promise->metric.empty() && !s.command->metric_patterns.count(s.promise->metric) &&
          reported_.insert(s.template_name + ":promise-metric").second) {
        std::vector<std::string> names;
        for (const auto& [name, pattern] : s.command->metric_patterns) names.push_back(name);
        diag_.add(s.promise->where, "stages." + s.template_name + ".promise.metric",
                  fmt::format("the model's output is read for no metric '{}' (metrics: gives {})", s.promise->metric,
                              names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "))));
      }
      return;
    }
    if (!kernels_ || s.kernel.empty()) return;
    if (!kernels_->contains(s.kernel)) {
      auto names = kernels_->names();
      std::string message = fmt::format("unknown kernel '{}'", s.kernel);
      if (auto hint = nearest_name(s.kernel, names); !hint.empty()) message += fmt::format("; did you mean '{}'?", hint);
      message += fmt::format(" (this executable has: {})", fmt::join(names, ", "));
      diag_.add(s.location_of("kernel"), field(id, "kernel"), message);
      return;
    }
    const KernelInfo& info = *kernel_info(s.kernel);
    if (!info.metrics.empty() || !info.metrics_open) {
      auto& declared = g_.kernel_metrics_[s.kernel];
      for (const auto& [name, spec] : info.metrics) declared.insert(name);
    }
    check_metric_names(id, info);
    // Its stages cannot checkpoint: every rule that relies on checkpoints (preemption, stops
    // before the allocation's end, the interval) sees them as stages that write none.
    if (!info.checkpoints) g_.campaign_.stages[id].checkpoint.enabled = false;
    check_parameters(id, info);
    if (info.outputs.empty()) return;
    for (const auto& o : s.outputs) {
      auto k = info.outputs.find(o.name);
      if (k == info.outputs.end()) {
        diag_.add(o.where, field(id, "outputs." + o.name),
                  fmt::format("kernel '{}' writes no output '{}' (it writes: {})", s.kernel, o.name,
                              fmt::join(keys(info.outputs), ", ")));
      } else if (auto bad = schema_mismatches(k->second, o); !bad.empty()) {
        diag_.add(o.where, field(id, "outputs." + o.name),
                  fmt::format("kernel '{}' writes this output with {}", s.kernel, fmt::join(bad, ", ")));
      }
    }
    for (const auto& [name, schema] : info.outputs) {
      if (!s.find_output(name)) {
        diag_.add(s.location_of("kernel"), field(id, "outputs"),
                  fmt::format("kernel '{}' writes output '{}': declare it under outputs:", s.kernel, name));
      }
    }
  }

  // The metric a `promise:` judges by, and those `simulate:` reports, must be ones the kernel
  // declares (when it declares any). Shared by an ensemble's members: reported once.
  void check_metric_names(StageId id, const KernelInfo& info) {
    const auto& s = stage(id);
    if (info.metrics.empty() && info.metrics_open) return;
    auto check = [&](const std::string& name, const SourceLocation& where, const std::string& f) {
      if (info.metrics.count(name)) return;
      const auto names = keys(info.metrics);
      std::string message = fmt::format("kernel '{}' reports no metric '{}'", s.kernel, name);
      message += names.empty() ? std::string(" (it reports none)") : fmt::format(" (it reports: {})", fmt::join(names, ", "));
      if (auto hint = nearest_name(name, names); !hint.empty()) message += fmt::format("; did you mean '{}'?", hint);
      if (reported_.insert(fmt::format("{}:{}:{}", s.template_name, f, name)).second) diag_.add(where, f, message);
    };
    const std::string base = "stages." + s.template_name;
    if (s.promise && !s.promise->metric.empty()) check(s.promise->metric, s.promise->where, base + ".promise.metric");
    for (const auto& [name, m] : s.simulated_metrics) check(name, s.location_of("simulate"), base + ".simulate.metrics." + name);
  }

  template <class Value> static std::vector<std::string> keys(const std::map<std::string, Value>& m) {
    std::vector<std::string> out;
    for (const auto& [k, v] : m) out.push_back(k);
    return out;
  }

  // The stage's parameters against those its kernel declares (declaring none accepts any):
  // unknown names, values of the wrong type or out of range, required ones left out. A value
  // written under `parameters:` is shared by every member of an ensemble, so it is reported
  // once, under the template's name; a `for_each` value is each member's own.
  void check_parameters(StageId id, const KernelInfo& info) {
    const auto& s = stage(id);
    if (info.parameters.empty() && info.parameters_open) return;
    auto from_for_each = [&](const std::string& name) { return s.template_name.find("{" + name + "}") != std::string::npos; };
    auto report = [&](const std::string& name, const SourceLocation& where, const std::string& message) {
      const std::string f = "stages." + (from_for_each(name) ? s.name : s.template_name) + ".parameters." + name;
      if (reported_.insert(fmt::format("{}:{}:{}:{}:{}", where.file, where.line, where.column, f, message)).second) {
        diag_.add(where, f, message);
      }
    };
    for (const auto& [name, items] : s.parameters.raw()) {
      const SourceLocation& where = s.location_of("parameters." + name);
      const auto spec = info.parameters.find(name);
      if (spec != info.parameters.end()) {
        if (auto problem = parameter_problem(spec->second, items)) report(name, where, *problem);
        continue;
      }
      const auto names = keys(info.parameters);
      std::string message = fmt::format("kernel '{}' takes no parameter '{}'", s.kernel, name);
      if (auto hint = nearest_name(name, names); !hint.empty()) message += fmt::format("; did you mean '{}'?", hint);
      else if (names.empty()) message += " (it takes none)";
      else message += fmt::format(" (it takes: {})", fmt::join(names, ", "));
      if (from_for_each(name)) message += " (for_each passes each of its keys to the kernel as a parameter)";
      report(name, where, message);
    }
    for (const auto& [name, spec] : info.parameters) {
      if (spec.default_value || s.parameters.contains(name)) continue;
      report(name, s.location_of("parameters"),
             fmt::format("kernel '{}' needs parameter '{}' ({}{})", s.kernel, name,
                         spec.description.empty() ? "" : spec.description + "; ", describe(spec)));
    }
  }

  void resolve_after(StageId id) {
    for (const auto& [pattern, where] : stage(id).after) {
      auto matches = match(pattern, id);
      if (matches.empty()) {
        diag_.add(where, field(id, "after"), no_match_message(pattern));
        continue;
      }
      auto& up = g_.upstream_[id];
      up.insert(up.end(), matches.begin(), matches.end());
    }
  }

  void resolve_inputs(StageId id) {
    const auto& s = stage(id);
    const KernelInfo* info = kernel_info(s.kernel);
    for (const auto& in : s.inputs) {
      const auto f = [&] { return field(id, "inputs." + in.name); };  // only built for an error
      if (info && !info->inputs_open && !info->inputs.count(in.name)) {
        diag_.add(in.where, f(), fmt::format("kernel '{}' reads no input '{}' (it reads: {})", s.kernel, in.name,
                                           fmt::join(keys(info->inputs), ", ")));
      }
      auto matches = match(in.stage_pattern, id);
      if (matches.empty()) {
        diag_.add(in.where, f(), no_match_message(in.stage_pattern));
        continue;
      }
      ResolvedInput resolved{in.name, {}};
      const OutputSpec* first = nullptr;
      std::string first_name;
      for (StageId u : matches) {
        const auto& upstream = stage(u);
        const OutputSpec* out = upstream.find_output(in.output);
        if (!out) {
          std::vector<std::string> names;
          for (const auto& o : upstream.outputs) names.push_back(o.name);
          diag_.add(in.where, f(), fmt::format("stage '{}' has no output '{}' (it declares: {})", upstream.name,
                                             in.output, names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
          continue;
        }
        const std::string source = upstream.name + "." + in.output;
        if (auto bad = schema_mismatches(in.expect, *out); !bad.empty()) {
          diag_.add(in.where, f(), fmt::format("incompatible data: the input expects {} from {}", fmt::join(bad, ", "), source));
        }
        if (info) {
          if (auto k = info->inputs.find(in.name); k != info->inputs.end()) {
            if (auto bad2 = schema_mismatches(k->second, *out); !bad2.empty()) {
              diag_.add(in.where, f(), fmt::format("incompatible data: kernel '{}' expects {} from {}", s.kernel,
                                                 fmt::join(bad2, ", "), source));
            }
          }
        }
        if (first) {
          if (auto bad3 = schema_mismatches(schema_of(*first), *out); !bad3.empty()) {
            diag_.add(in.where, f(), fmt::format("incompatible data: {} has {} unlike {}", source,
                                               fmt::join(bad3, ", "), first_name));
          }
        } else {
          first = out;
          first_name = source;
        }
        resolved.sources.emplace_back(u, in.output);
      }
      g_.upstream_[id].insert(g_.upstream_[id].end(), matches.begin(), matches.end());
      g_.inputs_[id].push_back(std::move(resolved));
    }
  }

  // Kahn's algorithm; whatever it cannot order lies on or behind a cycle, which is then
  // walked and printed in data-flow order.
  void order_or_report_cycles() {
    const auto n = g_.size();
    std::vector<std::uint32_t> waiting(n);
    std::vector<StageId> ready;
    for (StageId id = 0; id < n; ++id) {
      waiting[id] = static_cast<std::uint32_t>(g_.upstream_[id].size());
      if (waiting[id] == 0) ready.push_back(id);
    }
    auto& order = g_.topological_order_;
    order.clear();
    order.reserve(n);
    for (std::size_t head = 0; head < ready.size(); ++head) {
      StageId id = ready[head];
      order.push_back(id);
      for (StageId d : g_.downstream_[id]) {
        if (--waiting[d] == 0) ready.push_back(d);
      }
    }
    g_.acyclic_ = order.size() == n;
    if (g_.acyclic_) return;
    std::vector<bool> reported(n, false);
    int cycles = 0;
    for (StageId start = 0; start < n && cycles < 10; ++start) {
      if (waiting[start] == 0 || reported[start]) continue;
      // Follow unordered upstream edges until a stage repeats: that loop is a cycle.
      std::vector<StageId> path;
      std::unordered_map<StageId, int> position;
      StageId at = start;
      while (!position.count(at)) {
        position[at] = static_cast<int>(path.size());
        path.push_back(at);
        StageId next = at;
        for (StageId u : g_.upstream_[at]) {
          if (waiting[u] != 0) { next = u; break; }
        }
        at = next;
      }
      std::vector<StageId> cycle(path.begin() + position[at], path.end());
      if (std::any_of(cycle.begin(), cycle.end(), [&](StageId c) { return reported[c]; })) continue;
      for (StageId c : cycle) reported[c] = true;
      std::reverse(cycle.begin(), cycle.end());  // upstream first: data-flow order
      // Start at the stage written first, so the same cycle always reads the same way.
      std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
      std::vector<std::string> names;
      for (StageId c : cycle) names.push_back(stage(c).name);
      names.push_back(stage(cycle.front()).name);
      diag_.add(stage(cycle.front()).where, field(cycle.front(), "after/inputs"),
                fmt::format("dependency cycle: {} (each stage needs the one before it)", fmt::join(names, " -> ")));
      ++cycles;
    }
  }

  StageGraph& g_;
  const KernelRegistry* kernels_;
  Diagnostics& diag_;
  mutable std::vector<std::pair<std::string, StageId>> sorted_names_;
  std::map<std::string, KernelInfo> kernel_info_;
  std::set<std::string> reported_;  ///< parameter diagnostics already given (once per template)
};

StageGraph StageGraph::build(Campaign campaign, const KernelRegistry* kernels, Diagnostics& diagnostics) {
  StageGraph graph;
  graph.campaign_ = std::move(campaign);
  StageGraphBuilder(graph, kernels, diagnostics).run();
  return graph;
}

std::optional<StageId> StageGraph::find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

void check_job_size(const StageGraph& graph, int worker_ranks, Diagnostics& diagnostics) {
  for (StageId id = 0; id < graph.size(); ++id) {
    const auto& s = graph.stage(id);
    if (s.ranks > worker_ranks) {
      diagnostics.add(s.location_of("ranks"), "stages." + s.name + ".ranks",
                      fmt::format("asks for {} ranks but this job has {} worker ranks (rank 0 coordinates; "
                                  "run with mpirun -np {} or more)", s.ranks, worker_ranks, s.ranks + 1));
    }
  }
}

const std::set<std::string>& StageGraph::declared_metrics(StageId id) const {
  static const std::set<std::string> none;
  const auto it = kernel_metrics_.find(stage(id).kernel);
  return it == kernel_metrics_.end() ? none : it->second;
}

bool StageGraph::metric_declared(StageId id, const std::string& name) const {
  const auto it = kernel_metrics_.find(stage(id).kernel);
  return it == kernel_metrics_.end() || it->second.count(name) != 0;
}

CampaignPlan make_plan(const StageGraph& graph) {
  CampaignPlan plan;
  if (!graph.acyclic()) return plan;
  const auto n = graph.size();
  plan.weighted_by_walltime = n > 0;
  for (StageId id = 0; id < n; ++id) {
    if (!graph.stage(id).walltime_seconds) plan.weighted_by_walltime = false;
  }
  auto weight = [&](StageId id) {
    const auto& s = graph.stage(id);
    return plan.weighted_by_walltime ? *s.walltime_seconds : static_cast<double>(s.steps);
  };
  std::vector<std::uint32_t> wave(n, 0);
  std::vector<double> finish(n, 0.0);
  std::vector<StageId> via(n, static_cast<StageId>(-1));
  for (StageId id : graph.topological_order()) {
    double start = 0.0;
    for (StageId u : graph.upstream(id)) {
      wave[id] = std::max(wave[id], wave[u] + 1);
      if (via[id] == static_cast<StageId>(-1) || finish[u] > start) {
        start = finish[u];
        via[id] = u;
      }
    }
    finish[id] = start + weight(id);
    if (wave[id] >= plan.waves.size()) plan.waves.resize(wave[id] + 1);
    plan.waves[wave[id]].push_back(id);
  }
  if (n == 0) return plan;
  StageId last = 0;
  for (StageId id = 0; id < n; ++id) {
    if (finish[id] > finish[last]) last = id;
  }
  plan.critical_length = finish[last];
  for (StageId at = last; at != static_cast<StageId>(-1); at = via[at]) plan.critical_path.push_back(at);
  std::reverse(plan.critical_path.begin(), plan.critical_path.end());
  return plan;
}

std::string format_plan(const StageGraph& graph, const CampaignPlan& plan) {
  std::string out = fmt::format("campaign {}: {} stages in {} waves\n", graph.campaign().name, graph.size(), plan.waves.size());
  for (std::size_t w = 0; w < plan.waves.size(); ++w) {
    std::int64_t ranks = 0;  // a wave of many wide stages may hold more than an int
    std::vector<std::string> names;
    for (StageId id : plan.waves[w]) {
      ranks += graph.stage(id).ranks;
      if (names.size() < 12) names.push_back(graph.stage(id).name);
    }
    std::string more = plan.waves[w].size() > names.size() ? fmt::format(" ... and {} more", plan.waves[w].size() - names.size()) : "";
    out += fmt::format("  wave {}: {} stage(s), {} rank(s) to run all at once: {}{}\n", w + 1, plan.waves[w].size(),
                       ranks, fmt::join(names, ", "), more);
  }
  std::vector<std::string> path;
  for (StageId id : plan.critical_path) path.push_back(graph.stage(id).name);
  out += fmt::format("critical path ({} {}): {}\n", plan.critical_length,
                     plan.weighted_by_walltime ? "s of walltime" : "steps", fmt::join(path, " -> "));
  return out;
}

}  // namespace perennial
