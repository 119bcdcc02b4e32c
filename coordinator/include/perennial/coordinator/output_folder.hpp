#pragma once
// OutputFolderLock: a campaign's output folder belongs to one campaign and is used by one run
// at a time. Two runs in one folder would overwrite each other's outputs and interleave their
// journals; a second campaign in a folder would resume from the first one's journal. Rank 0
// takes the lock before it writes anything. Plain C++ (POSIX flock), no MPI.

#include <filesystem>
#include <optional>
#include <string>

namespace perennial {

class OutputFolderLock {
 public:
  /// Creates the folder if needed and takes `<folder>/.perennial.lock` (flock, released by the
  /// kernel when this process ends however it ends). Throws Error naming the folder when
  /// another run holds it (with that run's pid, host and start), or when its journal belongs
  /// to a campaign of another name.
  OutputFolderLock(const std::filesystem::path& folder, const std::string& campaign);
  ~OutputFolderLock();
  OutputFolderLock(const OutputFolderLock&) = delete;
  OutputFolderLock& operator=(const OutputFolderLock&) = delete;
  OutputFolderLock(OutputFolderLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  OutputFolderLock& operator=(OutputFolderLock&&) = delete;

  /// The lock of an existing folder when no run holds it (nullopt when one does): a command
  /// that writes to a stopped campaign's journal (`perennial priority`) holds it meanwhile, so
  /// no run starts halfway through. `holder` is the note a refused run prints. Throws Error
  /// naming the lock file when it cannot be opened.
  static std::optional<OutputFolderLock> try_take(const std::filesystem::path& folder, const std::string& holder);

 private:
  explicit OutputFolderLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace perennial
