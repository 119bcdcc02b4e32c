#include <perennial/checkpoint/state_snapshot.hpp>

#include <cstring>

namespace perennial::checkpoint {

namespace {

// CheckpointWriter::write_raw is protected: replay reaches it through the public typed call.
template <class T>
void write_typed(CheckpointWriter& target, std::string_view name, const Hyperslab& slab, const std::byte* data,
                 std::size_t elements, const std::vector<std::string>& dims, std::string_view units) {
  // The copy comes from operator new[], aligned for any of the four element types.
  const std::span<const T> block(reinterpret_cast<const T*>(data), elements);
  target.write<T>(name, slab, block, dims, units);
}

}  // namespace

void StateSnapshot::write_scalar(std::string_view name, double value) {
  Entry e;
  e.kind = Kind::scalar;
  e.name = name;
  e.scalar = value;
  entries_.push_back(std::move(e));
  bytes_ += sizeof(double);
}

void StateSnapshot::write_bytes(std::string_view name, std::span<const std::byte> bytes) {
  Entry e;
  e.kind = Kind::bytes;
  e.name = name;
  e.bytes.assign(bytes.begin(), bytes.end());
  entries_.push_back(std::move(e));
  bytes_ += bytes.size();
}

void StateSnapshot::write_raw(std::string_view name, const Hyperslab& slab, DType type, const void* data,
                              std::size_t elements, const std::vector<std::string>& dims, std::string_view units) {
  Entry e;
  e.kind = Kind::array;
  e.name = name;
  e.slab = slab;
  e.type = type;
  e.elements = elements;
  e.dims = dims;
  e.units = units;
  const std::size_t n = elements * dtype_size(type);
  e.data = std::make_unique_for_overwrite<std::byte[]>(n);
  if (n > 0 && data != nullptr) std::memcpy(e.data.get(), data, n);
  entries_.push_back(std::move(e));
  bytes_ += n;
}

void StateSnapshot::replay(CheckpointWriter& target) const {
  for (const Entry& e : entries_) {
    switch (e.kind) {
      case Kind::scalar:
        target.write_scalar(e.name, e.scalar);
        break;
      case Kind::bytes:
        target.write_bytes(e.name, e.bytes);
        break;
      case Kind::array:
        switch (e.type) {
          case DType::float32: write_typed<float>(target, e.name, e.slab, e.data.get(), e.elements, e.dims, e.units); break;
          case DType::float64: write_typed<double>(target, e.name, e.slab, e.data.get(), e.elements, e.dims, e.units); break;
          case DType::int32: write_typed<std::int32_t>(target, e.name, e.slab, e.data.get(), e.elements, e.dims, e.units); break;
          case DType::int64: write_typed<std::int64_t>(target, e.name, e.slab, e.data.get(), e.elements, e.dims, e.units); break;
        }
        break;
    }
  }
}

}  // namespace perennial::checkpoint
