#include <perennial/proc_file.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace perennial {

std::string read_proc_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got > 0) {
      text.append(buffer, static_cast<std::size_t>(got));
    } else if (got < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // the end, or the process is gone (ESRCH): what was read so far
    }
  }
  ::close(fd);
  return text;
}

}  // namespace perennial
