#pragma once
// open_input: one upstream stage output, read back from its parallel-HDF5 file as an InputArray.

#include <perennial/array_io.hpp>

#include <boost/mpi/communicator.hpp>

#include <filesystem>
#include <memory>
#include <string>

namespace perennial::checkpoint {

/// Opens dataset `output` of `file` read-only with MPI-IO; `stage` names the upstream stage
/// in errors and in InputArray::stage(). Collective over `group`. Dims come from the attached
/// dimension scales ("dim0", "dim1", ... where none is attached), units from the `units`
/// attribute (empty when absent). Throws Hdf5Error for a missing or unreadable file or
/// dataset, KernelError for an element type Perennial does not store.
///
/// The result keeps the file open. read() is collective and throws KernelError on a dtype
/// other than dtype() (no conversion) or a block outside shape(). Release it on all ranks:
/// closing the file is collective.
std::shared_ptr<const InputArray> open_input(const boost::mpi::communicator& group,
                                             const std::filesystem::path& file,
                                             const std::string& stage, const std::string& output);

}  // namespace perennial::checkpoint
