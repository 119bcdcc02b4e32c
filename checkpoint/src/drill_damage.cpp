#include "hdf5_support.hpp"

#include <perennial/checkpoint/drill_damage.hpp>

#include <fmt/format.h>

#include <fstream>
#include <optional>

namespace perennial::checkpoint {

using namespace detail;

namespace {

struct DataLocation {
  std::string name;
  haddr_t offset = HADDR_UNDEF;
  hsize_t bytes = 0;
};

herr_t find_dataset(hid_t group, const char* name, const H5L_info_t*, void* data) {
  auto* found = static_cast<std::optional<DataLocation>*>(data);
  H5O_info_t info{};
  if (H5Oget_info_by_name2(group, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET) return 0;
  DatasetHandle dataset{H5Dopen2(group, name, H5P_DEFAULT)};
  if (!dataset.valid()) return 0;
  const haddr_t offset = H5Dget_offset(dataset.get());
  const hsize_t bytes = H5Dget_storage_size(dataset.get());
  if (offset == HADDR_UNDEF || bytes == 0) return 0;
  *found = DataLocation{name, offset, bytes};
  return 1;  // stop: the first dataset with stored data will do
}

}  // namespace

std::string flip_bit_in_data(const std::filesystem::path& file) {
  const Where where{file.string(), "/"};
  std::optional<DataLocation> found;
  {
    FileHandle f{check_id(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), where, "open file")};
    // Only the root group's datasets: the checksum tables live in a group of their own.
    H5Literate(f.get(), H5_INDEX_NAME, H5_ITER_NATIVE, nullptr, find_dataset, &found);
  }
  if (!found) throw Hdf5Error(file.string(), "/", "find a dataset to damage", "no dataset with stored data");
  const auto at = static_cast<std::streamoff>(found->offset + found->bytes / 2);
  std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
  char byte = 0;
  io.seekg(at);
  io.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x10);
  io.seekp(at);
  io.write(&byte, 1);
  io.flush();
  if (!io) throw std::filesystem::filesystem_error("flip a bit", file, std::make_error_code(std::errc::io_error));
  return fmt::format("flipped one bit of dataset '{}' at byte {} of {}", found->name, at, file.string());
}

std::string truncate_to_half(const std::filesystem::path& file) {
  const auto size = std::filesystem::file_size(file);
  std::filesystem::resize_file(file, size / 2);
  return fmt::format("truncated {} from {} to {} bytes", file.string(), size, size / 2);
}

}  // namespace perennial::checkpoint
