#pragma once
// StateSnapshot: a CheckpointWriter that writes nothing: it copies what Kernel::save hands
// it (arrays, scalars, byte strings) into memory, in order, so that a background thread can
// write the epoch later with replay() while the kernel goes on changing its own arrays.
//
// Local: no MPI, no HDF5. The checks a CheckpointFileWriter makes (names, shapes, dims, that
// the ranks agree) happen at replay(), where a mistake fails the epoch as it would have
// failed a synchronous write.

#include <perennial/array_io.hpp>
#include <perennial/dtype.hpp>
#include <perennial/hyperslab.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace perennial::checkpoint {

class StateSnapshot final : public CheckpointWriter {
 public:
  void write_scalar(std::string_view name, double value) override;
  void write_bytes(std::string_view name, std::span<const std::byte> bytes) override;

  /// Makes the same calls, in the same order and with the copied data, on `target`.
  /// Collective when `target`'s calls are.
  void replay(CheckpointWriter& target) const;

  /// Bytes of data copied on this rank (arrays, scalars, byte strings).
  std::uint64_t bytes() const { return bytes_; }

 protected:
  void write_raw(std::string_view name, const Hyperslab& slab, DType type, const void* data,
                 std::size_t elements, const std::vector<std::string>& dims,
                 std::string_view units) override;

 private:
  enum class Kind { scalar, bytes, array };
  struct Entry {
    Kind kind = Kind::scalar;
    std::string name;
    double scalar = 0.0;
    Hyperslab slab;
    DType type = DType::float64;
    std::size_t elements = 0;
    std::vector<std::string> dims;
    std::string units;
    std::vector<std::byte> bytes;  ///< a byte string's copy
    /// An array's elements as held in memory. Not a vector: that would zero the buffer first,
    /// a second pass over the whole state before the copy.
    std::unique_ptr<std::byte[]> data;
  };
  std::vector<Entry> entries_;
  std::uint64_t bytes_ = 0;
};

}  // namespace perennial::checkpoint
