// The worker's idle loop under mpiexec (2 ranks): what reaches an idle worker besides its
// next assignment must not end it. Rank 0 plays the coordinator with raw messages.

#include <perennial/control_channel.hpp>
#include <perennial/messages.hpp>
#include <perennial/worker/worker.hpp>

#include <boost/mpi/communicator.hpp>
#include <gtest/gtest.h>

using namespace perennial;

// A stop request that crossed the end of its stage (it lands after the stage's last step
// boundary) and a message of a tag this version does not know are dropped; the worker stays
// and obeys the shutdown that follows them.
TEST(WorkerLoop, AStaleStopRequestAndAnUnknownMessageDoNotEndAnIdleWorker) {
  boost::mpi::communicator world;
  ASSERT_EQ(world.size(), 2) << "run with 2 ranks";
  ControlChannel control(world);
  if (control.rank() == 0) {
    control.send(1, msg::kCheckpointRequest, msg::CheckpointRequest{7, 1, true});
    control.send(1, static_cast<msg::Tag>(150), msg::Shutdown{9, false});
    control.send(1, msg::kShutdown, msg::Shutdown{5, false});
    return;
  }
  WorkerIdentity me;
  me.id = 1;
  me.node = "test-node";
  EXPECT_EQ(run_worker(control, me), 5) << "the worker left before its shutdown";
}
