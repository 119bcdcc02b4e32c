#include "hdf5_content.hpp"

#include <hdf5.h>
#include <hdf5_hl.h>
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <sstream>
#include <tuple>
#include <utility>

namespace perennial::e2e {

namespace {

// ---- checked HDF5 calls ----------------------------------------------------------------------

/// The file and the object a call is about, for messages ("/temperature", "/@stage").
struct At {
  std::string file;
  std::string object;
};

herr_t take_innermost(unsigned n, const H5E_error2_t* e, void* out) {
  if (n == 0) *static_cast<std::string*>(out) = std::string(e->func_name) + ": " + (e->desc ? e->desc : "");
  return 0;
}

/// What HDF5 said about the failure just seen (the innermost entry of its error stack).
std::string hdf5_says() {
  std::string text;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_innermost, &text);
  H5Eclear2(H5E_DEFAULT);
  return text.empty() ? "HDF5 left no message" : text;
}

[[noreturn]] void fail(const At& at, const std::string& what) {
  throw Hdf5ReadError(at.file + ": " + at.object + ": " + what + " failed (" + hdf5_says() + ")");
}

/// Every HDF5 call that returns a negative number on failure goes through this.
template <class T>
T check(T value, const At& at, const char* call) {
  if (value < 0) fail(at, call);
  return value;
}

std::size_t checked_size(hid_t type, const At& at) {
  const std::size_t size = H5Tget_size(type);
  if (size == 0) fail(at, "H5Tget_size");
  return size;
}

/// One HDF5 identifier, closed when it goes out of scope (a failed close is ignored: the
/// test has what it read).
class Id {
 public:
  Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Id(Id&& other) noexcept : id_(std::exchange(other.id_, -1)), close_(other.close_) {}
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  Id& operator=(Id&&) = delete;
  ~Id() {
    if (id_ >= 0) close_(id_);
  }
  hid_t get() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

Id open_file(const std::filesystem::path& file) {
  // The error stack is read into exceptions; HDF5 must not also print it.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const At at{file.string(), "/"};
  return {check(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), at, "H5Fopen"), H5Fclose};
}

std::vector<hsize_t> extent(hid_t space, const At& at) {
  const int rank = check(H5Sget_simple_extent_ndims(space), at, "H5Sget_simple_extent_ndims");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0) check(H5Sget_simple_extent_dims(space, dims.data(), nullptr), at, "H5Sget_simple_extent_dims");
  return dims;
}

std::size_t points(hid_t space, const At& at) {
  return static_cast<std::size_t>(check(H5Sget_simple_extent_npoints(space), at, "H5Sget_simple_extent_npoints"));
}

/// "null", "scalar" or "[36, 72]".
std::string describe_space(hid_t space, const At& at) {
  const H5S_class_t kind = H5Sget_simple_extent_type(space);
  if (kind == H5S_NO_CLASS) fail(at, "H5Sget_simple_extent_type");
  if (kind == H5S_NULL) return "null";
  if (kind == H5S_SCALAR) return "scalar";
  std::string text = "[";
  for (const auto d : extent(space, at)) text += (text.size() > 1 ? ", " : "") + std::to_string(d);
  return text + "]";
}

/// The type as h5dump writes it (H5T_IEEE_F64LE, H5T_STRING { STRSIZE 6; ... }).
std::string describe_type(hid_t type, const At& at) {
  std::size_t length = 0;
  check(H5LTdtype_to_text(type, nullptr, H5LT_DDL, &length), at, "H5LTdtype_to_text");
  std::string text(length, '\0');
  check(H5LTdtype_to_text(type, text.data(), H5LT_DDL, &length), at, "H5LTdtype_to_text");
  text.resize(std::strlen(text.c_str()));
  return text;
}

bool same_type(hid_t a, hid_t b, const At& at) { return check(H5Tequal(a, b), at, "H5Tequal") > 0; }

