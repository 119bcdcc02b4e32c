#include "stage_checkpoints.hpp"

#include "fault_drills.hpp"

#include <perennial/checkpoint/checkpoint_file.hpp>
#include <perennial/checkpoint/checkpoint_reader.hpp>
#include <perennial/checkpoint/verify.hpp>
#include <perennial/errors.hpp>

#include <boost/mpi/collectives.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <mpi.h>

#include <functional>
#include <optional>
#include <map>
#include <set>

namespace perennial {

namespace {

// Nodes the group spans (host names, or fake nodes in drills): M in the interval policy.
int count_nodes(const boost::mpi::communicator& group, const std::string& node) {
  std::vector<std::string> hosts;
  boost::mpi::all_gather(group, node, hosts);
  return static_cast<int>(std::set<std::string>(hosts.begin(), hosts.end()).size());
}

}  // namespace

StageCheckpoints::StageCheckpoints(const msg::AssignStage& a, const boost::mpi::communicator& group,
                                   const ControlChannel& control, const KernelInfo& kernel_info, const std::string& node,
                                   spdlog::logger& log)
    : a_(a), group_(group), control_(control), log_(log),
      identity_{a.campaign, a.stage, a.kernel, kernel_info.version, a.definition},
      store_(a.checkpoint_dir), settings_(interval_settings(a.checkpoint)), next_epoch_(a.next_epoch),
      last_checkpoint_time_(std::chrono::steady_clock::now()), enabled_(a.checkpoint.enabled) {
  if (!enabled_) return;
  nodes_ = count_nodes(group_, node);
  interval_ = choose_interval(settings_, kFirstCheckpointCostGuessSeconds, nodes_);
  if (group_.rank() == 0) {
    log_.info("stage {}: checkpoint interval {} (first cost assumed {:.1f} s)", a_.stage, interval_.reason,
              kFirstCheckpointCostGuessSeconds);
  }
}

std::vector<std::string> StageCheckpoints::candidates() const {
  // The journal's epochs, and any committed file on disk it does not list yet (rank 0 may have
  // died between a commit and its record): newest first. Every one is verified before use,
  // identity and definition included, so a file on disk is as trustworthy as a journaled one.
  std::map<std::uint64_t, std::string, std::greater<>> by_epoch;
  auto add = [&by_epoch](const std::string& file) {
    by_epoch.emplace(checkpoint::EpochStore::parse_epoch(std::filesystem::path(file).filename().string()).value_or(0), file);
  };
  for (const auto& file : a_.restore_from) add(file);
  std::vector<checkpoint::CommittedEpoch> on_disk;
  if (group_.rank() == 0) on_disk = store_.committed();
  std::vector<std::string> disk_files;
  for (const auto& e : on_disk) disk_files.push_back(e.path.string());
  boost::mpi::broadcast(group_, disk_files, 0);
  for (const auto& file : disk_files) add(file);
  std::vector<std::string> out;
  for (const auto& [epoch, file] : by_epoch) out.push_back(file);
  return out;
}

std::uint64_t StageCheckpoints::restore(Kernel& kernel, StageContext& ctx) {
  const auto files = candidates();
  if (files.empty()) return 0;
  msg::StageRestored report{a_.stage_id, a_.attempt, false, {}, 0, {}};
  for (const auto& file : files) {
    auto verdict = checkpoint::verify_checkpoint(group_, file, identity_);
    if (!verdict.ok) {
      report.rejected.push_back(verdict.problem);
      log_.warn("stage {}: not restoring {}: {}", a_.stage, file, verdict.problem);
      continue;
    }
    try {
      checkpoint::CheckpointFileReader reader(group_, file);
      kernel.restore(ctx, reader);
      ctx.set_step(reader.info().step);
      ctx.set_time(reader.info().time);
      report.restored = true;
      report.file = file;
      report.step = reader.info().step;
      report.simulated = reader.info().time;
      last_checkpoint_step_ = report.step;
      break;
    } catch (const std::exception& e) {
      // The kernel may hold part of the failed state: start it over before the next try.
      report.rejected.push_back(fmt::format("{}: restore failed: {}", file, e.what()));
      ctx.set_step(0);
      ctx.set_time(0.0);
      kernel.initialize(ctx);
    }
  }
  if (group_.rank() == 0) control_.send(0, msg::kStageRestored, report);
  if (report.restored) log_.info("stage {}: resumed from {} at step {}", a_.stage, report.file, report.step);
  else log_.warn("stage {}: no valid checkpoint among {}; starting from its inputs", a_.stage, files.size());
  return report.step;
}

// Why `dir` cannot take an epoch like the last one (plus a margin), or "" when it can.
std::string StageCheckpoints::check_free_space(const std::filesystem::path& dir, std::uint64_t last_bytes) {
  std::error_code ec;
  const auto space = std::filesystem::space(dir, ec);
  if (ec) return {};  // cannot tell: let the write itself find out
  // The first epoch's size is unknown; 1 MiB is the least any write needs.
  const std::uint64_t need = last_bytes + last_bytes / 4 + (1u << 20);
  if (space.available >= need) return {};
  return fmt::format("no room on the file system of {}: {} bytes free, about {} needed", dir.string(), space.available,
                     need);
}

// This epoch is not written; the previous one stays the newest and the next interval tries
// again. Collective, like write().
void StageCheckpoints::skip_epoch(std::uint64_t epoch, std::uint64_t step, const std::string& why) {
  why_not_ = why;
  last_checkpoint_time_ = std::chrono::steady_clock::now();
  last_checkpoint_step_ = step;
  checkpoint_requested_ = false;
  if (group_.rank() == 0) {
    log_.error("stage {}: epoch {} at step {} not written: {}", a_.stage, epoch, step, why);
    control_.send(0, msg::kCheckpointFailed, msg::CheckpointFailed{a_.stage_id, a_.attempt, epoch, step, why});
  }
}

StageCheckpoints::Boundary StageCheckpoints::at_boundary(std::uint64_t steps_done) {
  int decision[2] = {0, 0};  // checkpoint, stop
  if (group_.rank() == 0) {
    // Requests from the coordinator arrive on the control channel; only this rank reads it.
    while (auto envelope = control_.poll(0, msg::kCheckpointRequest)) {
      auto request = control_.receive<msg::CheckpointRequest>(*envelope);
      if (request.stage_id != a_.stage_id || request.attempt != a_.attempt) continue;
      if (request.stop && request.at_next_epoch) {
        stop_at_next_epoch_ = true;
      } else {
        checkpoint_requested_ = true;
        stop_requested_ = stop_requested_ || request.stop;
      }
    }
    const bool last = steps_done >= a_.steps;
    bool due = false;
    if (enabled_ && !last && steps_done > last_checkpoint_step_) {
      if (interval_.every_steps) {
        due = steps_done - last_checkpoint_step_ >= *interval_.every_steps;
      } else {
        const double since = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_checkpoint_time_).count();
        due = since >= interval_.seconds;
      }
    }
    // At the last step the outputs are about to be written: a requested stop simply lets
    // the stage finish.
    decision[0] = !last && enabled_ && (due || checkpoint_requested_);
    decision[1] = !last && (stop_requested_ || (stop_at_next_epoch_ && decision[0] != 0));
  }
  // One small broadcast per step keeps the group in lockstep on these decisions, whatever
  // rank saw a request first.
  boost::mpi::broadcast(group_, decision, 2, 0);
  return {decision[0] != 0, decision[1] != 0};
}

