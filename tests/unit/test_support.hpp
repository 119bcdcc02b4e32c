#pragma once
// Helpers for unit tests of campaign validation: load YAML text, build the graph with a
// registry of stand-in kernels, and look for a diagnostic.

#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/machine.hpp>
#include <perennial/coordinator/stage_graph.hpp>
#include <perennial/kernel.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

namespace perennial::testing {

/// An empty folder of its own under the temporary directory: `perennial-<prefix>-<name>-<pid>`.
inline std::filesystem::path fresh_directory(const std::string& prefix, const std::string& name) {
  std::string leaf = "perennial-";
  leaf += prefix;
  leaf += "-";
  leaf += name;
  leaf += "-";
  leaf += std::to_string(::getpid());
  auto dir = std::filesystem::temp_directory_path() / leaf;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

class StandInKernel : public Kernel {
 public:
  explicit StandInKernel(KernelInfo info) : info_(std::move(info)) {}
  void initialize(StageContext&) override {}
  void step(StageContext&) override {}
  void write_outputs(StageContext&, OutputSink&) override {}
  KernelInfo info() const override { return info_; }

 private:
  KernelInfo info_;
};

/// `heat2d` declares temperature float64 [lat, lon] K and reads `initial` of the same kind,
/// and takes nx, ny, forcing, albedo and heat_capacity, all with defaults; `grid` requires
/// `ny` and takes a list `levels`, a string and a boolean; `ensemble-mean` takes no
/// parameters; `any` declares nothing, so it takes any. All checkpoint but `no-checkpoints`.
inline const KernelRegistry& stand_in_kernels() {
  static KernelRegistry registry = [] {
    using T = ParameterType;
    KernelRegistry r;
    KernelInfo heat;
    ArraySchema field{DType::float64, std::vector<std::string>{"lat", "lon"}, std::string("K")};
    heat.outputs["temperature"] = field;
    heat.inputs["initial"] = field;
    heat.parameters = {
        {"nx", {.type = T::integer, .default_value = "128", .min = 3, .units = "cells"}},
        {"ny", {.type = T::integer, .default_value = "64", .min = 1, .units = "cells"}},
        {"forcing", {.type = T::number, .default_value = "0.0", .units = "W m-2"}},
        {"albedo", {.type = T::number, .default_value = "0.33", .min = 0, .max = 1, .units = "1"}},
        {"heat_capacity", {.type = T::number, .default_value = "2e8", .min = 0, .min_exclusive = true}},
    };
    KernelInfo grid;
    grid.parameters = {
        {"ny", {.type = T::integer, .min = 1, .units = "cells", .description = "rows"}},
        {"levels", {.type = T::number, .list = true, .default_value = "1000", .min = 0, .units = "hPa"}},
        {"label", {.type = T::string, .default_value = "grid"}},
        {"verbose", {.type = T::boolean, .default_value = "false"}},
    };
    heat.checkpoints = true;
    heat.metrics["global_mean_temperature"] = {"K", "area-weighted mean"};
    heat.metrics["skill"] = {"1", "against observations"};
    grid.checkpoints = true;
    grid.metrics_open = false;  // reports none
    KernelInfo takes_none;
    takes_none.parameters_open = false;
    takes_none.checkpoints = true;
    KernelInfo plain;
    plain.checkpoints = true;
    r.add("heat2d", [heat] { return std::make_unique<StandInKernel>(heat); });
    r.add("grid", [grid] { return std::make_unique<StandInKernel>(grid); });
    r.add("ensemble-mean", [takes_none] { return std::make_unique<StandInKernel>(takes_none); });
    r.add("any", [plain] { return std::make_unique<StandInKernel>(plain); });
    r.add("no-checkpoints", [] { return std::make_unique<StandInKernel>(KernelInfo{}); });
    return r;
  }();
  return registry;
}

struct Checked {
  std::optional<StageGraph> graph;
  Diagnostics diagnostics;
  std::string text() const { return diagnostics.to_string(); }
  /// True when some diagnostic is at `line` and contains `fragment` in its text.
  bool has(int line, const std::string& fragment) const {
    for (const auto& d : diagnostics.items()) {
      if (d.where.line == line && d.to_string().find(fragment) != std::string::npos) return true;
    }
    return false;
  }
};

inline Checked check_campaign(const std::string& yaml, const std::string& file = "/campaigns/test.yaml") {
  Checked c;
  auto loaded = load_campaign_text(yaml, file);
  c.diagnostics = std::move(loaded.diagnostics);
  if (loaded.campaign) c.graph = StageGraph::build(std::move(*loaded.campaign), &stand_in_kernels(), c.diagnostics);
  return c;
}

/// One node of `count` one-core worker ranks, ids 1..count: a real run's machine in small.
inline Machine one_node_of_workers(int count) {
  Machine m;
  const NodeIndex n = m.add_node({"node", count, 0, 0, 0});
  for (int id = 1; id <= count; ++id) m.add_worker(n, 0, id);
  return m;
}

}  // namespace perennial::testing
