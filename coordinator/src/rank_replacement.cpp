#include <perennial/coordinator/rank_replacement.hpp>
#include <perennial/proc_file.hpp>

#include <boost/mpi/environment.hpp>
#include <fmt/format.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace perennial {

namespace {

// After the lost processes exited and were reaped. It was 1 s: a spawn launched while Open
// MPI's runtime was still processing deaths was seen to hang. What that needs is to spawn only
// once every process lost in the same loop pass is reaped by its parent (mpirun or orted: then
// the runtime has seen it end), not a fixed wait. Measured (notes-16/recovery.md): with 0 here,
// a zombie counted as gone and a spawn sent from inside the first death's handling, 1 in 3
// whole-fake-node kills (4 ranks at once) hung the spawn; with reaped-only and one spawn per
// pass, 0 in 10 such kills and 0 in 24 single kills in a row, 0.8 s instead of 1.7 s from the
// kill to the stage stepping again.
constexpr double kSettleSeconds = 0.0;
constexpr double kWaitForExitSeconds = 5.0;  // a lost process on another host cannot be watched
constexpr double kSpawnGapSeconds = 1.0;     // between one spawn's end and the next

// PERENNIAL_SPAWN_SETTLE (seconds) replaces the settle, for measuring what it buys
// (tests/bench/bench_recovery.sh); not a setting for production runs.
double settle_seconds() {
  static const double value = [] {
    const char* text = std::getenv("PERENNIAL_SPAWN_SETTLE");
    return text && *text ? std::atof(text) : kSettleSeconds;
  }();
  return value;
}

// PERENNIAL_SPAWN_GAP (seconds) likewise replaces the gap between spawns.
double gap_seconds() {
  static const double value = [] {
    const char* text = std::getenv("PERENNIAL_SPAWN_GAP");
    return text && *text ? std::atof(text) : kSpawnGapSeconds;
  }();
  return value;
}

}  // namespace

std::optional<ProcessStat> process_stat(const std::filesystem::path& proc_dir) {
  std::ifstream stat(proc_dir / "stat");
  std::string line;
  if (!stat || !std::getline(stat, line)) return std::nullopt;
  // After the command name, which may hold spaces and parentheses.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return ProcessStat{};
  std::istringstream rest(line.substr(close + 1));
  ProcessStat s;
  rest >> s.state >> s.parent;
  return s;
}

// A zombie is not gone yet: its parent (mpirun or orted) has not reaped it, so Open MPI's
// runtime has not processed the death; a spawn launched meanwhile was seen to hang (a whole fake
// node of 4 ranks killed, settle 0: 1 spawn of 3 never answered).
bool process_gone(int pid) {
  const auto s = process_stat("/proc/" + std::to_string(pid));
  return !s || s->state == 'X';
}

bool process_running(int pid) {
  const auto s = process_stat("/proc/" + std::to_string(pid));
  return s && s->state != 'Z' && s->state != 'X';
}

