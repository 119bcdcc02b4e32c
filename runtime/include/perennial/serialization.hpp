#pragma once
// Boost.Serialization support for std::optional (Boost 1.74 only knows boost::optional), and
// the one setting every message type takes.

#include <boost/serialization/level.hpp>
#include <boost/serialization/split_free.hpp>
#include <boost/serialization/tracking.hpp>

/// For a type that only travels between ranks of one run (never stored, so never read by
/// another build): no class name, version or object-tracking entry in the archive. By
/// default Boost.Serialization writes a class header for every object of a class type and
/// looks each one up in the archive's tracking tables, which for a small message costs more
/// than its fields. Used at global scope, after the type's definition.
#define PERENNIAL_MESSAGE_SERIALIZATION(T)                                 \
  BOOST_CLASS_IMPLEMENTATION(T, boost::serialization::object_serializable) \
  BOOST_CLASS_TRACKING(T, boost::serialization::track_never)

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
