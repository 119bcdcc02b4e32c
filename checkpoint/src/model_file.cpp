#include "hdf5_support.hpp"

#include <perennial/checkpoint/model_file.hpp>

#include <perennial/errors.hpp>

#include <fmt/format.h>

namespace perennial::checkpoint {

ModelDataset read_model_dataset(const std::filesystem::path& file, const std::string& dataset) {
  ensure_hdf5_quiet();
  using namespace detail;
  const Where at{file.string(), dataset};
  // Nothing verified this file (the model wrote it): its superblock is checked before HDF5
  // trusts it, as the verifiers do. ci/fuzz.sh (fuzz_checkpoint_read) found a 571-byte file
  // that made H5Fopen allocate 1.8 GB here.
  std::error_code error;
  const auto size = std::filesystem::file_size(file, error);
  if (error) throw Error(fmt::format("{}: cannot read the model's file: {}", file.string(), error.message()));
  if (const auto bad = superblock_problem(file.string(), size); !bad.empty()) {
    throw Error(fmt::format("{}: the model's file is not one HDF5 can be given: {}", file.string(), bad));
  }
  // A plain (POSIX) open: the model's file is read by one rank, and it may be a netCDF-4 file
  // still carrying its own conventions; only the dataset's type and shape matter here.
  FileHandle f{check_id(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), {file.string(), "/"}, "open the model's file")};
  DatasetHandle d{check_id(H5Dopen2(f.get(), dataset.c_str(), H5P_DEFAULT), at, "open dataset")};
  DatatypeHandle type{check_id(H5Dget_type(d.get()), at, "get type")};
  const auto dtype = dtype_from(type.get());
  if (!dtype) {
    throw Error(fmt::format("{}: dataset '{}' holds a type Perennial does not read (float32, float64, int32, int64)",
                            file.string(), dataset));
  }
  DataspaceHandle space{check_id(H5Dget_space(d.get()), at, "get dataspace")};
  const int rank = check_status(H5Sget_simple_extent_ndims(space.get()), at, "get rank");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  check_status(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), at, "get shape");
  ModelDataset out;
  out.dtype = *dtype;
  std::uint64_t elements = 1;
  for (auto n : dims) {
    out.shape.push_back(n);
    elements *= n;
  }
  out.data.resize(elements * dtype_size(*dtype));
  if (elements > 0) {
    check_status(H5Dread(d.get(), memory_type_of(*dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data.data()), at, "read");
  }
  return out;
}

}  // namespace perennial::checkpoint
