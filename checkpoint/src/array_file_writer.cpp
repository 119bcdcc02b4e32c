#include "array_file_writer.hpp"

#include "direct_write.hpp"

#include <boost/mpi/collectives.hpp>
#include <perennial/serialization.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <hdf5_hl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <numeric>

namespace perennial::checkpoint::detail {

namespace {

/// What every rank must pass identically for one dataset (rank 0's copy is used).
struct DatasetHeader {
  std::vector<std::uint64_t> shape;
  std::vector<std::string> dims;
  std::string units;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & shape & dims & units;
  }
};

std::uint64_t product(const std::vector<std::uint64_t>& values) {
  return std::accumulate(values.begin(), values.end(), std::uint64_t{1}, std::multiplies<>());
}

/// netCDF-4 recognises a dimension scale whose NAME starts with this text as a dimension
/// that has no coordinate variable; the extent follows, printed "%10d" as netCDF does.
constexpr std::string_view kDimensionOnly = "This is a netCDF dimension but not a netCDF variable.";

/// Whether `slab` is one contiguous run of its array in the file (C order): past the first
/// dimension that is not whole (scanning from the last), every dimension holds one index.
bool contiguous_in_file(const Hyperslab& slab) {
  if (slab.global_shape.empty() || slab.element_count() == 0) return true;
  std::size_t d = slab.global_shape.size();
  while (d > 0 && slab.offset[d - 1] == 0 && slab.count[d - 1] == slab.global_shape[d - 1]) --d;
  // Dimensions d.. are whole; dimension d - 1 may be a range; all before it must be single.
  for (std::size_t e = 0; e + 1 < d; ++e) {
    if (slab.count[e] != 1) return false;
  }
  return true;
}

/// How the ranks' blocks travel to the file. `individual`: an independent H5Dwrite, each
/// rank writing its block itself with no collective inside (the dataset's space is allocated
/// when it is created, collectively, so raw data may be written independently); a collective
/// H5Dwrite with individual transfers still ended in a collective that busy-polled while the
/// slower rank wrote, which in an asynchronous epoch took the core from the stage. For blocks
/// that are each one contiguous run of the file, two-phase collective buffering only adds a
/// copy through aggregator ranks (1 GiB of checkpoint on 4 ranks on one node: 510 MB/s
/// without, 170 MB/s with, medians of paired runs of bench_checkpoint_bandwidth).
/// PERENNIAL_IO_COLLECTIVE_DATA=1 in the environment keeps two-phase I/O, for comparison.
enum class DataPath { collective, individual };

/// Writes `data` (or nothing, on a rank that does not `take_part`) in one collective transfer.
void write_selection(hid_t dataset, hid_t memory_type, const std::vector<std::uint64_t>& shape,
                     const Hyperslab& slab, bool take_part, const void* data, const Where& where,
                     DataPath path = DataPath::collective) {
  // A dataset without elements has no storage: parallel HDF5 fails to write "nothing" there.
  // Every rank knows the global shape, so all of them skip together.
  if (!shape.empty() && product(shape) == 0) return;
  Selection selection = select_block(shape, slab, take_part, where);
  PropertyListHandle dxpl = collective_transfer(where);
  if (path == DataPath::individual) {
    check_status(H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_INDEPENDENT), where, "ask for independent data transfers in");
  }
  const double nothing = 0.0;  // HDF5 rejects a null buffer; ranks selecting none pass this
  check_status(H5Dwrite(dataset, memory_type, selection.memory.get(), selection.file.get(), dxpl.get(),
                        take_part && data != nullptr ? data : &nothing),
               where, "write dataset");
  note_io_mode(dxpl.get(), where);
}

/// The index, in C order, of the first element of `slab` in its array.
std::uint64_t first_element(const Hyperslab& slab) {
  std::uint64_t index = 0;
  for (std::size_t d = 0; d < slab.global_shape.size(); ++d) index = index * slab.global_shape[d] + slab.offset[d];
  return index;
}

/// Where in the file a rank's block went by direct I/O: byte offset and length.
struct DirectBlock {
  std::uint64_t offset = 0, bytes = 0;
};

