#pragma once
// The machine a campaign runs on, as the campaign file's `cluster:` section describes it:
// classes of identical nodes named with Slurm's hostlist syntax (`cpu[0001-0900]`), each with
// cores, memory, GPUs, feature tags and optionally its power draw. Plain data and parsing
// helpers; placement policy lives in coordinator/.

#include <perennial/energy.hpp>
#include <perennial/source_location.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

/// Nodes of one kind: `{name: "gpu[001-100]", cores: 64, memory: 512GB, gpus: 4, features: [a100]}`.
struct NodeClass {
  std::string pattern;              ///< as written
  std::vector<std::string> names;   ///< expanded host names
  int cores = 1;
  std::uint64_t memory_bytes = 0;   ///< 0: not declared (no memory constraint on this class)
  int gpus = 0;
  std::vector<std::string> features;
  /// `power: {idle: 120W, busy: 450W, gpu: 300W}`, for model_energy where RAPL cannot be
  /// read; nullopt: not declared (without RAPL, such a node's energy is then unavailable).
  std::optional<NodePower> power;
  SourceLocation where;
};

struct ClusterSpec {
  std::vector<NodeClass> classes;
  bool declared() const { return !classes.empty(); }
  std::size_t node_count() const;
};

/// Expands a Slurm-style host list: `cpu[0001-0004]`, `gpu[1-3,7]`, `rack[1-2]-n[01-02]`,
/// or a plain name. Zero padding follows the range's first bound. Throws Error naming the
/// pattern when it is malformed or would name more than `limit` hosts.
std::vector<std::string> expand_hostlist(const std::string& pattern, std::size_t limit = 1'000'000);

/// `256GB`, `512GiB`, `4096MB`, `1.5TB`, `800M`, or a plain number of bytes. Decimal units are
/// powers of 1000, binary ones (`GiB`) powers of 1024; nullopt when unreadable, the largest
/// uint64 when too large for one.
std::optional<std::uint64_t> parse_bytes(const std::string& text);

/// `512 GiB` style, for messages.
std::string format_bytes(std::uint64_t bytes);

}  // namespace perennial
