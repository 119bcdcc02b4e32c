#include "launch.hpp"

#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/output_folder.hpp>
#include <perennial/coordinator/rank_replacement.hpp>
#include <perennial/coordinator/stage_graph.hpp>
#include <perennial/errors.hpp>
#include <perennial/kernel.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <optional>
#include <thread>

namespace perennial {

namespace {

// Signals launch received and has not acted on yet; a second SIGINT ends the job at once.
std::atomic<int> g_forward{0};
std::atomic<int> g_interrupts{0};
extern "C" void on_launch_signal(int signal) {
  if (signal == SIGINT) g_interrupts.fetch_add(1);
  g_forward.store(signal);
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

// What mpirun printed when it could not start the job, turned into the fix. Open MPI 4.1's
// messages, as measured on this machine kind.
std::string start_failure_advice(const std::string& printed, const LaunchSettings& s) {
  std::string advice;
  if (printed.find("attempt to run as root") != std::string::npos) {
    advice += "  mpirun refuses to run as root: add --mpirun-args '--allow-run-as-root' (or set "
              "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)\n";
  }
  if (printed.find("not enough slots") != std::string::npos) {
    advice += fmt::format("  this machine (or allocation) has fewer slots than the {} ranks asked for: ask for "
                          "fewer with -n, or allow more ranks than cores with --mpirun-args '--oversubscribe'\n",
                          s.ranks);
  }
  if (advice.empty()) advice = "  mpirun's own message above says why\n";
  return advice;
}

// Copies the child's stderr to ours as it comes, and keeps the last part of it for the
// diagnosis of a failed start. A process that inherited the pipe and outlives mpirun must not
// keep launch waiting: after mpirun ended, the copy goes on for at most a grace period.
class StderrTap {
 public:
  explicit StderrTap(int fd) : fd_(fd), thread_([this] { run(); }) {}
  ~StderrTap() { finish(); }
  /// Waits for the end of the output, at most `grace` more; returns its last part.
  std::string finish(std::chrono::milliseconds grace = std::chrono::milliseconds(2000)) {
    stop_after_.store((std::chrono::steady_clock::now() + grace).time_since_epoch().count());
    if (thread_.joinable()) thread_.join();
    return tail_;
  }

 private:
  void run() {
    char buffer[4096];
    while (true) {
      const auto limit = stop_after_.load();
      if (limit != 0 && std::chrono::steady_clock::now().time_since_epoch().count() > limit) break;
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, 100);
      if (ready < 0 && errno != EINTR) break;
      if (ready <= 0) continue;
      const ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::fwrite(buffer, 1, static_cast<std::size_t>(n), stderr);
      std::fflush(stderr);
      tail_.append(buffer, static_cast<std::size_t>(n));
      if (tail_.size() > 64 * 1024) tail_.erase(0, tail_.size() - 32 * 1024);
    }
    ::close(fd_);
  }
  int fd_;
  std::string tail_;
  std::atomic<std::chrono::steady_clock::rep> stop_after_{0};
  std::thread thread_;
};

// mpirun (Open MPI 4.1 under --enable-recovery) was seen to stay for ever after every rank
// of its job had ended, when a rank died inside MPI start-up or during a respawn. Its ranks on
// this host are its children: once it has had some and has none left for kLingerSeconds, it
// is ended (SIGTERM, then SIGKILL), so launch, and the batch job, end too.
class MpirunWatch {
 public:
  explicit MpirunWatch(pid_t mpirun) : mpirun_(mpirun) {}
  void check() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_look_) return;
    // Ten times a second until a rank has been seen: ranks that die inside MPI start-up now
    // end within a tenth of a second of each other (StartupWatchdog), and a look once a
    // second could miss them all, leave ranks_seen_ false and mpirun running for ever.
    next_look_ = now + (ranks_seen_ ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(100));
    if (has_children()) {
      ranks_seen_ = true;
      empty_ = false;
      return;
    }
    if (!ranks_seen_) return;
    if (!empty_) {
      empty_ = true;
      empty_since_ = now;
    }
    const double empty = std::chrono::duration<double>(now - empty_since_).count();
    if (!terminated_ && empty >= kLingerSeconds) {
      std::fprintf(stderr, "perennial launch: mpirun is still running %.0f s after the last rank of its job on this host "
                           "ended: ending it\n", empty);
      ::kill(mpirun_, SIGTERM);
      terminated_ = true;
    } else if (terminated_ && empty >= kLingerSeconds + 5) {
      ::kill(mpirun_, SIGKILL);
    }
  }

 private:
  // mpirun normally leaves within a second or two of its last local rank; the soak saw it
  // stay for ever (a rank killed in MPI_Init, or rank 0 during a respawn).
  static constexpr double kLingerSeconds = 10.0;
  bool has_children() const {
    const auto children = child_processes(mpirun_);
    return std::any_of(children.begin(), children.end(), [](const auto& c) { return c.second.state != 'Z'; });
  }
  pid_t mpirun_;
  bool ranks_seen_ = false;
  bool terminated_ = false;
  // A flag and a time rather than an optional: GCC 12 warns of the optional's time as
  // maybe uninitialized once has_children() is inlined here.
  bool empty_ = false;  ///< no child since empty_since_
  std::chrono::steady_clock::time_point empty_since_{};
  std::chrono::steady_clock::time_point next_look_{};
};

}  // namespace

std::string own_executable() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("perennial") : path.string();
}

std::filesystem::path started_marker(const std::filesystem::path& output_dir) {
  return output_dir / "log" / "job-started";
}