void StageCheckpoints::decline_stop(std::uint64_t step, const std::string& why) {
  stop_requested_ = false;
  stop_at_next_epoch_ = false;
  checkpoint_requested_ = false;
  if (group_.rank() == 0) {
    log_.warn("stage {}: asked to stop after step {}, but {}: it keeps running", a_.stage, step, why);
    control_.send(0, msg::kStopDeclined, msg::StopDeclined{a_.stage_id, a_.attempt, step, why});
  }
}

bool StageCheckpoints::write(Kernel& kernel, StageContext& ctx) {
  why_not_.clear();
  if (!directory_ready_) {
    // Only now that the stage checkpoints: stages that never do leave no folder behind.
    if (group_.rank() == 0) {
      store_.create();
      for (const auto& stale : store_.remove_partials()) log_.warn("removed {} left by an interrupted writer", stale.string());
      // Epoch numbers never repeat, even past files the journal missed.
      const auto committed = store_.committed();
      if (!committed.empty()) next_epoch_ = std::max(next_epoch_, committed.back().epoch + 1);
    }
    boost::mpi::broadcast(group_, next_epoch_, 0);
    directory_ready_ = true;
  }
  const std::uint64_t epoch = next_epoch_++;
  const auto path = store_.path_for(epoch);
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t bytes = 0;
  auto& drills = FaultDrills::instance();
  std::string failure;
  {
    std::optional<DiskFiller> full_disk;
    if (group_.rank() == 0 && drills.fill_disk_now(a_.stage, a_.attempt, epoch)) {
      full_disk.emplace(store_.dir());
      log_.warn("fault drill: {} while epoch {} is written", full_disk->what(), epoch);
    }
    // Room first. An I/O error in the middle of a collective HDF5 write reaches the ranks at
    // different points (measured: one in MPI_File_close, one in a metadata barrier) and hangs
    // the group, so a disk that cannot take this epoch is found before anything is written.
    std::string no_room;
    if (group_.rank() == 0) no_room = check_free_space(store_.dir(), last_epoch_bytes_);
    boost::mpi::broadcast(group_, no_room, 0);
    if (!no_room.empty()) {
      skip_epoch(epoch, ctx.step(), no_room);
      return false;
    }
    try {
      checkpoint::CheckpointFileWriter writer(group_, path, identity_, {epoch, ctx.step(), ctx.time()}, a_.mpi_io_hints);
      if (!a_.mpi_io_hints.empty() && !hints_logged_ && group_.rank() == 0) {
        log_.info("stage {}: checkpoints opened with MPI-IO hints {}", a_.stage,
                  describe_hints(a_.mpi_io_hints, writer.io_hints()));
      }
      hints_logged_ = true;
      kernel.save(ctx, writer);
      drills.during_checkpoint(epoch, log_);
      writer.commit();
      bytes = writer.bytes_written();
    } catch (const std::exception& e) {
      // A full disk or a failing file system costs this epoch, not the stage: the previous
      // epoch stays the newest, and the next interval tries again.
      failure = e.what();
    }
  }
  // Every member must agree before anything else collective: one that failed may not have
  // reached the commit the others finished.
  const int failed_here = failure.empty() ? 0 : 1;
  int failed_anywhere = 0;
  MPI_Allreduce(&failed_here, &failed_anywhere, 1, MPI_INT, MPI_MAX, static_cast<MPI_Comm>(group_));
  if (failed_anywhere) {
    if (failure.empty()) failure = "another member of the group failed to write its part";
    if (group_.rank() == 0) {
      std::error_code ignored;
      std::filesystem::remove(path.string() + ".partial", ignored);
    }
    skip_epoch(epoch, ctx.step(), failure);
    return false;
  }
  last_epoch_bytes_ = bytes;
  // Read back before anything older is deleted: a checkpoint counts once it verifies.
  auto verdict = checkpoint::verify_checkpoint(group_, path, identity_);
  const double cost = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  last_checkpoint_time_ = std::chrono::steady_clock::now();
  last_checkpoint_step_ = ctx.step();
  checkpoint_requested_ = false;
  if (!verdict.ok) {
    why_not_ = "epoch failed verification: " + verdict.problem;
    log_.error("stage {}: epoch {} failed verification right after writing: {}", a_.stage, epoch, verdict.problem);
    if (group_.rank() == 0) {
      control_.send(0, msg::kCheckpointFailed,
                    msg::CheckpointFailed{a_.stage_id, a_.attempt, epoch, ctx.step(), verdict.problem});
    }
    return false;
  }
  interval_ = choose_interval(settings_, cost, nodes_);
  if (group_.rank() == 0) {
    for (const auto& old : store_.prune(static_cast<std::size_t>(a_.checkpoint.keep), epoch)) {
      log_.info("stage {}: removed {} (keeping {})", a_.stage, old.string(), a_.checkpoint.keep);
    }
    control_.send(0, msg::kEpochCommitted,
                  msg::EpochCommitted{a_.stage_id, a_.attempt, epoch, ctx.step(), path.string(), cost, bytes, interval_.reason,
                                     ctx.time()});
    log_.info("stage {}: epoch {} at step {} ({} bytes, {:.3f} s); next interval {}", a_.stage, epoch, ctx.step(), bytes,
              cost, interval_.reason);
  }
  return true;
}

}  // namespace perennial
