#include <perennial/checkpoint/output_file.hpp>

#include "hdf5_support.hpp"

#include <perennial/errors.hpp>

#include <boost/mpi/collectives.hpp>
#include <boost/serialization/vector.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <hdf5_hl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <numeric>
#include <set>

namespace perennial::checkpoint {

using detail::check_id;
using detail::check_status;
using detail::Where;

struct OutputFile::State {
  struct Coordinate {
    std::vector<double> values;
    std::string units;
  };

  boost::mpi::communicator group;
  std::filesystem::path path;
  std::string file_name;
  std::string stage;
  std::vector<OutputSpec> declared;
  bool closed = false;
  std::vector<std::string> dim_order;  ///< first use; the order ncdump lists the dims in
  std::map<std::string, std::uint64_t, std::less<>> extents;
  std::map<std::string, Coordinate, std::less<>> coordinates;
  FileHandle file;
  // Declared after `file` so that they close first: HDF5's MPI-IO driver refuses to close a
  // file with objects still open. Kept open until close() attaches the dimension scales.
  std::map<std::string, DatasetHandle, std::less<>> written;

  Where where(std::string object) const { return {file_name, std::move(object)}; }

  const OutputSpec* find(std::string_view name) const {
    auto it = std::find_if(declared.begin(), declared.end(),
                           [&](const OutputSpec& s) { return s.name == name; });
    return it == declared.end() ? nullptr : &*it;
  }
  bool dim_declared(std::string_view dim) const {
    return std::any_of(declared.begin(), declared.end(), [&](const OutputSpec& s) {
      return std::find(s.dims.begin(), s.dims.end(), dim) != s.dims.end();
    });
  }
  void use_dim(const std::string& dim, std::uint64_t extent) {
    if (extents.emplace(dim, extent).second) dim_order.push_back(dim);
  }
  std::string problem_with(std::string_view name, const Hyperslab& slab, DType type,
                           std::size_t elements) const;
  void write_scale(const std::string& dim);
};

namespace {
std::string declared_names(const std::vector<OutputSpec>& declared) {
  std::vector<std::string> names;
  for (const auto& s : declared) names.push_back(s.name);
  return names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "));
}
}  // namespace

std::string OutputFile::State::problem_with(std::string_view name, const Hyperslab& slab, DType type,
                                            std::size_t elements) const {
  const auto say = [&](const std::string& what) {
    return fmt::format("output '{}' in '{}': {}", name, file_name, what);
  };
  if (closed) return say("the file is already closed");
  const OutputSpec* spec = find(name);
  if (spec == nullptr) return say(fmt::format("not declared (declared: {})", declared_names(declared)));
  if (written.find(name) != written.end()) return say("already written");
  if (type != spec->dtype) {
    return say(fmt::format("declared {} but written as {}", dtype_name(spec->dtype), dtype_name(type)));
  }
  if (slab.global_shape.size() != spec->dims.size()) {
    return say(fmt::format("declared with dims [{}] but the block has rank {}",
                           fmt::join(spec->dims, ", "), slab.global_shape.size()));
  }
  if (auto bad = slab.check(); !bad.empty()) return say(bad);
  if (elements != slab.element_count()) {
    return say(fmt::format("the block has {} elements but the data has {}", slab.element_count(), elements));
  }
  for (std::size_t d = 0; d < spec->dims.size(); ++d) {
    auto it = extents.find(spec->dims[d]);
    if (it != extents.end() && it->second != slab.global_shape[d]) {
      return say(fmt::format("dimension '{}' has extent {} here but {} in an earlier output or coordinate",
                             spec->dims[d], slab.global_shape[d], it->second));
    }
  }
  return {};
}

OutputFile::OutputFile(const boost::mpi::communicator& group, std::filesystem::path path,
                       std::vector<OutputSpec> declared,
                       std::map<std::string, std::string> file_attributes)
    : state_(std::make_unique<State>()) {
  ensure_hdf5_quiet();
  State& s = *state_;
  s.group = group;
  s.path = std::move(path);
  s.file_name = s.path.string();
  auto stage = file_attributes.find("stage");
  s.stage = stage != file_attributes.end() ? stage->second : s.file_name;
  s.declared = std::move(declared);

  // Outputs and dims share the root group's namespace (a dim becomes its coordinate dataset).
  std::string problem;
  std::set<std::string> names;
  for (const auto& spec : s.declared) {
    if (!names.insert(spec.name).second) problem = fmt::format("output '{}' is declared twice", spec.name);
  }
  for (const auto& spec : s.declared) {
    if (problem.empty() && s.dim_declared(spec.name)) {
      problem = fmt::format("output '{}' has the name of a dimension; give dims their values "
                            "with write_coordinate", spec.name);
    }
  }
  if (!problem.empty()) problem = fmt::format("file '{}': {}", s.file_name, problem);
  detail::agree_or_throw(s.group, problem, s.stage);

  const Where where = s.where("/");
  PropertyListHandle fcpl{check_id(H5Pcreate(H5P_FILE_CREATE), where, "create a creation list for")};
  // netCDF-4 lists variables and attributes in creation order when it is tracked, so ncdump
  // shows the outputs as declared rather than sorted by name.
  const unsigned order = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
  check_status(H5Pset_link_creation_order(fcpl.get(), order), where, "track link order in");
  check_status(H5Pset_attr_creation_order(fcpl.get(), order), where, "track attribute order in");
  PropertyListHandle fapl = detail::mpio_file_access(s.group, where);
  s.file = FileHandle{check_id(H5Fcreate(s.file_name.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()),
                               where, "create file")};
  for (const auto& [key, value] : file_attributes) {
    detail::write_string_attribute(s.file.get(), key.c_str(), value, where);
  }
}

OutputFile::~OutputFile() {
  if (state_ && !state_->closed) {
    spdlog::debug("output file '{}' released without close(); it is incomplete", state_->file_name);
  }
}

const std::filesystem::path& OutputFile::path() const { return state_->path; }

void OutputFile::write_raw(std::string_view name, const Hyperslab& slab, DType type, const void* data,
                           std::size_t elements) {
  ensure_hdf5_quiet();
  State& s = *state_;
  std::string problem = s.problem_with(name, slab, type, elements);
  // The dataset is created collectively with one shape: every rank must agree on it.
  std::vector<std::uint64_t> shape = slab.global_shape;
  boost::mpi::broadcast(s.group, shape, 0);
  if (problem.empty() && shape != slab.global_shape) {
    problem = fmt::format("output '{}' in '{}': global shape [{}] differs from rank 0's [{}]", name,
                          s.file_name, fmt::join(slab.global_shape, ", "), fmt::join(shape, ", "));
  }
  detail::agree_or_throw(s.group, problem, s.stage);

  const OutputSpec& spec = *s.find(name);
  const Where where = s.where(spec.name);
  DataspaceHandle space = detail::make_space(shape, where);
  PropertyListHandle dcpl = detail::dataset_creation(where);
  DatasetHandle dataset{check_id(H5Dcreate2(s.file.get(), spec.name.c_str(), detail::file_type_of(type),
                                            space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                                 where, "create dataset")};
  // A scalar is written by rank 0 alone; an array by every rank that holds elements.
  const bool take_part = shape.empty() ? s.group.rank() == 0 : slab.element_count() > 0;
  detail::Selection selection = detail::select_block(shape, slab, take_part, where);
  PropertyListHandle dxpl = detail::collective_transfer(where);
  const double nothing = 0.0;  // HDF5 rejects a null buffer; ranks selecting none pass this
  check_status(H5Dwrite(dataset.get(), detail::memory_type_of(type), selection.memory.get(),
                        selection.file.get(), dxpl.get(), data != nullptr ? data : &nothing),
               where, "write dataset");
  detail::note_io_mode(dxpl.get(), where);
  if (!spec.units.empty()) detail::write_string_attribute(dataset.get(), "units", spec.units, where);

  for (std::size_t d = 0; d < spec.dims.size(); ++d) s.use_dim(spec.dims[d], shape[d]);
  s.written.emplace(spec.name, std::move(dataset));
}

void OutputFile::write_coordinate(std::string_view dim, std::span<const double> values,
                                  std::string_view units) {
  ensure_hdf5_quiet();
  State& s = *state_;
  const auto say = [&](const std::string& what) {
    return fmt::format("coordinate '{}' in '{}': {}", dim, s.file_name, what);
  };
  std::string problem;
  auto extent = s.extents.find(dim);
  if (s.closed) {
    problem = say("the file is already closed");
  } else if (!s.dim_declared(dim)) {
    problem = say("not a dimension of any declared output");
  } else if (s.coordinates.find(dim) != s.coordinates.end()) {
    problem = say("already written");
  } else if (extent != s.extents.end() && extent->second != values.size()) {
    problem = say(fmt::format("{} values but the dimension has extent {}", values.size(), extent->second));
  }
  detail::agree_or_throw(s.group, problem, s.stage);
  const std::string name(dim);
  s.coordinates[name] = State::Coordinate{{values.begin(), values.end()}, std::string(units)};
  s.use_dim(name, values.size());
}

void OutputFile::State::write_scale(const std::string& dim) {
  const Where where{file_name, dim};
  const std::uint64_t n = extents.at(dim);
  auto coordinate = coordinates.find(dim);
  std::vector<double> values;
  if (coordinate != coordinates.end()) {
    values = coordinate->second.values;
  } else {
    values.resize(n);
    std::iota(values.begin(), values.end(), 0.0);
  }
  DataspaceHandle space = detail::make_space({n}, where);
  PropertyListHandle dcpl = detail::dataset_creation(where);
  DatasetHandle scale{check_id(H5Dcreate2(file.get(), dim.c_str(), H5T_IEEE_F64LE, space.get(),
                                          H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                               where, "create dimension dataset")};
  // Every rank holds the same values; rank 0 writes them.
  const Hyperslab whole = Hyperslab::whole({n});
  detail::Selection selection = detail::select_block({n}, whole, group.rank() == 0 && n > 0, where);
  PropertyListHandle dxpl = detail::collective_transfer(where);
  const double nothing = 0.0;
  check_status(H5Dwrite(scale.get(), H5T_NATIVE_DOUBLE, selection.memory.get(), selection.file.get(),
                        dxpl.get(), values.empty() ? &nothing : values.data()),
               where, "write dimension dataset");
  detail::note_io_mode(dxpl.get(), where);
  if (coordinate != coordinates.end() && !coordinate->second.units.empty()) {
    detail::write_string_attribute(scale.get(), "units", coordinate->second.units, where);
  }
  check_status(H5DSset_scale(scale.get(), dim.c_str()), where, "make a dimension scale of");
  // Declared order, not map order: the same sequence of metadata calls on every rank.
  for (const auto& spec : declared) {
    auto out = written.find(spec.name);
    if (out == written.end()) continue;
    for (std::size_t d = 0; d < spec.dims.size(); ++d) {
      if (spec.dims[d] != dim) continue;
      check_status(H5DSattach_scale(out->second.get(), scale.get(), static_cast<unsigned>(d)),
                   Where{file_name, spec.name}, fmt::format("attach dimension scale '{}' to", dim));
    }
  }
}

void OutputFile::close() {
  ensure_hdf5_quiet();
  State& s = *state_;
  if (s.closed) return;
  s.closed = true;
  for (const auto& dim : s.dim_order) s.write_scale(dim);

  std::vector<std::string> missing;
  for (const auto& spec : s.declared) {
    if (s.written.find(spec.name) == s.written.end()) missing.push_back(spec.name);
  }
  s.written.clear();
  check_status(H5Fclose(s.file.release()), s.where("/"), "close file");
  if (!missing.empty()) {
    throw KernelError(s.stage, fmt::format("file '{}' was closed without declared output(s) {}",
                                           s.file_name, fmt::join(missing, ", ")));
  }
}

}  // namespace perennial::checkpoint
