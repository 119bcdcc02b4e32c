#include <perennial/checkpoint/input_file.hpp>

#include "hdf5_support.hpp"

#include <perennial/errors.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <hdf5_hl.h>

#include <string_view>

namespace perennial::checkpoint {

using detail::check_id;
using detail::check_status;
using detail::Where;

namespace {

/// What open_input learnt about the dataset; the array only holds it.
struct Description {
  DType dtype = DType::float64;
  std::vector<std::string> dims;
  std::vector<std::uint64_t> shape;
  std::string units;
};

class StoredArray final : public InputArray {
 public:
  StoredArray(boost::mpi::communicator group, std::string file_name, std::string stage,
              std::string output, Description description, FileHandle file, DatasetHandle dataset)
      : group_(std::move(group)), file_name_(std::move(file_name)), stage_(std::move(stage)),
        output_(std::move(output)), d_(std::move(description)), file_(std::move(file)),
        dataset_(std::move(dataset)) {}

  const std::string& stage() const override { return stage_; }
  const std::string& output() const override { return output_; }
  DType dtype() const override { return d_.dtype; }
  const std::vector<std::string>& dims() const override { return d_.dims; }
  const std::vector<std::uint64_t>& shape() const override { return d_.shape; }
  const std::string& units() const override { return d_.units; }

 private:
  void read_raw(const Hyperslab& slab, DType type, void* data, std::size_t elements) const override {
    ensure_hdf5_quiet();
    detail::agree_or_throw(group_, problem_with(slab, type, elements), stage_);
    const Where where{file_name_, output_};
    const bool take_part = d_.shape.empty() || slab.element_count() > 0;
    detail::Selection selection = detail::select_block(d_.shape, slab, take_part, where);
    PropertyListHandle dxpl = detail::collective_transfer(where);
    double nothing = 0.0;  // HDF5 rejects a null buffer; ranks selecting none pass this
    check_status(H5Dread(dataset_.get(), detail::memory_type_of(type), selection.memory.get(),
                         selection.file.get(), dxpl.get(), data != nullptr ? data : &nothing),
                 where, "read dataset");
    detail::note_io_mode(dxpl.get(), where);
  }

  std::string problem_with(const Hyperslab& slab, DType type, std::size_t elements) const {
    const auto say = [&](const std::string& what) {
      return fmt::format("output '{}' in '{}': {}", output_, file_name_, what);
    };
    if (type != d_.dtype) {
      return say(fmt::format("holds {} but was read as {} (no conversion)", dtype_name(d_.dtype),
                             dtype_name(type)));
    }
    if (slab.global_shape != d_.shape) {
      return say(fmt::format("has shape [{}] but the block is of an array of shape [{}]",
                             fmt::join(d_.shape, ", "), fmt::join(slab.global_shape, ", ")));
    }
    if (auto bad = slab.check(); !bad.empty()) return say(bad);
    if (elements != slab.element_count()) {
      return say(fmt::format("the block has {} elements but the buffer has {}", slab.element_count(),
                             elements));
    }
    return {};
  }

