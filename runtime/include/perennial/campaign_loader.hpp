#pragma once
// Reads a campaign file (YAML) into a Campaign: checks types, required and unknown fields,
// and expands `for_each` ensembles. Cross-stage checks (references, cycles, data
// compatibility, kernels) belong to the stage graph in coordinator/.

#include <perennial/campaign.hpp>
#include <perennial/diagnostics.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace perennial {

struct LoadedCampaign {
  std::optional<Campaign> campaign;  ///< set when the file could be read as a campaign at all
  Diagnostics diagnostics;           ///< every problem found; empty means the file is valid so far
};

LoadedCampaign load_campaign_file(const std::filesystem::path& file);
/// Same, from text (tests); `file` names it in diagnostics and anchors relative paths.
LoadedCampaign load_campaign_text(const std::string& yaml, const std::filesystem::path& file);

struct LoadedCluster {
  ClusterSpec cluster;
  Diagnostics diagnostics;
};
/// A separate cluster file: `cluster: {nodes: [...]}` (the campaign file's section) or `nodes: [...]`.
LoadedCluster load_cluster_file(const std::filesystem::path& file);

/// Parses `90s`, `15min`, `12h`, `2d`, `1w` or a bare number of seconds.
std::optional<double> parse_duration_seconds(const std::string& text);

}  // namespace perennial
