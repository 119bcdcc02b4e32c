#include "stage_checkpoints.hpp"

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

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>

namespace perennial {

namespace {

// Before the first checkpoint its cost is unknown; assume this much until measured.
constexpr double kFirstCostGuessSeconds = 0.1;

int count_nodes(const boost::mpi::communicator& group) {
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int length = 0;
  MPI_Get_processor_name(name, &length);
  std::vector<std::string> hosts;
  boost::mpi::all_gather(group, std::string(name, static_cast<std::size_t>(length)), hosts);
  return static_cast<int>(std::set<std::string>(hosts.begin(), hosts.end()).size());
}

// Failure injection for tests and drills: PERENNIAL_KILL_DURING_CHECKPOINT=<epoch>:<world rank>
// SIGKILLs that rank after its data is written but before the epoch is committed, the
// moment an atomic commit has to survive.
void kill_if_injected(std::uint64_t epoch) {
  const char* spec = std::getenv("PERENNIAL_KILL_DURING_CHECKPOINT");
  if (!spec) return;
  unsigned long long target_epoch = 0;
  int target_rank = -1;
  if (std::sscanf(spec, "%llu:%d", &target_epoch, &target_rank) != 2 || target_epoch != epoch) return;
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == target_rank) std::raise(SIGKILL);
}

}  // namespace

StageCheckpoints::StageCheckpoints(const msg::AssignStage& a, const boost::mpi::communicator& group,
                                   const ControlChannel& control, const KernelInfo& kernel_info, spdlog::logger& log)
    : a_(a), group_(group), control_(control), log_(log),
      identity_{a.campaign, a.stage, a.kernel, kernel_info.version, a.definition},
      store_(a.checkpoint_dir), next_epoch_(a.next_epoch),
      last_checkpoint_time_(std::chrono::steady_clock::now()), enabled_(a.checkpoint.enabled) {
  settings_.node_mtbf_seconds = a.checkpoint.node_mtbf_seconds;
  settings_.max_lost_work_seconds = a.checkpoint.max_lost_work_seconds;
  settings_.fixed_seconds = a.checkpoint.interval_seconds;
  settings_.fixed_steps = a.checkpoint.interval_steps;
  if (!enabled_) return;
  nodes_ = count_nodes(group_);
  interval_ = checkpoint::choose_interval(settings_, kFirstCostGuessSeconds, nodes_);
  if (group_.rank() == 0) {
    log_.info("stage {}: checkpoint interval {} (first cost assumed {:.1f} s)", a_.stage, interval_.reason,
              kFirstCostGuessSeconds);
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

StageCheckpoints::Boundary StageCheckpoints::at_boundary(std::uint64_t steps_done) {
  int decision[2] = {0, 0};  // checkpoint, stop
  if (group_.rank() == 0) {
    // Requests from the coordinator arrive on the control channel; only this rank reads it.
    while (auto envelope = control_.poll(0, msg::kCheckpointRequest)) {
      auto request = control_.receive<msg::CheckpointRequest>(*envelope);
      if (request.stage_id != a_.stage_id || request.attempt != a_.attempt) continue;
      checkpoint_requested_ = true;
      stop_requested_ = stop_requested_ || request.stop;
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
    decision[1] = !last && stop_requested_;
  }
  // One small broadcast per step keeps the group in lockstep on these decisions, whatever
  // rank saw a request first.
  boost::mpi::broadcast(group_, decision, 2, 0);
  return {decision[0] != 0, decision[1] != 0};
}

void StageCheckpoints::write(Kernel& kernel, StageContext& ctx) {
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
  {
    checkpoint::CheckpointFileWriter writer(group_, path, identity_, {epoch, ctx.step(), ctx.time()});
    kernel.save(ctx, writer);
    kill_if_injected(epoch);
    writer.commit();
    bytes = writer.bytes_written();
  }
  // Read back before anything older is deleted: a checkpoint counts once it verifies.
  auto verdict = checkpoint::verify_checkpoint(group_, path, identity_);
  const double cost = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  last_checkpoint_time_ = std::chrono::steady_clock::now();
  last_checkpoint_step_ = ctx.step();
  checkpoint_requested_ = false;
  if (!verdict.ok) {
    log_.error("stage {}: epoch {} failed verification right after writing: {}", a_.stage, epoch, verdict.problem);
    return;
  }
  interval_ = checkpoint::choose_interval(settings_, cost, nodes_);
  if (group_.rank() == 0) {
    for (const auto& old : store_.prune(static_cast<std::size_t>(a_.checkpoint.keep), epoch)) {
      log_.info("stage {}: removed {} (keeping {})", a_.stage, old.string(), a_.checkpoint.keep);
    }
    control_.send(0, msg::kEpochCommitted,
                  msg::EpochCommitted{a_.stage_id, a_.attempt, epoch, ctx.step(), path.string(), cost, bytes, interval_.reason});
    log_.info("stage {}: epoch {} at step {} ({} bytes, {:.3f} s); next interval {}", a_.stage, epoch, ctx.step(), bytes,
              cost, interval_.reason);
  }
}

}  // namespace perennial
