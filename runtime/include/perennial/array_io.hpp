#pragma once
// The array I/O a kernel sees: where it writes outputs and checkpoints, and how it reads
// its inputs. Interfaces only; checkpoint/ implements them with parallel HDF5.
//
// Every call below is collective over the stage group: all ranks of the group call it,
// in the same order, with the same names (each with its own hyperslab).

#include <perennial/dtype.hpp>
#include <perennial/hyperslab.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace perennial {

/// Where a stage writes its declared outputs (one file per stage). Dimension names, units
/// and dtype come from the campaign's `outputs:` declaration.
class OutputSink {
 public:
  virtual ~OutputSink() = default;

  /// Writes this rank's block of output `name`. Collective over the stage group.
  template <class T>
  void write(std::string_view name, const Hyperslab& slab, std::span<const T> block) {
    write_raw(name, slab, dtype_of<T>(), block.data(), block.size());
  }
  /// Coordinate values of a dimension (e.g. latitudes in degrees_north), written once as the
  /// HDF5 dimension scale. Dimensions without coordinates get 0..n-1. Collective.
  virtual void write_coordinate(std::string_view dim, std::span<const double> values,
                                std::string_view units) = 0;

 protected:
  virtual void write_raw(std::string_view name, const Hyperslab& slab, DType type,
                         const void* data, std::size_t elements) = 0;
};

/// One upstream dataset bound to an input of this stage, e.g. `spinup.temperature`.
class InputArray {
 public:
  virtual ~InputArray() = default;

  virtual const std::string& stage() const = 0;   ///< upstream stage name
  virtual const std::string& output() const = 0;  ///< upstream output name
  virtual DType dtype() const = 0;
  virtual const std::vector<std::string>& dims() const = 0;
  virtual const std::vector<std::uint64_t>& shape() const = 0;
  virtual const std::string& units() const = 0;

  /// Reads a block into `block` (element_count() of slab elements). Collective.
  template <class T>
  void read(const Hyperslab& slab, std::span<T> block) const {
    read_raw(slab, dtype_of<T>(), block.data(), block.size());
  }

 protected:
  virtual void read_raw(const Hyperslab& slab, DType type, void* data,
                        std::size_t elements) const = 0;
};

/// Where `Kernel::save` puts the state a restart needs (implemented in the checkpoint issue).
class CheckpointWriter {
 public:
  virtual ~CheckpointWriter() = default;
  template <class T>
  void write(std::string_view name, const Hyperslab& slab, std::span<const T> block,
             const std::vector<std::string>& dims, std::string_view units) {
    write_raw(name, slab, dtype_of<T>(), block.data(), block.size(), dims, units);
  }
  virtual void write_scalar(std::string_view name, double value) = 0;
  virtual void write_bytes(std::string_view name, std::span<const std::byte> bytes) = 0;

 protected:
  virtual void write_raw(std::string_view name, const Hyperslab& slab, DType type,
                         const void* data, std::size_t elements,
                         const std::vector<std::string>& dims, std::string_view units) = 0;
};

/// What `Kernel::restore` reads back; the restoring group may have another rank count.
class CheckpointReader {
 public:
  virtual ~CheckpointReader() = default;
  virtual std::vector<std::uint64_t> shape(std::string_view name) const = 0;
  template <class T>
  void read(std::string_view name, const Hyperslab& slab, std::span<T> block) const {
    read_raw(name, slab, dtype_of<T>(), block.data(), block.size());
  }
  virtual double read_scalar(std::string_view name) const = 0;
  virtual std::vector<std::byte> read_bytes(std::string_view name) const = 0;

 protected:
  virtual void read_raw(std::string_view name, const Hyperslab& slab, DType type, void* data,
                        std::size_t elements) const = 0;
};

}  // namespace perennial
