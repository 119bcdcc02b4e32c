#include <perennial/checkpoint/checkpoint_reader.hpp>

#include "hdf5_support.hpp"
#include "integrity.hpp"

#include <perennial/errors.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <optional>

namespace perennial::checkpoint {

using detail::check_id;
using detail::check_status;
using detail::Where;

namespace {
/// What the reader learnt about one manifest entry when opening the file.
struct Entry {
  detail::EntryKind kind = detail::EntryKind::array;
  std::optional<DType> dtype;  ///< nullopt for bytes (uint8, not a DType)
  std::vector<std::uint64_t> shape;
};
}  // namespace

struct CheckpointFileReader::State {
  boost::mpi::communicator group;
  std::filesystem::path path;
  std::string file_name;
  CheckpointIdentity identity;
  EpochInfo info;
  std::vector<std::string> order;
  std::map<std::string, Entry, std::less<>> entries;
  FileHandle file;

  std::string say(std::string_view name, const std::string& what) const {
    return fmt::format("checkpoint entry '{}' in '{}': {}", name, file_name, what);
  }
  /// The entry, or why it cannot be read as `kind`.
  /// Collective: the entry, or why it cannot be read as `kind` (on any rank).
  const Entry* find_on_all(std::string_view name, detail::EntryKind kind, std::string& problem) const {
    const Entry* entry = find(name, kind, problem);
    std::string differs = detail::name_differs_from_rank0(group, name);
    if (problem.empty() && !differs.empty()) problem = fmt::format("checkpoint '{}': {}", file_name, differs);
    detail::agree_or_throw(group, problem, identity.stage);
    return entry;
  }
  /// The entry, or why it cannot be read as `kind`. Local.
  const Entry* find(std::string_view name, detail::EntryKind kind, std::string& problem) const {
    auto it = entries.find(name);
    if (it == entries.end()) {
      problem = say(name, fmt::format("not in the checkpoint (it holds: {})",
                                      order.empty() ? "nothing" : fmt::format("{}", fmt::join(order, ", "))));
      return nullptr;
    }
    if (it->second.kind != kind) {
      problem = say(name, fmt::format("is {} {}, not {} {}", it->second.kind == detail::EntryKind::array ? "an" : "a",
                                      detail::kind_name(it->second.kind),
                                      kind == detail::EntryKind::array ? "an" : "a", detail::kind_name(kind)));
      return nullptr;
    }
    return &it->second;
  }
  /// Reads the whole of a small dataset (scalar or bytes) on every rank, collectively.
  void read_whole(const std::string& name, hid_t memory_type, const std::vector<std::uint64_t>& shape,
                  void* data) const;
};

CheckpointFileReader::CheckpointFileReader(const boost::mpi::communicator& group, std::filesystem::path path)
    : state_(std::make_unique<State>()) {
  ensure_hdf5_quiet();
  State& s = *state_;
  s.group = group;
  s.path = std::move(path);
  s.file_name = s.path.string();
  Where where{s.file_name, "/"};
  PropertyListHandle fapl = detail::mpio_file_access(s.group, where);
  s.file = FileHandle{check_id(H5Fopen(s.file_name.c_str(), H5F_ACC_RDONLY, fapl.get()), where, "open file")};

  const std::string format = detail::read_string_attribute(s.file.get(), detail::kFormatAttribute, where);
  if (format != detail::kCheckpointFormat) {
    throw Hdf5Error(s.file_name, "/", "open checkpoint",
                    format.empty() ? "not a Perennial checkpoint (no perennial_format attribute)"
                                   : fmt::format("not a checkpoint but a '{}' file", format));
  }
  s.identity.campaign = detail::read_string_attribute(s.file.get(), "campaign", where);
  s.identity.stage = detail::read_string_attribute(s.file.get(), "stage", where);
  s.identity.kernel = detail::read_string_attribute(s.file.get(), "kernel", where);
  s.identity.kernel_version = detail::read_string_attribute(s.file.get(), "kernel_version", where);
  s.identity.definition = detail::read_string_attribute(s.file.get(), "definition", where);
  s.info.epoch = detail::read_uint64_attribute(s.file.get(), "epoch", where).value_or(0);
  s.info.step = detail::read_uint64_attribute(s.file.get(), "step", where).value_or(0);
  s.info.time = detail::read_double_attribute(s.file.get(), "time", where).value_or(0.0);

  const std::string manifest = detail::read_string_attribute(s.file.get(), detail::kManifestAttribute, where);
  if (manifest.empty()) {
    throw Hdf5Error(s.file_name, "/", "open checkpoint", "no manifest: the checkpoint was never committed");
  }
  std::string problem;
  const auto listed = detail::parse_manifest(manifest, problem);
  if (!listed) throw Hdf5Error(s.file_name, "/", "open checkpoint", problem);
  for (const auto& item : *listed) {
    where.object = item.name;
    DatasetHandle dataset{check_id(H5Dopen2(s.file.get(), item.name.c_str(), H5P_DEFAULT), where, "open dataset")};
    DatatypeHandle type{check_id(H5Dget_type(dataset.get()), where, "read the type of dataset")};
    DataspaceHandle space{check_id(H5Dget_space(dataset.get()), where, "read the shape of dataset")};
    Entry entry;
    entry.kind = item.kind;
    entry.dtype = detail::dtype_from(type.get());
    entry.shape = detail::extent_of(space.get(), where);
    if (item.kind != detail::EntryKind::bytes && !entry.dtype) {
      throw Hdf5Error(s.file_name, item.name, "open dataset", "an element type Perennial does not read");
    }
    s.order.push_back(item.name);
    s.entries.emplace(item.name, std::move(entry));
  }
}

CheckpointFileReader::~CheckpointFileReader() = default;

const std::filesystem::path& CheckpointFileReader::path() const { return state_->path; }
EpochInfo CheckpointFileReader::info() const { return state_->info; }
const CheckpointIdentity& CheckpointFileReader::identity() const { return state_->identity; }
std::vector<std::string> CheckpointFileReader::names() const { return state_->order; }

std::vector<std::uint64_t> CheckpointFileReader::shape(std::string_view name) const {
  const State& s = *state_;
  auto it = s.entries.find(name);
  if (it == s.entries.end()) {
    std::string problem;
    s.find(name, detail::EntryKind::array, problem);
    throw KernelError(s.identity.stage, problem);
  }
  return it->second.shape;
}

void CheckpointFileReader::State::read_whole(const std::string& name, hid_t memory_type,
                                             const std::vector<std::uint64_t>& shape, void* data) const {
  // An empty byte string has no storage to read (the same on every rank).
  if (!shape.empty() && shape[0] == 0) return;
  const Where where{file_name, name};
  DatasetHandle dataset{check_id(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT), where, "open dataset")};
  detail::Selection selection = detail::select_block(shape, Hyperslab::whole(shape), true, where);
  PropertyListHandle dxpl = detail::collective_transfer(where);
  check_status(H5Dread(dataset.get(), memory_type, selection.memory.get(), selection.file.get(), dxpl.get(), data),
               where, "read dataset");
}

