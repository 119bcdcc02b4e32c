#include "durable_file.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace perennial::checkpoint::detail {

std::string fsync_path(const std::filesystem::path& path, bool directory) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return fmt::format("cannot open '{}' to sync it: {}", path.string(), std::strerror(errno));
  std::string problem;
  if (::fsync(fd) != 0) problem = fmt::format("fsync of '{}' failed: {}", path.string(), std::strerror(errno));
  ::close(fd);
  return problem;
}

std::string publish(const std::filesystem::path& partial, const std::filesystem::path& final_path) {
  if (auto bad = fsync_path(partial, false); !bad.empty()) return bad;
  std::error_code error;
  std::filesystem::rename(partial, final_path, error);
  if (error) {
    return fmt::format("cannot rename '{}' to '{}': {}", partial.string(), final_path.string(), error.message());
  }
  std::filesystem::path directory = final_path.parent_path();
  if (directory.empty()) directory = ".";
  return fsync_path(directory, true);
}

}  // namespace perennial::checkpoint::detail