int command_launch(const LaunchSettings& s) {
  // From the start: a batch script forwards Slurm's warning as soon as it comes, and USR1's
  // default action would end launch (and the job's chance to checkpoint) while it validates.
  struct sigaction action {};
  sigemptyset(&action.sa_mask);
  action.sa_handler = on_launch_signal;
  for (int signal : {SIGUSR1, SIGTERM, SIGINT}) sigaction(signal, &action, nullptr);
  if (s.ranks < 2) {
    std::fprintf(stderr, "perennial launch: -n %d: a run needs at least 2 ranks (rank 0 coordinates, the others run "
                         "stages)\n", s.ranks);
    return 2;
  }
  // Check the campaign before taking any nodes: bad input costs nothing.
  auto loaded = load_campaign_file(s.campaign);
  if (!loaded.campaign) {
    std::fputs(loaded.diagnostics.to_string().c_str(), stderr);
    return 2;
  }
  Diagnostics diagnostics = std::move(loaded.diagnostics);
  auto graph = StageGraph::build(std::move(*loaded.campaign), &KernelRegistry::instance(), diagnostics);
  check_job_size(graph, s.ranks - 1, diagnostics);
  if (!diagnostics.empty()) {
    std::fputs(diagnostics.to_string().c_str(), stderr);
    std::fprintf(stderr, "%zu error(s); not started\n", diagnostics.size());
    return 2;
  }
  const std::filesystem::path output_dir =
      s.output_dir.empty() ? graph.campaign().output_dir : std::filesystem::absolute(s.output_dir);
  try {
    // Before touching the folder: another run may be using it (rank 0 takes the lock for real).
    OutputFolderLock probe(output_dir, graph.campaign().name);
  } catch (const Error& e) {
    std::fprintf(stderr, "perennial launch: not started: %s\n", e.what());
    return 2;
  }
  const auto outcome_file = output_dir / "log" / "outcome.json";
  const auto marker = started_marker(output_dir);
  std::error_code ignored;
  std::filesystem::remove(outcome_file, ignored);
  std::filesystem::remove(marker, ignored);
  std::filesystem::create_directories(marker.parent_path(), ignored);

  std::vector<std::string> args{s.mpirun};
  for (auto& w : split_words(s.mpirun_args)) args.push_back(w);
  // tcmalloc (the perennial executable's malloc) prints a line with a stack for any single
  // allocation of 1 GiB or more, which a model's state on one rank can be: silenced for the
  // job's ranks, on every node (-x), unless the user set a threshold of their own.
  ::setenv("TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD", "1099511627776", 0);
  args.insert(args.end(), {"-x", "TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD"});
  // mpirun is not in the terminal's foreground group: it must not read the terminal.
  args.insert(args.end(), {"--enable-recovery", "--stdin", "none", "-np", std::to_string(s.ranks), own_executable(),
                           "run", s.campaign, "--started-marker", marker.string()});
  if (!s.output_dir.empty()) args.insert(args.end(), {"--output-dir", output_dir.string()});
  args.insert(args.end(), s.run_args.begin(), s.run_args.end());

  int pipe_fds[2] = {-1, -1};
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    std::perror("perennial launch: pipe");
    return 1;
  }
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) {
    std::perror("perennial launch: fork");
    return 1;
  }
  if (child == 0) {
    // A group of its own: a Ctrl-C at the terminal reaches launch alone, which asks for a
    // checkpointed stop. And mpirun ends (taking the job down) if launch is killed.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "perennial launch: cannot start %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  StderrTap tap(pipe_fds[0]);
  int status = 0;
  MpirunWatch watch(child);
  while (true) {
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) break;
    if (done < 0 && errno != EINTR) {
      std::perror("perennial launch: waitpid");
      return 1;
    }
    // Until the ranks have met, rank 0 (and mpirun) may not handle USR1 yet: it would end
    // them. A stop asked for meanwhile waits for the marker; a second interrupt does not.
    const int pending = g_forward.load();
    const bool at_once = pending == SIGINT && g_interrupts.load() >= 2;
    if (pending != 0 && (at_once || std::filesystem::exists(marker))) {
      const int sig = g_forward.exchange(0);
      if (sig == SIGINT && g_interrupts.load() >= 2) {
        std::fprintf(stderr, "perennial launch: interrupted again: ending the job now (work since the last "
                             "checkpoints is lost)\n");
        ::kill(child, SIGTERM);
      } else {
        // SIGUSR1 is what mpirun forwards to the ranks: rank 0 then checkpoints and stops.
        std::fprintf(stderr, "perennial launch: signal %d: asking the campaign to checkpoint and stop%s\n", sig,
                     sig == SIGINT ? " (interrupt again to end it at once)" : "");
        ::kill(child, SIGUSR1);
      }
    }
    watch.check();
    ::usleep(100 * 1000);  // a signal cuts it short
  }
  const std::string printed = tap.finish();
  const int mpirun_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(outcome_file);
  if (!in) {
    if (!std::filesystem::exists(marker)) {
      std::fprintf(stderr, "perennial launch: mpirun could not start the job (status %d); nothing ran.\n%s",
                   mpirun_code, start_failure_advice(printed, s).c_str());
      return 3;
    }
    std::fprintf(stderr,
                 "perennial launch: the job ended (mpirun status %d) without an outcome in %s: the coordinator "
                 "died. Run the same command again to resume from the journal.\n",
                 mpirun_code, outcome_file.c_str());
    return mpirun_code != 0 ? mpirun_code : 1;
  }
  try {
    const auto outcome = nlohmann::json::parse(in);
    const int code = outcome.value("exit_code", 1);
    std::fprintf(stderr, "perennial launch: campaign %s (exit %d)\n", outcome.value("status", "unknown").c_str(), code);
    return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "perennial launch: cannot read %s: %s\n", outcome_file.c_str(), e.what());
    return 1;
  }
}

}  // namespace perennial
