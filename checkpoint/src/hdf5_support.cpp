#include "hdf5_support.hpp"

#include <perennial/errors.hpp>

#include <boost/mpi/collectives.hpp>
#include <boost/serialization/string.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <limits>
#include <thread>

namespace perennial::checkpoint::detail {

hid_t file_type_of(DType type) {
  switch (type) {
    case DType::float32: return H5T_IEEE_F32LE;
    case DType::float64: return H5T_IEEE_F64LE;
    case DType::int32: return H5T_STD_I32LE;
    case DType::int64: return H5T_STD_I64LE;
  }
  return H5T_IEEE_F64LE;
}

hid_t memory_type_of(DType type) {
  switch (type) {
    case DType::float32: return H5T_NATIVE_FLOAT;
    case DType::float64: return H5T_NATIVE_DOUBLE;
    case DType::int32: return H5T_NATIVE_INT32;
    case DType::int64: return H5T_NATIVE_INT64;
  }
  return H5T_NATIVE_DOUBLE;
}

std::optional<DType> dtype_from(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const std::size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT) {
    // Only IEEE layouts: a float of another precision or exponent would read back as garbage.
    if (H5Tequal(type, H5T_IEEE_F32LE) > 0 || H5Tequal(type, H5T_IEEE_F32BE) > 0) return DType::float32;
    if (H5Tequal(type, H5T_IEEE_F64LE) > 0 || H5Tequal(type, H5T_IEEE_F64BE) > 0) return DType::float64;
    return std::nullopt;
  }
  if (cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_2) {
    if (size == 4) return DType::int32;
    if (size == 8) return DType::int64;
  }
  return std::nullopt;
}

MpiInfo::MpiInfo(const MpiIoHints& hints) {
  if (hints.empty()) return;
  check_mpi(MPI_Info_create(&info_), "MPI_Info_create");
  for (const auto& [key, value] : hints) check_mpi(MPI_Info_set(info_, key.c_str(), value.c_str()), "MPI_Info_set");
}

MpiInfo::~MpiInfo() {
  if (info_ != MPI_INFO_NULL && MPI_Info_free(&info_) != MPI_SUCCESS) spdlog::debug("MPI_Info_free failed");
}

MpiInfo& MpiInfo::operator=(MpiInfo&& other) noexcept {
  if (this != &other) {
    MpiInfo old(std::move(*this));
    info_ = std::exchange(other.info_, MPI_INFO_NULL);
  }
  return *this;
}

MpiInfo MpiInfo::adopt(MPI_Info info) {
  MpiInfo owned;
  owned.info_ = info;
  return owned;
}

MpiIoHints MpiInfo::entries() const {
  MpiIoHints out;
  if (info_ == MPI_INFO_NULL) return out;
  int count = 0;
  check_mpi(MPI_Info_get_nkeys(info_, &count), "MPI_Info_get_nkeys");
  for (int i = 0; i < count; ++i) {
    char key[MPI_MAX_INFO_KEY + 1] = {};
    check_mpi(MPI_Info_get_nthkey(info_, i, key), "MPI_Info_get_nthkey");
    int length = 0, found = 0;
    check_mpi(MPI_Info_get_valuelen(info_, key, &length, &found), "MPI_Info_get_valuelen");
    if (!found) continue;
    std::string value(static_cast<std::size_t>(length) + 1, '\0');
    check_mpi(MPI_Info_get(info_, key, length + 1, value.data(), &found), "MPI_Info_get");
    value.resize(static_cast<std::size_t>(length));
    out[key] = value;
  }
  return out;
}

PropertyListHandle mpio_file_access(const boost::mpi::communicator& group, const Where& where,
                                    const MpiIoHints& hints) {
  PropertyListHandle fapl{check_id(H5Pcreate(H5P_FILE_ACCESS), where, "create a file access list for")};
  const MpiInfo info(hints);
  check_status(H5Pset_fapl_mpio(fapl.get(), static_cast<MPI_Comm>(group), info.get()), where,
               "set MPI-IO access for");
  check_status(H5Pset_all_coll_metadata_ops(fapl.get(), true), where, "set collective metadata reads for");
  check_status(H5Pset_coll_metadata_write(fapl.get(), true), where, "set collective metadata writes for");
  return fapl;
}

MpiIoHints hints_in_effect(hid_t file, const Where& where) {
  void* handle = nullptr;
  check_status(H5Fget_vfd_handle(file, H5P_DEFAULT, &handle), where, "get the MPI-IO handle of");
  MPI_Info taken = MPI_INFO_NULL;
  check_mpi(MPI_File_get_info(*static_cast<MPI_File*>(handle), &taken), "MPI_File_get_info");
  return MpiInfo::adopt(taken).entries();
}

