#pragma once
// StageCheckpoints: one stage group's checkpoint duties: restore from the newest verified
// epoch at start, decide at each step boundary whether to checkpoint (interval policy,
// coordinator requests), write, commit, verify, prune, and report epochs to rank 0.
// Every member function is collective over the stage group unless it says otherwise.
//
// Asynchronous epochs (`checkpoint: {async: true}`): at the boundary the kernel
// saves into a copy in memory (StateSnapshot) and a background thread writes, syncs, renames
// and verifies the file on a duplicate of the group's communicator while the stage steps
// on. One epoch is in flight at a time; the group learns at a later boundary (group rank 0
// decides, all follow) that it has ended, and only then is it reported, exactly as a
// synchronous one: the same file, the same `.partial` until durable, the same verification.

#include <perennial/checkpoint/checkpoint_identity.hpp>
#include <perennial/checkpoint/epoch_store.hpp>
#include <perennial/checkpoint_interval.hpp>
#include <perennial/control_channel.hpp>
#include <perennial/epoch_cost.hpp>
#include <perennial/kernel.hpp>
#include <perennial/messages.hpp>
#include <perennial/stage_context.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace perennial {

class StageCheckpoints {
 public:
  StageCheckpoints(const msg::AssignStage& assignment, const boost::mpi::communicator& group,
                   const ControlChannel& control, const KernelInfo& kernel_info, const std::string& node,
                   spdlog::logger& log);
  /// Waits for an epoch still in flight (its thread writes from memory this object owns),
  /// without reporting it: an exception path. Local.
  ~StageCheckpoints();
  StageCheckpoints(const StageCheckpoints&) = delete;
  StageCheckpoints& operator=(const StageCheckpoints&) = delete;

  /// Tries the epochs the coordinator listed, newest first: the first that verifies and
  /// restores sets ctx's step and time. Returns the step to continue from (0: from inputs).
  /// `kernel` has been initialised; a failed restore re-initialises it before the next try.
  std::uint64_t restore(Kernel& kernel, StageContext& ctx);

  struct Boundary {
    bool checkpoint = false;
    bool stop = false;  ///< the coordinator asked the stage to stop after checkpointing
  };
  /// After `steps_done` steps: what the group does now. Group rank 0 decides, all follow.
  /// An asynchronous epoch whose write has ended (on group rank 0) is reported here.
  Boundary at_boundary(std::uint64_t steps_done);

  /// Writes, commits and verifies one epoch, then prunes old ones and tells rank 0. Returns
  /// whether the epoch is committed (if not, rank 0 was told why, and why_not() says it).
  /// Waits first for an epoch in flight: what a stop needs.
  bool write(Kernel& kernel, StageContext& ctx);
  /// With asynchronous checkpoints: copies the kernel's state and starts writing it in the
  /// background (after waiting for the epoch in flight, if any); returns true. The epoch is
  /// reported once it ends, at a later at_boundary() or settle(). Otherwise: write().
  bool write_async(Kernel& kernel, StageContext& ctx);
  /// Waits for the epoch in flight, if any, and reports it. Before outputs are written.
  void settle();
  const std::string& why_not() const { return why_not_; }

  /// A stop was asked for but no epoch was committed at this boundary: the stage goes on
  /// (stopping now would lose its work) and rank 0 is told why. Collective, like write().
  void decline_stop(std::uint64_t step, const std::string& why);

 private:
  /// Epoch files to try, newest first: the journal's and any others committed on disk.
  std::vector<std::string> candidates() const;
  static std::string check_free_space(const std::filesystem::path& dir, std::uint64_t last_bytes);
  void skip_epoch(std::uint64_t epoch, std::uint64_t step, const std::string& why);

  struct Epoch;
  /// Folder, epoch number and room on disk; nullptr (the epoch skipped and reported) when
  /// there is no room.
  std::unique_ptr<Epoch> prepare(const StageContext& ctx);
  /// Write, commit, agree, verify, agree: on `comm`, from whatever `fill` saves. Sets the
  /// epoch's outcome; never throws. Collective over `comm`.
  void write_epoch(Epoch& e, const boost::mpi::communicator& comm, const std::function<void(CheckpointWriter&)>& fill);
  /// Reports an epoch whose write has ended (committed, failed or not verified) and returns
  /// whether it is committed. Collective over the group.
  bool conclude(Epoch& e, std::uint64_t steps_now);
  /// Waits for the epoch in flight, if any, and concludes it.
  void finish_in_flight(std::uint64_t steps_now);

  const msg::AssignStage& a_;
  const boost::mpi::communicator& group_;
  const ControlChannel& control_;
  spdlog::logger& log_;
  bool hints_logged_ = false;  ///< the first epoch of this run logs what MPI-IO made of the hints
  checkpoint::CheckpointIdentity identity_;
  checkpoint::EpochStore store_;
  IntervalSettings settings_;
  IntervalChoice interval_;
  /// The group's first rank (which decides when to checkpoint) times each synchronous epoch
  /// with the steps after it; the interval is chosen again from that once it is known.
  EpochCostMeter cost_meter_;
  void charge_whole_epoch(const EpochCostMeter::Cost& cost);
  int nodes_ = 1;
  std::string node_;            ///< this rank's node, for the interval rule's node count
  bool policy_chosen_ = false;  ///< choose_policy() ran (at the first boundary that can checkpoint)
  void choose_policy();
  /// Group rank 0: the coordinator's requests for this stage (kept ones first, then new).
  void take_requests();
  std::uint64_t next_epoch_;
  std::uint64_t last_checkpoint_step_ = 0;
  std::uint64_t last_epoch_bytes_ = 0;
  std::chrono::steady_clock::time_point last_checkpoint_time_;
  bool enabled_;
  bool stop_requested_ = false;
  bool stop_at_next_epoch_ = false;  ///< stop once the next scheduled epoch is written (a resize)
  bool checkpoint_requested_ = false;
  bool later_taken_ = false;  ///< requests kept for this stage before it began are taken
  bool directory_ready_ = false;
  std::string why_not_;  ///< why the last write() committed nothing
  bool async_ = false;
  std::uint64_t steps_seen_ = 0;  ///< steps_done at the last boundary
  /// The background writes' own communicator: collectives from two threads must not share
  /// one. Duplicated at construction (a collective call) and declared before in_flight_, so
  /// that it is freed only after the thread using it has ended.
  std::optional<boost::mpi::communicator> io_comm_;
  std::unique_ptr<Epoch> in_flight_;
  /// Rank 0 deletes the epochs past `keep:` on a thread of its own: an unlink of a 1 MiB
  /// file took 0.5-0.6 ms here (ext4 with online discard), on the stage's critical path while
  /// the group's other ranks waited for rank 0 at their next exchange. Joined before the next
  /// epoch is prepared and at the end, so it never sees a newer epoch than the one it follows,
  /// and the folder holds `keep` epochs once the stage has ended, as before.
  std::thread remover_;
  void remove_old_epochs(std::uint64_t newest_verified);
};

}  // namespace perennial
