#pragma once
// EpochStore: the checkpoint files of one stage in `<output_dir>/checkpoints/<stage>/`,
// named `epoch-<N>.h5`: where the next one goes, which are committed, which to delete.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace perennial::checkpoint {

/// One committed checkpoint file (under its final name).
struct CommittedEpoch {
  std::uint64_t epoch = 0;
  std::filesystem::path path;

  friend bool operator==(const CommittedEpoch&, const CommittedEpoch&) = default;
};

/// Plain file-system work, no MPI and no HDF5: callers run it on one rank (group rank 0)
/// and tell the others. Every member but the constructors and path_for() reads or changes the
/// directory; file-system failures throw std::filesystem::filesystem_error naming the path.
/// A missing directory holds no epochs.
class EpochStore {
 public:
  explicit EpochStore(std::filesystem::path dir);
  /// The store of `stage` under a campaign's output directory.
  static EpochStore for_stage(const std::filesystem::path& output_dir, const std::string& stage);

  const std::filesystem::path& dir() const { return dir_; }
  /// `<dir>/epoch-000012.h5`: zero-padded to six digits so that a listing sorts by epoch.
  std::filesystem::path path_for(std::uint64_t epoch) const;
  /// The epoch a file name stands for: `epoch-<digits>.h5`, padded or not; nullopt otherwise.
  static std::optional<std::uint64_t> parse_epoch(const std::string& file_name);

  /// Creates the directory (and its parents) if missing.
  void create() const;
  /// Files under a final epoch name, ascending by epoch.
  std::vector<CommittedEpoch> committed() const;
  /// Deletes `epoch-<N>.h5.partial` files: what writers left when they died before commit.
  /// Only while no writer of this stage is running. Returns what it deleted.
  std::vector<std::filesystem::path> remove_partials() const;
  /// Deletes committed epochs older than the newest `keep`, except the newest verified one
  /// and anything newer than it: a restart needs a good checkpoint more than it needs disk.
  /// With no verified epoch (nullopt) nothing is deleted, since none is known to be good.
  /// Returns what it deleted.
  std::vector<std::filesystem::path> prune(std::size_t keep,
                                           std::optional<std::uint64_t> newest_verified_epoch) const;

 private:
  std::filesystem::path dir_;
};

}  // namespace perennial::checkpoint
