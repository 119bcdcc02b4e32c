#pragma once
// Helpers for unit tests of campaign validation: load YAML text, build the graph with a
// registry of stand-in kernels, and look for a diagnostic.

#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/stage_graph.hpp>
#include <perennial/kernel.hpp>

#include <gtest/gtest.h>

#include <string>

namespace perennial::testing {

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

/// `heat2d` declares temperature float64 [lat, lon] K and reads `initial` of the same kind;
/// `ensemble-mean` and `any` declare no arrays. All three checkpoint, but `no-checkpoints`.
inline const KernelRegistry& stand_in_kernels() {
  static KernelRegistry registry = [] {
    KernelRegistry r;
    KernelInfo heat;
    ArraySchema field{DType::float64, std::vector<std::string>{"lat", "lon"}, std::string("K")};
    heat.outputs["temperature"] = field;
    heat.inputs["initial"] = field;
    heat.checkpoints = true;
    KernelInfo plain;
    plain.checkpoints = true;
    r.add("heat2d", [heat] { return std::make_unique<StandInKernel>(heat); });
    r.add("ensemble-mean", [plain] { return std::make_unique<StandInKernel>(plain); });
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

}  // namespace perennial::testing
