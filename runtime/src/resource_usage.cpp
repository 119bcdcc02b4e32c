#include <perennial/resource_usage.hpp>

#include <sys/resource.h>

namespace perennial {

namespace {

rusage usage_of(int who) {
  rusage usage{};
  getrusage(who, &usage);
  return usage;
}

double cpu_seconds(const rusage& usage) {
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

double process_cpu_seconds() { return cpu_seconds(usage_of(RUSAGE_SELF)); }

double thread_cpu_seconds() { return cpu_seconds(usage_of(RUSAGE_THREAD)); }

std::uint64_t peak_rss_bytes() {
  return static_cast<std::uint64_t>(usage_of(RUSAGE_SELF).ru_maxrss) * 1024;  // kilobytes on Linux
}

}  // namespace perennial
