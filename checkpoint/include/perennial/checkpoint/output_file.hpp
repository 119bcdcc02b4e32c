#pragma once
// OutputFile: the OutputSink of one stage: its declared outputs in one parallel-HDF5 file
// that netCDF-4 tools (ncdump, xarray) read, dims as HDF5 dimension scales.

#include <perennial/array_io.hpp>
#include <perennial/campaign.hpp>
#include <perennial/output_metadata.hpp>

#include <boost/mpi/communicator.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace perennial::checkpoint {

/// Each output and coordinate also gets a per-block checksum table and, at close(), a
/// manifest (the layout CheckpointFileWriter documents), so that a downstream stage can call
/// verify_output() before reading.
///
/// Every member but path() and the destructor is collective over `group`: all ranks call it,
/// in the same order, with the same names and global shapes. Misuse on any rank makes every
/// rank throw KernelError (the ranks agree before touching the file, so none is left waiting).
class OutputFile final : public OutputSink {
 public:
  /// Creates (truncates) `path` with MPI-IO and `hints`, and writes each `file_attributes`
  /// entry (stage, kernel, ...) as a string attribute of the root group, then `metadata`'s
  /// CF attributes (Conventions, title, ...), its scenario values (numbers as int64 or
  /// double, the rest as text) and, when it has time units and no declared output uses a
  /// `time` dim, a length-1 coordinate `time` (units, calendar). Outputs get their
  /// long_name and standard_name. Every rank passes the same arguments. Collective.
  OutputFile(const boost::mpi::communicator& group, std::filesystem::path path,
             std::vector<OutputSpec> declared, std::map<std::string, std::string> file_attributes,
             const OutputMetadata& metadata = {}, const MpiIoHints& hints = {});
  /// Without close() (an exception path) releases the file without throwing. The file close
  /// is collective in MPI-IO, so this must happen on all ranks.
  ~OutputFile() override;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  /// Coordinate values of `dim` (a dim of some declared output); rank 0's values are written
  /// at close(). Collective.
  void write_coordinate(std::string_view dim, std::span<const double> values,
                        std::string_view units) override;
  /// Writes one dimension scale per dim and attaches it, closes the file, then throws
  /// KernelError if a declared output was never written. Collective; later calls do nothing.
  void close();
  /// close(), with the data flushed to disk on every rank, then the file renamed to
  /// `final_path` and made durable there (file and folder synced) before it returns: a stage
  /// counts as completed only once its outputs would survive a crash. Collective; throws
  /// KernelError on every rank when any step fails.
  void commit(const std::filesystem::path& final_path);
  const std::filesystem::path& path() const;
  /// What MPI-IO reported for the file when it was created (MPI_File_get_info): the hints it
  /// took, with its own defaults.
  const MpiIoHints& io_hints() const;

 private:
  void write_raw(std::string_view name, const Hyperslab& slab, DType type, const void* data,
                 std::size_t elements) override;
  void finish(bool durable);

  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace perennial::checkpoint