/// The path of the object a reference points to.
std::string referenced_path(hid_t holder, const hobj_ref_t& ref, const At& at) {
  const ssize_t length = check(H5Rget_name(holder, H5R_OBJECT, &ref, nullptr, 0), at, "H5Rget_name");
  std::string name(static_cast<std::size_t>(length) + 1, '\0');
  check(H5Rget_name(holder, H5R_OBJECT, &ref, name.data(), name.size()), at, "H5Rget_name");
  name.resize(static_cast<std::size_t>(length));
  return name;
}

// ---- attribute values ------------------------------------------------------------------------

/// An attribute's value in a form that compares equal exactly when the values are equal:
/// the bytes as stored for plain types, the text of a variable-length string, and the paths
/// that object references point to (a reference holds a file address, which is layout).
std::string attribute_value(hid_t attribute, hid_t type, const At& at) {
  Id space{check(H5Aget_space(attribute), at, "H5Aget_space"), H5Sclose};
  const std::size_t n = points(space.get(), at);
  const H5T_class_t kind = H5Tget_class(type);
  if (kind == H5T_NO_CLASS) fail(at, "H5Tget_class");

  if (check(H5Tis_variable_str(type), at, "H5Tis_variable_str") > 0) {
    Id memory{check(H5Tcopy(H5T_C_S1), at, "H5Tcopy"), H5Tclose};
    check(H5Tset_size(memory.get(), H5T_VARIABLE), at, "H5Tset_size");
    std::vector<char*> texts(n, nullptr);
    if (n > 0) check(H5Aread(attribute, memory.get(), texts.data()), at, "H5Aread");
    std::string value;
    for (char* t : texts) {
      value += std::string(t ? t : "") + '\0';
      H5free_memory(t);
    }
    return value;
  }

  const bool has_vlen = check(H5Tdetect_class(type, H5T_VLEN), at, "H5Tdetect_class") > 0;
  const bool has_reference = check(H5Tdetect_class(type, H5T_REFERENCE), at, "H5Tdetect_class") > 0;
  if (!has_vlen && !has_reference) {
    // Read in the file's own type: no conversion, the bytes as stored.
    std::string bytes(n * checked_size(type, at), '\0');
    if (n > 0) check(H5Aread(attribute, type, bytes.data()), at, "H5Aread");
    return bytes;
  }

  if (kind == H5T_VLEN) {
    // DIMENSION_LIST: per axis, the list of dimension scales attached to it.
    Id base{check(H5Tget_super(type), at, "H5Tget_super"), H5Tclose};
    if (H5Tget_class(base.get()) != H5T_REFERENCE) {
      throw Hdf5ReadError(at.file + ": " + at.object + ": attribute type " + describe_type(type, at) +
                          " is not one this test can compare");
    }
    Id memory{check(H5Tvlen_create(H5T_STD_REF_OBJ), at, "H5Tvlen_create"), H5Tclose};
    std::vector<hvl_t> lists(n);
    if (n > 0) check(H5Aread(attribute, memory.get(), lists.data()), at, "H5Aread");
    struct Reclaim {
      hid_t type, space;
      std::vector<hvl_t>& lists;
      ~Reclaim() {
        if (!lists.empty()) H5Dvlen_reclaim(type, space, H5P_DEFAULT, lists.data());
      }
    } reclaim{memory.get(), space.get(), lists};
    std::string value;
    for (const hvl_t& list : lists) {
      value += "[";
      const auto* refs = static_cast<const hobj_ref_t*>(list.p);
      for (std::size_t k = 0; k < list.len; ++k) value += (k ? ", " : "") + referenced_path(attribute, refs[k], at);
      value += "]";
    }
    return value;
  }

  if (kind == H5T_COMPOUND && check(H5Tget_nmembers(type), at, "H5Tget_nmembers") == 2 &&
      check(H5Tget_member_index(type, "dataset"), at, "H5Tget_member_index") == 0 &&
      check(H5Tget_member_index(type, "dimension"), at, "H5Tget_member_index") == 1) {
    // REFERENCE_LIST of a dimension scale: each dataset axis it is attached to.
    struct Entry {
      hobj_ref_t dataset;
      int dimension;
    };
    Id memory{check(H5Tcreate(H5T_COMPOUND, sizeof(Entry)), at, "H5Tcreate"), H5Tclose};
    check(H5Tinsert(memory.get(), "dataset", offsetof(Entry, dataset), H5T_STD_REF_OBJ), at, "H5Tinsert");
    check(H5Tinsert(memory.get(), "dimension", offsetof(Entry, dimension), H5T_NATIVE_INT), at, "H5Tinsert");
    std::vector<Entry> entries(n);
    if (n > 0) check(H5Aread(attribute, memory.get(), entries.data()), at, "H5Aread");
    std::string value;
    for (const Entry& e : entries) {
      value += "(" + referenced_path(attribute, e.dataset, at) + ", " + std::to_string(e.dimension) + ")";
    }
    return value;
  }
  throw Hdf5ReadError(at.file + ": " + at.object + ": attribute type " + describe_type(type, at) +
                      " is not one this test can compare");
}