PropertyListHandle collective_transfer(const Where& where) {
  PropertyListHandle dxpl{check_id(H5Pcreate(H5P_DATASET_XFER), where, "create a transfer list for")};
  check_status(H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE), where, "set collective transfer for");
  return dxpl;
}

void note_io_mode(hid_t dxpl, const Where& where) {
  H5D_mpio_actual_io_mode_t mode{};
  std::uint32_t local = 0, global = 0;
  if (H5Pget_mpio_actual_io_mode(dxpl, &mode) < 0 ||
      H5Pget_mpio_no_collective_cause(dxpl, &local, &global) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return;
  }
  if (mode == H5D_MPIO_NO_COLLECTIVE) {
    spdlog::debug("'{}' in '{}' was transferred independently (HDF5 cause bits local {:#x}, global {:#x})",
                  where.object, where.file, local, global);
  }
}

PropertyListHandle dataset_creation(const Where& where) {
  PropertyListHandle dcpl{check_id(H5Pcreate(H5P_DATASET_CREATE), where, "create a creation list for")};
  check_status(H5Pset_layout(dcpl.get(), H5D_CONTIGUOUS), where, "set contiguous layout for");
  check_status(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), where, "turn off fill values for");
  // netCDF-4 lists attributes in creation order when it is tracked (units first, as written).
  check_status(H5Pset_attr_creation_order(dcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
               where, "track attribute order for");
  return dcpl;
}

std::vector<hsize_t> to_hsize(const std::vector<std::uint64_t>& values) {
  return {values.begin(), values.end()};
}

DataspaceHandle make_space(const std::vector<std::uint64_t>& shape, const Where& where) {
  if (shape.empty()) {
    return DataspaceHandle{check_id(H5Screate(H5S_SCALAR), where, "create a scalar dataspace for")};
  }
  const auto dims = to_hsize(shape);
  return DataspaceHandle{check_id(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                                  where, "create a dataspace for")};
}

Selection select_block(const std::vector<std::uint64_t>& shape, const Hyperslab& slab,
                       bool take_part, const Where& where) {
  Selection s;
  s.file = make_space(shape, where);
  if (take_part && shape.empty()) {
    s.memory = make_space({}, where);
    return s;
  }
  if (take_part) {
    const auto offset = to_hsize(slab.offset), count = to_hsize(slab.count);
    check_status(H5Sselect_hyperslab(s.file.get(), H5S_SELECT_SET, offset.data(), nullptr,
                                     count.data(), nullptr),
                 where, "select the block of");
    s.memory = make_space(slab.count, where);
    return s;
  }
  check_status(H5Sselect_none(s.file.get()), where, "select nothing in");
  s.memory = make_space({1}, where);
  check_status(H5Sselect_none(s.memory.get()), where, "select nothing in");
  return s;
}

void write_string_attribute(hid_t object, const char* name, std::string_view value,
                            const Where& where) {
  const Where at{where.file, fmt::format("{}:{}", where.object, name)};
  // HDF5 rejects zero-sized strings; an empty value is one NUL byte.
  std::string stored(value);
  stored.resize(std::max<std::size_t>(stored.size(), 1), '\0');
  DatatypeHandle type{check_id(H5Tcopy(H5T_C_S1), at, "create a string type for")};
  check_status(H5Tset_size(type.get(), stored.size()), at, "size the string type of");
  check_status(H5Tset_strpad(type.get(), H5T_STR_NULLTERM), at, "set string padding of");
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), at, "set the character set of");
  DataspaceHandle space{check_id(H5Screate(H5S_SCALAR), at, "create a scalar dataspace for")};
  AttributeHandle attribute{check_id(
      H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), at, "create attribute")};
  check_status(H5Awrite(attribute.get(), type.get(), stored.data()), at, "write attribute");
}

