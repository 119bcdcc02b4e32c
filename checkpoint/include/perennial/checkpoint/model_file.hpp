#pragma once
// ModelDataset: one array read whole from a file an external model wrote (HDF5, or netCDF-4,
// which is HDF5 underneath), so that a `command:` stage's outputs become Perennial outputs.

#include <perennial/dtype.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace perennial::checkpoint {

struct ModelDataset {
  DType dtype = DType::float64;
  std::vector<std::uint64_t> shape;
  std::vector<std::byte> data;  ///< native byte order, row-major
};

/// Reads `dataset` of `file` on this rank alone (not collective). Throws Hdf5Error naming the
/// file and dataset when either is missing or unreadable, and Error when its element type is
/// none of float32, float64, int32, int64.
ModelDataset read_model_dataset(const std::filesystem::path& file, const std::string& dataset);

}  // namespace perennial::checkpoint
