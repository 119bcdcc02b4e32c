#include <perennial/coordinator/journal.hpp>
#include <perennial/coordinator/output_folder.hpp>
#include <perennial/errors.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>

namespace perennial {

namespace {

// The campaign an earlier run in this folder journaled, if any.
std::string journaled_campaign(const std::filesystem::path& folder) {
  for (const auto& record : Journal::read(folder / "journal.jsonl").records) {
    if (record.value("type", "") == "run_started") return record.value("campaign", "");
  }
  return {};
}

std::string host_name() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

}  // namespace

OutputFolderLock::OutputFolderLock(const std::filesystem::path& folder, const std::string& campaign) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) throw Error(fmt::format("cannot create the output folder {}: {}", folder.string(), ec.message()));
  const auto path = folder / ".perennial.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    std::ifstream in(path);
    std::string holder((std::istreambuf_iterator<char>(in)), {});
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    ::close(fd_);
    fd_ = -1;
    throw Error(fmt::format("the output folder {} is in use by another run ({}); two runs must not share an output "
                            "folder: wait for it to end, or give this one its own output_dir",
                            folder.string(), holder.empty() ? "holder unknown" : holder));
  }
  const std::string owner = journaled_campaign(folder);
  if (!owner.empty() && owner != campaign) {
    ::close(fd_);
    fd_ = -1;
    throw Error(fmt::format("the output folder {} holds campaign '{}' (its journal.jsonl), not '{}': give this "
                            "campaign its own output_dir (or --output-dir), or remove that folder",
                            folder.string(), owner, campaign));
  }
  const std::string me = fmt::format("campaign '{}', pid {} on {}, since {}", campaign, ::getpid(), host_name(),
                                     static_cast<long long>(std::time(nullptr)));
  if (::ftruncate(fd_, 0) == 0) {
    const ssize_t written = ::pwrite(fd_, me.data(), me.size(), 0);
    (void)written;  // the note is for people; the lock itself is what counts
  }
}

std::optional<OutputFolderLock> OutputFolderLock::try_take(const std::filesystem::path& folder, const std::string& holder) {
  const auto path = folder / ".perennial.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  if (::ftruncate(fd, 0) == 0) {
    const ssize_t written = ::pwrite(fd, holder.data(), holder.size(), 0);
    (void)written;  // the note is for people
  }
  return OutputFolderLock(fd);
}

OutputFolderLock::~OutputFolderLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace perennial
