#pragma once
// FaultDrills: the worker's side of a FaultPlan: it carries out, for real, the faults meant
// for this process (SIGKILL, silence, damaged checkpoint files, a full disk). The plan comes
// with every assignment; time-triggered faults are checked by the heartbeat thread, so they
// fire even while the worker is idle. Thread-safe.

#include <perennial/fault_plan.hpp>
#include <perennial/worker/worker.hpp>

#include <spdlog/logger.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>

namespace perennial {

class FaultDrills {
 public:
  static FaultDrills& instance();

  void set_identity(const WorkerIdentity& me);
  /// The campaign's plan as the coordinator sent it (parsed once per distinct text).
  void set_plan(const std::string& text);

  /// After `step` steps of `stage` (attempt `attempt`): damage checkpoints (group rank 0
  /// only), silence heartbeats, SIGKILL this rank or its whole node.
  void after_step(const std::string& stage, std::uint32_t attempt, std::uint64_t step, int group_rank,
                  const std::filesystem::path& checkpoint_dir, spdlog::logger& log);
  /// Inside the write of `epoch`, after the data and before the commit.
  void during_checkpoint(std::uint64_t epoch, spdlog::logger& log);
  /// Whether `epoch` of `stage` is to be written onto a full disk.
  bool fill_disk_now(const std::string& stage, std::uint32_t attempt, std::uint64_t epoch) const;
  /// Heartbeat thread: time-triggered kills and silences, by seconds since process start.
  void on_clock(double seconds_since_start);
  bool silenced() const { return silenced_.load(); }

 private:
  [[noreturn]] void kill_self(const std::string& why, spdlog::logger* log);

  mutable std::mutex mutex_;
  WorkerIdentity me_;
  std::string text_;
  FaultPlan plan_;
  std::set<std::size_t> fired_;
  std::atomic<bool> silenced_{false};
};

/// Fills the file system holding `dir` (a `fill-disk` drill) for as long as it lives.
class DiskFiller {
 public:
  explicit DiskFiller(const std::filesystem::path& dir);
  ~DiskFiller();
  DiskFiller(const DiskFiller&) = delete;
  DiskFiller& operator=(const DiskFiller&) = delete;
  const std::string& what() const { return what_; }

 private:
  std::filesystem::path file_;
  std::string what_;
};

}  // namespace perennial
