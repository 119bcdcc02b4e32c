#pragma once
// run_stage: one member's part of a stage: join the stage group, open inputs, run the
// kernel through its steps, write outputs collectively, and say how it went.

#include <perennial/control_channel.hpp>
#include <perennial/messages.hpp>
#include <perennial/worker/worker.hpp>

#include <boost/mpi/communicator.hpp>

namespace perennial {

/// The stage group's own communicator over `members` only (MPI_Comm_create_group:
/// collective over the members, not over the world), with MPI_ERRORS_RETURN. One-rank
/// groups share one cached duplicate of MPI_COMM_SELF.
boost::mpi::communicator make_group_communicator(const boost::mpi::communicator& parent,
                                                 const std::vector<int>& members, int tag);

/// Runs this rank's part of `assignment`. Collective over the stage group. Never throws:
/// errors come back in the report.
msg::StageDone run_stage(const msg::AssignStage& assignment, const boost::mpi::communicator& parent,
                         const ControlChannel& control, const WorkerIdentity& me);

/// Writes out what the worker's log holds. Stage ends do not flush it (a write per stage is
/// too dear for stages of microseconds); the worker loop calls this whenever it goes idle.
void flush_stage_log();

}  // namespace perennial
