#pragma once
// Hyperslab: the block of a global N-d array that one rank holds (HDF5's term).

#include <cstdint>
#include <string>
#include <vector>

namespace perennial {

struct Hyperslab {
  std::vector<std::uint64_t> global_shape;  ///< extent of the whole array, slowest dimension first
  std::vector<std::uint64_t> offset;        ///< where this rank's block starts
  std::vector<std::uint64_t> count;         ///< this rank's block extent (entries may be 0)

  /// The whole array as one block (what a single rank, or every rank reading all, asks for).
  static Hyperslab whole(std::vector<std::uint64_t> shape);

  std::uint64_t element_count() const;  ///< product of count
  /// Empty string when consistent, else what is wrong (rank mismatch, block outside the array).
  std::string check() const;
};

/// Rows [first, first + n) of a 2-D array decomposed by rows: how kernels usually split a grid.
Hyperslab row_block(std::uint64_t rows, std::uint64_t cols, std::uint64_t first, std::uint64_t n);

/// Splits `n` items over `parts` as evenly as possible; part p gets [first, first+count).
struct BlockRange { std::uint64_t first; std::uint64_t count; };
BlockRange even_split(std::uint64_t n, int parts, int part);

}  // namespace perennial
