#pragma once
// StageGraph: the campaign's stages as a validated DAG. Building it resolves every `after`
// and `inputs` reference (globs included), checks that connected data agree in dtype, dims
// and units, that kernels and projects exist, and that there is no cycle. Plain C++, no MPI.

#include <perennial/campaign.hpp>
#include <perennial/diagnostics.hpp>
#include <perennial/kernel.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace perennial {

using StageId = std::uint32_t;

/// An input after glob resolution: the upstream (stage, output) pairs it reads, in stage-name order.
struct ResolvedInput {
  std::string name;
  std::vector<std::pair<StageId, std::string>> sources;
};

class StageGraph {
 public:
  /// Builds the graph and appends every problem to `diagnostics`. `kernels` may be null to
  /// skip kernel checks (e.g. a coordinator that validates for another executable).
  static StageGraph build(Campaign campaign, const KernelRegistry* kernels, Diagnostics& diagnostics);

  const Campaign& campaign() const { return campaign_; }
  std::size_t size() const { return campaign_.stages.size(); }
  const StageSpec& stage(StageId id) const { return campaign_.stages[id]; }
  std::optional<StageId> find(std::string_view name) const;

  /// Direct dependencies (from `after` and `inputs`), without duplicates, ascending.
  const std::vector<StageId>& upstream(StageId id) const { return upstream_[id]; }
  const std::vector<StageId>& downstream(StageId id) const { return downstream_[id]; }
  const std::vector<ResolvedInput>& inputs(StageId id) const { return inputs_[id]; }

  /// The metrics the stage's kernel declares; empty and open: it takes any name (a kernel that
  /// declares none, or a graph built without the kernels).
  const std::set<std::string>& declared_metrics(StageId id) const;
  bool metric_declared(StageId id, const std::string& name) const;

  bool acyclic() const { return acyclic_; }
  /// Every stage after all of its upstream stages (only meaningful when acyclic()).
  const std::vector<StageId>& topological_order() const { return topological_order_; }

 private:
  Campaign campaign_;
  std::unordered_map<std::string, StageId> by_name_;
  std::vector<std::vector<StageId>> upstream_;
  std::vector<std::vector<StageId>> downstream_;
  std::vector<std::vector<ResolvedInput>> inputs_;
  std::vector<StageId> topological_order_;
  std::map<std::string, std::set<std::string>> kernel_metrics_;  ///< kernels that declare theirs
  bool acyclic_ = false;

  friend class StageGraphBuilder;
};

/// Reports every stage that asks for more ranks than a job with `worker_ranks` workers has.
void check_job_size(const StageGraph& graph, int worker_ranks, Diagnostics& diagnostics);

/// `perennial plan`: stages grouped into waves that can run in parallel, and the critical path.
struct CampaignPlan {
  std::vector<std::vector<StageId>> waves;  ///< wave k: stages whose longest upstream chain has k stages
  std::vector<StageId> critical_path;       ///< the heaviest dependency chain, first stage first
  double critical_length = 0.0;
  bool weighted_by_walltime = false;        ///< else weighted by steps
};

CampaignPlan make_plan(const StageGraph& graph);
std::string format_plan(const StageGraph& graph, const CampaignPlan& plan);

}  // namespace perennial
