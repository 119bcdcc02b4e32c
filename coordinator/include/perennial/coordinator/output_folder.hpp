#pragma once
// OutputFolderLock: a campaign's output folder belongs to one campaign and is used by one run
// at a time. Two runs in one folder would overwrite each other's outputs and interleave their
// journals; a second campaign in a folder would resume from the first one's journal. Rank 0
// takes the lock before it writes anything. Plain C++ (POSIX flock), no MPI.

#include <filesystem>
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

 private:
  int fd_ = -1;
};

}  // namespace perennial
