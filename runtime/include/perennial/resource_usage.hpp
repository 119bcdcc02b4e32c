#pragma once
/// What this process (or thread) has used so far, from getrusage: CPU time for the
/// benchmarks' and the run summary's figures, peak memory for the simulator's report.

#include <cstdint>

namespace perennial {

/// User plus system CPU seconds of the whole process.
double process_cpu_seconds();

/// User plus system CPU seconds of the calling thread only (a worker's kernel thread,
/// without its heartbeat thread).
double thread_cpu_seconds();

/// The process's peak resident set size, in bytes.
std::uint64_t peak_rss_bytes();

}  // namespace perennial
