#include <perennial/coordinator/resources.hpp>

#include <perennial/checkpoint_interval.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

namespace perennial {

namespace {

bool has_features(const NodeClass& k, const std::vector<std::string>& wanted) {
  return std::all_of(wanted.begin(), wanted.end(), [&k](const std::string& f) {
    return std::find(k.features.begin(), k.features.end(), f) != k.features.end();
  });
}

}  // namespace

std::size_t ranks_per_node(const StageSpec& s, const NodeClass& k) {
  if (!has_features(k, s.features)) return 0;
  const RankShape shape{s.cores_per_rank, s.gpus_per_rank, s.memory_per_rank_bytes, 0};
  // A node class that does not declare its memory does not constrain it.
  const auto memory = k.memory_bytes > 0 ? std::optional(k.memory_bytes) : std::nullopt;
  return static_cast<std::size_t>(ranks_within(shape, k.cores, k.gpus, memory));
}

std::size_t cluster_rank_capacity(const StageSpec& s, const ClusterSpec& cluster) {
  std::size_t total = 0;
  for (const auto& k : cluster.classes) total += ranks_per_node(s, k) * k.names.size();
  return total;
}

std::optional<FitProblem> fit_problem(const StageSpec& s, const ClusterSpec& cluster) {
  if (!cluster.declared()) return std::nullopt;
  // One resource at a time first, so the message names the one no node has at all.
  for (const auto& f : s.features) {
    const bool anywhere = std::any_of(cluster.classes.begin(), cluster.classes.end(), [&f](const NodeClass& k) {
      return std::find(k.features.begin(), k.features.end(), f) != k.features.end();
    });
    if (!anywhere) return FitProblem{"features", fmt::format("needs node feature '{}', which no node of the cluster has", f)};
  }
  const NodeClass* most_cores = &cluster.classes.front();
  const NodeClass* most_gpus = most_cores;
  const NodeClass* most_memory = most_cores;
  for (const auto& k : cluster.classes) {
    if (k.cores > most_cores->cores) most_cores = &k;
    if (k.gpus > most_gpus->gpus) most_gpus = &k;
    if (k.memory_bytes > most_memory->memory_bytes) most_memory = &k;
  }
  if (s.cores_per_rank > most_cores->cores) {
    return FitProblem{"cores_per_rank", fmt::format("asks {} cores per rank, but the largest node has {} ({})",
                                                    s.cores_per_rank, most_cores->cores, most_cores->pattern)};
  }
  if (s.gpus_per_rank > most_gpus->gpus) {
    return FitProblem{"gpus_per_rank",
                      most_gpus->gpus == 0
                          ? fmt::format("asks {} GPUs per rank, but the cluster declares no GPUs", s.gpus_per_rank)
                          : fmt::format("asks {} GPUs per rank, but the most any node has is {} ({})", s.gpus_per_rank,
                                        most_gpus->gpus, most_gpus->pattern)};
  }
  if (s.memory_per_rank_bytes > 0 && most_memory->memory_bytes > 0 &&
      std::all_of(cluster.classes.begin(), cluster.classes.end(), [](const NodeClass& k) { return k.memory_bytes > 0; }) &&
      s.memory_per_rank_bytes > most_memory->memory_bytes) {
    return FitProblem{"memory_per_rank", fmt::format("asks {} per rank, but the largest node has {} ({})",
                                                     format_bytes(s.memory_per_rank_bytes),
                                                     format_bytes(most_memory->memory_bytes), most_memory->pattern)};
  }
  const std::size_t capacity = cluster_rank_capacity(s, cluster);
  if (capacity == 0) {
    return FitProblem{"", fmt::format("no node has everything one rank asks for at once ({} cores{}{}{})",
                                      s.cores_per_rank, s.gpus_per_rank ? fmt::format(", {} GPUs", s.gpus_per_rank) : "",
                                      s.memory_per_rank_bytes ? ", " + format_bytes(s.memory_per_rank_bytes) : "",
                                      s.features.empty() ? "" : fmt::format(", features {}", fmt::join(s.features, ", ")))};
  }
  if (static_cast<std::size_t>(s.ranks) > capacity) {
    return FitProblem{"ranks", fmt::format("asks {} ranks, but the whole cluster can hold at most {} such ranks at once",
                                           s.ranks, capacity)};
  }
  return std::nullopt;
}

void check_cluster_fit(const Campaign& campaign, Diagnostics& diagnostics) {
  if (!campaign.cluster.declared()) return;
  for (const auto& s : campaign.stages) {
    if (auto problem = fit_problem(s, campaign.cluster)) {
      const std::string field = "stages." + s.name + (problem->field.empty() ? "" : "." + problem->field);
      diagnostics.add(problem->field.empty() ? s.where : s.location_of(problem->field), field, problem->message);
    }
  }
}

Machine machine_for(const ClusterSpec& cluster) {
  Machine m;
  for (const auto& k : cluster.classes) {
    const FeatureMask features = m.feature_mask(k.features);
    for (const auto& name : k.names) m.add_node({name, k.cores, k.gpus, k.memory_bytes, features});
  }
  return m;
}

ResourceRequest request_for(const StageSpec& s, Machine& machine, int ranks) {
  ResourceRequest r;
  r.ranks = ranks;
  r.per_rank.cores = std::max(1, s.cores_per_rank);
  r.per_rank.gpus = s.gpus_per_rank;
  r.per_rank.memory_bytes = s.memory_per_rank_bytes;
  r.per_rank.features = machine.feature_mask(s.features);
  return r;
}

PolicyConfig policy_config_for(const Campaign& campaign) {
  const SchedulingSpec& s = campaign.scheduling;
  PolicyConfig c;
  c.weights.priority = s.priority_weight;
  c.weights.fairshare = s.fairshare_weight;
  c.weights.age = s.age_weight;
  c.weights.max_age_seconds = s.max_age_seconds;
  c.fairshare_half_life = s.fairshare_half_life_seconds;
  c.preempt_exempt_after = s.preempt_exempt_after_seconds;
  c.end_margin = s.end_margin_seconds;
  c.backfill = s.backfill;
  c.backfill_depth = s.backfill_depth;
  c.preemption = s.preemption;
  return c;
}

double expected_seconds(const StageSpec& s) {
  if (s.walltime_seconds) return *s.walltime_seconds;
  if (s.step_seconds) return *s.step_seconds * static_cast<double>(s.steps);
  return kUnknown;
}

double expected_checkpoint_interval(const StageSpec& s, double cost, int nodes, double step_seconds) {
  if (!s.checkpoint.enabled) return 0.0;
  const auto choice = choose_interval(interval_settings(s.checkpoint), cost, std::max(1, nodes));
  if (choice.every_steps) return static_cast<double>(*choice.every_steps) * step_seconds;
  return choice.seconds;
}

JobSpec job_for(const StageSpec& s, JobId id, Machine& machine, int ranks, double checkpoint_cost) {
  JobSpec j;
  j.id = id;
  j.name = s.name;
  j.project = s.project;
  j.priority = s.priority;
  j.protected_run = s.protected_run;
  j.preempt_exempt_after = s.preempt_exempt_after_seconds;
  j.request = request_for(s, machine, ranks);
  j.remaining_seconds = expected_seconds(s);
  j.step_seconds = std::isfinite(j.remaining_seconds) ? j.remaining_seconds / static_cast<double>(std::max<std::uint64_t>(1, s.steps)) : 0.0;
  j.checkpoints = s.checkpoint.enabled;
  j.checkpoint_cost = s.checkpoint.enabled ? checkpoint_cost : 0.0;
  // Before placement its node count is unknown: one node gives the longest interval, so the
  // end-of-allocation rule errs on the safe side.
  j.checkpoint_interval = expected_checkpoint_interval(s, checkpoint_cost, 1, j.step_seconds);
  return j;
}

}  // namespace perennial
