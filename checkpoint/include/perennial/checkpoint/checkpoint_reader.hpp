#pragma once
// CheckpointFileReader: the CheckpointReader over one committed checkpoint file, for a
// restoring group of any size, each rank reading the blocks of its own decomposition.

#include <perennial/array_io.hpp>
#include <perennial/checkpoint/checkpoint_identity.hpp>

#include <boost/mpi/communicator.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace perennial::checkpoint {

/// Opens the file read-only with MPI-IO. It does not re-check the data: run
/// verify_checkpoint() first. The reading calls are collective over `group` (all ranks, same
/// order, same names); misuse on any rank (unknown name, another dtype, a block outside the
/// shape) makes every rank throw KernelError naming the stage, file and entry.
class CheckpointFileReader final : public CheckpointReader {
 public:
  /// Reads identity, epoch info, manifest and the type and shape of every entry. Throws
  /// Hdf5Error when the file is unreadable, is not a Perennial checkpoint or was never
  /// committed (no manifest). Collective.
  CheckpointFileReader(const boost::mpi::communicator& group, std::filesystem::path path);
  /// Closes the file; closing an MPI-IO file is collective, so destroy it on all ranks.
  ~CheckpointFileReader() override;
  CheckpointFileReader(const CheckpointFileReader&) = delete;
  CheckpointFileReader& operator=(const CheckpointFileReader&) = delete;

  const std::filesystem::path& path() const;
  EpochInfo info() const;
  const CheckpointIdentity& identity() const;
  /// Every entry of the manifest, in write order.
  std::vector<std::string> names() const;

  /// Global shape of an array; {} for a scalar, {length} for bytes. Local (no I/O); throws
  /// KernelError for an unknown name.
  std::vector<std::uint64_t> shape(std::string_view name) const override;
  /// The stored scalar, on every rank. Collective.
  double read_scalar(std::string_view name) const override;
  /// The stored bytes, on every rank. Collective.
  std::vector<std::byte> read_bytes(std::string_view name) const override;

 protected:
  /// Reads this rank's block (it may be empty) in one collective MPI-IO transfer. The dtype
  /// must be the stored one (no conversion). Collective.
  void read_raw(std::string_view name, const Hyperslab& slab, DType type, void* data,
                std::size_t elements) const override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace perennial::checkpoint
