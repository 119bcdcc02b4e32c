#pragma once
// Handle<Kind>: move-only owner of one HDF5 identifier, closed on destruction without throwing.

#include <cstdint>
#include <utility>

namespace perennial::checkpoint {

/// HDF5's hid_t (int64_t since 1.10; the source checks). Spelled here so that users of the
/// public headers need no <hdf5.h>.
using Hid = std::int64_t;

enum class HandleKind { file, group, dataset, dataspace, datatype, property_list, attribute };

/// Closes `id` with the H5*close call of its kind. A failure is logged, never thrown:
/// destructors call it, possibly while an exception is already in flight.
void close_quietly(HandleKind kind, Hid id) noexcept;

/// Owns one identifier of kind K. Not copyable: a second owner would close it twice.
/// Closing a file handle opened with MPI-IO is collective, so destroy those on all ranks.
template <HandleKind K>
class Handle {
 public:
  Handle() noexcept = default;
  /// Takes ownership of `id`; a negative id (HDF5's failure value) means "owns nothing".
  explicit Handle(Hid id) noexcept : id_(id) {}
  Handle(Handle&& other) noexcept : id_(other.release()) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.release();
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  Hid get() const noexcept { return id_; }
  bool valid() const noexcept { return id_ >= 0; }
  /// Gives up ownership (e.g. to close through a throwing call) and returns the id.
  Hid release() noexcept { return std::exchange(id_, Hid{-1}); }
  void reset() noexcept {
    if (id_ >= 0) close_quietly(K, release());
  }

 private:
  Hid id_ = -1;
};

using FileHandle = Handle<HandleKind::file>;
using GroupHandle = Handle<HandleKind::group>;
using DatasetHandle = Handle<HandleKind::dataset>;
using DataspaceHandle = Handle<HandleKind::dataspace>;
using DatatypeHandle = Handle<HandleKind::datatype>;
using PropertyListHandle = Handle<HandleKind::property_list>;
using AttributeHandle = Handle<HandleKind::attribute>;

}  // namespace perennial::checkpoint
