#pragma once
// Boost.Serialization support for std::optional (Boost 1.74 only knows boost::optional).

#include <boost/serialization/split_free.hpp>

#include <optional>

namespace boost::serialization {

template <class Archive, class T>
void save(Archive& ar, const std::optional<T>& value, unsigned) {
  const bool present = value.has_value();
  ar << present;
  if (present) ar << *value;
}

template <class Archive, class T>
void load(Archive& ar, std::optional<T>& value, unsigned) {
  bool present = false;
  ar >> present;
  if (!present) {
    value.reset();
    return;
  }
  T item{};
  ar >> item;
  value = std::move(item);
}

template <class Archive, class T>
void serialize(Archive& ar, std::optional<T>& value, unsigned version) {
  split_free(ar, value, version);
}

}  // namespace boost::serialization
