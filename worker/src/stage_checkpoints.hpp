#pragma once
// StageCheckpoints: one stage group's checkpoint duties: restore from the newest verified
// epoch at start, decide at each step boundary whether to checkpoint (interval policy,
// coordinator requests), write, commit, verify, prune, and report epochs to rank 0.
// Every member function is collective over the stage group unless it says otherwise.

#include <perennial/checkpoint/checkpoint_identity.hpp>
#include <perennial/checkpoint/epoch_store.hpp>
#include <perennial/checkpoint_interval.hpp>
#include <perennial/control_channel.hpp>
#include <perennial/kernel.hpp>
#include <perennial/messages.hpp>
#include <perennial/stage_context.hpp>

#include <chrono>
#include <string>

namespace perennial {

class StageCheckpoints {
 public:
  StageCheckpoints(const msg::AssignStage& assignment, const boost::mpi::communicator& group,
                   const ControlChannel& control, const KernelInfo& kernel_info, const std::string& node,
                   spdlog::logger& log);

  /// Tries the epochs the coordinator listed, newest first: the first that verifies and
  /// restores sets ctx's step and time. Returns the step to continue from (0: from inputs).
  /// `kernel` has been initialised; a failed restore re-initialises it before the next try.
  std::uint64_t restore(Kernel& kernel, StageContext& ctx);

  struct Boundary {
    bool checkpoint = false;
    bool stop = false;  ///< the coordinator asked the stage to stop after checkpointing
  };
  /// After `steps_done` steps: what the group does now. Group rank 0 decides, all follow.
  Boundary at_boundary(std::uint64_t steps_done);

  /// Writes, commits and verifies one epoch, then prunes old ones and tells rank 0. Returns
  /// whether the epoch is committed (if not, rank 0 was told why, and why_not() says it).
  bool write(Kernel& kernel, StageContext& ctx);
  const std::string& why_not() const { return why_not_; }

  /// A stop was asked for but no epoch was committed at this boundary: the stage goes on
  /// (stopping now would lose its work) and rank 0 is told why. Collective, like write().
  void decline_stop(std::uint64_t step, const std::string& why);

 private:
  /// Epoch files to try, newest first: the journal's and any others committed on disk.
  std::vector<std::string> candidates() const;
  static std::string check_free_space(const std::filesystem::path& dir, std::uint64_t last_bytes);
  void skip_epoch(std::uint64_t epoch, std::uint64_t step, const std::string& why);

  const msg::AssignStage& a_;
  const boost::mpi::communicator& group_;
  const ControlChannel& control_;
  spdlog::logger& log_;
  bool hints_logged_ = false;  ///< the first epoch of this run logs what MPI-IO made of the hints
  checkpoint::CheckpointIdentity identity_;
  checkpoint::EpochStore store_;
  IntervalSettings settings_;
  IntervalChoice interval_;
  int nodes_ = 1;
  std::uint64_t next_epoch_;
  std::uint64_t last_checkpoint_step_ = 0;
  std::uint64_t last_epoch_bytes_ = 0;
  std::chrono::steady_clock::time_point last_checkpoint_time_;
  bool enabled_;
  bool stop_requested_ = false;
  bool stop_at_next_epoch_ = false;  ///< stop once the next scheduled epoch is written (a resize)
  bool checkpoint_requested_ = false;
  bool directory_ready_ = false;
  std::string why_not_;  ///< why the last write() committed nothing
};

}  // namespace perennial
