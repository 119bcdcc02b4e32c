#pragma once
// ArrayFileWriter: what OutputFile and CheckpointFileWriter share (private): a parallel-HDF5
// file of arrays with dimension scales, units, per-slab checksums and a manifest.
//
// It does the HDF5 work and keeps the books; deciding what is allowed (declared outputs,
// names, dtypes) and agreeing on it across ranks is the caller's job, done before each call.
// Every member but the accessors and the destructor is collective over the group.

#include "hdf5_support.hpp"
#include "integrity.hpp"

#include <boost/mpi/communicator.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace perennial::checkpoint::detail {

/// How an axis without coordinate values is stored. Outputs write 0..n-1, which tools plot
/// against; checkpoints hold state, not products, so their axes are netCDF's "dimension
/// without a variable" (a named extent, no values).
enum class BareDimension { index_values, dimension_only };

class ArrayFileWriter {
 public:
  /// A string attribute: name and value.
  using Attributes = std::vector<std::pair<std::string, std::string>>;

  /// Creates (truncates) `path` with MPI-IO over `group` and `hints` (MPI_Info for
  /// MPI_File_open; every rank passes the same), tags it with `format` and makes the checksum
  /// group. `stage` names the stage in KernelError messages. Collective.
  ArrayFileWriter(const boost::mpi::communicator& group, const std::filesystem::path& path,
                  std::string stage, std::string_view format, BareDimension bare, const MpiIoHints& hints = {});
  /// Releases every handle without throwing (the file stays unfinished: no manifest).
  /// Closing an MPI-IO file is collective, so this must run on all ranks.
  ~ArrayFileWriter();
  ArrayFileWriter(const ArrayFileWriter&) = delete;
  ArrayFileWriter& operator=(const ArrayFileWriter&) = delete;

  const std::string& file_name() const { return file_name_; }
  const std::string& stage() const { return stage_; }
  const boost::mpi::communicator& group() const { return group_; }
  bool finished() const { return finished_; }
  /// Bytes of data written so far, over all ranks: global elements times element size.
  std::uint64_t data_bytes() const { return data_bytes_; }
  /// What MPI-IO reported for the file once created (MPI_File_get_info): the hints it took,
  /// with its own defaults. This rank's view.
  const MpiIoHints& io_hints() const { return io_hints_; }

  /// Root attributes; every rank passes the same value. Collective.
  void root_string(const std::string& name, std::string_view value);
  void root_uint64(const std::string& name, std::uint64_t value);
  void root_double(const std::string& name, double value);
  void root_int64(const std::string& name, std::int64_t value);

  // Local checks for callers (no MPI, no HDF5); each returns what is wrong or "".
  bool has_entry(std::string_view name) const;
  bool is_dimension(std::string_view name) const;
  std::optional<std::uint64_t> extent(std::string_view dim) const;
  /// The name is usable and neither an entry nor a dimension yet.
  std::string name_problem(std::string_view name) const;
  /// `dims` fit `shape`, are usable names, and agree with extents seen earlier.
  std::string dims_problem(std::string_view entry, const std::vector<std::string>& dims,
                           const std::vector<std::uint64_t>& shape) const;

  /// Collective: the dataset gets rank 0's global shape, dims and units, so every rank must
  /// pass the same. Returns `problem` when not empty, else what differs from rank 0 on this
  /// rank (`what` starts the message), else "".
  std::string differs_from_rank0(std::string problem, const std::string& what,
                                 const std::vector<std::uint64_t>& shape,
                                 const std::vector<std::string>& dims, std::string_view units) const;

  /// Creates dataset `name` of slab.global_shape; each rank writes its block in one collective
  /// transfer (a scalar: rank 0 alone) and the table of block checksums goes to rank 0, which
  /// stores it; `attributes` follow `units` on it. Collective; the caller has agreed on everything.
  void write_array(const std::string& name, EntryKind kind, const Hyperslab& slab, DType type,
                   const void* data, const std::vector<std::string>& dims, std::string_view units,
                   const Attributes& attributes = {});
  /// A 1-D uint8 dataset of rank 0's bytes along dimension `dim`. Collective.
  void write_bytes(const std::string& name, std::span<const std::byte> bytes, const std::string& dim);
  /// Values of a dimension's scale, written at finish(). Collective only by contract (no I/O).
  void set_coordinate(const std::string& dim, std::vector<double> values, std::string units,
                      Attributes attributes = {});

  /// Writes the dimension scales and attaches them, then the manifest; with `durable`, has
  /// every rank sync its writes (MPI_File_sync through H5Fflush); closes the file. Collective.
  void finish(bool durable);

 private:
  struct Written {
    std::string name;
    std::vector<std::string> dims;
  };
  struct Coordinate {
    std::vector<double> values;
    std::string units;
    Attributes attributes;  ///< after units (e.g. calendar)
  };
  Where where(std::string object) const { return {file_name_, std::move(object)}; }
  void use_dim(const std::string& dim, std::uint64_t extent);
  /// Collective: gathers each rank's block checksum (if it wrote one) to rank 0 and stores
  /// the table as kChecksumGroup/<name>.
  void write_checksums(const std::string& name, std::size_t rank, const std::vector<std::uint64_t>& row);
  void write_scale(const std::string& dim);

  boost::mpi::communicator group_;
  std::string file_name_;
  std::string stage_;
  BareDimension bare_;
  bool finished_ = false;
  std::uint64_t data_bytes_ = 0;
  MpiIoHints io_hints_;
  std::vector<ManifestEntry> manifest_;
  std::vector<Written> written_;         ///< entries with axes, in write order (same on all ranks)
  std::vector<std::string> dim_order_;   ///< first use; the order ncdump lists dims in
  std::map<std::string, std::uint64_t, std::less<>> extents_;
  std::map<std::string, Coordinate, std::less<>> coordinates_;
  FileHandle file_;
  // After file_, so these close first: HDF5's MPI-IO driver closes a file only once every
  // object in it is closed. Kept open until finish() attaches the dimension scales.
  GroupHandle checksums_;
  std::map<std::string, DatasetHandle, std::less<>> open_;
};

}  // namespace perennial::checkpoint::detail