std::vector<std::pair<int, ProcessStat>> child_processes(long parent) {
  std::vector<std::pair<int, ProcessStat>> children;
  // The error_code forms: /proc changes under the walk (processes end), and a range-for's
  // increment throws when it does.
  std::error_code error;
  for (std::filesystem::directory_iterator it("/proc", error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto stat = process_stat(it->path());
    if (stat && stat->parent == parent) children.emplace_back(std::atoi(name.c_str()), *stat);
  }
  return children;
}

RankReplacement::RankReplacement(WorkerPools& workers, Respawner* respawner, double spawn_timeout_seconds)
    : workers_(workers), respawner_(respawner), spawn_timeout_(spawn_timeout_seconds),
      own_host_(boost::mpi::environment::processor_name()) {}

void RankReplacement::replace(const std::vector<int>& lost, double now) {
  if (lost.empty() || !active()) return;
  Deferred d;
  d.count = lost.size();
  d.asked_at = now;
  for (int id : lost) {
    if (workers_.worker(id).hello.host == own_host_) d.pids.push_back(workers_.worker(id).hello.pid);
  }
  expected_ += d.count;
  deferred_.push_back(std::move(d));
}

void RankReplacement::add_spares(std::size_t count, double now) {
  if (count == 0 || !active()) return;
  Deferred d;
  d.count = count;
  d.asked_at = now;
  d.gone_at = now - settle_seconds();  // nothing ended: nothing to let settle
  expected_ += d.count;
  deferred_.push_back(std::move(d));
}

void RankReplacement::start_deferred(double now, Progress& progress) {
  std::size_t count = 0;
  for (auto& d : deferred_) {
    if (!d.gone_at) {
      const bool all_gone = std::all_of(d.pids.begin(), d.pids.end(), process_gone);
      if (all_gone || now - d.asked_at > kWaitForExitSeconds) d.gone_at = now;
    }
    if (d.gone_at && now - *d.gone_at >= settle_seconds()) count += d.count;
  }
  if (count == 0 || !spawning_.empty() || (last_spawn_done_ && now - *last_spawn_done_ < gap_seconds())) return;
  std::erase_if(deferred_, [&](const Deferred& d) { return d.gone_at && now - *d.gone_at >= settle_seconds(); });
  const int first_id = std::max(workers_.next_id(), next_spawn_id_);
  next_spawn_id_ = first_id + static_cast<int>(count);
  spawning_[respawner_->request(static_cast<int>(count), first_id)] = count;
  progress.requested = {count, first_id};
}

RankReplacement::Progress RankReplacement::poll(double now) {
  Progress progress;
  if (!respawner_) return progress;
  if (!deferred_.empty() && !broken_) start_deferred(now, progress);
  if (spawning_.empty()) return progress;
  while (auto result = respawner_->poll()) {
    const std::size_t asked = spawning_.at(result->ticket);
    spawning_.erase(result->ticket);
    last_spawn_done_ = now;
    expected_ -= std::min(expected_, asked);
    if (!result->channel) {
      fail(result->error, progress);
      continue;  // others already spawned still join
    }
    progress.joined.emplace_back(workers_.add(std::move(result->channel), result->hellos), result->seconds);
  }
  if (!spawning_.empty() && respawner_->oldest_pending_seconds() > spawn_timeout_) {
    // The thread is stuck inside MPI_Comm_spawn and cannot be interrupted. Its new workers
    // (seen stuck inside MPI_Init) would keep the job alive forever: end those on this host.
    for (const auto& [ticket, count] : spawning_) expected_ -= std::min(expected_, count);
    spawning_.clear();
    const auto killed = kill_unconnected_workers();
    fail(fmt::format("no answer from MPI_Comm_spawn within {:.0f} s (ended {} half-started worker(s))", spawn_timeout_,
                     killed),
         progress);
  }
  return progress;
}

void RankReplacement::fail(const std::string& error, Progress& progress) {
  broken_ = true;
  for (const auto& d : deferred_) expected_ -= std::min(expected_, d.count);
  deferred_.clear();
  progress.failed = error;
}

// Spawned workers that never connected: this job's processes on this host (same parent, the
// local mpirun or orted) running `perennial worker` with an id not connected yet.
std::size_t RankReplacement::kill_unconnected_workers() const {
  std::size_t killed = 0;
  for (const auto& [pid, stat] : child_processes(::getppid())) {
    std::string cmdline = read_proc_file(fmt::format("/proc/{}/cmdline", pid));
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    const auto at = cmdline.find(" worker ");
    const auto id_at = cmdline.find("--first-id ");
    if (at == std::string::npos || id_at == std::string::npos) continue;
    const int first_id = std::atoi(cmdline.c_str() + id_at + 11);
    if (workers_.known(first_id)) continue;  // connected: a live worker, not a stuck one
    ::kill(pid, SIGKILL);
    ++killed;
  }
  return killed;
}

}  // namespace perennial
