#include <perennial/checkpoint/epoch_store.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <string_view>
#include <tuple>

namespace perennial::checkpoint {

namespace {
constexpr std::string_view kPrefix = "epoch-";
constexpr std::string_view kSuffix = ".h5";
constexpr std::string_view kPartial = ".partial";

/// Regular files of `dir`; none when it does not exist.
std::vector<std::filesystem::path> files_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  if (!std::filesystem::exists(dir)) return files;
  for (const auto& item : std::filesystem::directory_iterator(dir)) {
    if (item.is_regular_file()) files.push_back(item.path());
  }
  return files;
}
}  // namespace

EpochStore::EpochStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

EpochStore EpochStore::for_stage(const std::filesystem::path& output_dir, const std::string& stage) {
  return EpochStore(output_dir / "checkpoints" / stage);
}

std::filesystem::path EpochStore::path_for(std::uint64_t epoch) const {
  return dir_ / fmt::format("{}{:06}{}", kPrefix, epoch, kSuffix);
}

std::optional<std::uint64_t> EpochStore::parse_epoch(const std::string& file_name) {
  std::string_view name = file_name;
  if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) return std::nullopt;
  name.remove_prefix(kPrefix.size());
  name.remove_suffix(kSuffix.size());
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::uint64_t epoch = 0;
  const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), epoch);
  if (error != std::errc() || end != name.data() + name.size()) return std::nullopt;  // e.g. too large
  return epoch;
}

void EpochStore::create() const { std::filesystem::create_directories(dir_); }

std::vector<CommittedEpoch> EpochStore::committed() const {
  std::vector<CommittedEpoch> epochs;
  for (const auto& file : files_in(dir_)) {
    if (auto epoch = parse_epoch(file.filename().string())) epochs.push_back({*epoch, file});
  }
  // Both epoch-12.h5 and epoch-000012.h5 may exist; the name orders them, so the result
  // does not depend on the directory's order.
  std::sort(epochs.begin(), epochs.end(), [](const CommittedEpoch& a, const CommittedEpoch& b) {
    return std::tie(a.epoch, a.path) < std::tie(b.epoch, b.path);
  });
  return epochs;
}

std::vector<std::filesystem::path> EpochStore::remove_partials() const {
  std::vector<std::filesystem::path> removed;
  for (const auto& file : files_in(dir_)) {
    const std::string name = file.filename().string();
    if (!std::string_view(name).ends_with(kPartial)) continue;
    // Only what a checkpoint writer leaves; anything else in the directory is not ours.
    if (!parse_epoch(name.substr(0, name.size() - kPartial.size()))) continue;
    std::filesystem::remove(file);
    removed.push_back(file);
  }
  std::sort(removed.begin(), removed.end());
  return removed;
}

std::vector<std::filesystem::path> EpochStore::prune(std::size_t keep,
                                                     std::optional<std::uint64_t> newest_verified_epoch) const {
  std::vector<std::filesystem::path> removed;
  if (!newest_verified_epoch) return removed;
  const std::vector<CommittedEpoch> epochs = committed();
  // The newest `keep` distinct epochs stay; so do the verified one and all after it.
  std::vector<std::uint64_t> distinct;
  for (const auto& e : epochs) {
    if (distinct.empty() || distinct.back() != e.epoch) distinct.push_back(e.epoch);
  }
  if (keep >= distinct.size()) return removed;
  const std::uint64_t oldest_kept =
      keep == 0 ? std::numeric_limits<std::uint64_t>::max() : distinct[distinct.size() - keep];
  for (const auto& e : epochs) {
    if (e.epoch >= oldest_kept) continue;
    if (e.epoch >= *newest_verified_epoch) continue;
    std::filesystem::remove(e.path);
    removed.push_back(e.path);
  }
  return removed;
}

}  // namespace perennial::checkpoint
