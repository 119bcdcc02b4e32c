#pragma once
// A scratch folder shared by every rank of an MPI test suite: named by rank 0's pid,
// removed at the end unless PERENNIAL_KEEP_TEST_FILES is set. Both calls are collective.

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/serialization/string.hpp>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace perennial::testing {

inline std::filesystem::path make_scratch_directory(const std::string& prefix) {
  boost::mpi::communicator world;
  std::string dir;
  if (world.rank() == 0) {
    dir = "/tmp/" + prefix + "-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
  }
  boost::mpi::broadcast(world, dir, 0);
  return dir;
}

inline void remove_scratch_directory(const std::filesystem::path& dir) {
  boost::mpi::communicator world;
  world.barrier();
  if (world.rank() == 0 && std::getenv("PERENNIAL_KEEP_TEST_FILES") == nullptr) std::filesystem::remove_all(dir);
}

}  // namespace perennial::testing
