#include "launch.hpp"

#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/stage_graph.hpp>
#include <perennial/kernel.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace perennial {

namespace {

std::atomic<int> g_forward{0};
extern "C" void on_launch_signal(int signal) { g_forward.store(signal); }

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

}  // namespace

std::string own_executable() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("perennial") : path.string();
}

int command_launch(const LaunchSettings& s) {
  // Check the campaign before taking any nodes: bad input costs nothing.
  auto loaded = load_campaign_file(s.campaign);
  if (!loaded.campaign) {
    std::fputs(loaded.diagnostics.to_string().c_str(), stderr);
    return 2;
  }
  Diagnostics diagnostics = std::move(loaded.diagnostics);
  auto graph = StageGraph::build(std::move(*loaded.campaign), &KernelRegistry::instance(), diagnostics);
  if (s.ranks > 0) check_job_size(graph, s.ranks - 1, diagnostics);
  if (!diagnostics.empty()) {
    std::fputs(diagnostics.to_string().c_str(), stderr);
    std::fprintf(stderr, "%zu error(s); not started\n", diagnostics.size());
    return 2;
  }
  const std::filesystem::path output_dir =
      s.output_dir.empty() ? graph.campaign().output_dir : std::filesystem::absolute(s.output_dir);
  const auto outcome_file = output_dir / "log" / "outcome.json";
  std::error_code ignored;
  std::filesystem::remove(outcome_file, ignored);

  std::vector<std::string> args{s.mpirun};
  for (auto& w : split_words(s.mpirun_args)) args.push_back(w);
  args.insert(args.end(), {"--enable-recovery", "-np", std::to_string(s.ranks), own_executable(), "run", s.campaign});
  if (!s.output_dir.empty()) args.insert(args.end(), {"--output-dir", output_dir.string()});
  args.insert(args.end(), s.run_args.begin(), s.run_args.end());

  struct sigaction action {};
  sigemptyset(&action.sa_mask);
  action.sa_handler = on_launch_signal;
  sigaction(SIGUSR1, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  const pid_t child = ::fork();
  if (child < 0) {
    std::perror("perennial launch: fork");
    return 1;
  }
  if (child == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "perennial launch: cannot start %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  int status = 0;
  while (true) {
    const pid_t done = ::waitpid(child, &status, 0);
    if (done == child) break;
    if (done < 0 && errno != EINTR) {
      std::perror("perennial launch: waitpid");
      return 1;
    }
    if (const int sig = g_forward.exchange(0)) {
      // SIGUSR1 is what mpirun forwards to the ranks: rank 0 then checkpoints and stops.
      std::fprintf(stderr, "perennial launch: signal %d: asking the campaign to checkpoint and stop\n", sig);
      ::kill(child, SIGUSR1);
    }
  }
  const int mpirun_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(outcome_file);
  if (!in) {
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