/// A value for a message: as text when it is text, else its first bytes in hex.
std::string show(const std::string& value) {
  std::string trimmed = value;
  while (!trimmed.empty() && trimmed.back() == '\0') trimmed.pop_back();
  const bool text = std::all_of(trimmed.begin(), trimmed.end(), [](char c) {
    return std::isprint(static_cast<unsigned char>(c)) || c == '\n';
  });
  if (text) return "'" + trimmed + "'";
  std::ostringstream out;
  out << std::hex;
  for (std::size_t k = 0; k < value.size() && k < 16; ++k) {
    out << (k ? " " : "") << static_cast<int>(static_cast<unsigned char>(value[k]));
  }
  if (value.size() > 16) out << " ...";
  return "bytes " + out.str();
}

// ---- objects -----------------------------------------------------------------------------------

struct Walk {
  std::map<std::string, std::string> kinds;  // path -> "group", "dataset", "soft link to /x", ...
  std::string error;
};

herr_t visit_link(hid_t, const char* name, const H5L_info_t* info, void* data) {
  auto* walk = static_cast<Walk*>(data);
  try {
    const std::string path = std::string("/") + name;
    walk->kinds[path] = info->type == H5L_TYPE_HARD ? "" : info->type == H5L_TYPE_SOFT ? "soft link" : "external link";
    return 0;
  } catch (const std::exception& e) {
    walk->error = e.what();
    return -1;  // never let an exception cross HDF5's C frames
  }
}

/// Every object of the file by path, with its kind; link targets for soft links.
std::map<std::string, std::string> objects(hid_t file, const std::string& file_name) {
  Walk walk;
  const At at{file_name, "/"};
  if (H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, visit_link, &walk) < 0) {
    if (!walk.error.empty()) throw Hdf5ReadError(file_name + ": listing objects: " + walk.error);
    fail(at, "H5Lvisit");
  }
  walk.kinds["/"] = "";
  for (auto& [path, kind] : walk.kinds) {
    const At here{file_name, path};
    if (kind == "soft link") {
      H5L_info_t info{};
      check(H5Lget_info(file, path.c_str(), &info, H5P_DEFAULT), here, "H5Lget_info");
      std::string target(info.u.val_size, '\0');
      check(H5Lget_val(file, path.c_str(), target.data(), target.size(), H5P_DEFAULT), here, "H5Lget_val");
      kind = "soft link to " + std::string(target.c_str());
      continue;
    }
    if (!kind.empty()) continue;
    Id object{check(H5Oopen(file, path.c_str(), H5P_DEFAULT), here, "H5Oopen"), H5Oclose};
    switch (H5Iget_type(object.get())) {
      case H5I_GROUP: kind = "group"; break;
      case H5I_DATASET: kind = "dataset"; break;
      case H5I_DATATYPE: kind = "named datatype"; break;
      default: fail(here, "H5Iget_type");
    }
  }
  return walk.kinds;
}

