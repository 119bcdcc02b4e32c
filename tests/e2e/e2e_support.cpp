#include "e2e_support.hpp"

#include <array>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace perennial::e2e {

std::string perennial_executable() {
  const char* other = std::getenv("PERENNIAL_TEST_EXECUTABLE");
  return other && *other ? other : PERENNIAL_EXECUTABLE;
}

CommandResult run_command(const std::string& command, int timeout_seconds) {
  const std::string wrapped = "timeout --kill-after=10 " + std::to_string(timeout_seconds) + " " + command + " 2>&1";
  CommandResult result;
  FILE* pipe = popen(wrapped.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  std::array<char, 4096> buffer{};
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

namespace {
// `perennial launch`, the way a batch script runs a campaign: mpirun --enable-recovery with
// the test flags, and the campaign's own exit code (mpirun's is 0 after any failure).
std::string launch_command(int ranks, const std::string& arguments, const std::string& extra_mpiexec_flags) {
  const std::string line = PERENNIAL_MPIEXEC;
  const auto space = line.find(' ');
  const std::string mpiexec = line.substr(0, space);
  std::string flags = space == std::string::npos ? std::string() : line.substr(space + 1);
  if (!extra_mpiexec_flags.empty()) flags += " " + extra_mpiexec_flags;
  return perennial_executable() + " launch -n " + std::to_string(ranks) + " --mpirun " + mpiexec +
         " --mpirun-args '" + flags + "' " + arguments;
}
}  // namespace

CommandResult run_perennial(int ranks, const std::string& arguments, int timeout_seconds) {
  return run_command(launch_command(ranks, arguments, ""), timeout_seconds);
}

CommandResult run_mpiexec_perennial(int ranks, const std::string& arguments, int timeout_seconds) {
  const std::string command = std::string(PERENNIAL_MPIEXEC) + " -n " + std::to_string(ranks) + " " +
                              perennial_executable() + " run " + arguments;
  return run_command(command, timeout_seconds);
}

CommandResult run_perennial_serial(const std::string& arguments) {
  return run_command(perennial_executable() + " " + arguments, 60);
}

std::string mpiexec_command() { return PERENNIAL_MPIEXEC; }

BackgroundRun::BackgroundRun(int ranks, const std::string& arguments, const std::string& extra_mpiexec_flags)
    : BackgroundRun(Shell{launch_command(ranks, arguments, extra_mpiexec_flags)}) {}

BackgroundRun::BackgroundRun(const Shell& shell) {
  static int counter = 0;
  log_ = std::string(PERENNIAL_TEST_WORK_DIR) + "/background-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".log";
  std::filesystem::create_directories(PERENNIAL_TEST_WORK_DIR);
  const std::string command = "exec " + shell.command + " > " + log_ + " 2>&1";
  pid_ = ::fork();
  if (pid_ == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
}

BackgroundRun::~BackgroundRun() {
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void BackgroundRun::signal(int signal) const {
  if (pid_ > 0) ::kill(pid_, signal);
}

CommandResult BackgroundRun::wait(int timeout_seconds) {
  CommandResult result;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  int status = 0;
  while (true) {
    const int done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      result.exit_code = 124;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  std::ifstream in(log_);
  result.output.assign(std::istreambuf_iterator<char>(in), {});
  return result;
}

bool wait_for_event(const std::filesystem::path& output_dir, const std::string& event, const std::string& stage,
                    int count, int timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int seen = 0;
    std::ifstream in(output_dir / "log" / "events.jsonl");
    for (std::string line; std::getline(in, line);) {
      if (line.find("\"event\":\"" + event + "\"") == std::string::npos) continue;
      if (!stage.empty() && line.find("\"stage\":\"" + stage + "\"") == std::string::npos) continue;
      ++seen;
    }
    if (seen >= count) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::filesystem::path fresh_directory(const std::string& name) {
  auto dir = std::filesystem::path(PERENNIAL_TEST_WORK_DIR) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::filesystem::path example_campaign(const std::string& file) {
  return std::filesystem::path(PERENNIAL_SOURCE_DIR) / "examples" / "campaigns" / file;
}

std::filesystem::path test_campaign(const std::string& file) {
  return std::filesystem::path(PERENNIAL_SOURCE_DIR) / "tests" / "e2e" / "campaigns" / file;
}

std::vector<nlohmann::json> read_events(const std::filesystem::path& output_dir) {
  std::ifstream in(output_dir / "log" / "events.jsonl");
  std::vector<nlohmann::json> events;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) events.push_back(nlohmann::json::parse(line));
  }
  return events;
}

std::vector<nlohmann::json> events_of(const std::vector<nlohmann::json>& events, const std::string& type,
                                      const std::string& stage) {
  std::vector<nlohmann::json> out;
  for (const auto& e : events) {
    if (e.value("event", "") == type && (stage.empty() || e.value("stage", "") == stage)) out.push_back(e);
  }
  return out;
}

std::filesystem::path write_file(const std::filesystem::path& dir, const std::string& name, const std::string& text) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name) << text;
  return dir / name;
}

double event_time(const std::vector<nlohmann::json>& events, const std::string& event, const std::string& stage) {
  for (const auto& e : events) {
    if (e.value("event", "") == event && e.value("stage", "") == stage) return e.at("t").get<double>();
  }
  throw std::runtime_error("no " + event + " event for stage " + stage);
}

bool has_event(const std::vector<nlohmann::json>& events, const std::string& event, const std::string& stage) {
  for (const auto& e : events) {
    if (e.value("event", "") == event && e.value("stage", "") == stage) return true;
  }
  return false;
}

std::vector<nlohmann::json> restores(const std::vector<nlohmann::json>& events, const std::string& stage) {
  std::vector<nlohmann::json> out;
  for (const auto& e : events_of(events, "stage_restored", stage)) {
    if (e.value("restored", false)) out.push_back(e);
  }
  return out;
}

int number_in_worker_log(const std::filesystem::path& output_dir, int rank, const std::string& pattern) {
  std::ifstream in(output_dir / "log" / ("worker-" + std::to_string(rank) + ".log"));
  const std::regex wanted(pattern);
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_search(line, m, wanted)) return std::stoi(m[1]);
  }
  return -1;
}

int worker_pid(const std::filesystem::path& output_dir, int rank) {
  return number_in_worker_log(output_dir, rank, R"(worker rank \d+ pid (\d+))");
}

testing::AssertionResult kill_worker_after_checkpoints(BackgroundRun& run, const std::filesystem::path& output_dir,
                                                       const std::string& stage, int epochs, int rank,
                                                       CommandResult& result, int timeout_seconds) {
  if (!wait_for_event(output_dir, "checkpoint_committed", stage, epochs, 120)) {
    return testing::AssertionFailure() << "stage " << stage << " never committed " << epochs << " checkpoints";
  }
  const int pid = worker_pid(output_dir, rank);
  if (pid <= 0) return testing::AssertionFailure() << "worker " << rank << " wrote no pid in its log";
  if (::kill(pid, SIGKILL) != 0) return testing::AssertionFailure() << "kill(" << pid << ", SIGKILL) failed";
  result = run.wait(timeout_seconds);
  if (result.exit_code == 124) return testing::AssertionFailure() << "the job hung after the kill\n" << result.output;
  return testing::AssertionSuccess();
}

testing::AssertionResult stop_after_checkpoints(BackgroundRun& run, const std::filesystem::path& output_dir,
                                                const std::string& stage, int epochs, CommandResult& result,
                                                int timeout_seconds) {
  if (!wait_for_event(output_dir, "checkpoint_committed", stage, epochs, 120)) {
    return testing::AssertionFailure() << "stage " << stage << " never committed " << epochs << " checkpoints";
  }
  run.signal(SIGUSR1);
  result = run.wait(timeout_seconds);
  if (result.exit_code != 0) {
    return testing::AssertionFailure() << "the stop ended with " << result.exit_code << "\n" << result.output;
  }
  return testing::AssertionSuccess();
}

std::vector<std::vector<long>> worker_log_matches(const std::filesystem::path& out, const std::string& pattern) {
  std::vector<std::vector<long>> found;
  const std::regex wanted(pattern);
  for (const auto& entry : std::filesystem::directory_iterator(out / "log")) {
    if (entry.path().filename().string().rfind("worker-", 0) != 0) continue;
    std::ifstream in(entry.path());
    std::smatch m;
    for (std::string line; std::getline(in, line);) {
      if (!std::regex_search(line, m, wanted)) continue;
      std::vector<long> numbers;
      for (std::size_t i = 1; i < m.size(); ++i) numbers.push_back(std::stol(m[i]));
      found.push_back(numbers);
    }
  }
  return found;
}

}  // namespace perennial::e2e
