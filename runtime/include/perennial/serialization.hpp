#pragma once
// How Perennial serializes what travels between ranks: Boost.Serialization's support for the
// standard containers (std::vector, map, pair, string, and std::optional, which Boost 1.74 only
// knows as boost::optional), and the one setting every message type and container takes.
//
// The only way in: a translation unit that serializes a standard container includes this
// header, never Boost's own container headers, or it would write and read those containers
// with a class header and tracking while the rest of the program does not (one binary, two
// definitions of the same template: which one runs is the linker's choice). The test
// `package.StdContainersAreSerializedThroughOneHeader` fails on any other include of them.

#include <boost/serialization/level.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/split_free.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/tracking.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>

/// For a type that only travels between ranks of one run (never stored, so never read by
/// another build): no class name, version or object-tracking entry in the archive. By
/// default Boost.Serialization writes a class header for every object of a class type and
/// looks each one up in the archive's tracking tables, which for a small message costs more
/// than its fields. Used at global scope, after the type's definition.
#define PERENNIAL_MESSAGE_SERIALIZATION(T)                                 \
  BOOST_CLASS_IMPLEMENTATION(T, boost::serialization::object_serializable) \
  BOOST_CLASS_TRACKING(T, boost::serialization::track_never)

#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace boost::serialization {

// The standard containers messages hold take the same setting. Boost gives them a class
// header and selective tracking, so each one a message holds (an assignment has a dozen: its
// ranks, outputs, inputs, parameters, hints...) went through basic_oarchive::save_object and
// a lookup in the archive's table of class types: about 5% of rank 0's time per short stage
// (perf, 30,000 one-step stages), and as much again on the worker that reads it. Declared
// here, in the header every message's serialization includes, so every translation unit
// writes and reads them alike.
namespace detail_perennial {
struct untracked_object {
  typedef mpl::integral_c_tag tag;
  typedef mpl::int_<object_serializable> type;
  BOOST_STATIC_CONSTANT(int, value = object_serializable);
};
struct never_tracked {
  typedef mpl::integral_c_tag tag;
  typedef mpl::int_<track_never> type;
  BOOST_STATIC_CONSTANT(int, value = track_never);
};
}  // namespace detail_perennial

template <class T, class A>
struct implementation_level_impl<const std::vector<T, A>> : detail_perennial::untracked_object {};
template <class K, class V, class C, class A>
struct implementation_level_impl<const std::map<K, V, C, A>> : detail_perennial::untracked_object {};
template <class F, class S>
struct implementation_level_impl<const std::pair<F, S>> : detail_perennial::untracked_object {};
template <class T>
struct implementation_level_impl<const std::optional<T>> : detail_perennial::untracked_object {};

template <class T, class A>
struct tracking_level<std::vector<T, A>> : detail_perennial::never_tracked {};
template <class K, class V, class C, class A>
struct tracking_level<std::map<K, V, C, A>> : detail_perennial::never_tracked {};
template <class F, class S>
struct tracking_level<std::pair<F, S>> : detail_perennial::never_tracked {};
template <class T>
struct tracking_level<std::optional<T>> : detail_perennial::never_tracked {};

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
