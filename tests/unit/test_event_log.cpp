// EventLog's progress lines: routine starts and completions are logged one by one up to
// EventLog::kRoutineLinesPerSecond a second, then counted and summed up once a second, with
// nothing lost from the count and no line out of order.

#include <perennial/coordinator/event_log.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using perennial::EventLog;
using perennial::VirtualClock;

namespace {

struct LogLines {
  std::vector<std::string> lines;
  int started = 0;    ///< "started" lines
  int completed = 0;  ///< "completed" lines
  long folded_starts = 0;
  long folded_completions = 0;
  int sums = 0;
};

LogLines read_log(const fs::path& dir) {
  LogLines out;
  std::ifstream in(dir / "coordinator.log");
  const std::regex sum(R"((\d+) stage starts and (\d+) completions in the last)");
  for (std::string line; std::getline(in, line);) {
    out.lines.push_back(line);
    std::smatch m;
    if (std::regex_search(line, m, sum)) {
      ++out.sums;
      out.folded_starts += std::stol(m[1]);
      out.folded_completions += std::stol(m[2]);
    } else if (line.find(" started ") != std::string::npos) {
      ++out.started;
    } else if (line.find(" completed ") != std::string::npos) {
      ++out.completed;
    }
  }
  return out;
}

void start(EventLog& log, int i) {
  log.routine(EventLog::Routine::start, [i] { return "started s" + std::to_string(i); });
}
void complete(EventLog& log, int i) {
  log.routine(EventLog::Routine::completion, [i] { return "completed s" + std::to_string(i); });
}

// Each test's log folder, removed after it.
class EventLogProgress : public testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("perennial-event-log-" + std::string(testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
           std::to_string(::getpid()));
    fs::remove_all(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
  VirtualClock clock;
};

}  // namespace

TEST_F(EventLogProgress, RoutineLinesAtAFewASecondAreAllWritten) {
  {
    EventLog log(dir, true, clock);
    for (int i = 0; i < 500; ++i) {
      start(log, i);
      clock.advance_by(0.05);  // 20 a second
      complete(log, i);
      log.flush();
    }
  }
  const auto got = read_log(dir);
  EXPECT_EQ(got.started, 500);
  EXPECT_EQ(got.completed, 500);
  EXPECT_EQ(got.sums, 0);
}

TEST_F(EventLogProgress, AFastBurstIsSummedUpOnceASecondAndEveryStageIsCounted) {
  const int stages = 30000;
  {
    EventLog log(dir, true, clock);
    // 10,000 stages a second for 3 s, the log flushed every millisecond as a loop pass would.
    for (int i = 0; i < stages; ++i) {
      start(log, i);
      complete(log, i);
      clock.advance_by(0.0001);
      if (i % 10 == 0) log.flush();
    }
    log.progress("campaign done");
  }
  const auto got = read_log(dir);
  EXPECT_EQ(got.started + got.folded_starts, stages);
  EXPECT_EQ(got.completed + got.folded_completions, stages);
  EXPECT_LE(got.started + got.completed, 4 * static_cast<int>(EventLog::kRoutineLinesPerSecond))
      << "a line per stage at 10,000 stages a second";
  EXPECT_GE(got.sums, 2);
  EXPECT_LE(got.sums, 4);
  ASSERT_FALSE(got.lines.empty());
  // The last sum comes before the line that followed the stages, not after it.
  EXPECT_NE(got.lines.back().find("campaign done"), std::string::npos) << got.lines.back();
}

TEST_F(EventLogProgress, AfterABurstTheNextSlowLinesAreWrittenAgain) {
  {
    EventLog log(dir, true, clock);
    for (int i = 0; i < 1000; ++i) start(log, i);  // at one instant: 100 written, 900 folded
    clock.advance_by(1.5);
    log.flush();  // the sum
    for (int i = 0; i < 10; ++i) {
      clock.advance_by(1.0);
      complete(log, i);
    }
  }
  const auto got = read_log(dir);
  EXPECT_EQ(got.started, static_cast<int>(EventLog::kRoutineLinesPerSecond));
  EXPECT_EQ(got.folded_starts, 1000 - static_cast<int>(EventLog::kRoutineLinesPerSecond));
  EXPECT_EQ(got.sums, 1);
  EXPECT_EQ(got.completed, 10);
}

TEST_F(EventLogProgress, FoldedLinesAreSummedUpWhenTheLogCloses) {
  {
    EventLog log(dir, true, clock);
    for (int i = 0; i < 150; ++i) complete(log, i);
  }
  const auto got = read_log(dir);
  EXPECT_EQ(got.completed, 100);
  EXPECT_EQ(got.folded_completions, 50);
  EXPECT_EQ(got.sums, 1);
}
