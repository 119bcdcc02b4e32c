#include <perennial/coordinator/machine.hpp>

#include <perennial/errors.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace perennial {

namespace {

// A node's memory (`amount` of it) counts only if the node declares any.
std::optional<std::uint64_t> declared_memory(const NodeSpec& spec, std::uint64_t amount) {
  return spec.memory_bytes > 0 ? std::optional(amount) : std::nullopt;
}

}  // namespace

int ranks_within(const RankShape& shape, int cores, int gpus, std::optional<std::uint64_t> memory_bytes) {
  int fit = cores / std::max(1, shape.cores);
  if (shape.gpus > 0) fit = std::min(fit, gpus / shape.gpus);
  if (shape.memory_bytes > 0 && memory_bytes) {
    fit = std::min<int>(fit, static_cast<int>(std::min<std::uint64_t>(*memory_bytes / shape.memory_bytes,
                                                                      std::numeric_limits<int>::max())));
  }
  return std::max(fit, 0);
}

int Allocation::ranks() const {
  int n = 0;
  for (const auto& [node, count] : ranks_on) n += count;
  return n;
}

FeatureMask Machine::feature_bit(const std::string& tag) {
  auto it = feature_bits_.find(tag);
  if (it == feature_bits_.end()) {
    if (feature_bits_.size() >= 64) throw Error(fmt::format("more than 64 distinct node feature tags (at '{}')", tag));
    it = feature_bits_.emplace(tag, static_cast<int>(feature_bits_.size())).first;
  }
  return FeatureMask{1} << it->second;
}

FeatureMask Machine::feature_mask(const std::vector<std::string>& tags) {
  FeatureMask mask = 0;
  for (const auto& t : tags) mask |= feature_bit(t);
  return mask;
}

NodeIndex Machine::add_node(const NodeSpec& spec) {
  capacity_cache_.clear();
  Node n;
  n.spec = spec;
  n.free_cores = spec.cores;
  n.free_gpus = spec.gpus;
  n.free_memory = spec.memory_bytes;
  const auto index = static_cast<NodeIndex>(nodes_.size());
  by_name_.emplace(spec.name, index);
  nodes_.push_back(std::move(n));
  natural_order_.push_back(index);
  // Plain nodes before the others, each group in node order.
  if (spec.gpus > 0 || spec.features != 0) {
    plain_first_.push_back(index);
  } else {
    plain_first_.insert(plain_first_.begin() + static_cast<std::ptrdiff_t>(plain_nodes_++), index);
  }
  total_cores_ += spec.cores;
  free_cores_ += spec.cores;
  return index;
}

