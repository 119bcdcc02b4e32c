// Checkpoint write bandwidth against the disk's own: not a test, a tool for the numbers the
// interval policy depends on. Run under mpiexec (bench_checkpoint_bandwidth.sh does):
//   mpiexec -n 4 bench_checkpoint_bandwidth <dir> [MiB=64] [repeats=3]
// Each repeat measures, one right after the other (in an order that turns round from one
// repeat to the next, so that a drift in the machine's load favours none), `dd if=/dev/zero
// of=<dir>/dd.bin bs=1M count=MiB conv=fdatasync` on rank 0 and two checkpoints of the same
// size written by all ranks: the default one (blocks of 4 MiB or more with direct I/O, see
// checkpoint/src/direct_write.hpp) and the buffered one (PERENNIAL_IO_DIRECT=0: HDF5 through
// the page cache). Each is timed from the writer's construction to the end of a durable commit
// (sync, rename, directory sync), then its read-back verification apart. The disk here is
// shared and its speed varies by several times from one second to the next, so what counts is
// the ratio within each repeat.
// PERENNIAL_IO_COLLECTIVE_DATA=1 (exported to every rank: mpiexec -x) measures the two-phase
// collective data path instead of the individual one checkpoints now use.
// Prints MB/s (10^6 bytes per second) of each repeat, the medians, and a summary line.
//
// The page cache is warmed before each timed write, the dd's and the checkpoint's alike: rank 0
// first writes a scratch file a quarter larger than the timed write and removes it (without a
// sync, so nothing reaches the disk). On a VM whose balloon reports free memory to its host
// (virtio-balloon free page reporting, as on this machine kind: /sys/module/page_reporting),
// page-cache pages freed more than about 2 s ago have gone back to the host, and filling them
// again pays the host's faults. Measured here with dd alone: 1 GiB into the page cache took
// 1.8-2.5 s when 3 s or more had passed since the last such write, 0.20-0.24 s within 1 s of
// one; writing 100 MiB first warmed 100 MiB of it, 512 MiB half. Which side of a pair met
// returned memory was a matter of timing, and that swing (up to 10x) dwarfed the writers' own
// difference. Memory touched by an anonymous mapping does not warm the page cache (tried: dd
// after 1.25 GiB touched and released was as slow as cold). PERENNIAL_BENCH_COLD_MEMORY=1
// (exported to every rank) leaves the warm-up out.