double CheckpointFileReader::read_scalar(std::string_view name) const {
  ensure_hdf5_quiet();
  const State& s = *state_;
  std::string problem;
  const Entry* entry = s.find_on_all(name, detail::EntryKind::scalar, problem);
  double value = 0.0;
  s.read_whole(std::string(name), H5T_NATIVE_DOUBLE, entry->shape, &value);
  return value;
}

std::vector<std::byte> CheckpointFileReader::read_bytes(std::string_view name) const {
  ensure_hdf5_quiet();
  const State& s = *state_;
  std::string problem;
  const Entry* entry = s.find_on_all(name, detail::EntryKind::bytes, problem);
  std::vector<std::byte> bytes(entry->shape.at(0));
  s.read_whole(std::string(name), H5T_NATIVE_UINT8, entry->shape, bytes.data());
  return bytes;
}

void CheckpointFileReader::read_raw(std::string_view name, const Hyperslab& slab, DType type, void* data,
                                    std::size_t elements) const {
  ensure_hdf5_quiet();
  const State& s = *state_;
  std::string problem;
  const Entry* entry = s.find(name, detail::EntryKind::array, problem);
  if (entry != nullptr) {
    if (type != *entry->dtype) {
      problem = s.say(name, fmt::format("holds {} but was read as {} (no conversion)", dtype_name(*entry->dtype),
                                        dtype_name(type)));
    } else if (slab.global_shape != entry->shape) {
      problem = s.say(name, fmt::format("has shape [{}] but the block is of an array of shape [{}]",
                                        fmt::join(entry->shape, ", "), fmt::join(slab.global_shape, ", ")));
    } else if (auto bad = slab.check(); !bad.empty()) {
      problem = s.say(name, bad);
    } else if (elements != slab.element_count()) {
      problem = s.say(name, fmt::format("the block has {} elements but the buffer has {}", slab.element_count(),
                                        elements));
    }
  }
  std::string differs = detail::name_differs_from_rank0(s.group, name);
  if (problem.empty() && !differs.empty()) problem = fmt::format("checkpoint '{}': {}", s.file_name, differs);
  detail::agree_or_throw(s.group, problem, s.identity.stage);

  std::uint64_t size = 1;
  for (auto extent : entry->shape) size *= extent;
  if (size == 0) return;  // no storage to read; every rank knows the shape, so all return
  const Where where{s.file_name, std::string(name)};
  DatasetHandle dataset{check_id(H5Dopen2(s.file.get(), where.object.c_str(), H5P_DEFAULT), where, "open dataset")};
  const bool take_part = entry->shape.empty() || slab.element_count() > 0;
  detail::Selection selection = detail::select_block(entry->shape, slab, take_part, where);
  PropertyListHandle dxpl = detail::collective_transfer(where);
  double nothing = 0.0;  // HDF5 rejects a null buffer; ranks selecting none pass this
  check_status(H5Dread(dataset.get(), detail::memory_type_of(type), selection.memory.get(), selection.file.get(),
                       dxpl.get(), data != nullptr && take_part ? data : &nothing),
               where, "read dataset");
  detail::note_io_mode(dxpl.get(), where);
}

}  // namespace perennial::checkpoint