herr_t collect_attribute(hid_t, const char* name, const H5A_info_t*, void* data) {
  try {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  } catch (...) {
    return -1;
  }
}

std::vector<std::string> attribute_names(hid_t object, const At& at) {
  std::vector<std::string> names;
  check(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_attribute, &names), at, "H5Aiterate2");
  std::sort(names.begin(), names.end());
  return names;
}

struct ScaleWalk {
  std::vector<std::string> paths;
  bool failed = false;
};

herr_t collect_scale(hid_t, unsigned, hid_t scale, void* data) {
  auto* walk = static_cast<ScaleWalk*>(data);
  try {
    const ssize_t length = H5Iget_name(scale, nullptr, 0);
    if (length < 0) {
      walk->failed = true;
      return -1;
    }
    std::string name(static_cast<std::size_t>(length) + 1, '\0');
    if (H5Iget_name(scale, name.data(), name.size()) < 0) {
      walk->failed = true;
      return -1;
    }
    name.resize(static_cast<std::size_t>(length));
    walk->paths.push_back(name);
    return 0;
  } catch (...) {
    walk->failed = true;
    return -1;
  }
}

/// "dimension scale", or per axis the scales attached to it: "[/lat] [/lon]".
std::string dimension_scales(hid_t dataset, const At& at) {
  if (check(H5DSis_scale(dataset), at, "H5DSis_scale") > 0) return "a dimension scale";
  Id space{check(H5Dget_space(dataset), at, "H5Dget_space"), H5Sclose};
  const auto dims = extent(space.get(), at);
  std::string text;
  for (unsigned axis = 0; axis < dims.size(); ++axis) {
    ScaleWalk walk;
    if (H5DSiterate_scales(dataset, axis, nullptr, collect_scale, &walk) < 0 || walk.failed) {
      fail(at, "H5DSiterate_scales (axis " + std::to_string(axis) + ")");
    }
    text += "[";
    for (std::size_t k = 0; k < walk.paths.size(); ++k) text += (k ? ", " : "") + walk.paths[k];
    text += "] ";
  }
  return text.empty() ? "no axes" : text.substr(0, text.size() - 1);
}

/// A dataset's bytes as stored: read in its file type, so no conversion touches them.
std::vector<unsigned char> stored_bytes(hid_t dataset, hid_t type, hid_t space, const At& at) {
  if (check(H5Tdetect_class(type, H5T_VLEN), at, "H5Tdetect_class") > 0 ||
      check(H5Tis_variable_str(type), at, "H5Tis_variable_str") > 0 ||
      check(H5Tdetect_class(type, H5T_REFERENCE), at, "H5Tdetect_class") > 0) {
    throw Hdf5ReadError(at.file + ": " + at.object + ": dataset type " + describe_type(type, at) +
                        " is not one this test can compare");
  }
  std::vector<unsigned char> bytes(points(space, at) * checked_size(type, at));
  if (!bytes.empty()) check(H5Dread(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()), at, "H5Dread");
  return bytes;
}

/// "element [12, 5]" for the flat element index `k` of an array of shape `dims`.
std::string element_at(std::size_t k, const std::vector<hsize_t>& dims) {
  std::vector<hsize_t> index(dims.size());
  for (std::size_t d = dims.size(); d-- > 0;) {
    index[d] = k % dims[d];
    k /= dims[d];
  }
  std::string text = "element [";
  for (std::size_t d = 0; d < index.size(); ++d) text += (d ? ", " : "") + std::to_string(index[d]);
  return text + "]";
}

