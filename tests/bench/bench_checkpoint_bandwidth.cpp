// Measures checkpoint write (and verify) bandwidth: not a test, a tool for the numbers the
// interval policy depends on. Run under mpiexec:
//   mpiexec -n 4 bench_checkpoint_bandwidth <dir> [MiB=64] [repeats=3]
// Prints MB/s (10^6 bytes per second) of each repeat and the median, for write (construction
// to the end of a durable commit) and for verify_checkpoint.

#include <perennial/checkpoint/checkpoint_file.hpp>
#include <perennial/checkpoint/verify.hpp>
#include <perennial/hyperslab.hpp>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/mpi/timer.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {
double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv);
  boost::mpi::communicator world;
  if (argc < 2) {
    if (world.rank() == 0) std::fprintf(stderr, "usage: checkpoint_bandwidth <dir> [MiB=64] [repeats=3]\n");
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

  std::vector<double> write_rates, verify_rates;
  for (int r = 0; r < repeats; ++r) {
    const auto path = dir / ("bandwidth-" + std::to_string(r) + ".h5");
    world.barrier();
    perennial::checkpoint::CheckpointFileWriter out(world, path, identity, {static_cast<std::uint64_t>(r), 0, 0.0});
    out.write<double>("field", perennial::row_block(rows, cols, mine.first, mine.count), block, {"y", "x"}, "1");
    out.commit();
    double seconds = 0.0;
    boost::mpi::reduce(world, out.seconds_spent(), seconds, boost::mpi::maximum<double>(), 0);
    write_rates.push_back(static_cast<double>(out.bytes_written()) / 1e6 / seconds);

    // Verification reads back what the page cache still holds: an upper bound.
    world.barrier();
    boost::mpi::timer timer;
    const auto verdict = perennial::checkpoint::verify_checkpoint(world, path, identity);
    double verify_seconds = 0.0;
    boost::mpi::reduce(world, timer.elapsed(), verify_seconds, boost::mpi::maximum<double>(), 0);
    verify_rates.push_back(static_cast<double>(out.bytes_written()) / 1e6 / verify_seconds);
    if (world.rank() == 0) {
      std::printf("repeat %d: %llu bytes, write %.3f s = %.1f MB/s, verify %.3f s = %.1f MB/s%s\n", r,
                  static_cast<unsigned long long>(out.bytes_written()), seconds, write_rates.back(), verify_seconds,
                  verify_rates.back(), verdict.ok ? "" : (" FAILED: " + verdict.problem).c_str());
      std::filesystem::remove(path);
    }
  }
  if (world.rank() == 0) {
    std::printf("median on %d ranks: write %.1f MB/s, verify %.1f MB/s\n", world.size(), median(write_rates),
                median(verify_rates));
  }
  return 0;
}
