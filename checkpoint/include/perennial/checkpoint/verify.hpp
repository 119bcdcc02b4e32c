#pragma once
// verify_checkpoint / verify_output: whether a Perennial file is whole and what it claims
// to be, checked against the checksums its writers stored, with the work spread over a group.

#include <perennial/checkpoint/checkpoint_identity.hpp>

#include <boost/mpi/communicator.hpp>

#include <filesystem>
#include <map>
#include <string>

namespace perennial::checkpoint {

/// The verdict, the same on every rank of the group. `problem` (empty when ok) names the
/// file, the dataset when one is at fault, and what is wrong.
struct VerifyResult {
  bool ok = false;
  std::string problem;
};

/// Where the file to verify comes from, which decides whether HDF5's walk of its metadata is
/// first tried in a child process. `at_rest`: a file found on disk (a restore, an input), which
/// may have been damaged in ways that crash HDF5 1.10 itself (ci/fuzz.sh found such files), so
/// the walk is tried in a forked child first. `just_written`: the epoch this group committed a
/// moment ago, read back to confirm it; its metadata is HDF5's own, so the child (about 5 ms of
/// a 1 MiB epoch's 6.5 ms verification here) is left out. Should HDF5 crash on it all the same,
/// the rank dies and is replaced like any dead rank, and the stage resumes from the epoch before.
enum class FileOrigin { at_rest, just_written };

/// Checks, in order: the file opens (not truncated, HDF5), it is a Perennial checkpoint, its
/// identity equals `expected` field by field, it was committed (has a manifest), every
/// manifest entry and its checksum table exist, and every block's stored bytes hash to the
/// checksum its writer recorded. The blocks are spread over the group's ranks by size and
/// read independently, with a serial HDF5 open per rank, so a damaged file cannot leave a
/// rank waiting inside a collective HDF5 call. When several things are wrong, the first in
/// file order is reported, whatever the group size.
///
/// Never throws for a damaged or missing file. Collective over `group`.
VerifyResult verify_checkpoint(const boost::mpi::communicator& group, const std::filesystem::path& file,
                               const CheckpointIdentity& expected, FileOrigin origin = FileOrigin::at_rest);

/// The same checks for a stage output file (OutputFile), with `expected_attributes` (e.g.
/// {"stage", "spinup"}) compared with its root string attributes. Downstream stages call it
/// before reading. Collective.
VerifyResult verify_output(const boost::mpi::communicator& group, const std::filesystem::path& file,
                           const std::map<std::string, std::string>& expected_attributes = {});

}  // namespace perennial::checkpoint
