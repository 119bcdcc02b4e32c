#include <perennial/coordinator/control_requests.hpp>
#include <perennial/errors.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include <fcntl.h>
#include <unistd.h>

namespace perennial {

namespace {

constexpr std::string_view kRequestSuffix = ".request.json";

// Written under a hidden temporary name, synced, then renamed: the other side sees the whole
// file or none, and a request the command was told is queued survives a crash of the node.
void write_atomically(const std::filesystem::path& file, const std::string& text) {
  std::string hidden = ".";
  hidden += file.filename().string();
  hidden += ".tmp";
  const auto tmp = file.parent_path() / hidden;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(fmt::format("cannot write {}: {}", tmp.string(), std::strerror(errno)));
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw Error(fmt::format("cannot write {}: {}", tmp.string(), std::strerror(err)));
    }
    done += static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec) throw Error(fmt::format("cannot rename {} to {}: {}", tmp.string(), file.string(), ec.message()));
}

std::optional<std::string> read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Sorts by time; the pid and a counter keep two requests of one nanosecond apart.
std::string fresh_id() {
  static std::atomic<unsigned> counter{0};
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return fmt::format("{:020}-{}-{}", static_cast<long long>(ns), ::getpid(), counter++);
}

}  // namespace

ControlRequests::ControlRequests(const std::filesystem::path& campaign_folder) : dir_(campaign_folder / "control") {}

std::string ControlRequests::submit(const HandRequest& request) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw Error(fmt::format("cannot create {}: {}", dir_.string(), ec.message()));
  const std::string id = fresh_id();
  write_atomically(request_file(id), request.to_json().dump() + "\n");
  return id;
}

std::vector<ControlRequests::Pending> ControlRequests::pending() const {
  std::vector<Pending> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec);
  if (ec) return out;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    if (name.size() <= kRequestSuffix.size() || name.front() == '.' || !name.ends_with(kRequestSuffix)) continue;
    Pending p;
    p.id = name.substr(0, name.size() - kRequestSuffix.size());
    if (std::filesystem::exists(answer_file(p.id))) continue;  // answered; its removal failed
    const auto text = read_text(it->path());
    if (!text) {
      p.problem = fmt::format("{}: cannot be read", it->path().string());
    } else {
      try {
        p.request = HandRequest::from_json(nlohmann::json::parse(*text));
      } catch (const nlohmann::json::exception& e) {
        p.problem = fmt::format("{}: not JSON: {}", it->path().string(), e.what());
      } catch (const Error& e) {
        p.problem = fmt::format("{}: {}", it->path().string(), e.what());
      }
    }
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](const Pending& a, const Pending& b) { return a.id < b.id; });
  return out;
}

void ControlRequests::answer(const std::string& id, const Answer& answer) {
  const nlohmann::json j = {{"accepted", answer.accepted}, {"message", answer.message}};
  write_atomically(answer_file(id), j.dump() + "\n");
  std::error_code ec;
  std::filesystem::remove(request_file(id), ec);
}

std::optional<ControlRequests::Answer> ControlRequests::take_answer(const std::string& id) {
  const auto file = answer_file(id);
  const auto text = read_text(file);
  if (!text) return std::nullopt;
  Answer a;
  try {
    const auto j = nlohmann::json::parse(*text);
    a.accepted = j.at("accepted").get<bool>();
    a.message = j.at("message").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    a.accepted = false;
    a.message = fmt::format("{}: unreadable answer: {}", file.string(), e.what());
  }
  std::error_code ec;
  std::filesystem::remove(file, ec);
  return a;
}

std::size_t ControlRequests::drop_answers_older_than(std::chrono::seconds age) {
  std::size_t dropped = 0;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec);
  if (ec) return 0;
  const auto now = std::filesystem::file_time_type::clock::now();
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    if (!name.ends_with(".answer.json")) continue;
    const auto written = std::filesystem::last_write_time(it->path(), ec);
    if (ec || now - written < age) continue;
    if (std::filesystem::remove(it->path(), ec)) ++dropped;
  }
  return dropped;
}

}  // namespace perennial
