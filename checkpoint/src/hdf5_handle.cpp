#include <perennial/checkpoint/hdf5_handle.hpp>

#include "hdf5_support.hpp"

#include <hdf5.h>
#include <spdlog/spdlog.h>

#include <type_traits>

namespace perennial::checkpoint {

static_assert(std::is_same_v<Hid, hid_t>, "Hid must be HDF5's hid_t");

namespace {
const char* kind_name(HandleKind kind) {
  switch (kind) {
    case HandleKind::file: return "file";
    case HandleKind::group: return "group";
    case HandleKind::dataset: return "dataset";
    case HandleKind::dataspace: return "dataspace";
    case HandleKind::datatype: return "datatype";
    case HandleKind::property_list: return "property list";
    case HandleKind::attribute: return "attribute";
  }
  return "object";
}

herr_t close_by_kind(HandleKind kind, hid_t id) {
  switch (kind) {
    case HandleKind::file: return H5Fclose(id);
    case HandleKind::group: return H5Gclose(id);
    case HandleKind::dataset: return H5Dclose(id);
    case HandleKind::dataspace: return H5Sclose(id);
    case HandleKind::datatype: return H5Tclose(id);
    case HandleKind::property_list: return H5Pclose(id);
    case HandleKind::attribute: return H5Aclose(id);
  }
  return -1;
}
}  // namespace

void close_quietly(HandleKind kind, Hid id) noexcept {
  try {
    ensure_hdf5_quiet();
    if (close_by_kind(kind, id) < 0) {
      spdlog::warn("HDF5: closing {} id {} failed: {}", kind_name(kind), id,
                   detail::take_hdf5_error_stack());
    }
  } catch (...) {
    // Logging itself failed (e.g. out of memory): nothing sensible is left to do here.
  }
}

}  // namespace perennial::checkpoint
