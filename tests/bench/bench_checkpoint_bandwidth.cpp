// Checkpoint write bandwidth against the disk's own: not a test, a tool for the numbers the
// interval policy depends on. Run under mpiexec (bench_checkpoint_bandwidth.sh does):
//   mpiexec -n 4 bench_checkpoint_bandwidth <dir> [MiB=64] [repeats=3]
// Each repeat measures, one right after the other (in alternating order, so that a drift in
// the machine's load favours neither), `dd if=/dev/zero of=<dir>/dd.bin bs=1M count=MiB
// conv=fdatasync` on rank 0 and a checkpoint of the same size written by all ranks: from the
// writer's construction to the end of a durable commit (sync, rename, directory sync), and
// then with its read-back verification. The disk here is shared and its speed varies by
// several times from one second to the next, so what counts is the ratio of each pair.
// PERENNIAL_IO_COLLECTIVE_DATA=1 (exported to every rank: mpiexec -x) measures the two-phase
// collective data path instead of the individual one checkpoints now use.
// Prints MB/s (10^6 bytes per second) of each repeat, the medians, and a summary line.

#include <perennial/checkpoint/checkpoint_file.hpp>
#include <perennial/checkpoint/verify.hpp>
#include <perennial/hyperslab.hpp>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/mpi/timer.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {
double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}
}  // namespace

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv);
  boost::mpi::communicator world;
  if (argc < 2) {
    if (world.rank() == 0) std::fprintf(stderr, "usage: bench_checkpoint_bandwidth <dir> [MiB=64] [repeats=3]\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const std::uint64_t mib = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 64;
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
  const std::uint64_t cols = 1024, rows = mib * (1u << 20) / (cols * sizeof(double));
  const auto mine = perennial::even_split(rows, world.size(), world.rank());
  std::vector<double> block(mine.count * cols);
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<double>(i) * 1.0001 + world.rank();
  const perennial::checkpoint::CheckpointIdentity identity{"bench", "bench", "bench", "1", "bench"};
  const std::string dd = "dd if=/dev/zero of=" + (dir / "dd.bin").string() + " bs=1M count=" + std::to_string(mib) +
                         " conv=fdatasync status=none";

  // Each timed write starts from a clean page cache and a settled disk: the files removed
  // before it (and their discards, on a file system mounted with `discard`) are not charged to it.
  auto settle = [&] {
    world.barrier();
    if (world.rank() == 0) ::sync();
    world.barrier();
  };
  auto run_dd = [&] {
    double seconds = 0.0;
    settle();
    if (world.rank() == 0) {
      boost::mpi::timer timer;
      if (std::system(dd.c_str()) != 0) std::fprintf(stderr, "bench_checkpoint_bandwidth: '%s' failed\n", dd.c_str());
      seconds = timer.elapsed();
      std::filesystem::remove(dir / "dd.bin");
    }
    boost::mpi::broadcast(world, seconds, 0);
    return static_cast<double>(mib) * (1u << 20) / 1e6 / seconds;
  };

  // A worker writes its checkpoints from one long-lived process: the first one in a process
  // also pays for opening HDF5 and Open MPI's MPI-IO components, and for their first buffers.
  // That is timed here, on a 1 MiB checkpoint, and printed apart; the pairs below are the
  // checkpoints after it.
  {
    const std::uint64_t small_rows = std::max<std::uint64_t>(world.size(), (1u << 20) / (cols * sizeof(double)));
    const auto part = perennial::even_split(small_rows, world.size(), world.rank());
    const auto path = dir / "first.h5";
    settle();
    boost::mpi::timer timer;
    perennial::checkpoint::CheckpointFileWriter out(world, path, identity, {0, 0, 0.0});
    out.write<double>("field", perennial::row_block(small_rows, cols, part.first, part.count),
                      std::span<const double>(block.data(), part.count * cols), {"y", "x"}, "1");
    out.commit();
    double seconds = 0.0;
    boost::mpi::reduce(world, timer.elapsed(), seconds, boost::mpi::maximum<double>(), 0);
    if (world.rank() == 0) {
      std::filesystem::remove(path);
      std::printf("first checkpoint in these processes (1 MiB, apart from the pairs): %.3f s\n", seconds);
      std::fflush(stdout);
    }
  }

  std::vector<double> dd_rates, write_rates, verify_rates, write_ratios, both_ratios;
  for (int r = 0; r < repeats; ++r) {
    const double dd_before = r % 2 == 0 ? run_dd() : 0.0;
    const auto path = dir / ("bandwidth-" + std::to_string(r) + ".h5");
    settle();
    perennial::checkpoint::CheckpointFileWriter out(world, path, identity, {static_cast<std::uint64_t>(r), 0, 0.0});
    out.write<double>("field", perennial::row_block(rows, cols, mine.first, mine.count), block, {"y", "x"}, "1");
    out.commit();
    double seconds = 0.0;
    boost::mpi::reduce(world, out.seconds_spent(), seconds, boost::mpi::maximum<double>(), 0);
    boost::mpi::broadcast(world, seconds, 0);
    const double bytes = static_cast<double>(out.bytes_written());

    // Verification reads back what the page cache still holds.
    world.barrier();
    boost::mpi::timer timer;
    const auto verdict = perennial::checkpoint::verify_checkpoint(world, path, identity);
    double verify_seconds = 0.0;
    boost::mpi::reduce(world, timer.elapsed(), verify_seconds, boost::mpi::maximum<double>(), 0);
    boost::mpi::broadcast(world, verify_seconds, 0);
    if (world.rank() == 0) std::filesystem::remove(path);
    const double dd_rate = r % 2 == 0 ? dd_before : run_dd();

    dd_rates.push_back(dd_rate);
    write_rates.push_back(bytes / 1e6 / seconds);
    verify_rates.push_back(bytes / 1e6 / verify_seconds);
    write_ratios.push_back(write_rates.back() / dd_rate);
    both_ratios.push_back(bytes / 1e6 / (seconds + verify_seconds) / dd_rate);
    if (world.rank() == 0) {
      std::printf("repeat %d: dd %.1f MB/s; checkpoint of %.0f bytes: write %.3f s = %.1f MB/s (%.2f of dd), "
                  "verify %.3f s = %.1f MB/s; write + verify %.2f of dd%s\n",
                  r, dd_rate, bytes, seconds, write_rates.back(), write_ratios.back(), verify_seconds,
                  verify_rates.back(), both_ratios.back(), verdict.ok ? "" : (" FAILED: " + verdict.problem).c_str());
      std::fflush(stdout);
    }
  }
  if (world.rank() == 0) {
    std::printf("median of %d pairs on %d ranks, %llu MiB: dd %.1f MB/s, write %.1f MB/s, verify %.1f MB/s; "
                "write / dd %.2f (goal 0.8), write + verify / dd %.2f\n",
                repeats, world.size(), static_cast<unsigned long long>(mib), median(dd_rates), median(write_rates),
                median(verify_rates), median(write_ratios), median(both_ratios));
    std::printf("summary: ranks=%d mib=%llu dd_mb_s=%.1f write_mb_s=%.1f verify_mb_s=%.1f write_over_dd=%.2f "
                "write_verify_over_dd=%.2f\n",
                world.size(), static_cast<unsigned long long>(mib), median(dd_rates), median(write_rates),
                median(verify_rates), median(write_ratios), median(both_ratios));
  }
  return 0;
}
