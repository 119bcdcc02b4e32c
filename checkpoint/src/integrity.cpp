#include "integrity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>

namespace perennial::checkpoint::detail {

std::string_view kind_name(EntryKind kind) {
  switch (kind) {
    case EntryKind::array: return "array";
    case EntryKind::coordinate: return "coordinate";
    case EntryKind::scalar: return "scalar";
    case EntryKind::bytes: return "bytes";
  }
  return "array";
}

std::string format_manifest(const std::vector<ManifestEntry>& entries) {
  std::string text;
  for (const auto& e : entries) {
    text += kind_name(e.kind);
    text += ' ';
    text += e.name;
    text += '\n';
  }
  // A committed file with nothing in it (a kernel whose whole state is its step count) has a
  // manifest all the same, a blank line, so that it is told apart from a file never
  // committed (no attribute at all). Readers skip blank lines.
  if (text.empty()) text.push_back('\n');
  return text;
}

std::optional<std::vector<ManifestEntry>> parse_manifest(std::string_view text, std::string& problem) {
  std::vector<ManifestEntry> entries;
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const std::size_t end = std::min(text.find('\n'), text.size());
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    if (line.empty()) continue;
    std::size_t space = line.find(' ');
    const std::string_view kind = line.substr(0, space);
    ManifestEntry entry;
    if (kind == "array") entry.kind = EntryKind::array;
    else if (kind == "coordinate") entry.kind = EntryKind::coordinate;
    else if (kind == "scalar") entry.kind = EntryKind::scalar;
    else if (kind == "bytes") entry.kind = EntryKind::bytes;
    else space = std::string_view::npos;
    if (space == std::string_view::npos || space + 1 >= line.size()) {
      problem = fmt::format("manifest line {} is not '<kind> <name>': '{}'", line_number, line);
      return std::nullopt;
    }
    entry.name = std::string(line.substr(space + 1));
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::uint64_t hash_as_stored(const void* data, std::size_t elements, std::size_t element_size) {
  const std::size_t bytes = elements * element_size;
  if constexpr (std::endian::native == std::endian::little) {
    return XXH3_64bits(data, bytes);
  } else {
    // The file holds little-endian values: hash what a reader of the raw bytes will see.
    std::vector<unsigned char> stored(bytes);
    if (bytes > 0) std::memcpy(stored.data(), data, bytes);
    for (std::size_t i = 0; i < bytes; i += element_size) {
      std::reverse(stored.begin() + static_cast<std::ptrdiff_t>(i),
                   stored.begin() + static_cast<std::ptrdiff_t>(i + element_size));
    }
    return XXH3_64bits(stored.data(), bytes);
  }
}

StreamHash::StreamHash() : state_(XXH3_createState()) {
  if (!state_ || XXH3_64bits_reset(state_.get()) != XXH_OK) throw std::bad_alloc();
}

void StreamHash::add(const void* data, std::size_t bytes) {
  if (bytes > 0) XXH3_64bits_update(state_.get(), data, bytes);
}

std::uint64_t StreamHash::digest() const { return XXH3_64bits_digest(state_.get()); }

std::string entry_name_problem(std::string_view name) {
  if (name.empty()) return "the name is empty";
  if (name.find('/') != std::string_view::npos) return "the name contains '/'";
  if (name.find('\n') != std::string_view::npos) return "the name contains a line break";
  if (name == "." || name == "..") return "the name is '.' or '..'";
  if (name == kChecksumGroup) return fmt::format("'{}' is reserved for checksum tables", kChecksumGroup);
  return {};
}

}  // namespace perennial::checkpoint::detail
