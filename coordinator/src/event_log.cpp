#include <perennial/coordinator/event_log.hpp>
#include <perennial/errors.hpp>

#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace perennial {

EventLog::EventLog(const std::filesystem::path& log_dir, bool quiet, const Clock& clock) : clock_(clock), quiet_(quiet) {
  std::filesystem::create_directories(log_dir);
  const auto events = log_dir / "events.jsonl";
  events_ = ::open(events.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (events_ < 0) throw Error(fmt::format("cannot open {}: {}", events.string(), std::strerror(errno)));
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>((log_dir / "coordinator.log").string());
  log_ = std::make_shared<spdlog::logger>("coordinator", sink);
  log_->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  // Warnings and errors are written at once; the rest with the events, once a loop pass
  // (flush()): two writes per stage were a tenth of the coordinator's time per short stage.
  log_->flush_on(spdlog::level::warn);
}

EventLog::~EventLog() {
  sum_up_routine();
  if (events_ < 0) return;
  flush();
  ::close(events_);
}

void EventLog::record(nlohmann::json event) {
  event["t"] = elapsed();
  // Wall-clock time as well, to line events up with worker logs and outside measurements.
  event["wall"] = unix_time_seconds();
  pending_ += event.dump();
  pending_ += '\n';
}

void EventLog::record(JsonLine event) {
  event.number("t", elapsed()).number("wall", unix_time_seconds());
  event.append_to(pending_);
  pending_ += '\n';
}

void EventLog::flush() {
  if (folding_since_ >= 0.0 && elapsed() - folding_since_ >= 1.0) sum_up_routine();
  std::size_t written = 0;
  while (written < pending_.size()) {
    const ssize_t n = ::write(events_, pending_.data() + written, pending_.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // a full disk: the rest waits for the next flush, when there may be room
    written += static_cast<std::size_t>(n);
  }
  pending_.erase(0, written);
  log_->flush();
}

void EventLog::progress(const std::string& line) {
  sum_up_routine();  // the lines folded so far came before this one
  write_progress(line);
}

void EventLog::write_progress(const std::string& line) {
  log_->info("{}", line);
  if (!quiet_) fmt::print(stderr, "[perennial {:9.3f}s] {}\n", elapsed(), line);
}

bool EventLog::take_routine_line(Routine kind) {
  const double now = elapsed();
  routine_budget_ = std::min(kRoutineLinesPerSecond, routine_budget_ + (now - routine_refilled_) * kRoutineLinesPerSecond);
  routine_refilled_ = now;
  if (routine_budget_ >= 1.0 && folding_since_ < 0.0) {
    routine_budget_ -= 1.0;
    return true;
  }
  // Once lines are folded, they stay folded until the sum is written (flush(), once a second):
  // a line written among the folded ones would look like the only start of that second.
  if (folding_since_ < 0.0) folding_since_ = now;
  ++(kind == Routine::start ? folded_starts_ : folded_completions_);
  return false;
}

void EventLog::sum_up_routine() {
  if (folding_since_ < 0.0) return;
  const std::string line = fmt::format(
      "{} stage starts and {} completions in the last {:.1f} s, more than {:.0f} a second: not logged one by one "
      "(events.jsonl has each)",
      folded_starts_, folded_completions_, std::max(0.0, elapsed() - folding_since_), kRoutineLinesPerSecond);
  folding_since_ = -1.0;
  folded_starts_ = folded_completions_ = 0;
  write_progress(line);
}

}  // namespace perennial
