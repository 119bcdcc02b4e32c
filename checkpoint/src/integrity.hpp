#pragma once
// Private to the checkpoint library: how integrity data sits in a Perennial file (format tag,
// manifest, per-slab checksum tables) and the hash that writers and verifiers both compute.
//
// Layout, the same for checkpoints and stage outputs:
//   /                          root attributes `perennial_format` and, written last,
//                              `perennial_manifest` (one "<kind> <name>" line per entry)
//   /<name>                    every manifest entry is a dataset of the root group
//   /perennial_checksums/<name>  uint64 table, one row per block some rank wrote:
//                              offset[0..r), count[0..r), XXH3_64 of the block's stored bytes
// A scalar dataset (r = 0) has one row holding only the hash.

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace perennial::checkpoint::detail {

/// Root attribute naming the file's kind and layout version.
inline constexpr const char* kFormatAttribute = "perennial_format";
inline constexpr std::string_view kCheckpointFormat = "perennial-checkpoint 1";
inline constexpr std::string_view kOutputFormat = "perennial-output 1";
/// Root attribute listing every data entry. Written at commit/close, after all data, so a
/// file without it was never finished.
inline constexpr const char* kManifestAttribute = "perennial_manifest";
/// Group of checksum tables, one per manifest entry under the entry's own name.
inline constexpr const char* kChecksumGroup = "perennial_checksums";

/// What a manifest entry holds: a kernel's array, a dimension's coordinate values, a
/// checkpointed scalar or an opaque byte string.
enum class EntryKind { array, coordinate, scalar, bytes };
std::string_view kind_name(EntryKind kind);

struct ManifestEntry {
  EntryKind kind = EntryKind::array;
  std::string name;
};
std::string format_manifest(const std::vector<ManifestEntry>& entries);
/// The entries of a manifest attribute, or nullopt with `problem` set when a line is not
/// "<kind> <name>".
std::optional<std::vector<ManifestEntry>> parse_manifest(std::string_view text, std::string& problem);

/// Columns of a checksum table for a dataset of `rank` dimensions.
constexpr std::size_t checksum_columns(std::size_t rank) { return 2 * rank + 1; }

/// XXH3_64bits of `elements` values of `element_size` bytes each, as the file stores them
/// (little-endian), so that a verifier reading the raw stored bytes gets the same hash.
std::uint64_t hash_as_stored(const void* data, std::size_t elements, std::size_t element_size);

/// Incremental XXH3_64bits over pieces read one after another; same result as one call
/// over their concatenation. Owns its XXH3 state.
class StreamHash {
 public:
  StreamHash();
  void add(const void* data, std::size_t bytes);
  std::uint64_t digest() const;

 private:
  struct FreeState {
    void operator()(XXH3_state_t* state) const noexcept { XXH3_freeState(state); }
  };
  std::unique_ptr<XXH3_state_t, FreeState> state_;
};

/// Empty when `name` may name a dataset of the root group; else why not ("/" would make a
/// path, a newline would break the manifest, and the checksum group's name is taken).
std::string entry_name_problem(std::string_view name);

}  // namespace perennial::checkpoint::detail
