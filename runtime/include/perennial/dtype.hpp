#pragma once
// DType: the element types a stage may declare for its outputs, and their C++ twins.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace perennial {

enum class DType { float32, float64, int32, int64 };

/// The campaign-file spelling: "float32", "float64", "int32", "int64".
std::string_view dtype_name(DType t);
std::optional<DType> parse_dtype(std::string_view name);
std::size_t dtype_size(DType t);

/// The DType that stores a C++ element type; only the four types above compile.
template <class T>
constexpr DType dtype_of() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, float>) return DType::float32;
  else if constexpr (std::is_same_v<U, double>) return DType::float64;
  else if constexpr (std::is_same_v<U, std::int32_t>) return DType::int32;
  else if constexpr (std::is_same_v<U, std::int64_t>) return DType::int64;
  else static_assert(sizeof(U) == 0, "Perennial arrays hold float, double, int32_t or int64_t");
}

}  // namespace perennial
