#pragma once
// Reading and comparing HDF5 files by content, for the end-to-end tests' bit-identity checks.
// Every HDF5 call is checked: a file or object that cannot be read throws Hdf5ReadError,
// naming the file, the object and the call, so it fails the test instead of comparing
// whatever a failed read left in a buffer.

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace perennial::e2e {

/// A failed HDF5 call while a test read a file: file, object, call, and HDF5's own words.
class Hdf5ReadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A dataset read raw from an HDF5 file with the plain HDF5 API.
struct Dataset {
  std::vector<unsigned long long> shape;
  std::string type_class;          ///< "float" or "integer"
  std::size_t element_size = 0;
  std::string units;               ///< the `units` attribute
  std::vector<std::string> dims;   ///< names of the attached dimension scales
  std::vector<unsigned char> bytes;
};
/// Throws Hdf5ReadError when the file, the dataset or any part of it cannot be read.
Dataset read_dataset(const std::filesystem::path& file, const std::string& name);

/// What same_content lets differ between two files, each said by the caller.
struct ContentRules {
  /// Whether both files were written by groups of the same number of ranks. Each table in
  /// /perennial_checksums holds one row per block a writing rank wrote, so an output written
  /// on 3 ranks has other tables than the same data written on 5. Only with the same writer
  /// ranks are the tables compared row for row; otherwise each file's tables are checked
  /// against that file's own data instead (every row's XXH3 matches its block, the blocks
  /// tile the dataset exactly), and only their presence, type and columns are compared.
  bool same_writer_ranks = true;
  /// Attributes expected to differ, as "<object path>@<name>": "/@stage" for the outputs of
  /// two differently named stages. Compared nowhere else, so name only what must differ.
  std::set<std::string> differing_attributes;
};

/// Whether two HDF5 files hold the same content: the same objects (groups and datasets, by
/// path); each dataset with the same type, shape and raw bytes as stored (bit for bit: -0.0
/// differs from 0.0, NaN payloads count); every attribute of every object with the same
/// name, type, shape and value (object references, as in DIMENSION_LIST and REFERENCE_LIST,
/// compared by the path they point to, never by file address); and each dataset's dimension
/// scales, axis by axis. Not the file's bytes: two writes of the same content legitimately
/// differ in HDF5 metadata (object headers, free space, allocation order).
/// The failure message names every object that differs (the first 20), or the file, object
/// and HDF5 call that could not be read.
::testing::AssertionResult same_content(const std::filesystem::path& a, const std::filesystem::path& b,
                                        const ContentRules& rules = {});

}  // namespace perennial::e2e
