#pragma once
// Journal: the campaign's append-only record of what is durable: stages started and completed,
// checkpoint epochs committed. `perennial run` on an output folder that holds one resumes
// from it. One JSON record per line, then a tab and the record's XXH64 checksum in hex.
// Appends are kept in memory until write_pending(), which the coordinator calls just before it
// writes the events those records come before, and before status.json (one write for a group
// of short stages instead of one per record), and made durable (fdatasync) in groups: by
// sync_if_older_than(), which the coordinator calls every loop pass and which writes what is
// pending first. A crash of the machine so loses at most the last moments' records, and those
// only cost re-running work (checkpoint files verify themselves); a crash of the process alone
// loses nothing written, and nothing another file already shows.
//
// The group's fdatasync runs on a thread of the journal's own, so that the loop does not wait
// for the disk: on this kind of machine one took 0.4-50 ms, and a chain of one-step stages
// stood still for each (strace of rank 0: up to 9% of a run's wall time). A record is durable
// once a sync that began after its write has ended; a sync still running when the next is due
// makes that one wait for the next pass, and an error it met is thrown by the next call (its
// records count as unsynced again, as after a failed sync on the loop's own thread).
//
// A torn or corrupt last record (a crash mid-append) is detected and ignored; a corrupt record
// in the middle stops the reading there and is reported.

#include <perennial/coordinator/json_line.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
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
  /// Writes and makes every record appended so far durable (fdatasync), if any is not yet,
  /// and returns once they are. Throws Error naming the file on failure.
  void sync();
  /// Once the oldest unsynced record is older than `age`: writes the records and starts their
  /// fdatasync on the journal's thread, unless one is still running. Throws Error for a sync
  /// that failed since the last call.
  void sync_if_older_than(std::chrono::duration<double> age);
  const std::filesystem::path& path() const { return path_; }
  bool unsynced() const { return unsynced_since_.has_value(); }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  void append_text(const std::string& body);  ///< one record's JSON text, checksummed
  std::string pending_;  ///< appended, not yet written
  std::optional<std::chrono::steady_clock::time_point> unsynced_since_;

  /// The thread that runs the group's fdatasync (started with the first).
  class Syncer {
   public:
    explicit Syncer(int fd);
    ~Syncer();
    /// Starts a sync unless one is running; false if one is.
    bool start();
    /// Waits for the running sync, if any.
    void wait();
    /// The error (errno) of a sync that failed since the last call, else 0.
    int take_error();

   private:
    void run();
    int fd_;
    std::mutex lock_;
    std::condition_variable changed_;
    bool busy_ = false;  ///< a sync was asked for and has not ended
    bool stopping_ = false;
    int error_ = 0;
    std::thread thread_;
  };
  std::unique_ptr<Syncer> syncer_;
  /// Throws for a sync the thread failed (its records are unsynced again), if there was one.
  void check_background_sync();
  void throw_sync_error(int error) const;
};

/// The checksummed line for a record (without the newline); exposed for tests.
std::string journal_line(const nlohmann::json& record);

}  // namespace perennial