std::string read_string_attribute(hid_t object, const char* name, const Where& where) {
  const Where at{where.file, fmt::format("{}:{}", where.object, name)};
  if (check_status(H5Aexists(object, name), at, "look up attribute") == 0) return {};
  AttributeHandle attribute{check_id(H5Aopen(object, name, H5P_DEFAULT), at, "open attribute")};
  DatatypeHandle type{check_id(H5Aget_type(attribute.get()), at, "read the type of attribute")};
  DataspaceHandle space{check_id(H5Aget_space(attribute.get()), at, "read the shape of attribute")};
  if (H5Tget_class(type.get()) != H5T_STRING || H5Sget_simple_extent_npoints(space.get()) != 1) {
    spdlog::warn("ignoring attribute '{}' of '{}' in '{}': not a single string", name, where.object,
                 where.file);
    return {};
  }
  if (check_status(H5Tis_variable_str(type.get()), at, "read the type of attribute") > 0) {
    DatatypeHandle memory{check_id(H5Tcopy(H5T_C_S1), at, "create a string type for")};
    check_status(H5Tset_size(memory.get(), H5T_VARIABLE), at, "size the string type of");
    check_status(H5Tset_cset(memory.get(), H5Tget_cset(type.get())), at, "set the character set of");
    char* text = nullptr;
    check_status(H5Aread(attribute.get(), memory.get(), &text), at, "read attribute");
    std::string value = text != nullptr ? text : "";
    H5free_memory(text);
    return value;
  }
  std::string value(H5Tget_size(type.get()), '\0');
  check_status(H5Aread(attribute.get(), type.get(), value.data()), at, "read attribute");
  value.resize(std::min(value.size(), value.find('\0')));
  if (H5Tget_strpad(type.get()) == H5T_STR_SPACEPAD) {
    value.erase(value.find_last_not_of(' ') + 1);
  }
  return value;
}

namespace {
void write_number_attribute(hid_t object, const char* name, hid_t file_type, hid_t memory_type,
                            const void* value, const Where& where) {
  const Where at{where.file, fmt::format("{}:{}", where.object, name)};
  DataspaceHandle space{check_id(H5Screate(H5S_SCALAR), at, "create a scalar dataspace for")};
  AttributeHandle attribute{check_id(
      H5Acreate2(object, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), at, "create attribute")};
  check_status(H5Awrite(attribute.get(), memory_type, value), at, "write attribute");
}

template <class T>
std::optional<T> read_number_attribute(hid_t object, const char* name, hid_t memory_type,
                                       const Where& where) {
  const Where at{where.file, fmt::format("{}:{}", where.object, name)};
  if (check_status(H5Aexists(object, name), at, "look up attribute") == 0) return std::nullopt;
  AttributeHandle attribute{check_id(H5Aopen(object, name, H5P_DEFAULT), at, "open attribute")};
  DatatypeHandle type{check_id(H5Aget_type(attribute.get()), at, "read the type of attribute")};
  DataspaceHandle space{check_id(H5Aget_space(attribute.get()), at, "read the shape of attribute")};
  const H5T_class_t cls = H5Tget_class(type.get());
  if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || H5Sget_simple_extent_npoints(space.get()) != 1) {
    return std::nullopt;
  }
  T value{};
  check_status(H5Aread(attribute.get(), memory_type, &value), at, "read attribute");
  return value;
}
}  // namespace

void write_uint64_attribute(hid_t object, const char* name, std::uint64_t value, const Where& where) {
  write_number_attribute(object, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value, where);
}

void write_double_attribute(hid_t object, const char* name, double value, const Where& where) {
  write_number_attribute(object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, where);
}

void write_int64_attribute(hid_t object, const char* name, std::int64_t value, const Where& where) {
  write_number_attribute(object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, where);
}

std::optional<std::uint64_t> read_uint64_attribute(hid_t object, const char* name, const Where& where) {
  return read_number_attribute<std::uint64_t>(object, name, H5T_NATIVE_UINT64, where);
}

std::optional<double> read_double_attribute(hid_t object, const char* name, const Where& where) {
  return read_number_attribute<double>(object, name, H5T_NATIVE_DOUBLE, where);
}

std::vector<std::uint64_t> extent_of(hid_t space, const Where& where) {
  const int rank = check_status(H5Sget_simple_extent_ndims(space), where, "read the rank of");
  std::vector<hsize_t> extent(static_cast<std::size_t>(rank));
  if (rank > 0) {
    check_status(H5Sget_simple_extent_dims(space, extent.data(), nullptr), where, "read the shape of");
  }
  return {extent.begin(), extent.end()};
}

std::string name_differs_from_rank0(const boost::mpi::communicator& group, std::string_view name) {
  std::string first(name);
  boost::mpi::broadcast(group, first, 0);
  if (first == name) return {};
  return fmt::format("entry '{}' was named '{}' on rank 0: every rank must make the same call", name, first);
}

std::uint64_t all_reduce_u64(const boost::mpi::communicator& group, std::uint64_t value, MPI_Op op) {
  std::uint64_t result = 0;
  check_mpi(MPI_Allreduce(&value, &result, 1, MPI_UINT64_T, op, static_cast<MPI_Comm>(group)), "MPI_Allreduce");
  return result;
}

