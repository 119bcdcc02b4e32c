// read_proc_file: a /proc file of a process that ends while it is read. The start-up watchdog
// reads its sibling ranks' cmdlines every 100 ms; a rank killed between the open and the read
// made libstdc++'s stream buffer throw ("No such process") on the watchdog's thread, and the
// reading rank died with std::terminate (issue 16's random-kill soak, queue campaign trial 3).

#include <perennial/proc_file.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

using perennial::read_proc_file;

TEST(ProcFile, ReadsThisProcesssCommandLine) {
  const std::string cmdline = read_proc_file("/proc/self/cmdline");
  EXPECT_NE(cmdline.find("unit_proc_file"), std::string::npos) << cmdline;
}

TEST(ProcFile, AMissingFileReadsEmpty) { EXPECT_EQ(read_proc_file("/proc/0/no-such-file"), ""); }

// A reader looping on a child's cmdline while the child is killed and reaped: with an
// istreambuf_iterator over an ifstream this threw in about a third of 200 deaths here.
TEST(ProcFile, AProcessEndingWhileItsFileIsReadNeverThrows) {
  int threw = 0;
  for (int i = 0; i < 200; ++i) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::pause();
      ::_exit(0);
    }
    std::atomic<bool> done{false};
    std::thread reader([&] {
      const std::string path = "/proc/" + std::to_string(child) + "/cmdline";
      while (!done) {
        try {
          (void)read_proc_file(path);
        } catch (...) {
          ++threw;
        }
      }
    });
    ::usleep(200);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    ::usleep(200);
    done = true;
    reader.join();
    EXPECT_EQ(read_proc_file("/proc/" + std::to_string(child) + "/cmdline"), "");
  }
  EXPECT_EQ(threw, 0);
}
