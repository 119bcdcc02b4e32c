#pragma once
// Reads a campaign file (YAML) into a Campaign: checks types, required and unknown fields,
// and expands `for_each` ensembles. Cross-stage checks (references, cycles, data
// compatibility, kernels) belong to the stage graph in coordinator/.

#include <perennial/campaign.hpp>
#include <perennial/diagnostics.hpp>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>

namespace perennial {

/// Bounds of the campaign file's numbers: far beyond any real machine or campaign, and small
/// enough that every total formed from them is exact. A number outside is a validation error.
namespace limits {
inline constexpr int kCount = 1'000'000;                              ///< ranks, cores, GPUs (per stage, rank or node)
inline constexpr std::uint64_t kSteps = std::uint64_t{1} << 53;       ///< steps, step intervals: exact as doubles
inline constexpr std::uint64_t kMemoryBytes = std::uint64_t{1} << 50; ///< 1 PiB, per node or per rank
inline constexpr double kSeconds = 100 * 365.25 * 86400.0;            ///< every duration: 100 years
/// A stage's cores in all (ranks x cores_per_rank), and the cluster's: the scheduler counts
/// cores in use per project in an int.
inline constexpr std::int64_t kTotalCores = std::numeric_limits<int>::max();
inline constexpr int kPriority = 1'000'000;                           ///< a stage's `priority`, either sign
inline constexpr int kKeep = 1000;                                    ///< checkpoint epochs kept per stage
inline constexpr double kWeight = 1e9;                                ///< scheduling weights, project shares
inline constexpr double kCoreHours = 1e12;                            ///< a project's allocation
inline constexpr std::size_t kBackfillDepth = 1'000'000'000;
}  // namespace limits

struct LoadedCampaign {
  std::optional<Campaign> campaign;  ///< set when the file could be read as a campaign at all
  Diagnostics diagnostics;           ///< every problem found; empty means the file is valid so far
  /// How many threads read the YAML and the stages (LoadOptions), for tests and benchmarks.
  int yaml_threads = 1;
  int stage_threads = 1;
};

/// How a campaign file is read. The result does not depend on it (tests compare both ways).
struct LoadOptions {
  /// Files at least this long are read by two threads: the YAML (each from one half of the
  /// stage list) and then the stages (each thread one half of them).
  std::size_t two_threads_from_bytes = std::size_t{4} << 20;
};

LoadedCampaign load_campaign_file(const std::filesystem::path& file, const LoadOptions& options = {});
/// Same, from text (tests); `file` names it in diagnostics and anchors relative paths.
LoadedCampaign load_campaign_text(const std::string& yaml, const std::filesystem::path& file,
                                  const LoadOptions& options = {});

struct LoadedCluster {
  ClusterSpec cluster;
  Diagnostics diagnostics;
};
/// A separate cluster file: `cluster: {nodes: [...]}` (the campaign file's section) or `nodes: [...]`.
LoadedCluster load_cluster_file(const std::filesystem::path& file);

/// Parses `90s`, `15min`, `12h`, `2d`, `1w` or a bare number of seconds; +infinity when the
/// number is too large for a double.
std::optional<double> parse_duration_seconds(const std::string& text);

}  // namespace perennial
