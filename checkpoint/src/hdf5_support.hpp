#pragma once
// Private to the checkpoint library: checked HDF5 calls and what output and input files share.

#include <perennial/checkpoint/hdf5_error.hpp>
#include <perennial/checkpoint/hdf5_handle.hpp>
#include <perennial/dtype.hpp>
#include <perennial/hyperslab.hpp>
#include <perennial/output_metadata.hpp>

#include <boost/mpi/communicator.hpp>
#include <hdf5.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace perennial::checkpoint::detail {

/// What a failing call was about: the file and the object ("/" for the file itself).
struct Where {
  std::string file;
  std::string object;
};

/// What is wrong with the HDF5 superblock at the start of `name` (of `size` bytes), before
/// HDF5 reads it: "" when it is one Perennial's writers could have made (hdf5_support.cpp).
/// Every open of a file that nothing verified yet goes through it first.
std::string superblock_problem(const std::string& name, std::uintmax_t size);

/// The innermost entry of HDF5's error stack as text; clears the stack.
std::string take_hdf5_error_stack();
/// Throws Hdf5Error for `where` and `operation` with the reason on HDF5's error stack.
[[noreturn]] void fail(const Where& where, std::string_view operation);

/// `id` if valid; else throws (HDF5 returns a negative id on failure).
inline hid_t check_id(hid_t id, const Where& where, std::string_view operation) {
  if (id < 0) fail(where, operation);
  return id;
}
/// `status` (herr_t or htri_t) if not negative; else throws.
inline int check_status(int status, const Where& where, std::string_view operation) {
  if (status < 0) fail(where, operation);
  return status;
}

/// The little-endian file type a DType is stored as, and the native type it is held in.
/// Both are HDF5's predefined types: never closed.
hid_t file_type_of(DType type);
hid_t memory_type_of(DType type);
/// The DType of a stored type in any byte order; nullopt for types Perennial does not hold.
std::optional<DType> dtype_from(hid_t type);

/// Owns one MPI_Info (MPI_Info_free when it goes out of scope; a null one owns nothing).
/// Move-only, like Handle<Kind>. Local: no communication.
class MpiInfo {
 public:
  MpiInfo() = default;
  /// An info holding `hints` (MPI_INFO_NULL when there are none); throws MpiError.
  explicit MpiInfo(const MpiIoHints& hints);
  ~MpiInfo();
  MpiInfo(MpiInfo&& other) noexcept : info_(std::exchange(other.info_, MPI_INFO_NULL)) {}
  MpiInfo& operator=(MpiInfo&& other) noexcept;
  MpiInfo(const MpiInfo&) = delete;
  MpiInfo& operator=(const MpiInfo&) = delete;
  /// Takes `info` (from MPI_File_get_info, say): it is freed with this object.
  static MpiInfo adopt(MPI_Info info);
  MPI_Info get() const { return info_; }
  /// Every key and value it holds.
  MpiIoHints entries() const;

 private:
  MPI_Info info_ = MPI_INFO_NULL;
};

/// A file access list for MPI-IO over `group`, with metadata reads and writes collective
/// (every rank does the same metadata calls anyway; this spares the file system N readers),
/// and `hints` given to MPI_File_open (HDF5 keeps its own copy of them).
PropertyListHandle mpio_file_access(const boost::mpi::communicator& group, const Where& where,
                                    const MpiIoHints& hints = {});
/// The hints the MPI-IO layer reports for the open `file` (MPI_File_get_info on HDF5's
/// MPI_File): those it took, with its own defaults. Local.
MpiIoHints hints_in_effect(hid_t file, const Where& where);
/// A transfer list asking for collective MPI-IO.
PropertyListHandle collective_transfer(const Where& where);
/// Logs (debug) when a transfer made with `dxpl` fell back from collective to independent
/// I/O: still correct, but the slow path on a parallel file system.
void note_io_mode(hid_t dxpl, const Where& where);
/// A contiguous dataset layout that skips writing fill values: every element gets written.
PropertyListHandle dataset_creation(const Where& where);

DataspaceHandle make_space(const std::vector<std::uint64_t>& shape, const Where& where);

/// The file and memory dataspaces for one rank's part of a collective transfer. A rank that
/// does not `take_part` selects nothing but must still make the call.
struct Selection {
  DataspaceHandle file;
  DataspaceHandle memory;
};
Selection select_block(const std::vector<std::uint64_t>& shape, const Hyperslab& slab,
                       bool take_part, const Where& where);

/// A scalar fixed-length string attribute: what ncdump shows as a plain text attribute
/// (a variable-length one shows as `string name = ...`).
void write_string_attribute(hid_t object, const char* name, std::string_view value,
                            const Where& where);
/// A string attribute, fixed or variable length; empty when absent or not a scalar string.
std::string read_string_attribute(hid_t object, const char* name, const Where& where);

/// A scalar attribute of a number: uint64 stored as H5T_STD_U64LE, double as H5T_IEEE_F64LE.
void write_uint64_attribute(hid_t object, const char* name, std::uint64_t value, const Where& where);
void write_double_attribute(hid_t object, const char* name, double value, const Where& where);
void write_int64_attribute(hid_t object, const char* name, std::int64_t value, const Where& where);
/// A scalar numeric attribute converted to the asked type; nullopt when absent or not a
/// single number.
std::optional<std::uint64_t> read_uint64_attribute(hid_t object, const char* name, const Where& where);
std::optional<double> read_double_attribute(hid_t object, const char* name, const Where& where);

/// The extent of a simple dataspace (empty for a scalar one).
std::vector<std::uint64_t> extent_of(hid_t space, const Where& where);

/// Collective: returns when `problem` is empty on every rank; otherwise every rank throws
/// KernelError with the problem of the lowest failing rank. Called before collective HDF5
/// calls, so that a mistake on one rank cannot leave the others waiting inside HDF5.
void agree_or_throw(const boost::mpi::communicator& group, const std::string& problem,
                    const std::string& stage);

/// Collective: "" when this rank passed the same entry name as rank 0, else what differs.
/// Datasets are created and opened collectively: ranks naming different ones would corrupt
/// the file's metadata or wait for each other forever.
std::string name_differs_from_rank0(const boost::mpi::communicator& group, std::string_view name);

/// MPI_Allreduce of one value as MPI_UINT64_T. Not through boost::mpi, which sends
/// std::uint64_t as MPI_UNSIGNED_LONG: Open MPI 4.1.2-4.1.4 (Debian 12 has 4.1.4) reduces
/// that as signed under MPI_MIN and MPI_MAX (open-mpi/ompi#10525), so UINT64_MAX "wins".
std::uint64_t all_reduce_u64(const boost::mpi::communicator& group, std::uint64_t value, MPI_Op op);

/// Waits for a non-blocking collective without spinning once it has not finished at once:
/// polls, then sleeps between polls (20 us doubling to 0.5 ms). Where the other members are
/// still busy on serial work (rank 0 syncing, renaming or walking the file's metadata in a
/// child process) a blocking collective busy-polls all that time; in an asynchronous epoch
/// that poll takes a core from the stage's own computation, which it measurably slowed.
/// Bounded like any collective here: a member that died is ended by its group's heartbeats.
void wait_politely(MPI_Request& request, const char* what);
/// MPI_Ibarrier waited for politely: put before a collective that follows serial work on one rank.
void polite_barrier(const boost::mpi::communicator& group);

std::vector<hsize_t> to_hsize(const std::vector<std::uint64_t>& values);

}  // namespace perennial::checkpoint::detail
