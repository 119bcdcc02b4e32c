// libFuzzer target: the checkpoint and output verifiers (issue 16, point 5). Any bytes are a
// file on disk that claims to be an epoch or an output: verification must answer ok or a
// problem, never crash, hang or trip a sanitizer in Perennial's code. (HDF5 itself is Debian's,
// not instrumented: a crash inside it is reported as such.) One rank: MPI is initialised once,
// as a singleton.

#include <perennial/checkpoint/checkpoint_identity.hpp>
#include <perennial/checkpoint/verify.hpp>

#include "fuzz_hdf5_input.hpp"

#include <mpi.h>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  MPI_Init(argc, argv);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& file = perennial::fuzz::write_input("perennial-fuzz-verify", data, size);
  const auto self = perennial::fuzz::self();
  const perennial::checkpoint::CheckpointIdentity identity{"fuzz", "scenario", "heat2d", "1", "0123456789abcdef"};
  (void)perennial::checkpoint::verify_checkpoint(self, file, identity);
  (void)perennial::checkpoint::verify_output(self, file, {{"stage", "scenario"}});
  // Every HDF5 handle the verifiers opened is closed again, whatever the file held.
  perennial::fuzz::expect_nothing_open("fuzz_checkpoint_verify", "verification");
  return 0;
}
