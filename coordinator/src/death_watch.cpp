#include <perennial/coordinator/death_watch.hpp>

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace perennial {

namespace {

// Through syscall(): glibc 2.36's <sys/pidfd.h> declares pidfd_open without C linkage.
int open_pidfd(int pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

DeathWatch::~DeathWatch() {
  for (const auto& [id, fd] : fds_) ::close(fd);
}

void DeathWatch::watch(int id, int pid) {
  forget(id);
  if (pid <= 0) return;
  const int fd = open_pidfd(pid);
  if (fd >= 0) {
    fds_[id] = fd;
  } else if (errno == ESRCH) {
    gone_.push_back(id);
  }
}

void DeathWatch::forget(int id) {
  if (auto it = fds_.find(id); it != fds_.end()) {
    ::close(it->second);
    fds_.erase(it);
  }
  std::erase(gone_, id);
}

std::vector<int> DeathWatch::ended() {
  std::vector<int> out;
  out.swap(gone_);
  if (fds_.empty()) return out;
  std::vector<pollfd> fds;
  std::vector<int> ids;
  for (const auto& [id, fd] : fds_) {
    fds.push_back({fd, POLLIN, 0});
    ids.push_back(id);
  }
  if (::poll(fds.data(), fds.size(), 0) <= 0) return out;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (fds[i].revents != 0) out.push_back(ids[i]);
  }
  for (int id : out) forget(id);
  return out;
}

}  // namespace perennial
