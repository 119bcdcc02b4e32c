#include <perennial/hyperslab.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace perennial {

Hyperslab Hyperslab::whole(std::vector<std::uint64_t> shape) {
  Hyperslab slab;
  slab.offset.assign(shape.size(), 0);
  slab.count = shape;
  slab.global_shape = std::move(shape);
  return slab;
}

std::uint64_t Hyperslab::element_count() const {
  std::uint64_t n = 1;
  for (auto c : count) n *= c;
  return n;
}

std::string Hyperslab::check() const {
  if (offset.size() != global_shape.size() || count.size() != global_shape.size()) {
    return fmt::format("hyperslab has {} dimensions but offset has {} and count {}",
                       global_shape.size(), offset.size(), count.size());
  }
  for (std::size_t d = 0; d < global_shape.size(); ++d) {
    if (offset[d] + count[d] > global_shape[d]) {
      return fmt::format("block offset {} count {} lies outside shape {}", offset, count, global_shape);
    }
  }
  return {};
}

Hyperslab row_block(std::uint64_t rows, std::uint64_t cols, std::uint64_t first, std::uint64_t n) {
  return Hyperslab{{rows, cols}, {first, 0}, {n, cols}};
}

BlockRange even_split(std::uint64_t n, int parts, int part) {
  const auto p = static_cast<std::uint64_t>(parts);
  const auto i = static_cast<std::uint64_t>(part);
  const std::uint64_t base = n / p, extra = n % p;
  return {i * base + std::min(i, extra), base + (i < extra ? 1 : 0)};
}

}  // namespace perennial