std::string hex(const unsigned char* bytes, std::size_t n) {
  std::ostringstream out;
  out << "0x" << std::hex;
  // Little-endian as stored: print the most significant byte first.
  for (std::size_t k = n; k-- > 0;) {
    out << static_cast<int>(bytes[k] >> 4) << static_cast<int>(bytes[k] & 0xf);
  }
  return out.str();
}

constexpr std::string_view kChecksums = "/perennial_checksums/";

bool is_checksum_table(const std::string& path) { return path.rfind(kChecksums, 0) == 0; }

/// A dataset read whole, for the checksum tables' own check.
struct Stored {
  std::vector<hsize_t> dims;
  std::size_t element_size = 0;
  std::vector<unsigned char> bytes;
};

Stored read_stored(hid_t file, const At& at) {
  Id dataset{check(H5Dopen2(file, at.object.c_str(), H5P_DEFAULT), at, "H5Dopen2"), H5Dclose};
  Id type{check(H5Dget_type(dataset.get()), at, "H5Dget_type"), H5Tclose};
  Id space{check(H5Dget_space(dataset.get()), at, "H5Dget_space"), H5Sclose};
  Stored s;
  s.dims = extent(space.get(), at);
  s.element_size = checked_size(type.get(), at);
  s.bytes = stored_bytes(dataset.get(), type.get(), space.get(), at);
  return s;
}

/// Whether a checksum table describes its file's data: one row per block (offset, count,
/// XXH3 of the block's bytes as stored), the blocks inside the dataset, not overlapping, and
/// together covering it. Appends what is wrong to `problems`.
void check_table(hid_t file, const std::string& file_name, const std::string& table_path,
                 std::vector<std::string>& problems) {
  const At table_at{file_name, table_path};
  const std::string data_path = "/" + table_path.substr(kChecksums.size());
  const At data_at{file_name, data_path};
  if (check(H5Lexists(file, data_path.c_str(), H5P_DEFAULT), data_at, "H5Lexists") == 0) {
    problems.push_back(table_path + ": a checksum table for " + data_path + ", which is not in " + file_name);
    return;
  }
  const Stored data = read_stored(file, data_at);
  Id table{check(H5Dopen2(file, table_path.c_str(), H5P_DEFAULT), table_at, "H5Dopen2"), H5Dclose};
  Id space{check(H5Dget_space(table.get()), table_at, "H5Dget_space"), H5Sclose};
  const auto shape = extent(space.get(), table_at);
  const std::size_t rank = data.dims.size();
  if (shape.size() != 2 || shape[1] != 2 * rank + 1) {
    problems.push_back(table_path + " in " + file_name + ": shape " + describe_space(space.get(), table_at) +
                       ", not [rows, " + std::to_string(2 * rank + 1) + "] for a dataset of rank " +
                       std::to_string(rank));
    return;
  }
  std::vector<std::uint64_t> rows(static_cast<std::size_t>(shape[0] * shape[1]));
  if (!rows.empty()) {
    check(H5Dread(table.get(), H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()), table_at, "H5Dread");
  }
  static_assert(std::endian::native == std::endian::little, "the stored bytes are hashed as they are in memory");
  std::size_t covered = 0;
  std::vector<std::pair<std::vector<std::uint64_t>, std::vector<std::uint64_t>>> blocks;
  for (std::size_t r = 0; r < shape[0]; ++r) {
    const std::uint64_t* row = rows.data() + r * shape[1];
    std::vector<std::uint64_t> offset(row, row + rank), count(row + rank, row + 2 * rank);
    const std::string where = table_path + " row " + std::to_string(r) + " in " + file_name;
    std::size_t elements = 1;
    bool inside = true;
    for (std::size_t d = 0; d < rank; ++d) {
      inside = inside && offset[d] + count[d] <= data.dims[d];
      elements *= count[d];
    }
    if (!inside) {
      problems.push_back(where + ": its block lies outside " + data_path);
      continue;
    }
    // Gather the block in C order, then hash it as the writer did.
    std::vector<unsigned char> block;
    block.reserve(elements * data.element_size);
    std::vector<std::uint64_t> index(rank, 0);
    for (std::size_t e = 0; e < elements; ++e) {
      std::size_t flat = 0;
      for (std::size_t d = 0; d < rank; ++d) flat = flat * data.dims[d] + offset[d] + index[d];
      const auto* first = data.bytes.data() + flat * data.element_size;
      block.insert(block.end(), first, first + data.element_size);
      for (std::size_t d = rank; d-- > 0;) {
        if (++index[d] < count[d]) break;
        index[d] = 0;
      }
    }
    if (XXH3_64bits(block.data(), block.size()) != row[2 * rank]) {
      problems.push_back(where + ": the XXH3 of its block of " + data_path + " is not the one stored");
    }
    for (const auto& [other_offset, other_count] : blocks) {
      bool overlap = elements > 0;
      for (std::size_t d = 0; d < rank; ++d) {
        overlap = overlap && offset[d] < other_offset[d] + other_count[d] && other_offset[d] < offset[d] + count[d];
      }
      if (overlap) problems.push_back(where + ": its block overlaps an earlier row's");
    }
    blocks.emplace_back(offset, count);
    covered += elements;
  }
  const std::size_t total = data.element_size ? data.bytes.size() / data.element_size : 0;
  if (covered != total) {
    problems.push_back(table_path + " in " + file_name + ": its blocks hold " + std::to_string(covered) +
                       " elements, " + data_path + " has " + std::to_string(total));
  }
}