#include <perennial/checkpoint/checkpoint_file.hpp>
#include <perennial/checkpoint/verify.hpp>
#include <perennial/hyperslab.hpp>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/mpi/timer.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {
// Writes `bytes` into a scratch file in `dir` and removes it, unsynced: the page-cache pages
// freed are the host-backed ones the timed write that follows will be given (see the file's
// comment). Untimed.
void warm_page_cache(const std::filesystem::path& dir, std::uint64_t bytes) {
  if (bytes == 0) return;
  const auto scratch = dir / "warm-page-cache.tmp";
  if (std::FILE* out = std::fopen(scratch.c_str(), "wb")) {
    std::vector<char> chunk(1u << 20, 1);
    for (std::uint64_t written = 0; written < bytes; written += chunk.size())
      if (std::fwrite(chunk.data(), 1, chunk.size(), out) != chunk.size()) break;
    std::fclose(out);
  }
  std::filesystem::remove(scratch);
}

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
  // Rank 0 warms what all ranks are about to write, and a quarter more for the file system's
  // own pages (metadata, journal) and the allocator's slack: the page cache is one per host.
  const char* cold_env = std::getenv("PERENNIAL_BENCH_COLD_MEMORY");
  const bool cold = cold_env != nullptr && std::string(cold_env) == "1";
  auto settle = [&](std::uint64_t writing) {
    world.barrier();
    if (world.rank() == 0) {
      ::sync();
      if (!cold) warm_page_cache(dir, writing + writing / 4);
    }
    world.barrier();
  };
  const std::uint64_t total_bytes = mib << 20;
  auto run_dd = [&] {
    double seconds = 0.0;
    settle(total_bytes);
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
    settle(small_rows * cols * sizeof(double));
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

  // One checkpoint of the whole state: write (to the durable commit) and verification, in
  // seconds (the slowest rank's), and the verifier's verdict.
  struct Timed {
    double write = 0.0, verify = 0.0, bytes = 0.0;
    std::string problem;
  };
  auto run_checkpoint = [&](int r, bool direct) {
    // The writer reads the setting at each large block (direct_write.hpp).
    ::setenv("PERENNIAL_IO_DIRECT", direct ? "1" : "0", 1);
    const auto path = dir / ("bandwidth-" + std::to_string(r) + (direct ? "-direct" : "-buffered") + ".h5");
    settle(total_bytes);
    Timed timed;
    {
      perennial::checkpoint::CheckpointFileWriter out(world, path, identity, {static_cast<std::uint64_t>(r), 0, 0.0});
      out.write<double>("field", perennial::row_block(rows, cols, mine.first, mine.count), block, {"y", "x"}, "1");
      out.commit();
      boost::mpi::reduce(world, out.seconds_spent(), timed.write, boost::mpi::maximum<double>(), 0);
      timed.bytes = static_cast<double>(out.bytes_written());
    }
    // Verification reads back what the page cache holds: all of it after a buffered write,
    // only the partial pages at the blocks' ends after a direct one.
    world.barrier();
    boost::mpi::timer timer;
    // As the runtime verifies an epoch it has just committed.
    const auto verdict =
        perennial::checkpoint::verify_checkpoint(world, path, identity, perennial::checkpoint::FileOrigin::just_written);
    boost::mpi::reduce(world, timer.elapsed(), timed.verify, boost::mpi::maximum<double>(), 0);
    if (!verdict.ok) timed.problem = verdict.problem;
    if (world.rank() == 0) std::filesystem::remove(path);
    return timed;
  };
  if (const char* setting = std::getenv("PERENNIAL_IO_DIRECT"); setting != nullptr && std::string(setting) == "0") {
    if (world.rank() == 0) std::printf("(PERENNIAL_IO_DIRECT=0 in the environment is overridden: both paths are measured)\n");
  }

  // Each repeat: dd, the default checkpoint (direct I/O for large blocks) and the buffered one
  // (HDF5 through the page cache, as before issue 16's fifth session), in an order that turns
  // round from one repeat to the next, so that a drift favours none.
  std::vector<double> dd_rates, write_rates, verify_rates, write_ratios, both_ratios, buffered_ratios, direct_over_buffered;
  for (int r = 0; r < repeats; ++r) {
    double dd_rate = 0.0;
    Timed direct, buffered;
    for (int k = 0; k < 3; ++k) {
      switch ((k + r) % 3) {
        case 0: dd_rate = run_dd(); break;
        case 1: direct = run_checkpoint(r, true); break;
        default: buffered = run_checkpoint(r, false); break;
      }
    }
    ::unsetenv("PERENNIAL_IO_DIRECT");
    if (world.rank() != 0) continue;
    dd_rates.push_back(dd_rate);
    write_rates.push_back(direct.bytes / 1e6 / direct.write);
    verify_rates.push_back(direct.bytes / 1e6 / direct.verify);
    write_ratios.push_back(write_rates.back() / dd_rate);
    both_ratios.push_back(direct.bytes / 1e6 / (direct.write + direct.verify) / dd_rate);
    buffered_ratios.push_back(buffered.bytes / 1e6 / buffered.write / dd_rate);
    direct_over_buffered.push_back(buffered.write / direct.write);
    std::printf("repeat %d: dd %.1f MB/s; checkpoint of %.0f bytes: write %.3f s = %.1f MB/s (%.2f of dd), "
                "verify %.3f s = %.1f MB/s, write + verify %.2f of dd; buffered write %.3f s (%.2f of dd), "
                "verify %.3f s%s%s\n",
                r, dd_rate, direct.bytes, direct.write, write_rates.back(), write_ratios.back(), direct.verify,
                verify_rates.back(), both_ratios.back(), buffered.write, buffered_ratios.back(), buffered.verify,
                direct.problem.empty() ? "" : (" DIRECT FAILED: " + direct.problem).c_str(),
                buffered.problem.empty() ? "" : (" BUFFERED FAILED: " + buffered.problem).c_str());
    std::fflush(stdout);
  }
  if (world.rank() == 0) {
    std::printf("page cache %s before each timed write\n",
                cold ? "NOT warmed (PERENNIAL_BENCH_COLD_MEMORY=1)" : "warmed (a scratch file written and removed)");
    std::printf("median of %d repeats on %d ranks, %llu MiB: dd %.1f MB/s, write %.1f MB/s, verify %.1f MB/s; "
                "write / dd %.2f (goal 0.8), write + verify / dd %.2f; buffered write / dd %.2f; "
                "buffered time / direct time %.2f\n",
                repeats, world.size(), static_cast<unsigned long long>(mib), median(dd_rates), median(write_rates),
                median(verify_rates), median(write_ratios), median(both_ratios), median(buffered_ratios),
                median(direct_over_buffered));
    std::printf("summary: ranks=%d mib=%llu dd_mb_s=%.1f write_mb_s=%.1f verify_mb_s=%.1f write_over_dd=%.2f "
                "write_verify_over_dd=%.2f buffered_over_dd=%.2f buffered_over_direct_time=%.2f warm_page_cache=%d\n",
                world.size(), static_cast<unsigned long long>(mib), median(dd_rates), median(write_rates),
                median(verify_rates), median(write_ratios), median(both_ratios), median(buffered_ratios),
                median(direct_over_buffered), cold ? 0 : 1);
  }
  return 0;
}
