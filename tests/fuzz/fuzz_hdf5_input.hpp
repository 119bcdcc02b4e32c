#pragma once
// What the HDF5 fuzz targets share: the input bytes as a file of this process's own (HDF5
// reads files, not memory), a one-rank communicator, and the check that whatever was read
// left no HDF5 object open (a leak there grows with every file a long campaign opens).

#include <boost/mpi/communicator.hpp>
#include <hdf5.h>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace perennial::fuzz {

/// Writes `data` to the target's scratch file (one per process: jobs may run side by side) and
/// returns its path.
inline const std::filesystem::path& write_input(const char* target, const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() / (std::string(target) + "-" + std::to_string(::getpid()) + ".h5");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

/// MPI_COMM_SELF as Boost.MPI sees it (MPI is initialised once, in LLVMFuzzerInitialize).
inline boost::mpi::communicator self() { return boost::mpi::communicator(MPI_COMM_SELF, boost::mpi::comm_attach); }

/// Aborts (a finding) when any HDF5 object is still open after `what`.
inline void expect_nothing_open(const char* target, const char* what) {
  if (const auto open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); open != 0) {
    std::fprintf(stderr, "%s: %lld HDF5 object(s) left open after %s\n", target, static_cast<long long>(open), what);
    std::abort();
  }
}

}  // namespace perennial::fuzz
