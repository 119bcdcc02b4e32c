#pragma once
// Making a finished file durable under its final name, for checkpoints and stage outputs
// alike: fsync the file, rename it from its `.partial` name, fsync the folder. A crash before
// the rename leaves `.partial`; after the folder's sync, the final name survives a power loss.
// Rank 0's part only (the collective flush before it is the writer's).

#include <filesystem>
#include <string>

namespace perennial::checkpoint::detail {

/// fsync of a file or directory by path; "" on success, else what failed.
std::string fsync_path(const std::filesystem::path& path, bool directory);

/// fsync `partial`, rename it to `final_path`, fsync the folder; "" on success, else what failed.
std::string publish(const std::filesystem::path& partial, const std::filesystem::path& final_path);

}  // namespace perennial::checkpoint::detail
