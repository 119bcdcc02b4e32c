// LoopWatchdog ends a process whose loop stopped coming round (rank 0 stuck inside an MPI
// call), and leaves alone one whose loop keeps coming round.

#include <perennial/coordinator/loop_watchdog.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

using namespace std::chrono_literals;

namespace {

// Runs `body` in a child process; returns its exit status, or -1 if it had to be killed
// after `bound`.
template <class F> int exit_status_of(F body, std::chrono::seconds bound) {
  const pid_t child = ::fork();
  if (child == 0) {
    body();
    ::_exit(0);
  }
  const auto deadline = std::chrono::steady_clock::now() + bound;
  int status = 0;
  while (::waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(20ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST(LoopWatchdog, AStuckLoopEndsTheProcessSoTheJobEnds) {
  const int status = exit_status_of(
      [] {
        perennial::LoopWatchdog watchdog(500ms);
        std::this_thread::sleep_for(60s);  // stuck: never comes round
      },
      30s);
  EXPECT_EQ(status, 72);
}

TEST(LoopWatchdog, ALoopThatComesRoundIsLeftAlone) {
  const int status = exit_status_of(
      [] {
        perennial::LoopWatchdog watchdog(1500ms);
        for (int i = 0; i < 30; ++i) {
          watchdog.alive();
          std::this_thread::sleep_for(100ms);
        }
      },
      60s);
  EXPECT_EQ(status, 0);
}
