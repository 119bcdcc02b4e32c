#pragma once
// EventLog: rank 0's record of a run: one JSON object per line in `<output_dir>/log/events.jsonl`
// (stage started/completed/failed, metrics), the full log in `coordinator.log`, and one
// concise progress line per stage event on stderr. Event times `t` are read from the run's
// Clock, the same one the scheduling policy is driven by.
//
// The lines of routine starts and completions are written one by one while they come at most
// kRoutineLinesPerSecond a second (after a burst of as many). Faster than that (thousands of
// stages of milliseconds) they are counted instead, and one line a second says how many went
// by: a line per stage there made neither log readable, and formatting and writing it was a
// tenth of rank 0's time per stage (issue 16). events.jsonl keeps every event.
//
// Events are written in groups: record() keeps them, flush() writes them in one go. The
// coordinator flushes at most once a loop pass, and only when the accounting books hold no
// uncommitted row, so an event never reaches the file before the rows it follows are
// committed (coordinator.cpp, commit_groups). A rank 0 killed with SIGKILL loses the last
// moments' events together with those rows; a resume reads the journal, not this log.

#include <perennial/coordinator/clock.hpp>
#include <perennial/coordinator/json_line.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace spdlog { class logger; }

namespace perennial {

class EventLog {
 public:
  /// `clock` must outlive the log.
  EventLog(const std::filesystem::path& log_dir, bool quiet, const Clock& clock);
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  /// The clock's time: seconds since the campaign's start.
  double elapsed() const { return clock_.now(); }
  /// Appends `event` with its time `t`; it reaches events.jsonl at the next flush().
  void record(nlohmann::json event);
  /// The same for an event written as text (the start and completion every stage has).
  void record(JsonLine event);
  /// Writes the events recorded since the last flush (one write), and coordinator.log's
  /// buffered lines (only warnings and errors are written at once). What a write could not
  /// take (a full disk) is kept for the next flush rather than dropped.
  void flush();
  bool unflushed() const { return !pending_.empty(); }
  /// A progress line: stderr (unless quiet) and coordinator.log, after the sum of the
  /// routine lines folded before it.
  void progress(const std::string& line);
  enum class Routine { start, completion };
  static constexpr double kRoutineLinesPerSecond = 100.0;
  /// A routine start's or completion's progress line, made by `make_line` only if it is
  /// written (see the header comment).
  template <class MakeLine>
  void routine(Routine kind, MakeLine&& make_line) {
    if (take_routine_line(kind)) write_progress(make_line());
  }
  /// Writes the line that sums up the routine lines not written, if any.
  void sum_up_routine();
  spdlog::logger& log() { return *log_; }

 private:
  void write_progress(const std::string& line);
  /// Whether a routine line may be written now; otherwise counts it.
  bool take_routine_line(Routine kind);

  const Clock& clock_;
  double routine_budget_ = kRoutineLinesPerSecond;  ///< lines that may be written now
  double routine_refilled_ = 0.0;                   ///< clock time the budget was last topped up
  double folding_since_ = -1.0;                     ///< first line not written; < 0: none
  std::uint64_t folded_starts_ = 0;
  std::uint64_t folded_completions_ = 0;
  int events_ = -1;  ///< events.jsonl, opened for appending
  std::string pending_;  ///< recorded, not yet written
  std::shared_ptr<spdlog::logger> log_;
  bool quiet_;
};

}  // namespace perennial
