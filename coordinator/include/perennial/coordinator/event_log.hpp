#pragma once
// EventLog: rank 0's record of a run: one JSON object per line in `<output_dir>/log/events.jsonl`
// (stage started/completed/failed, metrics), the full log in `coordinator.log`, and one
// concise progress line per stage event on stderr. Event times `t` are read from the run's
// Clock, the same one the scheduling policy is driven by.
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
  /// A progress line: stderr (unless quiet) and coordinator.log.
  void progress(const std::string& line);
  spdlog::logger& log() { return *log_; }

 private:
  const Clock& clock_;
  int events_ = -1;  ///< events.jsonl, opened for appending
  std::string pending_;  ///< recorded, not yet written
  std::shared_ptr<spdlog::logger> log_;
  bool quiet_;
};

}  // namespace perennial
