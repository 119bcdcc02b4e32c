#include <perennial/coordinator/journal.hpp>
#include <perennial/errors.hpp>

#include <fmt/format.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace perennial {

namespace {

std::string checksum_hex(std::string_view text) {
  return fmt::format("{:016x}", XXH64(text.data(), text.size(), 0));
}

void fsync_directory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string kind_of(const nlohmann::json& value) {
  if (value.is_null()) return "null";
  if (value.is_array() || value.is_object()) return fmt::format("an {}", value.type_name());
  return fmt::format("a {}", value.type_name());
}

// Why a record whose checksum holds still cannot be one the writer made, or "": the readers
// (resume, the hand's replay, the folder lock, status, forecast, priority) take these fields
// with nlohmann's value(), which throws a bare type_error on a field of another JSON type.
// ci/fuzz.sh (fuzz_journal) found such records end a resume with that error.
std::string shape_problem(const nlohmann::json& record) {
  if (!record.is_object()) return fmt::format("{}, not an object", kind_of(record));
  for (const char* key : {"type", "stage", "definition", "file", "output", "campaign", "campaign_file", "source",
                          "action", "error"}) {
    if (const auto it = record.find(key); it != record.end() && !it->is_string()) {
      return fmt::format("field '{}' is {}, not a string", key, kind_of(*it));
    }
  }
  for (const char* key : {"epoch", "step", "steps", "attempt", "worker_ranks"}) {
    if (const auto it = record.find(key); it != record.end() && !it->is_number_unsigned()) {
      return fmt::format("field '{}' is {}, not a count", key, kind_of(*it));
    }
  }
  if (const auto nodes = record.find("nodes"); nodes != record.end()) {
    if (!nodes->is_array()) return fmt::format("field 'nodes' is {}, not an array", kind_of(*nodes));
    for (const auto& node : *nodes) {
      if (!node.is_object()) return fmt::format("an entry of 'nodes' is {}, not an object", kind_of(node));
      if (const auto it = node.find("name"); it != node.end() && !it->is_string()) return "a node's 'name' is not a string";
      for (const char* key : {"cores", "gpus", "memory_bytes"}) {
        if (const auto it = node.find(key); it != node.end() && !it->is_number_unsigned()) {
          return fmt::format("a node's '{}' is not a count", key);
        }
      }
    }
  }
  return {};
}

}  // namespace

namespace {
// A record's line: its JSON text, a tab and the text's checksum.
std::string line_of(const std::string& body) { return body + "\t" + checksum_hex(body); }
}  // namespace

std::string journal_line(const nlohmann::json& record) { return line_of(record.dump()); }

JournalContents Journal::read(const std::filesystem::path& file) {
  JournalContents contents;
  std::ifstream in(file, std::ios::binary);
  if (!in) return contents;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    ++line_number;
    const std::size_t end = text.find('\n', start);
    const bool last = end == std::string::npos || end + 1 >= text.size();
    const std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? text.size() : end + 1;
    const auto tab = line.rfind('\t');
    const bool terminated = end != std::string::npos;
    bool valid = terminated && tab != std::string::npos && checksum_hex(std::string_view(line).substr(0, tab)) == line.substr(tab + 1);
    nlohmann::json record;
    if (valid) {
      try {
        record = nlohmann::json::parse(line.substr(0, tab));
      } catch (const nlohmann::json::exception&) {
        valid = false;
      }
    }
    // A bad record is skipped, and the ones after it are read: each line carries its own
    // checksum, so one damaged line says nothing of the others, and stopping there would
    // forget every stage completed and epoch committed after it (weeks of a campaign, for a
    // flipped bit). Every record is a fact the run reached; without one, a resume does more
    // work than needed (an older epoch, a stage run again, a hand action not replayed), never
    // less, and reused outputs and epochs are verified anyway.
    if (valid) {
      if (const std::string problem = shape_problem(record); !problem.empty()) {
        contents.warnings.push_back(fmt::format("{}:{}: a record Perennial does not write ({}); ignoring it (the records "
                                                "after it are read)", file.string(), line_number, problem));
        continue;
      }
    }
    if (!valid) {
      if (last) {
        contents.warnings.push_back(fmt::format("{}:{}: ignoring a torn last record (an interrupted append)", file.string(), line_number));
      } else {
        contents.warnings.push_back(fmt::format("{}:{}: corrupt record (checksum mismatch); ignoring it (the records after "
                                                "it are read)", file.string(), line_number));
      }
      continue;
    }
    contents.records.push_back(std::move(record));
  }
  return contents;
}

