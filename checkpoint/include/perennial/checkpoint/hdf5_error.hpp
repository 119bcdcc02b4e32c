#pragma once
// Hdf5Error: an HDF5 call that failed, named by file, object, operation and HDF5's own reason.

#include <perennial/errors.hpp>

#include <string>

namespace perennial {

class Hdf5Error : public Error {
 public:
  /// `detail` is the innermost entry of HDF5's error stack (the most specific reason).
  Hdf5Error(std::string file, std::string object, std::string operation, std::string detail);
  const std::string& file() const { return file_; }
  const std::string& object() const { return object_; }  ///< dataset/attribute, "/" for the file
  const std::string& operation() const { return operation_; }
  const std::string& detail() const { return detail_; }

 private:
  std::string file_;
  std::string object_;
  std::string operation_;
  std::string detail_;
};

namespace checkpoint {
/// Turns off HDF5's automatic error printing, once per process: its `HDF5-DIAG` dumps would
/// interleave across ranks, and every failure is reported as an Hdf5Error instead.
/// Every entry point of this library calls it first.
void ensure_hdf5_quiet();
}  // namespace checkpoint

}  // namespace perennial