/// Compares the object at `path` of two files; appends each difference, named, to `out`.
void compare_object(hid_t fa, hid_t fb, const std::string& na, const std::string& nb, const std::string& path,
                    const std::string& kind, const ContentRules& rules, std::vector<std::string>& out) {
  const At aa{na, path}, ab{nb, path};
  if (kind.rfind("soft link", 0) == 0) return;  // the kinds (with their targets) were compared
  Id a{check(H5Oopen(fa, path.c_str(), H5P_DEFAULT), aa, "H5Oopen"), H5Oclose};
  Id b{check(H5Oopen(fb, path.c_str(), H5P_DEFAULT), ab, "H5Oopen"), H5Oclose};

  // Attributes: the same names, each with the same type, shape and value.
  const auto names_a = attribute_names(a.get(), aa), names_b = attribute_names(b.get(), ab);
  for (const auto& name : names_a) {
    const std::string id = path + "@" + name;
    if (rules.differing_attributes.count(id)) continue;
    if (!std::binary_search(names_b.begin(), names_b.end(), name)) {
      out.push_back(id + ": attribute only in the first file");
      continue;
    }
    const At at_a{na, id}, at_b{nb, id};
    Id attr_a{check(H5Aopen(a.get(), name.c_str(), H5P_DEFAULT), at_a, "H5Aopen"), H5Aclose};
    Id attr_b{check(H5Aopen(b.get(), name.c_str(), H5P_DEFAULT), at_b, "H5Aopen"), H5Aclose};
    Id type_a{check(H5Aget_type(attr_a.get()), at_a, "H5Aget_type"), H5Tclose};
    Id type_b{check(H5Aget_type(attr_b.get()), at_b, "H5Aget_type"), H5Tclose};
    if (!same_type(type_a.get(), type_b.get(), at_a)) {
      out.push_back(id + ": attribute type " + describe_type(type_a.get(), at_a) + " vs " +
                    describe_type(type_b.get(), at_b));
      continue;
    }
    Id space_a{check(H5Aget_space(attr_a.get()), at_a, "H5Aget_space"), H5Sclose};
    Id space_b{check(H5Aget_space(attr_b.get()), at_b, "H5Aget_space"), H5Sclose};
    const auto shape_a = describe_space(space_a.get(), at_a), shape_b = describe_space(space_b.get(), at_b);
    if (shape_a != shape_b) {
      out.push_back(id + ": attribute shape " + shape_a + " vs " + shape_b);
      continue;
    }
    const auto value_a = attribute_value(attr_a.get(), type_a.get(), at_a);
    const auto value_b = attribute_value(attr_b.get(), type_b.get(), at_b);
    if (value_a != value_b) out.push_back(id + ": attribute value " + show(value_a) + " vs " + show(value_b));
  }
  for (const auto& name : names_b) {
    const std::string id = path + "@" + name;
    if (!rules.differing_attributes.count(id) && !std::binary_search(names_a.begin(), names_a.end(), name)) {
      out.push_back(id + ": attribute only in the second file");
    }
  }
  if (kind != "dataset") return;

  // Datasets: type, shape, dimension scales, then the bytes.
  Id type_a{check(H5Dget_type(a.get()), aa, "H5Dget_type"), H5Tclose};
  Id type_b{check(H5Dget_type(b.get()), ab, "H5Dget_type"), H5Tclose};
  if (!same_type(type_a.get(), type_b.get(), aa)) {
    out.push_back(path + ": dataset type " + describe_type(type_a.get(), aa) + " vs " +
                  describe_type(type_b.get(), ab));
    return;
  }
  Id space_a{check(H5Dget_space(a.get()), aa, "H5Dget_space"), H5Sclose};
  Id space_b{check(H5Dget_space(b.get()), ab, "H5Dget_space"), H5Sclose};
  const auto shape_a = describe_space(space_a.get(), aa), shape_b = describe_space(space_b.get(), ab);
  if (is_checksum_table(path) && !rules.same_writer_ranks) {
    // Written by other numbers of ranks: other rows. Same columns (rank of the data + hash);
    // each table is checked against its own file's data by the caller.
    const auto dims_a = extent(space_a.get(), aa), dims_b = extent(space_b.get(), ab);
    if (dims_a.size() != 2 || dims_b.size() != 2 || dims_a[1] != dims_b[1]) {
      out.push_back(path + ": checksum table shape " + shape_a + " vs " + shape_b + " (columns differ)");
    }
    return;
  }
  if (shape_a != shape_b) {
    out.push_back(path + ": dataset shape " + shape_a + " vs " + shape_b);
    return;
  }
  const auto scales_a = dimension_scales(a.get(), aa), scales_b = dimension_scales(b.get(), ab);
  if (scales_a != scales_b) out.push_back(path + ": dimension scales " + scales_a + " vs " + scales_b);
  const auto bytes_a = stored_bytes(a.get(), type_a.get(), space_a.get(), aa);
  const auto bytes_b = stored_bytes(b.get(), type_b.get(), space_b.get(), ab);
  if (bytes_a != bytes_b) {
    const std::size_t size = checked_size(type_a.get(), aa);
    const auto first = std::mismatch(bytes_a.begin(), bytes_a.end(), bytes_b.begin()).first - bytes_a.begin();
    const std::size_t element = static_cast<std::size_t>(first) / size;
    std::size_t differing = 0;
    for (std::size_t k = 0; k < bytes_a.size(); k += size) {
      differing += std::memcmp(bytes_a.data() + k, bytes_b.data() + k, size) != 0;
    }
    out.push_back(path + ": data differ in " + std::to_string(differing) + " element(s), first at " +
                  element_at(element, extent(space_a.get(), aa)) + ": " +
                  hex(bytes_a.data() + element * size, size) + " vs " + hex(bytes_b.data() + element * size, size));
  }
}

