#include <perennial/checkpoint/hdf5_error.hpp>

#include "hdf5_support.hpp"

#include <perennial/checkpoint/background_io.hpp>

#include <fmt/format.h>
#include <hdf5.h>

#include <mutex>

namespace perennial {

namespace {
std::string describe(const std::string& file, const std::string& object, const std::string& operation,
                     const std::string& detail) {
  if (object.empty() || object == "/") {
    return fmt::format("HDF5 could not {} '{}': {}", operation, file, detail);
  }
  return fmt::format("HDF5 could not {} '{}' in file '{}': {}", operation, object, file, detail);
}
}  // namespace

Hdf5Error::Hdf5Error(std::string file, std::string object, std::string operation, std::string detail)
    : Error(describe(file, object, operation, detail)),
      file_(std::move(file)), object_(std::move(object)), operation_(std::move(operation)),
      detail_(std::move(detail)) {}

namespace checkpoint {

void ensure_hdf5_quiet() {
  // HDF5 is not thread-safe here: an asynchronous checkpoint in flight has it to itself.
  detail::wait_for_background_io();
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

namespace detail {

namespace {
struct Innermost {
  bool found = false;
  hid_t minor = -1;
  std::string description;
  std::string function;
};

herr_t take_first(unsigned n, const H5E_error2_t* entry, void* out) {
  // Walking upward, entry 0 is the innermost (most specific) error.
  auto* innermost = static_cast<Innermost*>(out);
  if (n == 0 && entry != nullptr) {
    innermost->found = true;
    innermost->minor = entry->min_num;
    innermost->description = entry->desc != nullptr ? entry->desc : "";
    innermost->function = entry->func_name != nullptr ? entry->func_name : "";
  }
  return 0;
}

std::string message_text(hid_t msg) {
  char text[256] = {};
  H5E_type_t type{};
  if (H5Eget_msg(msg, &type, text, sizeof text) <= 0) return {};
  return text;
}
}  // namespace

std::string take_hdf5_error_stack() {
  Innermost innermost;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_first, &innermost);
  std::string text = "no reason on HDF5's error stack";
  if (innermost.found) {
    // The description is the specific reason; the minor message names the kind of failure
    // when the description is terse. The major one and the function are HDF5 internals.
    const std::string minor = message_text(innermost.minor);
    text = innermost.description.empty() ? minor : innermost.description;
    if (!minor.empty() && text != minor) text += fmt::format(" ({})", minor);
    if (text.empty()) text = fmt::format("failure in {}()", innermost.function);
  }
  H5Eclear2(H5E_DEFAULT);
  return text;
}

void fail(const Where& where, std::string_view operation) {
  throw Hdf5Error(where.file, where.object, std::string(operation), take_hdf5_error_stack());
}

}  // namespace detail
}  // namespace checkpoint
}  // namespace perennial