std::optional<NodeIndex> Machine::find_node(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

void Machine::grow_cores(NodeIndex n, int cores) {
  capacity_cache_.clear();
  Node& node = nodes_[n];
  if (cores <= node.spec.cores) return;
  const int more = cores - node.spec.cores;
  node.spec.cores = cores;
  node.free_cores += more;
  total_cores_ += more;
  if (node.up) {
    free_cores_ += more;
  } else {
    down_cores_ += more;
  }
}

void Machine::add_worker(NodeIndex n, int partition, int id) {
  capacity_cache_.clear();
  slots_limited_ = true;
  partition_count_ = std::max(partition_count_, partition + 1);
  for (auto& node : nodes_) {
    node.free_slots.resize(static_cast<std::size_t>(partition_count_));
    node.all_slots_per_partition.resize(static_cast<std::size_t>(partition_count_));
  }
  auto& slots = nodes_[n].free_slots[static_cast<std::size_t>(partition)];
  slots.insert(std::upper_bound(slots.begin(), slots.end(), id), id);
  ++nodes_[n].all_slots_per_partition[static_cast<std::size_t>(partition)];
  worker_home_[id] = {n, partition};
  ++live_workers_;
}

void Machine::retire_worker(int id) {
  auto it = worker_home_.find(id);
  if (it == worker_home_.end()) return;
  capacity_cache_.clear();
  auto [n, partition] = it->second;
  auto& slots = nodes_[n].free_slots[static_cast<std::size_t>(partition)];
  slots.erase(std::remove(slots.begin(), slots.end(), id), slots.end());
  --nodes_[n].all_slots_per_partition[static_cast<std::size_t>(partition)];
  worker_home_.erase(it);
  --live_workers_;
}

std::size_t Machine::free_workers() const {
  std::size_t n = 0;
  for (const auto& node : nodes_) {
    for (const auto& s : node.free_slots) n += s.size();
  }
  return n;
}

void Machine::set_down(NodeIndex n) {
  Node& node = nodes_[n];
  if (!node.up) return;
  node.up = false;
  free_cores_ -= node.free_cores;
  down_cores_ += node.spec.cores;
}

void Machine::set_up(NodeIndex n) {
  Node& node = nodes_[n];
  if (node.up) return;
  node.up = true;
  free_cores_ += node.free_cores;
  down_cores_ -= node.spec.cores;
}

bool Machine::suits(NodeIndex n, const RankShape& shape) const {
  const NodeSpec& s = nodes_[n].spec;
  if ((s.features & shape.features) != shape.features) return false;
  if (shape.cores > s.cores || shape.gpus > s.gpus) return false;
  return s.memory_bytes == 0 || shape.memory_bytes <= s.memory_bytes;
}

// Ranks of `shape` that fit on the node's free resources now (and free slots of `partition`).
int Machine::fit_on(const Node& node, const RankShape& shape, int partition) const {
  if (!node.up || (node.spec.features & shape.features) != shape.features) return 0;
  int fit = ranks_within(shape, node.free_cores, node.free_gpus, declared_memory(node.spec, node.free_memory));
  if (slots_limited_) fit = std::min<int>(fit, static_cast<int>(node.free_slots[static_cast<std::size_t>(partition)].size()));
  return fit;
}

int Machine::fit_when_empty(const Node& node, const RankShape& shape, int partition) const {
  if ((node.spec.features & shape.features) != shape.features) return 0;
  int fit = ranks_within(shape, node.spec.cores, node.spec.gpus, declared_memory(node.spec, node.spec.memory_bytes));
  if (slots_limited_) fit = std::min(fit, node.all_slots_per_partition[static_cast<std::size_t>(partition)]);
  return fit;
}

std::optional<Allocation> Machine::place_in(const ResourceRequest& request, int partition) const {
  Allocation a;
  a.partition = partition;
  a.per_rank = request.per_rank;
  int left = request.ranks;
  // Like Slurm's node weights: a stage that needs no GPU and no feature tries the plain
  // nodes first, so that GPU and special nodes stay free for the stages that need them.
  const bool plain = request.per_rank.gpus == 0 && request.per_rank.features == 0;
  const std::vector<NodeIndex>& order = plain ? plain_first_ : natural_order_;
  for (NodeIndex n : order) {
    if (left <= 0) break;
    const int fit = std::min(left, fit_on(nodes_[n], request.per_rank, partition));
    if (fit <= 0) continue;
    a.ranks_on.emplace_back(n, fit);
    if (slots_limited_) {
      const auto& slots = nodes_[n].free_slots[static_cast<std::size_t>(partition)];
      a.workers.insert(a.workers.end(), slots.begin(), slots.begin() + fit);
    }
    left -= fit;
  }
  if (left > 0) return std::nullopt;
  return a;
}

std::optional<Allocation> Machine::place(const ResourceRequest& request) const {
  // Cheap refusals first: the policy asks this for every waiting stage on every pass.
  if (request.cores() > free_cores_) return std::nullopt;
  for (int p = 0; p < partitions(); ++p) {
    if (auto a = place_in(request, p)) return a;
  }
  return std::nullopt;
}

void Machine::take(const Allocation& a) {
  const RankShape& s = a.per_rank;
  for (const auto& [n, count] : a.ranks_on) {
    Node& node = nodes_[n];
    node.free_cores -= count * s.cores;
    node.free_gpus -= count * s.gpus;
    if (node.spec.memory_bytes > 0) node.free_memory -= static_cast<std::uint64_t>(count) * s.memory_bytes;
    if (node.up) free_cores_ -= std::int64_t{count} * s.cores;
  }
  for (int id : a.workers) {
    auto it = worker_home_.find(id);
    if (it == worker_home_.end()) continue;
    auto& slots = nodes_[it->second.first].free_slots[static_cast<std::size_t>(it->second.second)];
    slots.erase(std::remove(slots.begin(), slots.end(), id), slots.end());
  }
}

void Machine::release(const Allocation& a) {
  const RankShape& s = a.per_rank;
  for (const auto& [n, count] : a.ranks_on) {
    Node& node = nodes_[n];
    node.free_cores += count * s.cores;
    node.free_gpus += count * s.gpus;
    if (node.spec.memory_bytes > 0) node.free_memory += static_cast<std::uint64_t>(count) * s.memory_bytes;
    if (node.up) free_cores_ += std::int64_t{count} * s.cores;
  }
  // Only live workers come back: one that died while it ran stays retired.
  for (int id : a.workers) {
    auto it = worker_home_.find(id);
    if (it == worker_home_.end()) continue;
    auto& slots = nodes_[it->second.first].free_slots[static_cast<std::size_t>(it->second.second)];
    if (!std::binary_search(slots.begin(), slots.end(), id)) slots.insert(std::upper_bound(slots.begin(), slots.end(), id), id);
  }
}

std::size_t Machine::capacity(const RankShape& shape) const {
  const auto key = shape.key();
  if (auto it = capacity_cache_.find(key); it != capacity_cache_.end()) return it->second;
  std::size_t best = 0;
  for (int p = 0; p < partitions(); ++p) {
    std::size_t total = 0;
    for (const auto& node : nodes_) total += static_cast<std::size_t>(fit_when_empty(node, shape, p));
    best = std::max(best, total);
  }
  capacity_cache_.emplace(key, best);
  return best;
}

bool Machine::can_ever_fit(const ResourceRequest& request) const {
  return capacity(request.per_rank) >= static_cast<std::size_t>(request.ranks);
}

std::size_t Machine::fits_now(const RankShape& shape) const {
  std::size_t total = 0;
  for (int p = 0; p < partitions(); ++p) {
    for (const auto& node : nodes_) total += static_cast<std::size_t>(fit_on(node, shape, p));
  }
  return total;
}

}  // namespace perennial
