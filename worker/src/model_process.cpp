#include "model_process.hpp"

#include <perennial/errors.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace perennial {

namespace {

// Variables through which this worker's own mpirun (ORTE/PMIx) configured it. A model
// launcher started with them would try to join this job instead of starting its own.
bool launcher_variable(const char* entry) {
  auto starts = [entry](const char* prefix) { return std::strncmp(entry, prefix, std::strlen(prefix)) == 0; };
  if (starts("OMPI_ALLOW_RUN_AS_ROOT")) return false;  // the operator's choice, not the job's
  return starts("OMPI_") || starts("PMIX_") || starts("ORTE_") || starts("OPAL_") || starts("PMI_") ||
         starts("HWLOC_XMLFILE=");
}

}  // namespace

ModelProcess::ModelProcess(const std::vector<std::string>& argv, const std::filesystem::path& run_dir)
    : log_(run_dir / "model.log", std::ios::app) {
  if (argv.empty()) throw Error("no command to run");
  // Everything the child needs is prepared before fork(): after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!launcher_variable(*e)) env.push_back(*e);
  }
  env.push_back(nullptr);
  const std::string dir = run_dir.string();
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw Error(fmt::format("cannot make a pipe for the model: {}", std::strerror(errno)));
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    throw Error(fmt::format("cannot start '{}': fork failed: {}", argv[0], std::strerror(errno)));
  }
  if (pid_ == 0) {
    // Its own process group, so that a stop can reach every process the launcher made; and
    // ended with the worker, however the worker dies (SIGKILL included).
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the worker died before prctl took effect
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    // Nothing else of the worker's: above all not its connections to its own job's process
    // manager (PMIx, ORTE). A launcher holding them open after the worker died keeps that
    // rank half-alive in mpirun's eyes, and the spawn of its replacement then never answers.
    ::close_range(3, ~0U, 0);
    // The worker blocks or ignores some signals; the model starts with the defaults.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s : {SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGPIPE, SIGHUP}) ::signal(s, SIG_DFL);
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    ::execvpe(args[0], args.data(), env.data());
    const char* why = "perennial: cannot execute the model's command\n";
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, why, std::strlen(why));
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);  // also from here: no race with a signal sent right away
  ::close(pipe_fds[1]);
  output_ = pipe_fds[0];
  ::fcntl(output_, F_SETFL, ::fcntl(output_, F_GETFL) | O_NONBLOCK);
}

ModelProcess::~ModelProcess() {
  if (!status_) terminate(std::chrono::seconds(5));
  if (output_ >= 0) ::close(output_);
}

void ModelProcess::keep(const std::string& line) {
  log_ << line << '\n';
  last_.push_back(line);
  if (last_.size() > 20) last_.pop_front();
}

void ModelProcess::read_output(std::chrono::milliseconds wait, const std::function<void(const std::string&)>& on_line) {
  if (output_ < 0) {
    std::this_thread::sleep_for(wait);
    return;
  }
  pollfd p{output_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(output_, buffer, sizeof(buffer));
    if (n > 0) {
      partial_.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {  // every writer closed it: the model and its launcher are done writing
      ::close(output_);
      output_ = -1;
      if (!partial_.empty()) partial_ += '\n';
    }
    break;  // EAGAIN (nothing more now) or an error: read again next time
  }
  std::size_t start = 0;
  for (auto end = partial_.find('\n'); end != std::string::npos; end = partial_.find('\n', start)) {
    std::string line = partial_.substr(start, end - start);
    start = end + 1;
    keep(line);
    on_line(line);
  }
  partial_.erase(0, start);
  log_.flush();
}

std::optional<int> ModelProcess::exited() {
  if (status_ || pid_ < 0) return status_;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r != pid_) return std::nullopt;
  if (WIFEXITED(status)) {
    status_ = WEXITSTATUS(status);
    how_ = fmt::format("exit status {}", *status_);
    // mpirun and srun pass on a rank's death by signal N as 128 + N.
    if (*status_ > 128 && *status_ < 128 + NSIG) {
      how_ += fmt::format(" (a model process ended by signal {}: {})", *status_ - 128, strsignal(*status_ - 128));
    }
  } else if (WIFSIGNALED(status)) {
    status_ = 128 + WTERMSIG(status);
    how_ = fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  }
  // Whatever the launcher left in its group (a model rank ignoring its end) goes with it.
  ::kill(-pid_, SIGKILL);
  return status_;
}

void ModelProcess::signal(int signal) const {
  if (pid_ > 0 && !status_) ::kill(pid_, signal);
}

void ModelProcess::terminate(std::chrono::milliseconds grace) {
  if (pid_ < 0 || status_) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (!exited() && std::chrono::steady_clock::now() < deadline) {
    read_output(std::chrono::milliseconds(50), [](const std::string&) {});
  }
  if (!status_) {
    ::kill(-pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);  // SIGKILL cannot be refused: this returns
    status_ = 128 + SIGKILL;
    how_ = "killed (it did not end within the grace period after SIGTERM)";
  }
}

}  // namespace perennial
