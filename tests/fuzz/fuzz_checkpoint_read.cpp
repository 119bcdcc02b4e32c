// libFuzzer target: what reads a checkpoint, an input or a model's file back (issue 16, point 5),
// as the worker does: a restore opens an epoch with CheckpointFileReader and reads every entry
// once verify_checkpoint passed it (stage_checkpoints.cpp); a stage's inputs are opened with
// open_input and read once verify_output passed them (stage_runner.cpp); a model's output file
// is read by read_model_dataset with no verification at all (external_stage.cpp: the model
// wrote it). Any bytes are such a file: each must answer with data or an Error, never crash,
// hang or trip a sanitizer, and leave no HDF5 object open. fuzz_checkpoint_verify covers the
// verifiers themselves. Seeded by ci/fuzz.sh with the e2e tests' `checkpointed` epochs and
// outputs (the identities below are theirs) and model files.

#include <perennial/array_io.hpp>
#include <perennial/checkpoint/checkpoint_identity.hpp>
#include <perennial/checkpoint/checkpoint_reader.hpp>
#include <perennial/checkpoint/input_file.hpp>
#include <perennial/checkpoint/model_file.hpp>
#include <perennial/checkpoint/verify.hpp>
#include <perennial/errors.hpp>

#include "fuzz_hdf5_input.hpp"

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace {

std::uint64_t elements_of(const std::vector<std::uint64_t>& shape) {
  std::uint64_t n = 1;
  for (auto extent : shape) n = extent != 0 && n > (std::uint64_t{1} << 40) / extent ? (std::uint64_t{1} << 40) : n * extent;
  return n;
}

// The whole of one array entry, in the element type it holds (the others are refused with an
// Error before anything is read, which is also tried).
template <class T, class Reader>
void read_whole(const Reader& read, const std::vector<std::uint64_t>& shape) {
  std::vector<T> block(elements_of(shape));
  try {
    read(perennial::Hyperslab::whole(shape), std::span<T>(block));
  } catch (const perennial::Error&) {
    // Another element type, or a read HDF5 refused: an answer with a message.
  }
}

template <class Reader>
void read_every_type(const Reader& read, const std::vector<std::uint64_t>& shape) {
  read_whole<float>(read, shape);
  read_whole<double>(read, shape);
  read_whole<std::int32_t>(read, shape);
  read_whole<std::int64_t>(read, shape);
}

const perennial::checkpoint::CheckpointIdentity kIdentities[] = {
    {"checkpointed", "scenario", "heat2d", "1", "c74c738f053780f8"},
    {"checkpointed", "spinup", "heat2d", "1", "b79d1578e45008dd"},
};
const char* const kDatasets[] = {"temperature", "sst", "lat", "lon", "time"};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  MPI_Init(argc, argv);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& file = perennial::fuzz::write_input("perennial-fuzz-read", data, size);
  const auto self = perennial::fuzz::self();
  namespace ck = perennial::checkpoint;

  // A restore: only an epoch that passed verification is read, every entry of it.
  for (const auto& identity : kIdentities) {
    if (!ck::verify_checkpoint(self, file, identity).ok) continue;
    try {
      const ck::CheckpointFileReader reader(self, file);
      (void)reader.info();
      for (const auto& name : reader.names()) {
        const auto shape = reader.shape(name);
        try {
          (void)reader.read_scalar(name);
        } catch (const perennial::Error&) {
        }
        try {
          (void)reader.read_bytes(name);
        } catch (const perennial::Error&) {
        }
        read_every_type([&](const perennial::Hyperslab& slab, auto block) { reader.read(name, slab, block); }, shape);
      }
    } catch (const perennial::Error&) {
      // A verified epoch the reader refuses: a message, and the restore tries the next one.
    }
  }

  // A stage's inputs: only an output that passed verification is opened.
  if (ck::verify_output(self, file, {{"stage", "scenario"}}).ok) {
    for (const char* name : kDatasets) {
      try {
        const auto input = ck::open_input(self, file, "scenario", name);
        read_every_type([&](const perennial::Hyperslab& slab, auto block) { input->read(slab, block); }, input->shape());
      } catch (const perennial::Error&) {
      }
    }
  }

  // A model's file: read whatever it holds.
  for (const char* name : kDatasets) {
    try {
      (void)ck::read_model_dataset(file, name);
    } catch (const perennial::Error&) {
    }
  }

  perennial::fuzz::expect_nothing_open("fuzz_checkpoint_read", "reading");
  return 0;
}
