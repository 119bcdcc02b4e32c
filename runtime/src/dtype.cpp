#include <perennial/dtype.hpp>

namespace perennial {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::int32: return "int32";
    case DType::int64: return "int64";
  }
  return "unknown";
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (DType t : {DType::float32, DType::float64, DType::int32, DType::int64}) {
    if (dtype_name(t) == name) return t;
  }
  return std::nullopt;
}

std::size_t dtype_size(DType t) {
  return (t == DType::float32 || t == DType::int32) ? 4 : 8;
}

}  // namespace perennial
