#pragma once
// Journal: the campaign's append-only record of what is durable: stages started and completed,
// checkpoint epochs committed. `perennial run` on an output folder that holds one resumes
// from it. One JSON record per line, then a tab and the record's XXH64 checksum in hex.
// Appends are kept in memory until write_pending(), which the coordinator calls once per
// loop pass before it writes the events those records come before (one write for a batch of
// short stages instead of one per record), and made durable (fdatasync) in groups: by sync(),
// which the coordinator calls at least every few tens of milliseconds. A crash so loses at
// most the last moments' records, and those only cost re-running work (checkpoint files
// verify themselves). A torn or corrupt last record (a crash mid-append) is detected and ignored;
// a corrupt record in the middle stops the reading there and is reported.

#include <perennial/coordinator/json_line.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

struct JournalContents {
  std::vector<nlohmann::json> records;  ///< every valid record, in order
  std::vector<std::string> warnings;    ///< what was skipped and why (file and line)
};

class Journal {
 public:
  /// Reads a journal; a missing file reads as empty.
  static JournalContents read(const std::filesystem::path& file);

  /// Opens (creating) the journal for appending. Throws Error naming the file on failure.
  explicit Journal(std::filesystem::path file);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  /// Appends one record: written at the next write_pending() or sync(), durable at the next sync().
  void append(const nlohmann::json& record);
  /// The same for a record written as text (a stage's start and completion).
  void append(const JsonLine& record);
  /// Writes the records appended since the last write (one write call), so that a crash of
  /// this process from now on keeps them. Throws Error naming the file on failure (a full
  /// disk): the records stay pending for the next try.
  void write_pending();
  /// Writes and makes every record appended so far durable (fdatasync), if any is not yet.
  void sync();
  /// sync() when the oldest unsynced record is older than `age`.
  void sync_if_older_than(std::chrono::duration<double> age);
  const std::filesystem::path& path() const { return path_; }
  bool unsynced() const { return unsynced_since_.has_value(); }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  void append_text(const std::string& body);  ///< one record's JSON text, checksummed
  std::string pending_;  ///< appended, not yet written
  std::optional<std::chrono::steady_clock::time_point> unsynced_since_;
};

/// The checksummed line for a record (without the newline); exposed for tests.
std::string journal_line(const nlohmann::json& record);

}  // namespace perennial
