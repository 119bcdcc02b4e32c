#pragma once
// Whether a stage's request (ranks x {cores, memory, GPUs, features} per rank) can ever be
// met by the cluster the campaign file declares. Plain C++, no MPI: placement itself is the
// scheduling policy's; this is the validation that catches the impossible before a run.

#include <perennial/campaign.hpp>
#include <perennial/coordinator/machine.hpp>
#include <perennial/coordinator/scheduling_policy.hpp>
#include <perennial/diagnostics.hpp>

#include <cstddef>
#include <optional>
#include <string>

namespace perennial {

/// How many of the stage's ranks one node of `k` can hold (0: none).
std::size_t ranks_per_node(const StageSpec& s, const NodeClass& k);
/// How many of the stage's ranks the whole cluster can hold at once.
std::size_t cluster_rank_capacity(const StageSpec& s, const ClusterSpec& cluster);

struct FitProblem {
  std::string field;    ///< the stage field at fault, e.g. `gpus_per_rank`
  std::string message;
};
/// Why the stage can never be placed on `cluster`, naming the resource; nullopt when it can.
std::optional<FitProblem> fit_problem(const StageSpec& s, const ClusterSpec& cluster);

/// Adds a diagnostic for every stage that cannot be placed on the declared cluster (none
/// when the campaign declares no cluster).
void check_cluster_fit(const Campaign& campaign, Diagnostics& diagnostics);

/// The declared cluster as a Machine: one node per expanded host name.
Machine machine_for(const ClusterSpec& cluster);
/// What `ranks` ranks of the stage need (its declared ranks unless a failure left fewer).
ResourceRequest request_for(const StageSpec& s, Machine& machine, int ranks);
/// The policy's settings from the campaign's `scheduling:` section.
PolicyConfig policy_config_for(const Campaign& campaign);
/// Expected run time of the whole stage: `walltime`, else steps x `step_time`; kUnknown else.
double expected_seconds(const StageSpec& s);
/// The stage's seconds between checkpoints when written on `nodes` nodes with each checkpoint
/// costing `cost` seconds (the rule the workers follow); 0 when checkpoints are off.
double expected_checkpoint_interval(const StageSpec& s, double cost, int nodes, double step_seconds);
/// The policy's view of a stage: the request, priority, protection and estimates.
JobSpec job_for(const StageSpec& s, JobId id, Machine& machine, int ranks, double checkpoint_cost);

}  // namespace perennial
