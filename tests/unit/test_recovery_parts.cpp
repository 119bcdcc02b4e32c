// Recovery without waiting, the plain parts: SparePool (which spawned ranks are spares and
// which are capacity), DeathWatch (a process's end seen without waiting for heartbeats) and
// child_processes (the walk of /proc for a parent's children).

#include <perennial/coordinator/death_watch.hpp>
#include <perennial/coordinator/rank_replacement.hpp>
#include <perennial/coordinator/spare_pool.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

using namespace perennial;

TEST(SparePool, FillsToItsTargetAndKeepsSpawnedRanksOutOfTheMachine) {
  SparePool pool(2);
  EXPECT_EQ(pool.fill(), 2u);
  EXPECT_EQ(pool.fill(), 0u) << "a fill already on its way is not asked for twice";
  EXPECT_EQ(pool.owed_capacity(), 0u) << "spares are not capacity";
  EXPECT_TRUE(pool.joined({8, 9}).empty());
  EXPECT_EQ(pool.idle(), (std::vector<int>{8, 9}));
  EXPECT_EQ(pool.in_flight(), 0u);
}

TEST(SparePool, LostRanksTakeSparesAtOnceAndTheSpawnRefillsThePool) {
  SparePool pool(2);
  pool.fill();
  pool.joined({8, 9});
  // A 2-rank group lost: both spares take its places, nothing is owed to the machine.
  EXPECT_EQ(pool.take(2), (std::vector<int>{8, 9}));
  EXPECT_EQ(pool.owed_capacity(), 0u);
  EXPECT_EQ(pool.in_flight(), 2u);
  EXPECT_TRUE(pool.joined({10, 11}).empty()) << "the replacements refill the pool";
  EXPECT_EQ(pool.idle(), (std::vector<int>{10, 11}));
}

TEST(SparePool, WhatTheSparesDoNotCoverIsOwedToTheMachineFirst) {
  SparePool pool(1);
  pool.fill();
  pool.joined({8});
  EXPECT_EQ(pool.take(3), std::vector<int>{8});
  EXPECT_EQ(pool.owed_capacity(), 2u);
  EXPECT_EQ(pool.joined({10, 11, 12}), (std::vector<int>{10, 11})) << "capacity first, then the pool";
  EXPECT_EQ(pool.idle(), std::vector<int>{12});
  EXPECT_EQ(pool.owed_capacity(), 0u);
}

TEST(SparePool, WithoutSparesEveryReplacementIsCapacity) {
  SparePool pool(0);
  EXPECT_EQ(pool.fill(), 0u);
  EXPECT_TRUE(pool.take(2).empty());
  EXPECT_EQ(pool.owed_capacity(), 2u);
  EXPECT_EQ(pool.joined({5, 6}), (std::vector<int>{5, 6}));
}

TEST(SparePool, AnIdleSpareThatDiesIsRefilled) {
  SparePool pool(2);
  pool.fill();
  pool.joined({8, 9});
  EXPECT_FALSE(pool.lost_idle(3)) << "not a spare";
  EXPECT_TRUE(pool.lost_idle(8));
  EXPECT_EQ(pool.idle(), std::vector<int>{9});
  EXPECT_EQ(pool.in_flight(), 1u);
  EXPECT_EQ(pool.owed_capacity(), 0u);
  EXPECT_TRUE(pool.joined({10}).empty());
  EXPECT_EQ(pool.idle(), (std::vector<int>{9, 10}));
}

TEST(SparePool, FailedSpawnsForgetWhatWillNotCome) {
  SparePool pool(2);
  pool.fill();
  pool.spawns_failed(0);
  EXPECT_EQ(pool.in_flight(), 0u);
  EXPECT_EQ(pool.owed_capacity(), 0u);
}

namespace {

bool ended_within(DeathWatch& watch, int id, std::chrono::milliseconds bound) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < until) {
    for (int e : watch.ended()) {
      if (e == id) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// A child process that waits for a signal (-1 when fork fails).
pid_t sleeping_child() {
  const pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  return child;
}

}  // namespace

TEST(DeathWatch, SeesAKilledProcessAtOnceAndALivingOneNot) {
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  DeathWatch watch;
  watch.watch(7, child);
  EXPECT_TRUE(watch.ended().empty()) << "a living process was reported ended";
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  EXPECT_TRUE(ended_within(watch, 7, std::chrono::milliseconds(2000)));
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - killed).count();
  RecordProperty("detected_after_ms", static_cast<int>(ms));
  EXPECT_TRUE(watch.ended().empty()) << "reported twice";
  ::waitpid(child, nullptr, 0);
}

TEST(DeathWatch, AForgottenProcessIsNotReportedAndAGoneOneIsAtOnce) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // reaped: the pid names nothing now
  DeathWatch watch;
  watch.watch(3, child);
  EXPECT_EQ(watch.ended(), std::vector<int>{3});

  const pid_t other = sleeping_child();
  ASSERT_GT(other, 0);
  watch.watch(4, other);
  watch.forget(4);
  ::kill(other, SIGKILL);
  ::waitpid(other, nullptr, 0);
  EXPECT_TRUE(watch.ended().empty());
}

TEST(DeathWatch, AStoppedProcessIsAliveForIt) {
  // A hung rank (here: stopped) is for heartbeats to find, not for DeathWatch.
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  DeathWatch watch;
  watch.watch(5, child);
  ::kill(child, SIGSTOP);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(watch.ended().empty());
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

// The walk of /proc that rank 0 (spawned ranks that never connected) and launch (a lingering
// mpirun's last ranks) both make: a child is found, then seen as a zombie until it is reaped,
// then not at all; the walk never throws although processes end under it.
TEST(ChildProcesses, FindsAChildAsRunningThenAsAZombieThenNotAtAll) {
  const auto find = [](pid_t child) -> std::optional<ProcessStat> {
    for (const auto& [pid, stat] : child_processes(::getpid())) {
      if (pid == child) return stat;
    }
    return std::nullopt;
  };
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  const auto running = find(child);
  ASSERT_TRUE(running) << "a child of this process was not found";
  EXPECT_NE(running->state, 'Z');
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  std::optional<ProcessStat> zombie;
  for (int i = 0; i < 200 && !(zombie && zombie->state == 'Z'); ++i) {
    zombie = find(child);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(zombie);
  EXPECT_EQ(zombie->state, 'Z') << "an unreaped child is a zombie";
  ::waitpid(child, nullptr, 0);
  EXPECT_FALSE(find(child)) << "a reaped child is gone";
}
