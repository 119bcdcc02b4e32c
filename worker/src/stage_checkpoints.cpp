#include "stage_checkpoints.hpp"

#include "fault_drills.hpp"

#include <perennial/checkpoint/background_io.hpp>
#include <perennial/checkpoint/checkpoint_file.hpp>
#include <perennial/checkpoint/checkpoint_reader.hpp>
#include <perennial/checkpoint/state_snapshot.hpp>
#include <perennial/checkpoint/verify.hpp>
#include <perennial/errors.hpp>

#include <boost/mpi/collectives.hpp>
#include <perennial/serialization.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <mpi.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <optional>
#include <map>
#include <set>
#include <vector>

namespace perennial {

namespace {

// Nodes the group spans (host names, or fake nodes in drills): M in the interval policy.
int count_nodes(const boost::mpi::communicator& group, const std::string& node) {
  std::vector<std::string> hosts;
  boost::mpi::all_gather(group, node, hosts);
  return static_cast<int>(std::set<std::string>(hosts.begin(), hosts.end()).size());
}

}  // namespace

// One epoch from its number to its outcome. The background thread sets the outcome; the
// main thread reads it only after BackgroundIo::wait().
struct StageCheckpoints::Epoch {
  std::uint64_t number = 0;
  std::uint64_t step = 0;
  double time = 0.0;
  std::filesystem::path path;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  bool background = false;                            ///< written by a BackgroundIo thread
  double copy_seconds = 0.0;                          ///< the stage's share: waiting and copying
  std::optional<DiskFiller> full_disk;                ///< a drill: the disk full while written
  std::unique_ptr<checkpoint::StateSnapshot> state;  ///< the copy written (asynchronous only)
  std::unique_ptr<checkpoint::BackgroundIo> io;       ///< its thread (asynchronous only)
  // The outcome, agreed by the group.
  std::string failure;          ///< the write or commit failed: why
  std::string verify_problem;   ///< written but not verified: why
  std::uint64_t bytes = 0;
  double seconds = 0.0;  ///< from the start of the write to the end of its verification
};

StageCheckpoints::StageCheckpoints(const msg::AssignStage& a, const boost::mpi::communicator& group,
                                   const ControlChannel& control, const KernelInfo& kernel_info, const std::string& node,
                                   spdlog::logger& log)
    : a_(a), group_(group), control_(control), log_(log),
      identity_{a.campaign, a.stage, a.kernel, kernel_info.version, a.definition},
      store_(a.checkpoint_dir), settings_(interval_settings(a.checkpoint)), next_epoch_(a.next_epoch),
      last_checkpoint_time_(std::chrono::steady_clock::now()), enabled_(a.checkpoint.enabled) {
  node_ = node;
}

namespace {
// Requests for a stage other than the one running: one queued on this worker behind it
// (PolicyConfig::queue_behind_short_runs) may be told to stop before it begins, and the probe
// of the running stage receives that request first. Kept for the stage it names; the oldest
// go first, as those name stages that ended before the request came (it crossed their end).
std::deque<msg::CheckpointRequest>& requests_for_later() {
  static std::deque<msg::CheckpointRequest> kept;
  return kept;
}
constexpr std::size_t kRequestsKeptForLater = 16;
}  // namespace

void StageCheckpoints::take_requests() {
  auto apply = [this](const msg::CheckpointRequest& request) {
    if (request.stop && request.at_next_epoch) {
      stop_at_next_epoch_ = true;
    } else {
      checkpoint_requested_ = true;
      stop_requested_ = stop_requested_ || request.stop;
    }
  };
  auto& later = requests_for_later();
  if (!later_taken_) {
    later_taken_ = true;
    for (auto it = later.begin(); it != later.end();) {
      if (it->stage_id == a_.stage_id && it->attempt == a_.attempt) {
        apply(*it);
        it = later.erase(it);
      } else {
        ++it;
      }
    }
  }
  while (auto envelope = control_.poll(0, msg::kCheckpointRequest)) {
    auto request = control_.receive<msg::CheckpointRequest>(*envelope);
    if (request.stage_id == a_.stage_id && request.attempt == a_.attempt) {
      apply(request);
      continue;
    }
    later.push_back(request);
    if (later.size() > kRequestsKeptForLater) later.pop_front();
  }
}

// At the first step boundary that can checkpoint rather than at construction: a stage that
// never reaches one (a one-step stage) then pays for none of it (a collective node count,
// the interval's description, a log line: a sixth of such a stage's cost on a worker).
void StageCheckpoints::choose_policy() {
  policy_chosen_ = true;
  nodes_ = count_nodes(group_, node_);
  async_ = a_.checkpoint.async;
  if (async_) {
    // Now, before any epoch: MPI_Comm_dup is collective, and the background thread's
    // collectives must not share the communicator the stage's own thread uses.
    MPI_Comm dup = MPI_COMM_NULL;
    check_mpi(MPI_Comm_dup(static_cast<MPI_Comm>(group_), &dup), "MPI_Comm_dup");
    io_comm_.emplace(dup, boost::mpi::comm_take_ownership);
  }
  interval_ = choose_interval(settings_, kFirstCheckpointCostGuessSeconds, nodes_);
  if (group_.rank() == 0) {
    log_.info("stage {}: checkpoint interval {} (first cost assumed {:.1f} s)", a_.stage, interval_.reason(),
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
  // A group of one (most short stages) has nobody to tell: a broadcast would still pack the list.
  if (group_.size() > 1) boost::mpi::broadcast(group_, disk_files, 0);
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
  steps_seen_ = steps_done;
  // After the last step nothing is checkpointed or stopped (the outputs come next), and with
  // no epoch in flight there is nothing to conclude: no probe for requests and no broadcast,
  // which were a third of a one-step stage's cost. Every member knows both, so all skip.
  if (steps_done >= a_.steps && !in_flight_) return {};
  if (enabled_ && !policy_chosen_) choose_policy();  // collective: every member is here
  int decision[3] = {0, 0, 0};  // checkpoint, stop, conclude the epoch in flight
  if (group_.rank() == 0) {
    // Requests from the coordinator arrive on the control channel; only this rank reads it.
    take_requests();
    const auto now = std::chrono::steady_clock::now();
    if (enabled_ && !async_) {
      if (const auto whole = cost_meter_.boundary(std::chrono::duration<double>(now.time_since_epoch()).count())) {
        charge_whole_epoch(*whole);
      }
    }
    const bool last = steps_done >= a_.steps;
    bool due = false;
    if (enabled_ && !last && steps_done > last_checkpoint_step_) {
      if (interval_.every_steps) {
        due = steps_done - last_checkpoint_step_ >= *interval_.every_steps;
      } else if (!in_flight_) {
        // A duration counts from the end of the last epoch, as for synchronous ones.
        const double since = std::chrono::duration<double>(now - last_checkpoint_time_).count();
        due = since >= interval_.seconds;
      }
    }
    // At the last step the outputs are about to be written: a requested stop simply lets
    // the stage finish.
    decision[0] = !last && enabled_ && (due || checkpoint_requested_);
    decision[1] = !last && (stop_requested_ || (stop_at_next_epoch_ && decision[0] != 0));
    // Ended here means ended (or about to) everywhere: the write's last step is a collective.
    decision[2] = in_flight_ && in_flight_->io->done();
  }
  // One small broadcast per step keeps the group in lockstep on these decisions, whatever
  // rank saw a request first.
  boost::mpi::broadcast(group_, decision, 3, 0);
  if (decision[2] != 0) finish_in_flight(steps_done);
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

StageCheckpoints::~StageCheckpoints() {
  if (in_flight_ && in_flight_->io) {
    try {
      in_flight_->io->wait();
    } catch (...) {
      // The job reports into its outcome and never throws; nothing to add on this path.
    }
  }
  if (remover_.joinable()) remover_.join();
}

void StageCheckpoints::remove_old_epochs(std::uint64_t newest_verified) {
  if (remover_.joinable()) remover_.join();
  const auto keep = static_cast<std::size_t>(a_.checkpoint.keep);
  // Copies only: the thread must not read the stage's state, which the stage goes on changing.
  remover_ = std::thread([store = store_, keep, newest_verified, stage = a_.stage, &log = log_] {
    try {
      for (const auto& old : store.prune(keep, newest_verified)) {
        log.info("stage {}: removed {} (keeping {})", stage, old.string(), keep);
      }
    } catch (const std::exception& e) {
      // An old epoch left behind costs disk space, not correctness: the next prune retries it.
      log.warn("stage {}: could not remove an old epoch: {}", stage, e.what());
    }
  });
}

std::unique_ptr<StageCheckpoints::Epoch> StageCheckpoints::prepare(const StageContext& ctx) {
  why_not_.clear();
  // The last deletion ends before this epoch can be published: a listing that already held the
  // new, unverified epoch would count it among the `keep` and delete one verified epoch too many.
  if (remover_.joinable()) remover_.join();
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
  auto e = std::make_unique<Epoch>();
  e->number = next_epoch_++;
  e->step = ctx.step();
  e->time = ctx.time();
  e->path = store_.path_for(e->number);
  if (group_.rank() == 0 && FaultDrills::instance().fill_disk_now(a_.stage, a_.attempt, e->number)) {
    e->full_disk.emplace(store_.dir());
    log_.warn("fault drill: {} while epoch {} is written", e->full_disk->what(), e->number);
  }
  // Room first. An I/O error in the middle of a collective HDF5 write reaches the ranks at
  // different points (measured: one in MPI_File_close, one in a metadata barrier) and hangs
  // the group, so a disk that cannot take this epoch is found before anything is written.
  std::string no_room;
  if (group_.rank() == 0) no_room = check_free_space(store_.dir(), last_epoch_bytes_);
  boost::mpi::broadcast(group_, no_room, 0);
  if (!no_room.empty()) {
    skip_epoch(e->number, e->step, no_room);
    return nullptr;
  }
  return e;
}

void StageCheckpoints::write_epoch(Epoch& e, const boost::mpi::communicator& comm,
                                   const std::function<void(CheckpointWriter&)>& fill) {
  const auto start = std::chrono::steady_clock::now();
  try {
    checkpoint::CheckpointFileWriter writer(comm, e.path, identity_, {e.number, e.step, e.time}, a_.mpi_io_hints);
    if (!a_.mpi_io_hints.empty() && !hints_logged_ && comm.rank() == 0) {
      log_.info("stage {}: checkpoints opened with MPI-IO hints {}", a_.stage, describe_hints(a_.mpi_io_hints, writer.io_hints()));
    }
    hints_logged_ = true;
    fill(writer);
    FaultDrills::instance().during_checkpoint(e.number, log_);
    writer.commit();
    e.bytes = writer.bytes_written();
  } catch (const std::exception& error) {
    // A full disk or a failing file system costs this epoch, not the stage: the previous
    // epoch stays the newest, and the next interval tries again.
    e.failure = error.what();
  }
  // Every member must agree before anything else collective: one that failed may not have
  // reached the commit the others finished.
  const int failed_here = e.failure.empty() ? 0 : 1;
  int failed_anywhere = 0;
  MPI_Allreduce(&failed_here, &failed_anywhere, 1, MPI_INT, MPI_MAX, static_cast<MPI_Comm>(comm));
  if (failed_anywhere) {
    if (e.failure.empty()) e.failure = "another member of the group failed to write its part";
    if (comm.rank() == 0) {
      std::error_code ignored;
      std::filesystem::remove(e.path.string() + ".partial", ignored);
    }
  } else {
    // Read back before anything older is deleted: a checkpoint counts once it verifies.
    const auto verdict = checkpoint::verify_checkpoint(comm, e.path, identity_, checkpoint::FileOrigin::just_written);
    const int bad_here = verdict.ok ? 0 : 1;
    int bad_anywhere = 0;
    MPI_Allreduce(&bad_here, &bad_anywhere, 1, MPI_INT, MPI_MAX, static_cast<MPI_Comm>(comm));
    if (bad_anywhere) e.verify_problem = verdict.ok ? "another member of the group found it damaged" : verdict.problem;
  }
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool StageCheckpoints::conclude(Epoch& e, std::uint64_t steps_now) {
  e.full_disk.reset();
  if (!e.failure.empty()) {
    skip_epoch(e.number, e.step, e.failure);
    return false;
  }
  last_epoch_bytes_ = e.bytes;
  last_checkpoint_time_ = std::chrono::steady_clock::now();
  if (!e.verify_problem.empty()) {
    why_not_ = "epoch failed verification: " + e.verify_problem;
    log_.error("stage {}: epoch {} failed verification right after writing: {}", a_.stage, e.number, e.verify_problem);
    if (group_.rank() == 0) {
      control_.send(0, msg::kCheckpointFailed, msg::CheckpointFailed{a_.stage_id, a_.attempt, e.number, e.step, e.verify_problem});
    }
    return false;
  }
  // The policy gets the whole write (as for a synchronous epoch), not the stage's share:
  // the interval stays what Young/Daly give for the time an epoch takes to become durable.
  const double cost = e.copy_seconds + e.seconds;
  interval_ = choose_interval(settings_, cost, nodes_);
  if (group_.rank() == 0) {
    remove_old_epochs(e.number);
    const std::string next_interval = interval_.reason();  // for the coordinator and the log alike
    control_.send(0, msg::kEpochCommitted,
                  msg::EpochCommitted{a_.stage_id, a_.attempt, e.number, e.step, e.path.string(), cost, e.bytes,
                                      next_interval, e.time});
    if (e.background) {
      log_.info("stage {}: epoch {} at step {} ({} bytes, {:.3f} s to copy, {:.3f} s in the background while the "
                "stage went on from step {} to step {}); next interval {}",
                a_.stage, e.number, e.step, e.bytes, e.copy_seconds, e.seconds, e.step, steps_now, next_interval);
    } else {
      log_.info("stage {}: epoch {} at step {} ({} bytes, {:.3f} s); next interval {}", a_.stage, e.number, e.step,
                e.bytes, cost, next_interval);
    }
  }
  return true;
}

void StageCheckpoints::finish_in_flight(std::uint64_t steps_now) {
  if (!in_flight_) return;
  auto e = std::move(in_flight_);
  e->io->wait();
  conclude(*e, steps_now);
}

bool StageCheckpoints::write(Kernel& kernel, StageContext& ctx) {
  if (!policy_chosen_) choose_policy();
  if (in_flight_ && group_.rank() == 0) {
    log_.info("stage {}: at step {}, waiting for epoch {} (step {}) to commit before writing the next", a_.stage,
              ctx.step(), in_flight_->number, in_flight_->step);
  }
  finish_in_flight(ctx.step());
  auto e = prepare(ctx);
  if (!e) return false;
  write_epoch(*e, group_, [&](CheckpointWriter& w) { kernel.save(ctx, w); });
  last_checkpoint_step_ = e->step;
  checkpoint_requested_ = false;
  const bool committed = conclude(*e, ctx.step());
  if (committed && group_.rank() == 0) cost_meter_.epoch_written(e->seconds);
  return committed;
}

void StageCheckpoints::charge_whole_epoch(const EpochCostMeter::Cost& cost) {
  // The write's own timer is the least an epoch costs.
  if (cost.charged <= cost.write) return;
  const IntervalChoice whole = choose_interval(settings_, cost.charged, nodes_);
  if (whole.seconds == interval_.seconds && whole.every_steps == interval_.every_steps) return;  // fixed by interval:
  interval_ = whole;
  log_.info("stage {}: the last epoch cost the stage {:.1f} ms with the steps after it ({:.1f} ms in its write; "
            "charged {:.1f} ms, the median of the last few); next interval {}",
            a_.stage, 1000 * cost.whole, 1000 * cost.write, 1000 * cost.charged, interval_.reason());
}

bool StageCheckpoints::write_async(Kernel& kernel, StageContext& ctx) {
  if (!policy_chosen_) choose_policy();
  if (!async_) return write(kernel, ctx);
  const auto waited_from = std::chrono::steady_clock::now();
  finish_in_flight(ctx.step());
  auto e = prepare(ctx);
  if (!e) return false;
  // The copy is the stage's share of the cost: the kernel's arrays as they are now.
  e->state = std::make_unique<checkpoint::StateSnapshot>();
  std::string failure;
  try {
    kernel.save(ctx, *e->state);
  } catch (const std::exception& error) {
    failure = error.what();
  }
  e->copy_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - waited_from).count();
  last_checkpoint_step_ = e->step;
  checkpoint_requested_ = false;
  // A kernel that cannot save on one rank must not leave the others writing alone.
  const int failed_here = failure.empty() ? 0 : 1;
  int failed_anywhere = 0;
  MPI_Allreduce(&failed_here, &failed_anywhere, 1, MPI_INT, MPI_MAX, static_cast<MPI_Comm>(group_));
  if (failed_anywhere) {
    skip_epoch(e->number, e->step, failure.empty() ? "another member of the group failed to save its state" : failure);
    return false;
  }
  Epoch& epoch = *e;
  epoch.background = true;
  epoch.io = std::make_unique<checkpoint::BackgroundIo>([this, &epoch] {
    write_epoch(epoch, *io_comm_, [&epoch](CheckpointWriter& w) { epoch.state->replay(w); });
    epoch.state.reset();  // the copy's memory back as soon as it is on disk
  });
  in_flight_ = std::move(e);
  return true;
}

void StageCheckpoints::settle() { finish_in_flight(steps_seen_); }

}  // namespace perennial
