#pragma once
// CheckpointFileWriter: the CheckpointWriter of one checkpoint epoch: a parallel-HDF5 file
// written under `<name>.partial` and renamed to its final name only once whole and durable.

#include <perennial/array_io.hpp>
#include <perennial/checkpoint/checkpoint_identity.hpp>
#include <perennial/output_metadata.hpp>

#include <boost/mpi/communicator.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace perennial::checkpoint {

/// The file reads like a stage output (ncdump/h5dump show every array with its dims and
/// units; dims are netCDF dimensions without coordinate values). Scalars are scalar float64
/// datasets; byte strings are 1-D uint8 datasets along a dimension `<name>_bytes`. All share
/// one namespace. Each entry has a checksum table under /perennial_checksums/<name> (one row
/// per writing rank's block: offset, count, XXH3_64 of its stored bytes), and the root
/// attribute `perennial_manifest`, written at commit(), lists the entries.
///
/// Every member but the accessors and the destructor is collective over `group`: all ranks
/// call it, in the same order, with the same names, shapes, dims and units. Misuse on any
/// rank makes every rank throw KernelError naming the stage, file and entry (the ranks agree
/// before touching the file, so none is left waiting).
class CheckpointFileWriter final : public CheckpointWriter {
 public:
  /// Creates (truncates) `final_path` + ".partial" with MPI-IO and `hints` (MPI_Info given to
  /// MPI_File_open) and records `identity` and `info` as root attributes. Every rank must pass
  /// the same path, identity, info and hints. Throws Hdf5Error when the file cannot be
  /// created. Collective.
  CheckpointFileWriter(const boost::mpi::communicator& group, std::filesystem::path final_path,
                       CheckpointIdentity identity, EpochInfo info, const MpiIoHints& hints = {});
  /// Without commit() (an exception path) releases the file without throwing and leaves it
  /// as `.partial`; nothing ever appears under the final name. Closing an MPI-IO file is
  /// collective, so destroy the writer on all ranks.
  ~CheckpointFileWriter() override;
  CheckpointFileWriter(const CheckpointFileWriter&) = delete;
  CheckpointFileWriter& operator=(const CheckpointFileWriter&) = delete;

  /// Stores `value` as scalar dataset `name`. The value of group rank 0 is kept (the others
  /// are not compared: a kernel normally holds the same value on every rank). Collective.
  void write_scalar(std::string_view name, double value) override;
  /// Stores group rank 0's `bytes` (e.g. an RNG state) as dataset `name`; the other ranks'
  /// bytes are ignored. Collective.
  void write_bytes(std::string_view name, std::span<const std::byte> bytes) override;

  /// Attaches the dimension scales, writes the manifest, syncs every rank's writes
  /// (MPI_File_sync), closes the file, fsyncs it on rank 0, renames `.partial` to the final
  /// name and fsyncs the directory. The checkpoint is durable once this returns on any rank.
  /// Throws KernelError on every rank when any step fails (the `.partial` file stays).
  /// Collective; a second call throws.
  void commit();

  const std::filesystem::path& final_path() const;
  const std::filesystem::path& partial_path() const;
  /// Wall time from construction to the end of commit(), or until now before commit(): the
  /// checkpoint cost the interval policy needs.
  double seconds_spent() const;
  /// Bytes of data in the file over all ranks (arrays, scalars and byte strings; not the
  /// metadata), the same on every rank.
  std::uint64_t bytes_written() const;
  /// What MPI-IO reported for the file when it was created (MPI_File_get_info): the hints it
  /// took, with its own defaults.
  const MpiIoHints& io_hints() const;

 protected:
  /// Writes this rank's block of array `name` (global shape slab.global_shape) in one
  /// collective MPI-IO transfer. Every element must be written by some rank (the ranks'
  /// element counts must add up to at least the array's size). Collective.
  void write_raw(std::string_view name, const Hyperslab& slab, DType type, const void* data,
                 std::size_t elements, const std::vector<std::string>& dims,
                 std::string_view units) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace perennial::checkpoint