  boost::mpi::communicator group_;
  std::string file_name_;
  std::string stage_;
  std::string output_;
  Description d_;
  FileHandle file_;
  DatasetHandle dataset_;  // declared after file_: closes first (MPI-IO files close only when empty)
};

herr_t take_scale_name(hid_t, unsigned, hid_t scale, void* out) {
  auto* name = static_cast<std::string*>(out);
  // netCDF's "dimension without a variable" (what checkpoints use) has a NAME that is a
  // notice, not a name; its path names it, as netCDF itself reads it.
  constexpr std::string_view dimension_only = "This is a netCDF dimension but not a netCDF variable.";
  const ssize_t length = H5DSget_scale_name(scale, nullptr, 0);
  std::string text;
  if (length > 0) {
    text.assign(static_cast<std::size_t>(length) + 1, '\0');
    H5DSget_scale_name(scale, text.data(), text.size());
    text = text.c_str();
  }
  if (!text.empty() && !std::string_view(text).starts_with(dimension_only)) {
    *name = text;
  } else {
    // A scale without a NAME attribute is known by its path.
    const ssize_t path_length = H5Iget_name(scale, nullptr, 0);
    if (path_length > 0) {
      std::string path(static_cast<std::size_t>(path_length) + 1, '\0');
      H5Iget_name(scale, path.data(), path.size());
      path = path.c_str();
      *name = path.substr(path.find_last_of('/') + 1);
    }
  }
  return 1;  // the first scale of the axis names it
}

/// Names of the axes: the first scale attached to each, the dataset's own name for a 1-D
/// scale (a coordinate), else "dim<i>".
std::vector<std::string> dim_names(hid_t dataset, int rank, const Where& where) {
  std::vector<std::string> names;
  const bool is_scale = check_status(H5DSis_scale(dataset), where, "check for a dimension scale in") > 0;
  for (int d = 0; d < rank; ++d) {
    std::string name;
    const auto axis = static_cast<unsigned>(d);
    if (check_status(H5DSget_num_scales(dataset, axis), where, "count the dimension scales of") > 0) {
      check_status(H5DSiterate_scales(dataset, axis, nullptr, take_scale_name, &name), where,
                   "read the dimension scales of");
    } else if (is_scale && rank == 1) {
      take_scale_name(dataset, 0, dataset, &name);
    }
    names.push_back(name.empty() ? fmt::format("dim{}", d) : name);
  }
  return names;
}

}  // namespace

std::shared_ptr<const InputArray> open_input(const boost::mpi::communicator& group,
                                             const std::filesystem::path& file,
                                             const std::string& stage, const std::string& output) {
  ensure_hdf5_quiet();
  const std::string file_name = file.string();
  Where where{file_name, "/"};
  PropertyListHandle fapl = detail::mpio_file_access(group, where);
  FileHandle handle{check_id(H5Fopen(file_name.c_str(), H5F_ACC_RDONLY, fapl.get()), where, "open file")};

  where.object = output;
  if (check_status(H5Lexists(handle.get(), output.c_str(), H5P_DEFAULT), where, "look up dataset") == 0) {
    throw Hdf5Error(file_name, output, "open dataset", fmt::format("stage '{}' wrote no output '{}'", stage, output));
  }
  DatasetHandle dataset{check_id(H5Dopen2(handle.get(), output.c_str(), H5P_DEFAULT), where, "open dataset")};

  Description d;
  DatatypeHandle type{check_id(H5Dget_type(dataset.get()), where, "read the type of dataset")};
  const auto dtype = detail::dtype_from(type.get());
  if (!dtype) {
    throw KernelError(stage, fmt::format("output '{}' in '{}' has an element type Perennial does not "
                                         "read (float32, float64, int32, int64)", output, file_name));
  }
  d.dtype = *dtype;
  DataspaceHandle space{check_id(H5Dget_space(dataset.get()), where, "read the shape of dataset")};
  if (H5Sget_simple_extent_type(space.get()) == H5S_NULL) {
    throw KernelError(stage, fmt::format("output '{}' in '{}' holds no data", output, file_name));
  }
  const int rank = check_status(H5Sget_simple_extent_ndims(space.get()), where, "read the rank of dataset");
  std::vector<hsize_t> extent(static_cast<std::size_t>(rank));
  check_status(H5Sget_simple_extent_dims(space.get(), extent.data(), nullptr), where,
               "read the shape of dataset");
  d.shape.assign(extent.begin(), extent.end());
  d.dims = dim_names(dataset.get(), rank, where);
  d.units = detail::read_string_attribute(dataset.get(), "units", where);

  return std::make_shared<StoredArray>(group, file_name, stage, output, std::move(d), std::move(handle),
                                       std::move(dataset));
}

}  // namespace perennial::checkpoint