void wait_politely(MPI_Request& request, const char* what) {
  int done = 0;
  for (int poll = 0; poll < 64 && !done; ++poll) check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
  // Sleeps of 20, 40, 80, then 100 us. A cap of 500 us (before issue 16's ninth session)
  // made a rank oversleep its partner by up to half a millisecond at each of an epoch's ten
  // waits: 0.9-1.4 ms of a 7 ms synchronous epoch (traced). A test every 100 us costs a
  // sleeping rank next to nothing.
  auto pause = std::chrono::microseconds(20);
  while (!done) {
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::microseconds(100));
    check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
  }
}

void polite_barrier(const boost::mpi::communicator& group) {
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(MPI_Ibarrier(static_cast<MPI_Comm>(group), &request), "MPI_Ibarrier");
  wait_politely(request, "MPI_Ibarrier");
}

void agree_or_throw(const boost::mpi::communicator& group, const std::string& problem,
                    const std::string& stage) {
  constexpr int none = std::numeric_limits<int>::max();
  const int mine = problem.empty() ? none : group.rank();
  // Politely: the members come here after uneven serial work (rank 0 publishes the file).
  int first = none;
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(MPI_Iallreduce(&mine, &first, 1, MPI_INT, MPI_MIN, static_cast<MPI_Comm>(group), &request),
            "MPI_Iallreduce");
  wait_politely(request, "MPI_Iallreduce");
  if (first == none) return;
  std::string text = problem;
  boost::mpi::broadcast(group, text, first);
  if (group.size() > 1) text += fmt::format(" (rank {} of {} in the stage group)", first, group.size());
  throw KernelError(stage, text);
}

/// What is wrong with the HDF5 superblock at the start of `name` (of `size` bytes), before
/// HDF5 reads it: "" when it is one Perennial's writers could have made. HDF5 1.10 trusts a
/// superblock's fields: a 571-byte file naming a driver information block made H5Fopen
/// allocate 1.8 GB (found by ci/fuzz.sh), so a corrupt file is refused here first. Perennial's
/// files start with the superblock (no user block), have no driver information block (the
/// POSIX and MPI-IO drivers write none) and are as long as the end-of-file address says.
std::string superblock_problem(const std::string& name, std::uintmax_t size) {
  unsigned char head[96] = {};
  std::ifstream in(name, std::ios::binary);
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const auto got = static_cast<std::size_t>(in.gcount());
  static constexpr unsigned char kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (got < 8 || std::memcmp(head, kSignature, 8) != 0) return "not an HDF5 file (no HDF5 signature at its start)";
  const unsigned version = head[8];
  // Where the sizes and the addresses are, by superblock version (HDF5 file format spec, II.A).
  std::size_t offsets_at = 13, lengths_at = 14, addresses_at = 24;
  if (version == 1) addresses_at = 28;
  if (version == 2 || version == 3) offsets_at = 9, lengths_at = 10, addresses_at = 12;
  if (version > 3) return fmt::format("unknown superblock version {}", version);
  const unsigned offsets = head[offsets_at], lengths = head[lengths_at];
  auto valid_size = [](unsigned n) { return n == 2 || n == 4 || n == 8; };
  if (!valid_size(offsets) || !valid_size(lengths)) {
    return fmt::format("superblock gives offsets of {} and lengths of {} bytes (2, 4 or 8)", offsets, lengths);
  }
  auto address = [&](std::size_t index, bool& undefined) {
    const std::size_t at = addresses_at + index * offsets;
    std::uint64_t value = 0;
    undefined = true;
    for (unsigned i = 0; i < offsets; ++i) {
      const unsigned char byte = at + i < got ? head[at + i] : 0;
      value |= std::uint64_t{byte} << (8 * i);
      undefined = undefined && byte == 0xff;
    }
    return value;
  };
  if (addresses_at + 4 * offsets > got) return "too short for its superblock";
  bool undefined = false;
  const std::uint64_t base = address(0, undefined);
  if (base != 0) return fmt::format("superblock base address {} (Perennial writes no user block)", base);
  // v0/v1: base, free space, end of file, driver information; v2/v3: base, extension, end of file, root.
  const std::uint64_t end = address(2, undefined);
  if (undefined || end > size) {
    return fmt::format("truncated file: its superblock says {} bytes, the file has {}", undefined ? 0 : end, size);
  }
  if (version <= 1) {
    address(3, undefined);
    if (!undefined) return "its superblock names a driver information block (Perennial's files have none)";
  }
  return {};
}

}  // namespace perennial::checkpoint::detail
