#include <perennial/coordinator/resources.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

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
  std::size_t fit = static_cast<std::size_t>(k.cores / std::max(1, s.cores_per_rank));
  if (s.gpus_per_rank > 0) fit = std::min(fit, static_cast<std::size_t>(k.gpus / s.gpus_per_rank));
  // A node class that does not declare its memory does not constrain it.
  if (s.memory_per_rank_bytes > 0 && k.memory_bytes > 0) {
    fit = std::min(fit, static_cast<std::size_t>(k.memory_bytes / s.memory_per_rank_bytes));
  }
  return fit;
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

}  // namespace perennial
