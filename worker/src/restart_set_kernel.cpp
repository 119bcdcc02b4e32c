#include "restart_set_kernel.hpp"

#include <perennial/errors.hpp>

#include <boost/mpi/collectives.hpp>
#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace perennial {

namespace {

namespace fs = std::filesystem;

std::span<const std::byte> as_bytes(const std::string& text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

std::vector<std::byte> read_whole(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read restart file {}", file.string()));
  std::vector<std::byte> bytes(fs::file_size(file));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!in) throw Error(fmt::format("restart file {} changed while it was read", file.string()));
  return bytes;
}

}  // namespace

void RestartSetKernel::save(StageContext&, CheckpointWriter& writer) {
  std::string manifest;
  std::uint64_t count = 0;
  if (group_.rank() == 0) {
    for (const auto& f : pending.files) manifest += fmt::format("{}\t{}\n", fs::file_size(run_dir_ / f), f);
    count = pending.files.size();
  }
  boost::mpi::broadcast(group_, count, 0);
  writer.write_bytes("restart_manifest", as_bytes(manifest));
  for (std::uint64_t i = 0; i < count; ++i) {
    std::vector<std::byte> bytes;
    if (group_.rank() == 0) bytes = read_whole(run_dir_ / pending.files[i]);
    writer.write_bytes(fmt::format("restart_file_{}", i), bytes);
  }
}

void RestartSetKernel::restore(StageContext&, CheckpointReader& reader) {
  const auto manifest_bytes = reader.read_bytes("restart_manifest");
  std::istringstream manifest(std::string(reinterpret_cast<const char*>(manifest_bytes.data()), manifest_bytes.size()));
  std::string line;
  std::size_t i = 0;
  while (std::getline(manifest, line)) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) throw Error("restart manifest: a line without a tab: " + line);
    const std::uint64_t size = std::stoull(line.substr(0, tab));
    const std::string name = line.substr(tab + 1);
    if (name.empty() || fs::path(name).is_absolute() || name.find("..") != std::string::npos) {
      throw Error("restart manifest: a file outside the run folder: " + name);
    }
    const auto bytes = reader.read_bytes(fmt::format("restart_file_{}", i++));
    if (bytes.size() != size) throw Error(fmt::format("restart file {}: {} bytes stored, {} listed", name, bytes.size(), size));
    if (group_.rank() == 0) {
      const fs::path target = run_dir_ / name;
      fs::create_directories(target.parent_path());
      const fs::path partial = target.string() + ".restoring";
      {
        std::ofstream out(partial, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        if (!out.flush()) throw Error(fmt::format("cannot write {}", partial.string()));
      }
      fs::rename(partial, target);
    }
  }
}

KernelInfo RestartSetKernel::info() const {
  KernelInfo k;
  k.version = "restart-files-1";
  k.checkpoints = true;
  return k;
}

}  // namespace perennial
