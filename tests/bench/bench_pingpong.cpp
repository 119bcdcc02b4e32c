// bench_pingpong: the machine's floor for a stage transition. Rank 0 and rank 1 of however
// many ranks mpiexec starts (bench_dispatch.sh starts it exactly as it starts `perennial run`:
// the same rank count and flags, so the same oversubscription) bounce a message of the size of
// a stage assignment. The other ranks wait in MPI_Barrier (asleep or polling as Open MPI
// does for them).
//
// The figure is the median round trip over --trips (after a warm-up), both sides in MPI_Recv:
// Open MPI polls there, so this is the floor a runtime that never sleeps would get.
// Prints `summary: pingpong_us=... bytes=... ranks=...`.

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Round trips between ranks 0 and 1, microseconds each.
std::vector<double> bounce(int rank, int trips, std::size_t bytes) {
  std::vector<char> buffer(bytes, 'x');
  std::vector<double> times;
  const int n = static_cast<int>(bytes);
  for (int i = 0; i < trips; ++i) {
    if (rank == 0) {
      const auto start = std::chrono::steady_clock::now();
      MPI_Send(buffer.data(), n, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
      MPI_Recv(buffer.data(), n, MPI_CHAR, 1, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      times.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    } else if (rank == 1) {
      MPI_Recv(buffer.data(), n, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(buffer.data(), n, MPI_CHAR, 0, 2, MPI_COMM_WORLD);
    }
  }
  return times;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int trips = 2000;
  std::size_t bytes = 300;  // about an AssignStage of a noop stage, serialized
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--trips") == 0) trips = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--bytes") == 0) bytes = static_cast<std::size_t>(std::atol(argv[i + 1]));
  }
  if (size < 2) {
    if (rank == 0) std::fprintf(stderr, "bench_pingpong: needs at least 2 ranks\n");
    MPI_Finalize();
    return 2;
  }
  bounce(rank, trips / 10, bytes);  // warm-up: connections, caches
  const double polling = median(bounce(rank, trips, bytes));
  if (rank == 0) {
    std::printf("bench_pingpong: %d ranks, %zu-byte messages between ranks 0 and 1, %d round trips\n", size, bytes, trips);
    std::printf("  median %.2f us per round trip (MPI_Recv on both sides)\n", polling);
    std::printf("summary: pingpong_us=%.2f bytes=%zu ranks=%d\n", polling, bytes, size);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Finalize();
  return 0;
}
