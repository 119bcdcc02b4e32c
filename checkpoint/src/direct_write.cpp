#include "direct_write.hpp"

#include <perennial/checkpoint/hdf5_error.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

namespace perennial::checkpoint::detail {

namespace {

// 4 KiB satisfies every device's logical block size up to 4Kn disks, for both the buffer's
// address and the file offset.
constexpr std::uint64_t kAlignment = 4096;
// Below this a block's whole pages are not worth a second file descriptor.
constexpr std::uint64_t kSmallestDirectBlock = 4u << 20;
// The aligned buffer each rank copies through; large enough that the disk sees long writes.
constexpr std::uint64_t kBounceBytes = 8u << 20;

struct Descriptor {
  int fd = -1;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

struct FreeAligned {
  void operator()(void* p) const { std::free(p); }
};

[[noreturn]] void fail_write(const std::string& path, const Where& where, std::string_view operation, int error) {
  throw Hdf5Error(path, where.object, std::string(operation), std::strerror(error));
}

/// The whole pages of the byte range [offset, offset + bytes): [begin, end), empty when
/// end <= begin. What goes to the disk directly, and what a failure gives back.
struct Pages {
  std::uint64_t begin, end;
};
Pages whole_pages(std::uint64_t offset, std::uint64_t bytes) {
  return {(offset + kAlignment - 1) / kAlignment * kAlignment, (offset + bytes) / kAlignment * kAlignment};
}

/// pwrite until done; returns 0 or the errno of the failed call. EINTR is retried.
int write_all(int fd, const char* from, std::uint64_t bytes, std::uint64_t offset, std::uint64_t* written) {
  *written = 0;
  while (*written < bytes) {
    const ssize_t n = ::pwrite(fd, from + *written, bytes - *written, static_cast<off_t>(offset + *written));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    *written += static_cast<std::uint64_t>(n);
  }
  return 0;
}

/// Bytes [from, to) of the file, taken from `block` (which starts at byte `block_offset`),
/// through the page cache; throws Hdf5Error naming `what` on failure.
void write_buffered(int fd, const char* block, std::uint64_t block_offset, std::uint64_t from, std::uint64_t to,
                    const std::string& path, const Where& where, std::string_view what) {
  if (to <= from) return;
  std::uint64_t written = 0;
  const int error = write_all(fd, block + (from - block_offset), to - from, from, &written);
  if (error != 0) fail_write(path, where, fmt::format("write {} at byte {} of", what, from + written), error);
}

}  // namespace

bool direct_write_suits(const std::string& path, std::uint64_t bytes) {
  if (bytes < kSmallestDirectBlock) return false;
  // Read at each block (a few MiB at least, so the cost is nil): bench_checkpoint_bandwidth
  // measures both paths in one process.
  const char* setting = std::getenv("PERENNIAL_IO_DIRECT");
  if (setting != nullptr && std::string_view(setting) == "0") return false;
  struct statfs fs {};
  const std::string folder = std::filesystem::path(path).parent_path().string();
  if (::statfs(folder.empty() ? "." : folder.c_str(), &fs) != 0) return false;
  switch (static_cast<unsigned long>(fs.f_type)) {
    case EXT4_SUPER_MAGIC:  // also ext2 and ext3
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
      return true;
    default:
      return false;
  }
}

bool write_block_direct(const std::string& path, std::uint64_t offset, const void* data, std::uint64_t bytes,
                        const Where& where) {
  const auto* block = static_cast<const char*>(data);
  const std::uint64_t end = offset + bytes;
  const auto [middle_begin, middle_end] = whole_pages(offset, bytes);
  if (middle_end <= middle_begin) return false;

  Descriptor direct{::open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC)};
  if (direct.fd < 0) {
    spdlog::debug("'{}': no direct I/O ({}); writing '{}' through the page cache", path, std::strerror(errno),
                  where.object);
    return false;
  }
  std::unique_ptr<char, FreeAligned> bounce{static_cast<char*>(std::aligned_alloc(kAlignment, kBounceBytes))};
  if (!bounce) return false;
  Descriptor buffered{::open(path.c_str(), O_WRONLY | O_CLOEXEC)};
  if (buffered.fd < 0) fail_write(path, where, "open for writing", errno);

  // Allocating the pages first makes the direct writes overwrites of allocated (unwritten)
  // blocks, which ext4 lets the ranks do side by side; writes into a hole or past the end of
  // the file take the file's lock for the whole write, one rank at a time. A full disk is
  // also found here, before any byte is written. File systems without fallocate skip it.
  if (::fallocate(direct.fd, 0, static_cast<off_t>(middle_begin), static_cast<off_t>(middle_end - middle_begin)) != 0 &&
      errno != EOPNOTSUPP && errno != ENOSYS) {
    fail_write(path, where, fmt::format("reserve {} bytes at byte {} of", middle_end - middle_begin, middle_begin), errno);
  }

  std::uint64_t written = 0;
  std::uint64_t at = middle_begin;
  while (at < middle_end) {
    const std::uint64_t n = std::min(kBounceBytes, middle_end - at);
    std::memcpy(bounce.get(), block + (at - offset), n);
    const int error = write_all(direct.fd, bounce.get(), n, at, &written);
    if (error == EINVAL) {
      // Refused for alignment after all (a device with larger blocks): the rest of the pages
      // go through the page cache, which takes any alignment. Pages already written directly
      // are not touched again.
      spdlog::debug("'{}': direct write refused at byte {}; finishing '{}' through the page cache", path,
                    at + written, where.object);
      break;
    }
    if (error != 0) fail_write(path, where, fmt::format("write {} bytes at byte {} of", n, at + written), error);
    at += n;
  }
  if (at < middle_end) {
    write_buffered(buffered.fd, block, offset, at + written, middle_end, path, where, "the rest of the block's pages");
  }
  // The partial pages at the ends, shared with the neighbouring ranks' blocks or HDF5's
  // metadata, through the page cache, where those writes meet coherently.
  write_buffered(buffered.fd, block, offset, offset, middle_begin, path, where, "the first bytes of the block");
  write_buffered(buffered.fd, block, offset, middle_end, end, path, where, "the last bytes of the block");
  return true;
}

void release_block_direct(const std::string& path, std::uint64_t offset, std::uint64_t bytes) {
  const auto [begin, end] = whole_pages(offset, bytes);
  if (end <= begin) return;
  Descriptor file{::open(path.c_str(), O_WRONLY | O_CLOEXEC)};
  if (file.fd < 0) return;
  if (::fallocate(file.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(begin),
                  static_cast<off_t>(end - begin)) != 0) {
    spdlog::debug("'{}': could not give back {} bytes at byte {}: {}", path, end - begin, begin, std::strerror(errno));
  }
}

}  // namespace perennial::checkpoint::detail
