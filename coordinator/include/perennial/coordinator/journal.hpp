#pragma once
// Journal: the campaign's append-only record of what is durable: stages started and completed,
// checkpoint epochs committed. `perennial run` on an output folder that holds one resumes
// from it. One JSON record per line, then a tab and the record's XXH64 checksum in hex;
// every append is fdatasync'd before it returns. A torn or corrupt last record (a crash
// mid-append) is detected and ignored; a corrupt record in the middle stops the reading
// there and is reported.

#include <nlohmann/json.hpp>

#include <filesystem>
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

  /// Appends one record and makes it durable (write + fdatasync). Throws Error on failure.
  void append(const nlohmann::json& record);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

/// The checksummed line for a record (without the newline); exposed for tests.
std::string journal_line(const nlohmann::json& record);

}  // namespace perennial
