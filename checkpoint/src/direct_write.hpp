#pragma once
// Direct I/O for one rank's contiguous block of a dataset (private to the writers): the block's
// whole pages go from the rank's memory to the disk with O_DIRECT, bypassing the page cache; the
// partial pages at its two ends, which neighbouring ranks or HDF5's metadata may share, go
// through the page cache as before. HDF5 allocated the dataset and names its place in the file
// (H5Dget_offset); nothing in HDF5 caches raw data of a contiguous dataset under MPI-IO, so
// writing it beside HDF5 is safe, and the durable commit's MPI_File_sync (fsync) still covers
// both parts.
//
// Why: a buffered checkpoint fills the page cache first, one rank at a time (a file system
// takes a file's lock for a whole buffered write), then the flush writes it out. With direct
// I/O each rank copies into a small aligned buffer of its own, in parallel, and the disk is
// written while the other ranks copy. Measured on this machine kind (bench_checkpoint_bandwidth,
// README): the write no longer depends on how fast new page-cache pages come.

#include "hdf5_support.hpp"

#include <cstdint>
#include <string>

namespace perennial::checkpoint::detail {

/// Whether direct I/O is worth trying for a block of `bytes` in `path`: PERENNIAL_IO_DIRECT is not
/// "0", the block holds at least a few MiB, and the file system is a local one that supports
/// it (ext4, XFS, btrfs; parallel file systems keep their MPI-IO drivers). Local: no MPI.
bool direct_write_suits(const std::string& path, std::uint64_t bytes);

/// Writes `bytes` of `data` at byte `offset` of `path`, as the file's comment says. Returns
/// false, having written nothing, when the file cannot be opened for direct I/O (the caller
/// writes through HDF5 instead); a direct write refused midway (EINVAL) is finished through the
/// page cache. Throws Hdf5Error naming `where` when a write fails (a full disk, an I/O error).
/// Local: no MPI.
bool write_block_direct(const std::string& path, std::uint64_t offset, const void* data, std::uint64_t bytes,
                        const Where& where);

/// Gives back the disk space of a block written (or reserved) by write_block_direct: its whole
/// pages are punched out of the file. For a checkpoint that failed on another rank, whose file
/// will be removed, so that HDF5's closing metadata finds room on a disk that filled up. Best
/// effort: errors are ignored. Local: no MPI.
void release_block_direct(const std::string& path, std::uint64_t offset, std::uint64_t bytes);

}  // namespace perennial::checkpoint::detail