/// Writes this rank's block of a contiguous dataset with direct I/O (direct_write.hpp) when that
/// suits the block and the file: true if it did. `tried` is set before the first byte is
/// written, so that a failure here or on another rank can give the space back. In memory the
/// block is already as stored (little-endian, C order), which only a little-endian host
/// guarantees.
bool write_directly(hid_t dataset, const std::string& file, const Hyperslab& slab, DType type, const void* data,
                    const Where& where, std::optional<DirectBlock>& tried) {
  if constexpr (std::endian::native != std::endian::little) return false;
  const std::uint64_t bytes = slab.element_count() * dtype_size(type);
  if (data == nullptr || !direct_write_suits(file, bytes)) return false;
  const haddr_t start = H5Dget_offset(dataset);
  if (start == HADDR_UNDEF) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  tried = DirectBlock{start + first_element(slab) * dtype_size(type), bytes};
  return write_block_direct(file, tried->offset, data, bytes, where);
}

}  // namespace

ArrayFileWriter::ArrayFileWriter(const boost::mpi::communicator& group, const std::filesystem::path& path,
                                 std::string stage, std::string_view format, BareDimension bare,
                                 const MpiIoHints& hints)
    : group_(group), file_name_(path.string()), stage_(std::move(stage)), bare_(bare) {
  ensure_hdf5_quiet();
  const Where at = where("/");
  PropertyListHandle fcpl{check_id(H5Pcreate(H5P_FILE_CREATE), at, "create a creation list for")};
  // netCDF-4 lists variables and attributes in creation order when it is tracked, so ncdump
  // shows entries as written rather than sorted by name.
  const unsigned order = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
  check_status(H5Pset_link_creation_order(fcpl.get(), order), at, "track link order in");
  check_status(H5Pset_attr_creation_order(fcpl.get(), order), at, "track attribute order in");
  PropertyListHandle fapl = mpio_file_access(group_, at, hints);
  file_ = FileHandle{check_id(H5Fcreate(file_name_.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), at,
                              "create file")};
  io_hints_ = hints_in_effect(file_.get(), at);
  root_string(kFormatAttribute, format);

  const Where tables = where(kChecksumGroup);
  PropertyListHandle gcpl{check_id(H5Pcreate(H5P_GROUP_CREATE), tables, "create a creation list for")};
  check_status(H5Pset_link_creation_order(gcpl.get(), order), tables, "track link order in");
  checksums_ = GroupHandle{check_id(H5Gcreate2(file_.get(), kChecksumGroup, H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                                    tables, "create group")};
  // Says in the file itself how to read the tables, for whoever opens it with h5dump.
  write_string_attribute(checksums_.get(), "layout",
                         "one row per block a rank wrote: offset[0..rank), count[0..rank), then "
                         "XXH3_64bits of the block's elements as stored (little-endian, C order)",
                         tables);
}

ArrayFileWriter::~ArrayFileWriter() {
  if (!finished_ && file_.valid()) {
    spdlog::debug("'{}' released unfinished: no manifest, so no verifier will accept it", file_name_);
  }
}

void ArrayFileWriter::root_string(const std::string& name, std::string_view value) {
  write_string_attribute(file_.get(), name.c_str(), value, where("/"));
}

void ArrayFileWriter::root_uint64(const std::string& name, std::uint64_t value) {
  write_uint64_attribute(file_.get(), name.c_str(), value, where("/"));
}

void ArrayFileWriter::root_double(const std::string& name, double value) {
  write_double_attribute(file_.get(), name.c_str(), value, where("/"));
}

void ArrayFileWriter::root_int64(const std::string& name, std::int64_t value) {
  write_int64_attribute(file_.get(), name.c_str(), value, where("/"));
}

bool ArrayFileWriter::has_entry(std::string_view name) const {
  return std::any_of(manifest_.begin(), manifest_.end(), [&](const ManifestEntry& e) { return e.name == name; });
}

bool ArrayFileWriter::is_dimension(std::string_view name) const { return extents_.find(name) != extents_.end(); }

std::optional<std::uint64_t> ArrayFileWriter::extent(std::string_view dim) const {
  auto it = extents_.find(dim);
  if (it == extents_.end()) return std::nullopt;
  return it->second;
}

std::string ArrayFileWriter::name_problem(std::string_view name) const {
  if (finished_) return "the file is already closed";
  if (auto bad = entry_name_problem(name); !bad.empty()) return bad;
  if (has_entry(name)) return "already written";
  if (is_dimension(name)) return "the name of a dimension of an earlier entry";
  return {};
}

std::string ArrayFileWriter::dims_problem(std::string_view entry, const std::vector<std::string>& dims,
                                          const std::vector<std::uint64_t>& shape) const {
  if (dims.size() != shape.size()) {
    return fmt::format("{} dim names [{}] for a block of rank {}", dims.size(), fmt::join(dims, ", "),
                       shape.size());
  }
  for (std::size_t d = 0; d < dims.size(); ++d) {
    if (auto bad = entry_name_problem(dims[d]); !bad.empty()) return fmt::format("dim {}: {}", d, bad);
    if (dims[d] == entry) return fmt::format("dim '{}' has the entry's own name", dims[d]);
    if (has_entry(dims[d])) return fmt::format("dim '{}' has the name of an earlier entry", dims[d]);
    auto it = extents_.find(dims[d]);
    if (it != extents_.end() && it->second != shape[d]) {
      return fmt::format("dimension '{}' has extent {} here but {} in an earlier entry or coordinate", dims[d],
                         shape[d], it->second);
    }
  }
  return {};
}

std::string ArrayFileWriter::differs_from_rank0(std::string problem, const std::string& what,
                                                const std::vector<std::uint64_t>& shape,
                                                const std::vector<std::string>& dims,
                                                std::string_view units) const {
  DatasetHeader first{shape, dims, std::string(units)};
  boost::mpi::broadcast(group_, first, 0);
  if (!problem.empty()) return problem;
  if (first.shape != shape) {
    return fmt::format("{}: global shape [{}] differs from rank 0's [{}]", what, fmt::join(shape, ", "),
                       fmt::join(first.shape, ", "));
  }
  if (first.dims != dims) {
    return fmt::format("{}: dims [{}] differ from rank 0's [{}]", what, fmt::join(dims, ", "),
                       fmt::join(first.dims, ", "));
  }
  if (first.units != units) {
    return fmt::format("{}: units '{}' differ from rank 0's '{}'", what, units, first.units);
  }
  return {};
}

void ArrayFileWriter::use_dim(const std::string& dim, std::uint64_t extent) {
  if (extents_.emplace(dim, extent).second) dim_order_.push_back(dim);
}

void ArrayFileWriter::write_array(const std::string& name, EntryKind kind, const Hyperslab& slab, DType type,
                                  const void* data, const std::vector<std::string>& dims,
                                  std::string_view units, const Attributes& attributes) {
  const Where at = where(name);
  const std::vector<std::uint64_t>& shape = slab.global_shape;
  DataspaceHandle space = make_space(shape, at);
  PropertyListHandle dcpl = dataset_creation(at);
  DatasetHandle dataset{check_id(H5Dcreate2(file_.get(), name.c_str(), file_type_of(type), space.get(),
                                            H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                                 at, "create dataset")};
  // A scalar is written by rank 0 alone; an array by every rank that holds elements.
  const bool take_part = shape.empty() ? group_.rank() == 0 : slab.element_count() > 0;
  // Every rank must choose the same path (HDF5 would otherwise wait in a collective call on
  // some ranks only): one small agreement per array.
  static const bool keep_collective = std::getenv("PERENNIAL_IO_COLLECTIVE_DATA") != nullptr;
  const bool all_contiguous =
      !shape.empty() && all_reduce_u64(group_, contiguous_in_file(slab) && !keep_collective ? 1 : 0, MPI_MIN) == 1;
  // On the individual path no rank waits for another inside H5Dwrite, so a rank may write
  // its block beside HDF5 instead.
  std::string write_problem;
  std::optional<DirectBlock> direct;
  try {
    const bool written_directly =
        all_contiguous && take_part && write_directly(dataset.get(), file_name_, slab, type, data, at, direct);
    if (!written_directly) {
      write_selection(dataset.get(), memory_type_of(type), shape, slab, take_part, data, at,
                      all_contiguous ? DataPath::individual : DataPath::collective);
    }
  } catch (const std::exception& e) {
    // A collective write fails on every rank alike; an individual one may fail on some ranks
    // only (a disk that fills while the ranks reserve their blocks), and those must not leave
    // the others waiting in the next collective.
    if (!all_contiguous) throw;
    write_problem = e.what();
  }
  // The ranks end their own writes at different times; the agreement (polite, like a barrier)
  // waits for the last, and a failure on any rank is thrown on all, with its text.
  if (all_contiguous) {
    try {
      agree_or_throw(group_, write_problem, stage_);
    } catch (...) {
      // The file is lost; what this rank reserved would leave no room for the metadata HDF5
      // writes when it closes the file, and a close that fails on some ranks only leaves the
      // others inside MPI_File_close.
      if (direct) release_block_direct(file_name_, direct->offset, direct->bytes);
      throw;
    }
  }
  if (!units.empty()) write_string_attribute(dataset.get(), "units", units, at);
  for (const auto& [key, value] : attributes) write_string_attribute(dataset.get(), key.c_str(), value, at);

  std::vector<std::uint64_t> row;
  if (take_part) {
    row.insert(row.end(), slab.offset.begin(), slab.offset.end());
    row.insert(row.end(), slab.count.begin(), slab.count.end());
    row.push_back(hash_as_stored(data, slab.element_count(), dtype_size(type)));
  }
  write_checksums(name, shape.size(), row);

  for (std::size_t d = 0; d < dims.size(); ++d) use_dim(dims[d], shape[d]);
  manifest_.push_back({kind, name});
  data_bytes_ += product(shape) * dtype_size(type);
  if (!dims.empty()) {
    written_.push_back({name, dims});
    open_.emplace(name, std::move(dataset));
  }
}

void ArrayFileWriter::write_bytes(const std::string& name, std::span<const std::byte> bytes,
                                  const std::string& dim) {
  const Where at = where(name);
  std::uint64_t n = bytes.size();
  boost::mpi::broadcast(group_, n, 0);
  DataspaceHandle space = make_space({n}, at);
  PropertyListHandle dcpl = dataset_creation(at);
  DatasetHandle dataset{check_id(H5Dcreate2(file_.get(), name.c_str(), H5T_STD_U8LE, space.get(), H5P_DEFAULT,
                                            dcpl.get(), H5P_DEFAULT),
                                 at, "create dataset")};
  const Hyperslab whole = Hyperslab::whole({n});
  const bool take_part = group_.rank() == 0 && n > 0;
  write_selection(dataset.get(), H5T_NATIVE_UINT8, {n}, whole, take_part, bytes.data(), at);

  std::vector<std::uint64_t> row;
  if (take_part) row = {0, n, hash_as_stored(bytes.data(), bytes.size(), 1)};
  write_checksums(name, 1, row);

  use_dim(dim, n);
  manifest_.push_back({EntryKind::bytes, name});
  data_bytes_ += n;
  written_.push_back({name, {dim}});
  open_.emplace(name, std::move(dataset));
}

void ArrayFileWriter::write_checksums(const std::string& name, std::size_t rank,
                                      const std::vector<std::uint64_t>& row) {
  const Where at{file_name_, fmt::format("{}/{}", kChecksumGroup, name)};
  const std::size_t columns = checksum_columns(rank);
  // Fixed-size records (a leading "present" flag) so that one plain MPI_Gather carries them.
  std::vector<std::uint64_t> record(columns + 1, 0);
  if (!row.empty()) {
    record[0] = 1;
    std::copy(row.begin(), row.end(), record.begin() + 1);
  }
  std::vector<std::uint64_t> records;
  boost::mpi::gather(group_, record.data(), static_cast<int>(record.size()), records, 0);
  std::vector<std::uint64_t> table;
  for (std::size_t i = 0; i < records.size(); i += columns + 1) {
    if (records[i] == 1) table.insert(table.end(), records.begin() + static_cast<std::ptrdiff_t>(i + 1),
                                      records.begin() + static_cast<std::ptrdiff_t>(i + 1 + columns));
  }
  std::uint64_t rows = table.size() / columns;
  boost::mpi::broadcast(group_, rows, 0);

  const std::vector<std::uint64_t> shape{rows, columns};
  DataspaceHandle space = make_space(shape, at);
  PropertyListHandle dcpl = dataset_creation(at);
  DatasetHandle dataset{check_id(H5Dcreate2(checksums_.get(), name.c_str(), H5T_STD_U64LE, space.get(),
                                            H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                                 at, "create checksum table")};
  write_selection(dataset.get(), H5T_NATIVE_UINT64, shape, Hyperslab::whole(shape),
                  group_.rank() == 0 && rows > 0, table.data(), at);
}

void ArrayFileWriter::set_coordinate(const std::string& dim, std::vector<double> values, std::string units,
                                     Attributes attributes) {
  use_dim(dim, values.size());
  coordinates_[dim] = Coordinate{std::move(values), std::move(units), std::move(attributes)};
}

void ArrayFileWriter::write_scale(const std::string& dim) {
  const Where at = where(dim);
  const std::uint64_t n = extents_.at(dim);
  auto coordinate = coordinates_.find(dim);
  const bool with_values = coordinate != coordinates_.end() || bare_ == BareDimension::index_values;
  DataspaceHandle space = make_space({n}, at);
  PropertyListHandle dcpl = dataset_creation(at);
  // A dimension-only scale is never written: one byte per element is the smallest space
  // HDF5 will reserve for it (parallel HDF5 allocates datasets when creating them).
  DatasetHandle scale{check_id(H5Dcreate2(file_.get(), dim.c_str(), with_values ? H5T_IEEE_F64LE : H5T_STD_U8LE,
                                          space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                               at, "create dimension dataset")};
  if (with_values) {
    std::vector<double> values;
    if (coordinate != coordinates_.end()) {
      values = coordinate->second.values;
    } else {
      values.resize(n);
      std::iota(values.begin(), values.end(), 0.0);
    }
    // Every rank holds the same values; rank 0 writes them.
    const Hyperslab whole = Hyperslab::whole({n});
    const bool take_part = group_.rank() == 0 && n > 0;
    write_selection(scale.get(), H5T_NATIVE_DOUBLE, {n}, whole, take_part, values.data(), at);
    if (coordinate != coordinates_.end() && !coordinate->second.units.empty()) {
      write_string_attribute(scale.get(), "units", coordinate->second.units, at);
    }
    if (coordinate != coordinates_.end()) {
      for (const auto& [key, value] : coordinate->second.attributes) {
        write_string_attribute(scale.get(), key.c_str(), value, at);
      }
    }
    std::vector<std::uint64_t> row;
    if (take_part) row = {0, n, hash_as_stored(values.data(), values.size(), sizeof(double))};
    write_checksums(dim, 1, row);
    manifest_.push_back({EntryKind::coordinate, dim});
    check_status(H5DSset_scale(scale.get(), dim.c_str()), at, "make a dimension scale of");
  } else {
    const std::string name = fmt::format("{}{:10}", kDimensionOnly, n);
    check_status(H5DSset_scale(scale.get(), name.c_str()), at, "make a dimension scale of");
  }
  // Write order, not map order: the same sequence of metadata calls on every rank.
  for (const auto& entry : written_) {
    for (std::size_t d = 0; d < entry.dims.size(); ++d) {
      if (entry.dims[d] != dim) continue;
      check_status(H5DSattach_scale(open_.at(entry.name).get(), scale.get(), static_cast<unsigned>(d)),
                   where(entry.name), fmt::format("attach dimension scale '{}' to", dim));
    }
  }
}

void ArrayFileWriter::finish(bool durable) {
  if (finished_) return;
  // Marked first: a failure below leaves an unfinished file that a retry must not extend.
  finished_ = true;
  const Where at = where("/");
  for (const auto& dim : dim_order_) write_scale(dim);
  // Last of all the data: a file with a manifest was written to the end.
  root_string(kManifestAttribute, format_manifest(manifest_));
  open_.clear();
  checksums_.reset();
  // The members reach the flush and the close after uneven work (rank 0 writes the metadata;
  // each rank's sync takes as long as its own data): they wait for each other politely
  // first, so that HDF5's collectives inside do not busy-poll the difference away (see
  // polite_barrier).
  polite_barrier(group_);
  if (durable) {
    // H5Fflush on an MPI-IO file calls MPI_File_sync on every rank: each rank's own writes
    // reach the disk, which a single rank's fsync cannot promise on a parallel file system.
    check_status(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), at, "flush file");
    polite_barrier(group_);
  }
  check_status(H5Fclose(file_.release()), at, "close file");
}

}  // namespace perennial::checkpoint::detail
