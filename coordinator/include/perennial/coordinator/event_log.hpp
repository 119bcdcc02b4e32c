#pragma once
// EventLog: rank 0's record of a run: one JSON object per line in `<output_dir>/log/events.jsonl`
// (stage started/completed/failed, metrics), the full log in `coordinator.log`, and one
// concise progress line per stage event on stderr.

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace spdlog { class logger; }

namespace perennial {

class EventLog {
 public:
  EventLog(const std::filesystem::path& log_dir, bool quiet);
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  /// Seconds since the log was opened (the campaign's start).
  double elapsed() const;
  /// Appends `event` with its time `t` to events.jsonl.
  void record(nlohmann::json event);
  /// A progress line: stderr (unless quiet) and coordinator.log.
  void progress(const std::string& line);
  spdlog::logger& log() { return *log_; }

 private:
  std::chrono::steady_clock::time_point start_;
  std::FILE* events_ = nullptr;
  std::shared_ptr<spdlog::logger> log_;
  bool quiet_;
};

}  // namespace perennial