std::string read_units(hid_t dataset, const At& at) {
  if (check(H5Aexists(dataset, "units"), at, "H5Aexists") == 0) return {};
  const At here{at.file, at.object + "@units"};
  Id attribute{check(H5Aopen(dataset, "units", H5P_DEFAULT), here, "H5Aopen"), H5Aclose};
  Id type{check(H5Aget_type(attribute.get()), here, "H5Aget_type"), H5Tclose};
  if (H5Tget_class(type.get()) != H5T_STRING) {
    throw Hdf5ReadError(at.file + ": " + here.object + ": not a string but " + describe_type(type.get(), here));
  }
  const std::string value = attribute_value(attribute.get(), type.get(), here);
  return value.c_str();  // up to the terminator, as a C reader sees it
}

}  // namespace

Dataset read_dataset(const std::filesystem::path& file, const std::string& name) {
  Id f = open_file(file);
  const At at{file.string(), name};
  Id d{check(H5Dopen2(f.get(), name.c_str(), H5P_DEFAULT), at, "H5Dopen2"), H5Dclose};
  Dataset out;
  Id space{check(H5Dget_space(d.get()), at, "H5Dget_space"), H5Sclose};
  for (const auto e : extent(space.get(), at)) out.shape.push_back(e);
  Id type{check(H5Dget_type(d.get()), at, "H5Dget_type"), H5Tclose};
  const H5T_class_t kind = H5Tget_class(type.get());
  if (kind == H5T_NO_CLASS) fail(at, "H5Tget_class");
  out.type_class = kind == H5T_FLOAT ? "float" : kind == H5T_INTEGER ? "integer" : "other";
  out.element_size = checked_size(type.get(), at);
  out.bytes = stored_bytes(d.get(), type.get(), space.get(), at);
  out.units = read_units(d.get(), at);
  if (check(H5DSis_scale(d.get()), at, "H5DSis_scale") == 0) {
    for (unsigned axis = 0; axis < out.shape.size(); ++axis) {
      ScaleWalk walk;
      if (H5DSiterate_scales(d.get(), axis, nullptr, collect_scale, &walk) < 0 || walk.failed) {
        fail(at, "H5DSiterate_scales (axis " + std::to_string(axis) + ")");
      }
      // The dimension's name: the first attached scale's path, without its group.
      const std::string path = walk.paths.empty() ? std::string() : walk.paths.front();
      const auto slash = path.rfind('/');
      out.dims.push_back(slash == std::string::npos ? path : path.substr(slash + 1));
    }
  }
  return out;
}