Journal::Journal(std::filesystem::path file) : path_(std::move(file)) {
  std::filesystem::create_directories(path_.parent_path());
  const bool fresh = !std::filesystem::exists(path_);
  // A torn last record from a crash must not glue itself to the next append: cut the file
  // back to its last complete line first.
  if (!fresh) {
    std::ifstream in(path_, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto keep = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    if (keep != text.size()) std::filesystem::resize_file(path_, keep);
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(fmt::format("cannot open journal {}: {}", path_.string(), std::strerror(errno)));
  if (fresh) fsync_directory(path_.parent_path());
}

Journal::~Journal() {
  if (fd_ < 0) return;
  try {
    write_pending();
  } catch (const Error&) {
    // A full disk at the very end: the records not written only cost re-running work.
  }
  syncer_.reset();  // its sync ends first: the descriptor must outlive it
  if (unsynced_since_) ::fdatasync(fd_);
  ::close(fd_);
}

void Journal::append(const nlohmann::json& record) { append_text(record.dump()); }

void Journal::append(const JsonLine& record) { append_text(record.str()); }

void Journal::append_text(const std::string& body) {
  pending_ += line_of(body);
  pending_ += '\n';
  if (!unsynced_since_) unsynced_since_ = std::chrono::steady_clock::now();
}

void Journal::write_pending() {
  std::size_t done = 0;
  while (done < pending_.size()) {
    const ssize_t n = ::write(fd_, pending_.data() + done, pending_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      // Keep what was not written; a partial record on disk reads as a torn last record.
      pending_.erase(0, done);
      throw Error(fmt::format("cannot append to journal {}: {}", path_.string(), std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
  pending_.clear();
}

void Journal::throw_sync_error(int error) const {
  throw Error(fmt::format("cannot sync journal {}: {}", path_.string(), std::strerror(error)));
}

void Journal::check_background_sync() {
  if (!syncer_) return;
  if (const int error = syncer_->take_error()) {
    if (!unsynced_since_) unsynced_since_ = std::chrono::steady_clock::now();
    throw_sync_error(error);
  }
}

void Journal::sync() {
  if (syncer_) syncer_->wait();
  check_background_sync();
  if (!unsynced_since_) return;
  write_pending();
  if (::fdatasync(fd_) != 0) throw_sync_error(errno);
  unsynced_since_.reset();
}

void Journal::sync_if_older_than(std::chrono::duration<double> age) {
  check_background_sync();
  if (!unsynced_since_ || std::chrono::steady_clock::now() - *unsynced_since_ < age) return;
  write_pending();
  if (!syncer_) syncer_ = std::make_unique<Syncer>(fd_);
  // Written before the sync starts, so the sync covers them; one still running may not.
  if (syncer_->start()) unsynced_since_.reset();
}

Journal::Syncer::Syncer(int fd) : fd_(fd), thread_([this] { run(); }) {}

Journal::Syncer::~Syncer() {
  {
    const std::lock_guard l(lock_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

bool Journal::Syncer::start() {
  {
    const std::lock_guard l(lock_);
    if (busy_) return false;
    busy_ = true;
  }
  changed_.notify_all();
  return true;
}

void Journal::Syncer::wait() {
  std::unique_lock l(lock_);
  changed_.wait(l, [this] { return !busy_; });
}

int Journal::Syncer::take_error() {
  const std::lock_guard l(lock_);
  return std::exchange(error_, 0);
}

void Journal::Syncer::run() {
  std::unique_lock l(lock_);
  while (true) {
    changed_.wait(l, [this] { return stopping_ || busy_; });
    if (!busy_) return;  // stopping, nothing asked
    l.unlock();
    const int error = ::fdatasync(fd_) == 0 ? 0 : errno;
    l.lock();
    busy_ = false;
    if (error && !error_) error_ = error;
    changed_.notify_all();
  }
}

}  // namespace perennial
