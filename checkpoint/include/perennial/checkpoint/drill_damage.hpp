#pragma once
// Damage done on purpose to a committed checkpoint, for failure drills (FaultPlan's
// corrupt-checkpoint and truncate-checkpoint): the silent bit flip and the cut-short file
// that restores must detect. Serial: one rank calls these while no one else uses the file.

#include <cstdint>
#include <filesystem>
#include <string>

namespace perennial::checkpoint {

/// Flips one bit in the middle of the raw data of the file's first state dataset (not the
/// checksum tables), so that only the per-block checksums can tell. Returns what it did.
/// Throws Hdf5Error or std::filesystem::filesystem_error naming the file.
std::string flip_bit_in_data(const std::filesystem::path& file);

/// Truncates the file to half its size. Returns what it did.
std::string truncate_to_half(const std::filesystem::path& file);

}  // namespace perennial::checkpoint
