// Asynchronous checkpoint building blocks under mpiexec (4 ranks): a StateSnapshot replayed
// by a BackgroundIo thread on a duplicate communicator writes the same checkpoint as a direct
// save, from the copy (the kernel's arrays change meanwhile); while a background job runs,
// every other thread's entry into the HDF5 layer waits for it.

#include "scratch_directory.hpp"

#include <perennial/checkpoint/background_io.hpp>
#include <perennial/checkpoint/checkpoint_file.hpp>
#include <perennial/checkpoint/checkpoint_reader.hpp>
#include <perennial/checkpoint/hdf5_error.hpp>
#include <perennial/checkpoint/state_snapshot.hpp>
#include <perennial/checkpoint/verify.hpp>
#include <perennial/hyperslab.hpp>

#include <boost/mpi/communicator.hpp>
#include <gtest/gtest.h>
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
namespace mpi = boost::mpi;
namespace pc = perennial::checkpoint;

namespace {

constexpr std::uint64_t kRows = 40, kCols = 9;

pc::CheckpointIdentity identity() { return {"async", "ocean", "heat2d", "1", "def"}; }

// A kernel's state: a float64 field by row blocks, an int32 field, a scalar, bytes.
struct State {
  std::vector<double> field;
  std::vector<std::int32_t> marks;
  double dt = 0.25;
  std::vector<std::byte> rng;

  State(perennial::BlockRange mine, int rank) : field(mine.count * kCols), marks(mine.count), rng(19) {
    for (std::size_t i = 0; i < field.size(); ++i) field[i] = 0.5 * static_cast<double>((mine.first * kCols + i) * 7919 % 1013);
    for (std::size_t i = 0; i < marks.size(); ++i) marks[i] = static_cast<std::int32_t>(mine.first + i) * -3;
    for (std::size_t i = 0; i < rng.size(); ++i) rng[i] = static_cast<std::byte>(i * 13 + static_cast<std::size_t>(rank));
  }
  void save(perennial::CheckpointWriter& w, perennial::BlockRange mine) const {
    w.write<double>("field", perennial::row_block(kRows, kCols, mine.first, mine.count), field, {"y", "x"}, "K");
    w.write<std::int32_t>("marks", perennial::Hyperslab{{kRows}, {mine.first}, {mine.count}}, marks, {"y"}, "1");
    w.write_scalar("dt", dt);
    w.write_bytes("rng", rng);
  }
};

class BackgroundWrite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = perennial::testing::make_scratch_directory("perennial-async-test"); }
  static void TearDownTestSuite() { perennial::testing::remove_scratch_directory(dir_); }
  mpi::communicator world;
  static inline fs::path dir_;
};

}  // namespace

TEST_F(BackgroundWrite, ASnapshotWrittenInTheBackgroundRestoresWhatWasCopiedNotWhatChangedSince) {
  const auto mine = perennial::even_split(kRows, world.size(), world.rank());
  State state(mine, world.rank());
  const State original = state;
  const fs::path direct = dir_ / "direct.h5", async = dir_ / "async.h5";
  {
    pc::CheckpointFileWriter out(world, direct, identity(), {1, 100, 10.0});
    state.save(out, mine);
    out.commit();
  }
  pc::StateSnapshot snapshot;
  state.save(snapshot, mine);
  EXPECT_EQ(snapshot.bytes(), mine.count * kCols * 8 + mine.count * 4 + 8 + 19);

  MPI_Comm dup = MPI_COMM_NULL;
  ASSERT_EQ(MPI_Comm_dup(static_cast<MPI_Comm>(world), &dup), MPI_SUCCESS);
  const mpi::communicator io(dup, mpi::comm_take_ownership);
  std::atomic<bool> written{false};
  pc::BackgroundIo job([&] {
    pc::CheckpointFileWriter out(io, async, identity(), {1, 100, 10.0});
    snapshot.replay(out);
    out.commit();
    written = true;
  });
  // The "kernel" steps on: its arrays change while the copy is written, and it talks on the
  // group's own communicator meanwhile.
  for (int step = 0; step < 50; ++step) {
    for (auto& v : state.field) v += 1.0;
    state.marks.assign(state.marks.size(), step);
    world.barrier();
  }
  job.wait();
  ASSERT_TRUE(written);

  const auto verdict = pc::verify_checkpoint(world, async, identity());
  ASSERT_TRUE(verdict.ok) << verdict.problem;
  pc::CheckpointFileReader in(world, async);
  std::vector<double> field(mine.count * kCols);
  in.read<double>("field", perennial::row_block(kRows, kCols, mine.first, mine.count), field);
  EXPECT_EQ(field, original.field);
  std::vector<std::int32_t> marks(mine.count);
  in.read<std::int32_t>("marks", perennial::Hyperslab{{kRows}, {mine.first}, {mine.count}}, marks);
  EXPECT_EQ(marks, original.marks);
  EXPECT_EQ(in.read_scalar("dt"), 0.25);
  EXPECT_EQ(in.read_bytes("rng"), State(mine, 0).rng);  // rank 0's bytes are kept
  EXPECT_EQ(in.names(), pc::CheckpointFileReader(world, direct).names());
  world.barrier();
}

TEST_F(BackgroundWrite, ASecondJobWhileOneRunsIsRefused) {
  std::atomic<bool> release{false};
  pc::BackgroundIo first([&] {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  EXPECT_THROW(pc::BackgroundIo([] {}), std::logic_error);
  release = true;
  first.wait();
  EXPECT_TRUE(first.done());
}

TEST_F(BackgroundWrite, AnotherThreadEnteringTheHdf5LayerWaitsForTheJob) {
  using Clock = std::chrono::steady_clock;
  std::atomic<bool> started{false};
  Clock::time_point job_end;
  pc::BackgroundIo job([&] {
    pc::ensure_hdf5_quiet();  // the job's own thread is never held up
    started = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    job_end = Clock::now();
  });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  pc::ensure_hdf5_quiet();
  const auto entered = Clock::now();
  EXPECT_TRUE(job.done());
  job.wait();
  EXPECT_GE(entered, job_end);
}

TEST_F(BackgroundWrite, AJobThatThrowsRethrowsOnWait) {
  pc::BackgroundIo job([] { throw std::runtime_error("disk on fire"); });
  EXPECT_THROW(job.wait(), std::runtime_error);
  pc::ensure_hdf5_quiet();  // and the layer is free again
}
