// libFuzzer target: the checkpoint and output verifiers (issue 16, point 5). Any bytes are a
// file on disk that claims to be an epoch or an output: verification must answer ok or a
// problem, never crash, hang or trip a sanitizer in Perennial's code. (HDF5 itself is Debian's,
// not instrumented: a crash inside it is reported as such.) One rank: MPI is initialised once,
// as a singleton.

#include <perennial/checkpoint/checkpoint_identity.hpp>
#include <perennial/checkpoint/verify.hpp>

#include <boost/mpi/communicator.hpp>
#include <hdf5.h>
#include <mpi.h>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace {
std::filesystem::path scratch_file() {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("perennial-fuzz-verify-" + std::to_string(::getpid()) + ".h5");
  return path;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  MPI_Init(argc, argv);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    std::ofstream out(scratch_file(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  const boost::mpi::communicator self(MPI_COMM_SELF, boost::mpi::comm_attach);
  const perennial::checkpoint::CheckpointIdentity identity{"fuzz", "scenario", "heat2d", "1", "0123456789abcdef"};
  (void)perennial::checkpoint::verify_checkpoint(self, scratch_file(), identity);
  (void)perennial::checkpoint::verify_output(self, scratch_file(), {{"stage", "scenario"}});
  // Every HDF5 handle the verifiers opened is closed again, whatever the file held: a leak
  // here grows with every file a long campaign verifies.
  if (const auto open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); open != 0) {
    std::fprintf(stderr, "fuzz_checkpoint_verify: %lld HDF5 object(s) left open after verification\n",
                 static_cast<long long>(open));
    std::abort();
  }
  return 0;
}