::testing::AssertionResult same_content(const std::filesystem::path& a, const std::filesystem::path& b,
                                        const ContentRules& rules) {
  try {
    const std::string na = a.string(), nb = b.string();
    Id fa = open_file(a);
    Id fb = open_file(b);
    std::vector<std::string> differences;
    const auto objects_a = objects(fa.get(), na), objects_b = objects(fb.get(), nb);
    for (const auto& [path, kind] : objects_a) {
      auto other = objects_b.find(path);
      if (other == objects_b.end()) {
        differences.push_back(path + ": " + kind + " only in the first file");
      } else if (other->second != kind) {
        differences.push_back(path + ": " + kind + " vs " + other->second);
      } else {
        compare_object(fa.get(), fb.get(), na, nb, path, kind, rules, differences);
      }
    }
    for (const auto& [path, kind] : objects_b) {
      if (!objects_a.count(path)) differences.push_back(path + ": " + kind + " only in the second file");
    }
    if (!rules.same_writer_ranks) {
      for (const auto& [file, list, name] : {std::tuple{fa.get(), &objects_a, na}, std::tuple{fb.get(), &objects_b, nb}}) {
        for (const auto& [path, kind] : *list) {
          if (kind == "dataset" && is_checksum_table(path)) check_table(file, name, path, differences);
        }
      }
    }
    if (differences.empty()) return ::testing::AssertionSuccess();
    auto failure = ::testing::AssertionFailure() << na << " and " << nb << " differ in content:";
    for (std::size_t k = 0; k < differences.size() && k < 20; ++k) failure << "\n  " << differences[k];
    if (differences.size() > 20) failure << "\n  ... and " << differences.size() - 20 << " more";
    return failure;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "cannot compare " << a.string() << " with " << b.string() << ": "
                                         << e.what();
  }
}

}  // namespace perennial::e2e
