#pragma once
// Machine: the nodes a campaign may use, what each one has (cores, memory, GPUs, feature
// tags), what is free at this moment, and where a stage's ranks fit. Plain C++, no MPI: the
// scheduling policy places stages on it in real runs and in `perennial simulate` alike.
//
// In a simulation a node is only its resources. In a real run the ranks already exist (mpirun
// started them), so a node also holds worker slots: the worker processes living on it, each
// in a partition. A partition is a set of workers that share a parent communicator (the ranks
// mpirun started, or one batch of respawned ones); a stage group's ranks must all come from
// one partition, because its communicator is cut from that parent.

#include <cstdint>
#include <map>
#include <optional>
#include <tuple>
#include <string>
#include <unordered_map>
#include <vector>

namespace perennial {

using NodeIndex = std::uint32_t;
using FeatureMask = std::uint64_t;  ///< one bit per feature tag (Machine::feature_bit)

/// What one rank of a stage needs on the node it runs on.
struct RankShape {
  int cores = 1;
  int gpus = 0;
  std::uint64_t memory_bytes = 0;  ///< 0: not declared
  FeatureMask features = 0;        ///< every tag must be on the node

  /// Equal keys, equal shapes: for caches and memos keyed by shape.
  using Key = std::tuple<int, int, std::uint64_t, FeatureMask>;
  Key key() const { return {cores, gpus, memory_bytes, features}; }
};

/// Ranks of `shape` that `cores`, `gpus` and `memory_bytes` hold. Memory limits only when both
/// sides declare it (the shape's 0, or nullopt here, is undeclared). Feature tags are the
/// caller's to check.
int ranks_within(const RankShape& shape, int cores, int gpus, std::optional<std::uint64_t> memory_bytes);

struct ResourceRequest {
  int ranks = 1;
  RankShape per_rank;
  /// 64-bit: a million ranks of a million cores each must not wrap around.
  std::int64_t cores() const { return std::int64_t{ranks} * per_rank.cores; }
};

/// Where a stage's ranks went: how many on each node, and in a real run which workers.
struct Allocation {
  std::vector<std::pair<NodeIndex, int>> ranks_on;  ///< (node, ranks there), in placement order
  std::vector<int> workers;                         ///< worker ids, in node order (real runs)
  int partition = 0;
  RankShape per_rank;
  int ranks() const;
  std::int64_t cores() const { return std::int64_t{ranks()} * per_rank.cores; }
};

struct NodeSpec {
  std::string name;
  int cores = 1;
  int gpus = 0;
  std::uint64_t memory_bytes = 0;  ///< 0: not declared, so it never limits placement
  FeatureMask features = 0;
};

class Machine {
 public:
  /// The bit of a feature tag, assigned on first use (at most 64 distinct tags).
  FeatureMask feature_bit(const std::string& tag);
  /// The mask of tags; unknown tags get a bit of their own (no node has it).
  FeatureMask feature_mask(const std::vector<std::string>& tags);

  NodeIndex add_node(const NodeSpec& spec);
  std::optional<NodeIndex> find_node(const std::string& name) const;
  std::size_t node_count() const { return nodes_.size(); }
  const NodeSpec& node(NodeIndex n) const { return nodes_[n].spec; }
  /// Raises a node's core count (a detected node learning of more ranks on its host).
  void grow_cores(NodeIndex n, int cores);

  /// Real runs: worker `id` lives on node `n` in `partition`. From then on every node's
  /// placement is also limited by its free worker slots.
  void add_worker(NodeIndex n, int partition, int id);
  /// A worker that died or was ended: never handed out again.
  void retire_worker(int id);
  bool has_slots() const { return slots_limited_; }
  std::size_t live_workers() const { return live_workers_; }
  std::size_t free_workers() const;

  /// A node that failed: nothing new lands on it until set_up. What ran there is the
  /// caller's to release.
  void set_down(NodeIndex n);
  void set_up(NodeIndex n);
  bool is_up(NodeIndex n) const { return nodes_[n].up; }

  /// A placement on free resources now (first fit in node order, plain nodes first for stages
  /// that need no GPU or feature; one partition), or nullopt.
  std::optional<Allocation> place(const ResourceRequest& request) const;
  void take(const Allocation& a);
  void release(const Allocation& a);

  /// Whether the request could be met with every node up and empty (ignoring what runs now).
  bool can_ever_fit(const ResourceRequest& request) const;
  /// The most ranks of this shape one partition can hold when empty.
  std::size_t capacity(const RankShape& shape) const;
  /// Ranks of this shape that fit on free resources now (all partitions summed).
  std::size_t fits_now(const RankShape& shape) const;
  /// Whether node `n` could ever host a rank of this shape (features and sizes).
  bool suits(NodeIndex n, const RankShape& shape) const;

  /// Totals over all nodes, in 64 bits: node count x cores per node need not fit an int.
  std::int64_t total_cores() const { return total_cores_; }
  std::int64_t free_cores() const { return free_cores_; }
  std::int64_t used_cores() const { return total_cores_ - free_cores_ - down_cores_; }
  std::int64_t up_cores() const { return total_cores_ - down_cores_; }

 private:
  struct Node {
    NodeSpec spec;
    int free_cores = 0;
    int free_gpus = 0;
    std::uint64_t free_memory = 0;
    bool up = true;
    std::vector<std::vector<int>> free_slots;  ///< per partition, kept sorted (real runs)
    std::vector<int> all_slots_per_partition;  ///< live workers per partition
  };
  int fit_on(const Node& node, const RankShape& shape, int partition) const;
  int fit_when_empty(const Node& node, const RankShape& shape, int partition) const;
  std::optional<Allocation> place_in(const ResourceRequest& request, int partition) const;
  int partitions() const { return slots_limited_ ? partition_count_ : 1; }

  std::vector<Node> nodes_;
  std::vector<NodeIndex> natural_order_;
  std::vector<NodeIndex> plain_first_;  ///< nodes without GPUs or features, then the others
  std::size_t plain_nodes_ = 0;         ///< how many of plain_first_ are plain
  /// capacity() per rank shape: asked for every waiting stage on every pass, it only
  /// changes when nodes or workers come or go.
  mutable std::map<RankShape::Key, std::size_t> capacity_cache_;
  std::unordered_map<std::string, NodeIndex> by_name_;
  std::unordered_map<std::string, int> feature_bits_;
  std::unordered_map<int, std::pair<NodeIndex, int>> worker_home_;  ///< worker -> (node, partition)
  bool slots_limited_ = false;
  int partition_count_ = 0;
  std::size_t live_workers_ = 0;
  std::int64_t total_cores_ = 0;
  std::int64_t free_cores_ = 0;  ///< on nodes that are up
  std::int64_t down_cores_ = 0;
};

}  // namespace perennial
