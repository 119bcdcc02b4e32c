#include "fault_drills.hpp"

#include <perennial/checkpoint/drill_damage.hpp>
#include <perennial/checkpoint/epoch_store.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

namespace perennial {

FaultDrills& FaultDrills::instance() {
  static FaultDrills drills;
  return drills;
}

void FaultDrills::set_identity(const WorkerIdentity& me) {
  std::lock_guard lock(mutex_);
  me_ = me;
}

void FaultDrills::set_plan(const std::string& text) {
  std::lock_guard lock(mutex_);
  if (text == text_) return;
  // The coordinator parsed and checked the same text before anything ran.
  plan_ = FaultPlan::parse(text, "faults");
  text_ = text;
  fired_.clear();
}

void FaultDrills::kill_self(const std::string& why, spdlog::logger* log) {
  if (log) {
    log->warn("fault drill: {}", why);
    log->flush();
  }
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->flush(); });
  ::kill(::getpid(), SIGKILL);
  ::_exit(137);  // not reached
}

void FaultDrills::after_step(const std::string& stage, std::uint32_t attempt, std::uint64_t step, int group_rank,
                             const std::filesystem::path& checkpoint_dir, spdlog::logger& log) {
  std::unique_lock lock(mutex_);
  if (plan_.empty()) return;
  // Damage first: a drill that corrupts the newest epoch and kills a rank at the same step
  // must find the damage when the stage restores.
  for (std::size_t i = 0; i < plan_.faults.size(); ++i) {
    const Fault& f = plan_.faults[i];
    if (fired_.count(i) || f.step != step) continue;
    const bool damage = f.kind == FaultKind::corrupt_checkpoint || f.kind == FaultKind::truncate_checkpoint;
    if (!damage || f.stage != stage || attempt != 1 || group_rank != 0) continue;
    fired_.insert(i);
    const auto committed = checkpoint::EpochStore(checkpoint_dir).committed();
    if (committed.empty()) {
      log.warn("fault drill '{}': stage {} has no committed checkpoint to damage", f.text, stage);
      continue;
    }
    try {
      const auto& newest = committed.back().path;
      const std::string what = f.kind == FaultKind::corrupt_checkpoint ? checkpoint::flip_bit_in_data(newest)
                                                                       : checkpoint::truncate_to_half(newest);
      log.warn("fault drill '{}': {}", f.text, what);
    } catch (const std::exception& e) {
      log.error("fault drill '{}' could not damage the checkpoint: {}", f.text, e.what());
    }
  }
  for (std::size_t i = 0; i < plan_.faults.size(); ++i) {
    const Fault& f = plan_.faults[i];
    if (fired_.count(i) || f.step != step) continue;
    if (f.kind == FaultKind::silence && f.rank == me_.id) {
      fired_.insert(i);
      silenced_ = true;
      log.warn("fault drill '{}': heartbeats of worker {} stop after step {} of {}", f.text, me_.id, step, stage);
      log.flush();
    } else if (f.kind == FaultKind::kill && f.rank == me_.id) {
      kill_self(fmt::format("'{}': SIGKILL of worker {} after step {} of stage {}", f.text, me_.id, step, stage), &log);
    } else if (f.kind == FaultKind::kill_node && me_.node == fmt::format("fake-node-{}", f.node)) {
      // The whole node goes down at once: its other processes first, this one last.
      log.warn("fault drill '{}': SIGKILL of every rank of {} (pids {}) after step {} of stage {}", f.text, me_.node,
               fmt::join(me_.node_pids, ","), step, stage);
      log.flush();
      for (int pid : me_.node_pids) {
        if (pid != ::getpid()) ::kill(pid, SIGKILL);
      }
      kill_self(fmt::format("'{}': last rank of {}", f.text, me_.node), &log);
    }
  }
}

void FaultDrills::during_checkpoint(std::uint64_t epoch, spdlog::logger& log) {
  std::unique_lock lock(mutex_);
  for (const Fault& f : plan_.faults) {
    if (f.kind == FaultKind::kill_in_checkpoint && f.rank == me_.id && f.epoch == epoch) {
      kill_self(fmt::format("'{}': SIGKILL of worker {} inside the write of epoch {}, before its commit", f.text, me_.id,
                            epoch),
                &log);
    }
  }
}

bool FaultDrills::fill_disk_now(const std::string& stage, std::uint32_t attempt, std::uint64_t epoch) const {
  std::lock_guard lock(mutex_);
  for (const Fault& f : plan_.faults) {
    if (f.kind == FaultKind::fill_disk && f.stage == stage && f.epoch == epoch && attempt == 1) return true;
  }
  return false;
}

void FaultDrills::on_clock(double seconds) {
  std::unique_lock lock(mutex_);
  for (std::size_t i = 0; i < plan_.faults.size(); ++i) {
    const Fault& f = plan_.faults[i];
    if (fired_.count(i) || !f.time || seconds < *f.time || f.rank != me_.id) continue;
    fired_.insert(i);
    if (f.kind == FaultKind::silence) {
      silenced_ = true;
      spdlog::warn("fault drill '{}': heartbeats of worker {} stop", f.text, me_.id);
    } else if (f.kind == FaultKind::kill) {
      kill_self(fmt::format("'{}': SIGKILL of worker {} at {:.1f} s", f.text, me_.id, seconds), nullptr);
    }
  }
}

DiskFiller::DiskFiller(const std::filesystem::path& dir) : file_(dir / ".fill-disk-drill") {
  const auto free_now = [&dir]() -> std::optional<off_t> {
    struct statvfs fs {};
    if (::statvfs(dir.c_str(), &fs) != 0) return std::nullopt;
    return static_cast<off_t>(fs.f_bavail) * static_cast<off_t>(fs.f_frsize);
  };
  const auto free_bytes = free_now();
  if (!free_bytes) {
    what_ = fmt::format("fill-disk: cannot stat {}", dir.string());
    return;
  }
  const int fd = ::open(file_.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd < 0) {
    what_ = fmt::format("fill-disk: cannot create {}", file_.string());
    return;
  }
  // fallocate takes the space at once without writing it; less if refused. Other processes
  // (rank 0's books and events, written in groups) may take some between the statvfs and the
  // fallocate, which then refuses: what is free then is taken in further rounds, so that the
  // file system ends up full rather than half full.
  off_t taken = 0;
  for (int round = 0; round < 8; ++round) {
    const auto left = round == 0 ? free_bytes : free_now();
    if (!left || *left < 4096) break;
    for (off_t want = *left; want >= 4096; want /= 2) {
      if (::posix_fallocate(fd, taken, want) == 0) {
        taken += want;
        break;
      }
    }
  }
  ::close(fd);
  what_ = fmt::format("fill-disk: took {} of {} free bytes on the file system of {}", taken, *free_bytes, dir.string());
}

DiskFiller::~DiskFiller() {
  std::error_code ignored;
  std::filesystem::remove(file_, ignored);
}

}  // namespace perennial
