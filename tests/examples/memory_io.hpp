#pragma once
// In-memory stand-ins for the runtime's HDF5 I/O (output sink, input array, checkpoint), so the
// kernel tests run a kernel without files. They handle 2-D float64 row blocks, which is what the
// example kernels write.

#include <perennial/array_io.hpp>

#include <boost/mpi/collectives/gather.hpp>
#include <boost/mpi/communicator.hpp>
#include <perennial/serialization.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace perennial::memio {

/// Global row-major 2-D arrays by name: what a file would hold.
struct ArrayStore {
  std::map<std::string, std::vector<double>> values;
  std::map<std::string, std::vector<std::uint64_t>> shapes;
  std::map<std::string, double> scalars;

  template <class Archive> void serialize(Archive& ar, unsigned) { ar & values & shapes & scalars; }

  /// Collects every rank's row block into `values[name]` on group rank 0. Collective.
  void gather(const boost::mpi::communicator& comm, std::string_view name, const Hyperslab& slab,
              DType type, const void* data, std::size_t elements) {
    if (type != DType::float64 || slab.global_shape.size() != 2 || !slab.check().empty() ||
        elements != slab.element_count()) {
      throw std::invalid_argument("memory I/O takes 2-D float64 row blocks only: " + slab.check());
    }
    const auto* first = static_cast<const double*>(data);
    const std::vector<double> block(first, first + elements);
    std::vector<std::vector<double>> blocks;
    std::vector<std::uint64_t> offsets;
    boost::mpi::gather(comm, block, blocks, 0);
    boost::mpi::gather(comm, slab.offset[0], offsets, 0);
    if (comm.rank() != 0) return;
    const std::uint64_t cols = slab.global_shape[1];
    auto& global = values[std::string(name)];
    global.assign(slab.global_shape[0] * cols, 0.0);
    for (std::size_t r = 0; r < blocks.size(); ++r) {
      std::copy(blocks[r].begin(), blocks[r].end(), global.begin() + static_cast<long>(offsets[r] * cols));
    }
    shapes[std::string(name)] = slab.global_shape;
  }

  /// Copies the rows `slab` selects out of the global array `name` (present on this rank).
  void read(std::string_view name, const Hyperslab& slab, void* data, std::size_t elements) const {
    const auto& global = values.at(std::string(name));
    const std::uint64_t cols = shapes.at(std::string(name))[1];
    if (elements != slab.element_count() || slab.global_shape != shapes.at(std::string(name))) {
      throw std::invalid_argument("read of " + std::string(name) + " with a mismatched hyperslab");
    }
    if (elements == 0) return;  // a rank holding no rows may pass a null pointer
    std::memcpy(data, global.data() + slab.offset[0] * cols, elements * sizeof(double));
  }
};

/// OutputSink gathering each output onto group rank 0.
class MemorySink : public OutputSink {
 public:
  explicit MemorySink(boost::mpi::communicator comm) : comm_(std::move(comm)) {}
  void write_coordinate(std::string_view dim, std::span<const double> values,
                        std::string_view units) override {
    coordinates[std::string(dim)] = {values.begin(), values.end()};
    coordinate_units[std::string(dim)] = std::string(units);
  }
  ArrayStore store;
  std::map<std::string, std::vector<double>> coordinates;
  std::map<std::string, std::string> coordinate_units;

 protected:
  void write_raw(std::string_view name, const Hyperslab& slab, DType type, const void* data,
                 std::size_t elements) override {
    store.gather(comm_, name, slab, type, data, elements);
  }

 private:
  boost::mpi::communicator comm_;
};

/// One upstream dataset held whole on every rank.
class MemoryInput : public InputArray {
 public:
  MemoryInput(std::string stage, std::string output, std::vector<std::uint64_t> shape,
              std::vector<double> values, DType type = DType::float64)
      : stage_(std::move(stage)), output_(std::move(output)), type_(type), shape_(shape) {
    store_.values["data"] = std::move(values);
    store_.shapes["data"] = std::move(shape);
  }
  const std::string& stage() const override { return stage_; }
  const std::string& output() const override { return output_; }
  DType dtype() const override { return type_; }
  const std::vector<std::string>& dims() const override { return dims_; }
  const std::vector<std::uint64_t>& shape() const override { return shape_; }
  const std::string& units() const override { return units_; }

 protected:
  void read_raw(const Hyperslab& slab, DType type, void* data, std::size_t elements) const override {
    EXPECT_EQ(type, DType::float64);
    store_.read("data", slab, data, elements);
  }

 private:
  std::string stage_, output_;
  DType type_;
  std::vector<std::uint64_t> shape_;
  std::vector<std::string> dims_{"lat", "lon"};
  std::string units_ = "K";
  ArrayStore store_;
};

/// CheckpointWriter gathering arrays onto group rank 0 of the saving group.
class MemoryCheckpointWriter : public CheckpointWriter {
 public:
  MemoryCheckpointWriter(boost::mpi::communicator comm, ArrayStore& store)
      : comm_(std::move(comm)), store_(store) {}
  void write_scalar(std::string_view name, double value) override { store_.scalars[std::string(name)] = value; }
  void write_bytes(std::string_view, std::span<const std::byte>) override {
    throw std::logic_error("the example kernels write no bytes");
  }

 protected:
  void write_raw(std::string_view name, const Hyperslab& slab, DType type, const void* data,
                 std::size_t elements, const std::vector<std::string>& dims, std::string_view units) override {
    EXPECT_EQ(dims, (std::vector<std::string>{"lat", "lon"}));
    EXPECT_EQ(units, "K");
    store_.gather(comm_, name, slab, type, data, elements);
  }

 private:
  boost::mpi::communicator comm_;
  ArrayStore& store_;
};

/// CheckpointReader over a whole store (broadcast to every rank of the restoring group).
class MemoryCheckpointReader : public CheckpointReader {
 public:
  explicit MemoryCheckpointReader(const ArrayStore& store) : store_(store) {}
  std::vector<std::uint64_t> shape(std::string_view name) const override {
    return store_.shapes.at(std::string(name));
  }
  double read_scalar(std::string_view name) const override { return store_.scalars.at(std::string(name)); }
  std::vector<std::byte> read_bytes(std::string_view) const override {
    throw std::logic_error("the example kernels write no bytes");
  }

 protected:
  void read_raw(std::string_view name, const Hyperslab& slab, DType type, void* data,
                std::size_t elements) const override {
    EXPECT_EQ(type, DType::float64);
    store_.read(name, slab, data, elements);
  }

 private:
  const ArrayStore& store_;
};

}  // namespace perennial::memio
