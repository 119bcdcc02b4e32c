// The accounting store and the books kept from a campaign's stage lives: sums worked out by
// hand on a virtual clock, segments of several runs adding up, lost work charged to the
// segment that did it, and a store that refuses what it cannot read.

#include "test_support.hpp"

#include <perennial/accounting/climate_figures.hpp>
#include <perennial/accounting/store.hpp>
#include <perennial/coordinator/accounting_recorder.hpp>
#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/resources.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

using namespace perennial;
using perennial::accounting::AccountingStore;
using perennial::accounting::Outcome;
using perennial::testing::check_campaign;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) { return perennial::testing::fresh_directory("accounting", name); }

// Two nodes of 4 cores; worker ids 1..8, four per node.
Machine two_nodes() {
  Machine m;
  for (int n = 0; n < 2; ++n) {
    std::string name = "n";
    name += std::to_string(n);
    const NodeIndex node = m.add_node({name, 4, 0, 0, 0});
    for (int k = 1; k <= 4; ++k) m.add_worker(node, 0, n * 4 + k);
  }
  return m;
}

const char* kCampaign = R"(
campaign: books
projects:
  - {name: ocean, grant: NSF-1, allocation_core_hours: 100}
stages:
  - {name: spin, kernel: any, project: ocean, ranks: 2, cores_per_rank: 2, steps: 1000}
  - name: "ssp-{f}"
    kernel: any
    project: ocean
    ranks: 2
    steps: 100
    after: [spin]
    for_each: {f: ["2.6", "8.5"]}
)";

// One run of the campaign over a store, on a virtual clock starting at unix time `origin`.
struct Books {
  Books(const perennial::testing::Checked& checked, AccountingStore& store, double origin,
        std::vector<StageHistory> history = {})
      : run(*checked.graph, SchedulingPolicy(two_nodes(), policy_config_for(checked.graph->campaign())), {},
            std::move(history)),
        run_id(store.begin_run({0, "books", "simulated", origin, {}, 9, "test", "365_day", 365.0})),
        recorder(store, run, run_id, origin) {
    run.add_observer(recorder);
  }
  StageId id(const std::string& name) const { return *run.graph().find(name); }
  const ActiveRun& active(const std::string& name) const { return *run.active(id(name)); }
  void report_all(const std::string& name, double now, CampaignRun::MemberReport report) {
    const ActiveRun r = active(name);
    for (int w : r.workers) run.member_reported(id(name), r.attempt, w, report, now);
  }
  void epoch(const std::string& name, std::uint64_t number, std::uint64_t step, double cost, double now) {
    run.epoch_committed(id(name), active(name).attempt, EpochRecord{number, step, "e", step * 0.5, 1000}, cost, now, 1);
  }
  CampaignRun run;
  std::int64_t run_id;
  AccountingRecorder recorder;
};

constexpr double kOrigin = 1'800'000'000.0;

// A member's end: `steps` done, its CPU use, its model time, and the step it stopped at if any.
CampaignRun::MemberReport ended(std::uint64_t steps, double cpu, std::optional<double> simulated = {},
                                std::optional<std::uint64_t> stopped_at = {}) {
  CampaignRun::MemberReport r;
  r.steps_done = steps;
  r.cpu_seconds = cpu;
  r.simulated = simulated;
  r.stopped_at = stopped_at;
  return r;
}

// Runs `writer` in a child process that is expected to end by SIGKILL (the writer kills itself,
// with its store open); a failed check in it exits with the check's number, an exception
// with 9. Returns the child's wait status.
int run_writer_until_killed(const std::function<void()>& writer) {
  const pid_t child = ::fork();
  if (child < 0) return -1;
  if (child == 0) {
    try {
      writer();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "the writer: %s\n", e.what());
      ::_exit(9);
    }
    ::_exit(10);
  }
  int status = 0;
  if (::waitpid(child, &status, 0) != child) return -1;
  return status;
}

}  // namespace

TEST(Accounting, AHandWorkedScheduleSumsExactly) {
  const auto checked = check_campaign(kCampaign);
  ASSERT_TRUE(checked.diagnostics.empty()) << checked.text();
  const auto dir = fresh_dir("hand");
  AccountingStore store(dir / "accounting.db");
  Books b(checked, store, kOrigin);
  b.run.begin(0);
  b.run.decide(0);  // spin: 2 ranks x 2 cores = 4 cores
  b.epoch("spin", 1, 500, 2.0, 100);
  b.run.progressed(b.id("spin"), b.active("spin").attempt, 700, 350.0, 140);
  // Rank 1 dies at t=150: steps 500..700 (50 s of 4 cores) are lost.
  auto lost = b.run.rank_lost(b.active("spin").workers.front(), "killed", 150);
  ASSERT_TRUE(lost);
  b.run.decide(160);  // resumes on the other node at t=160 (queued for 10 s)
  ASSERT_TRUE(b.run.active(b.id("spin")));
  b.run.restored(b.id("spin"), b.active("spin").attempt, 500, 250.0);
  b.report_all("spin", 360, ended(1000, 190.0, 500.0));
  b.run.decide(360);  // both ssp members start: 2 ranks x 1 core each
  b.report_all("ssp-2.6", 396, ended(100, 30.0));
  b.report_all("ssp-8.5", 432, ended(100, 30.0));
  ASSERT_TRUE(b.run.finished());
  b.recorder.write_new_segments(std::chrono::seconds(0));  // as the loop does within 20 ms

  const auto rows = store.segments();
  ASSERT_EQ(rows.size(), 4u);
  const auto& first = rows[0];
  EXPECT_EQ(first.stage, "spin");
  EXPECT_EQ(first.outcome, Outcome::lost);
  EXPECT_EQ(first.project, "ocean");
  EXPECT_EQ(first.grant, "NSF-1");
  EXPECT_EQ(first.cores, 4);
  EXPECT_DOUBLE_EQ(first.wall_start, kOrigin);
  EXPECT_DOUBLE_EQ(first.wall_seconds(), 150.0);
  EXPECT_DOUBLE_EQ(first.core_hours(), 150.0 * 4 / 3600);
  EXPECT_EQ(first.last_step, 700u);
  EXPECT_EQ(first.lost_steps, 200u);
  EXPECT_DOUBLE_EQ(first.lost_core_hours, 50.0 * 4 / 3600);
  EXPECT_EQ(first.checkpoints, 1);
  EXPECT_DOUBLE_EQ(first.checkpoint_seconds, 2.0);
  EXPECT_FALSE(first.cpu_seconds) << "a lost rank's CPU use is unknown, never a partial sum";
  const auto& second = rows[1];
  EXPECT_EQ(second.attempt, 2);
  EXPECT_EQ(second.outcome, Outcome::completed);
  EXPECT_DOUBLE_EQ(second.queue_wait_seconds, 10.0);
  EXPECT_DOUBLE_EQ(second.wall_seconds(), 200.0);
  EXPECT_EQ(second.first_step, 500u);
  EXPECT_EQ(second.last_step, 1000u);
  EXPECT_DOUBLE_EQ(*second.simulated_start, 250.0);
  EXPECT_DOUBLE_EQ(*second.simulated_end, 500.0);
  EXPECT_DOUBLE_EQ(*second.cpu_seconds, 190.0 * 2);
  EXPECT_EQ(second.lost_steps, 0u);
  EXPECT_EQ(rows[2].scenario, R"({"f":"2.6"})");
  EXPECT_EQ(rows[3].scenario, R"({"f":"8.5"})");
  double core_hours = 0.0;
  for (const auto& r : rows) core_hours += r.core_hours();
  // 150 s x 4 + 200 s x 4 + 36 s x 2 + 72 s x 2 core-seconds.
  EXPECT_NEAR(core_hours, (600.0 + 800.0 + 72.0 + 144.0) / 3600.0, 1e-12);
  EXPECT_EQ(store.checkpoints_of(first.id).size(), 1u);
}

TEST(Accounting, ThreeStopsAndResumesSumToTheirSegments) {
  const auto checked = check_campaign(kCampaign);
  const auto dir = fresh_dir("resumes");
  const auto path = dir / "accounting.db";
  std::vector<StageHistory> history;
  double expected = 0.0;
  std::uint64_t step = 0;
  for (int run = 0; run < 4; ++run) {
    AccountingStore store(path);  // reopened by each run, as a resumed campaign does
    Books b(checked, store, kOrigin + 1000.0 * run, history);
    b.run.begin(0);
    b.run.decide(0);
    ASSERT_TRUE(b.run.active(b.id("spin"))) << "run " << run;
    if (step > 0) b.run.restored(b.id("spin"), b.active("spin").attempt, step, step * 0.5);
    if (run < 3) {
      // Checkpoint 250 steps further at t=100, then stop there at t=101 (a signal).
      step += 250;
      b.epoch("spin", run + 1, step, 1.0, 100);
      for (StageId id : b.run.stop_everything()) (void)id;
      b.report_all("spin", 101, ended(step, 100.0, {}, step));
      expected += 101.0 * 4;
      history = std::vector<StageHistory>(b.run.graph().size());
      history[b.id("spin")] = b.run.history(b.id("spin"));
    } else {
      b.report_all("spin", 50, ended(1000, 50.0));
      expected += 50.0 * 4;
    }
    b.recorder.write_new_segments(std::chrono::seconds(0));  // as CampaignBooks::close does
    store.end_run(b.run_id, kOrigin + 1000.0 * run + 200);
  }
  AccountingStore store(path, AccountingStore::Mode::read_only);
  EXPECT_EQ(store.runs().size(), 4u);
  const auto rows = store.segments_of("spin");
  ASSERT_EQ(rows.size(), 4u);
  double core_seconds = 0.0;
  for (const auto& r : rows) core_seconds += r.core_hours() * 3600.0;
  EXPECT_NEAR(core_seconds, expected, 1e-6);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(rows[k].outcome, Outcome::suspended) << k;
    EXPECT_EQ(rows[k].lost_steps, 0u) << k << ": a checkpointed stop loses nothing";
  }
  EXPECT_EQ(rows[3].outcome, Outcome::completed);
  EXPECT_EQ(rows[3].first_step, 750u);
}

TEST(Accounting, ARestoreFromAnOlderEpochChargesTheSegmentThatComputedTheStepsAgain) {
  const auto checked = check_campaign(kCampaign);
  const auto dir = fresh_dir("older-epoch");
  AccountingStore store(dir / "accounting.db");
  Books b(checked, store, kOrigin);
  b.run.begin(0);
  b.run.decide(0);
  b.epoch("spin", 1, 200, 1.0, 40);
  b.epoch("spin", 2, 400, 1.0, 80);
  b.run.rank_lost(b.active("spin").workers.front(), "killed", 100);
  const auto provisional = store.segments_of("spin").front();
  EXPECT_EQ(provisional.lost_steps, 0u) << "nothing past step 400 was known";
  b.run.decide(100);
  // Epoch 2 turns out damaged: the restore falls back to step 200, so 200..400 run again.
  b.run.restored(b.id("spin"), b.active("spin").attempt, 200, 100.0);
  const auto charged = store.segments_of("spin").front();
  EXPECT_EQ(charged.lost_steps, 200u);
  EXPECT_DOUBLE_EQ(charged.lost_core_hours, (100.0 - 40.0) * 4 / 3600);
}

// An ended segment's row waits for the loop's next group (so the next stage is sent first),
// is reported as unwritten meanwhile (the events after it wait too), and a late report that
// needs the row from the store finds it.
TEST(Accounting, AnEndedSegmentIsWrittenWithTheNextGroupAndALateEpochStillFindsIt) {
  const auto checked = check_campaign(kCampaign);
  const auto dir = fresh_dir("ended-later");
  AccountingStore store(dir / "accounting.db");
  Books b(checked, store, kOrigin);
  b.run.begin(0);
  b.run.decide(0);
  const std::uint32_t first_attempt = b.active("spin").attempt;
  auto lost = b.run.rank_lost(b.active("spin").workers.front(), "killed", 5);
  ASSERT_TRUE(lost);
  EXPECT_TRUE(b.recorder.unwritten());
  EXPECT_TRUE(store.segments().empty());  // a short segment: started and ended, not yet written
  // The lost attempt's epoch, reported late: charged to that attempt's segment, which the
  // recorder writes before it looks it up.
  b.run.epoch_committed(b.id("spin"), first_attempt, EpochRecord{1, 100, "e", 50.0, 1000}, 1.0, 6, 1);
  const auto rows = store.segments();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.front().outcome, Outcome::lost);
  EXPECT_EQ(store.checkpoints_of(rows.front().id).size(), 1u);
}

TEST(Accounting, ASegmentLeftRunningByADeadCoordinatorIsClosedAsInterruptedAtItsLastUpdate) {
  const auto checked = check_campaign(kCampaign);
  const auto dir = fresh_dir("interrupted");
  const auto path = dir / "accounting.db";
  {
    AccountingStore store(path);
    Books b(checked, store, kOrigin);
    b.run.begin(0);
    b.run.decide(0);
    b.epoch("spin", 1, 500, 1.0, 100);
    b.recorder.tick(130, 30);  // the books are brought up to t=130; the coordinator dies then
  }
  AccountingStore store(path);
  store.begin_run({0, "books", "real", kOrigin + 500, {}, 9, "test", "365_day", 365.0});
  const auto rows = store.segments();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].outcome, Outcome::interrupted);
  EXPECT_DOUBLE_EQ(rows[0].wall_seconds(), 130.0);
  EXPECT_EQ(rows[0].last_step, 500u);
}

// Writes are committed in groups: a reader sees none of a batch until it commits; a writer
// killed with SIGKILL loses its open batch and nothing it committed, and the next run closes
// the segment it left running as interrupted. Each kind of write works inside a batch and
// outside one.
TEST(Accounting, ARowIsDurableOnceItsBatchCommitsAndASigkilledWriterLosesOnlyTheOpenBatch) {
  const auto dir = fresh_dir("batch");
  const auto path = dir / "accounting.db";
  const int status = run_writer_until_killed([&] {
    const auto committed = [&](std::size_t segments, std::size_t checkpoints, std::size_t metrics) {
      const AccountingStore reader(path, AccountingStore::Mode::read_only);
      return reader.segments().size() == segments && reader.checkpoints().size() == checkpoints &&
             reader.metrics().size() == metrics;
    };
    AccountingStore store(path);
    const auto run = store.begin_run({0, "books", "real", kOrigin, {}, 9, "test", "365_day", 365.0});
    accounting::Segment a;
    a.run_id = run;
    a.stage = "a";
    a.wall_start = kOrigin;
    a.wall_end = kOrigin + 10;
    store.write(a);  // opens a batch
    if (!store.uncommitted() || !committed(0, 0, 0)) ::_exit(1);
    store.set_allocations({{"ocean", "NSF-1", 100.0}});  // joins it, and commits it
    if (store.uncommitted() || !committed(1, 0, 0)) ::_exit(2);
    store.add_checkpoint({a.id, "a", 1, 100, kOrigin + 5, 0.5, 1000});
    store.add_metric({a.id, "a", "skill", 100, std::nullopt, 0.75, kOrigin + 5});
    a.last_step = 100;
    store.write(a);
    store.commit_if_older_than(std::chrono::hours(1));
    if (!store.uncommitted() || !committed(1, 0, 0)) ::_exit(3);
    store.commit_if_older_than(std::chrono::seconds(0));
    if (store.uncommitted() || !committed(1, 1, 1)) ::_exit(4);
    accounting::Segment b = a;
    b.id = 0;
    b.stage = "b";
    store.write(b);
    a.outcome = Outcome::completed;
    a.last_step = 200;
    store.write(a);
    store.add_checkpoint({a.id, "a", 2, 200, kOrigin + 9, 0.5, 1000});
    if (!committed(1, 1, 1)) ::_exit(5);
    ::kill(::getpid(), SIGKILL);  // with the store open: no destructor commits the batch
  });
  ASSERT_NE(status, -1) << "fork or wait failed";
  ASSERT_TRUE(WIFSIGNALED(status)) << "check " << WEXITSTATUS(status) << " failed in the writer";
  AccountingStore store(path);
  const auto left = store.segments();
  ASSERT_EQ(left.size(), 1u) << "b's row was never committed";
  EXPECT_EQ(left[0].stage, "a");
  EXPECT_EQ(left[0].outcome, Outcome::running) << "its completion was never committed";
  EXPECT_EQ(left[0].last_step, 100u);
  EXPECT_EQ(store.checkpoints().size(), 1u);
  EXPECT_EQ(store.metrics().size(), 1u);
  EXPECT_EQ(store.allocations().size(), 1u);
  store.begin_run({0, "books", "real", kOrigin + 500, {}, 9, "test", "365_day", 365.0});
  EXPECT_EQ(store.segments().front().outcome, Outcome::interrupted);
  EXPECT_DOUBLE_EQ(store.segments().front().wall_seconds(), 10.0);
}

// Rows written many to a statement, past the log's checkpoint threshold several times over,
// reach the database file while the writer still runs, and a writer SIGKILLed right after its
// last commit loses no committed row.
TEST(Accounting, ManyRowsReachTheFileWhileTheWriterRunsAndAKillAfterTheLastCommitLosesNone) {
  const auto dir = fresh_dir("log-copy");
  const auto path = dir / "accounting.db";
  constexpr int kGroups = 40;
  constexpr int kRowsPerGroup = 500;  // 20,000 rows: several times the log's 1,000-page threshold
  const int status = run_writer_until_killed([&] {
    AccountingStore store(path);
    const auto run = store.begin_run({0, "books", "real", kOrigin, {}, 9, "test", "365_day", 365.0});
    const auto file_size = [&] { return fs::file_size(path); };
    const auto before = file_size();
    accounting::Segment s;
    s.run_id = run;
    s.project = "ocean";
    s.grant = "NSF-1";
    s.scenario = "{\"f\":\"8.5\"}";
    s.outcome = Outcome::completed;
    s.energy_source = "unavailable: " + std::string(300, 'x');  // rows of about 400 bytes
    for (int g = 0; g < kGroups; ++g) {
      std::vector<accounting::Segment> rows(kRowsPerGroup, s);
      std::vector<accounting::Segment*> pointers;
      for (int k = 0; k < kRowsPerGroup; ++k) {
        rows[k].stage = "stage-" + std::to_string(g * kRowsPerGroup + k);
        rows[k].id = store.reserve_segment_id();
        pointers.push_back(&rows[k]);
      }
      if (!store.insert_new(pointers).empty()) ::_exit(1);
      store.commit();
      if (g == kGroups / 2) {
        // Past the log's threshold of 1,000 pages (4 KiB each) by now, else this test proves nothing.
        if (fs::file_size(path.string() + "-wal") < 1000 * 4096 && file_size() < before + 1'000'000) ::_exit(4);
        // The writer idles: the rows so far reach the file all the same (bounded wait).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (file_size() < before + 1'000'000 && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (file_size() < before + 1'000'000) ::_exit(2);
      }
    }
    ::kill(::getpid(), SIGKILL);  // with the store open: no destructor closes it
  });
  ASSERT_NE(status, -1) << "fork or wait failed";
  ASSERT_TRUE(WIFSIGNALED(status)) << "check " << WEXITSTATUS(status)
                                   << " failed in the writer (2: no row reached the file while it idled)";
  const auto rows = AccountingStore(path, AccountingStore::Mode::read_only).segments();
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(kGroups * kRowsPerGroup));
  EXPECT_EQ(rows.back().stage, "stage-" + std::to_string(kGroups * kRowsPerGroup - 1));
}

// A segment whose row went missing (inserted in a batch that was then rolled back, as on a
// full disk) is inserted again under its id at its next write, and no other segment is given
// that id meanwhile (SQLite would hand it to the next row).
TEST(Accounting, ASegmentWhoseBatchWasRolledBackIsWrittenAgainUnderItsOwnId) {
  const auto dir = fresh_dir("rolled-back");
  const auto path = dir / "accounting.db";
  AccountingStore store(path);
  accounting::Segment x;
  x.run_id = store.begin_run({0, "books", "real", kOrigin, {}, 9, "test", "365_day", 365.0});
  x.stage = "x";
  store.write(x);
  store.commit();
  {
    // What a rolled-back batch leaves: no row, and its id still held by the recorder.
    std::string command = "sqlite3 ";
    command += path.string();
    command += " 'DELETE FROM segments'";
    if (std::system(command.c_str()) != 0) GTEST_SKIP() << "the sqlite3 command is not installed";
  }
  accounting::Segment y = x;
  y.id = 0;
  y.stage = "y";
  store.write(y);
  EXPECT_NE(y.id, x.id);
  x.last_step = 7;
  store.write(x);
  store.commit();
  const auto rows = AccountingStore(path, AccountingStore::Mode::read_only).segments_of("x");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].id, x.id);
  EXPECT_EQ(rows[0].last_step, 7u);
  EXPECT_EQ(store.segments_of("y").size(), 1u);
}

// Rows written many to a statement (short stages' segments) read back field for field as
// rows written one by one do, whatever their count; a row that cannot be written is named and
// the others in its statement are still written.
TEST(Accounting, SegmentsInsertedManyAtATimeReadBackAsWrittenAndABadRowIsNamedWithoutLosingItsNeighbours) {
  const auto dir = fresh_dir("insert-many");
  AccountingStore store(dir / "accounting.db");
  const auto run_id = store.begin_run({0, "books", "real", kOrigin, {}, 9, "test", "365_day", 365.0});
  const auto segment = [&](int k) {
    accounting::Segment s;
    s.id = store.reserve_segment_id();
    s.run_id = run_id;
    s.project = "p" + std::to_string(k % 3);
    s.grant = "g" + std::to_string(k % 2);
    s.scenario = k % 2 ? "{}" : "{\"f\":\"8.5\"}";
    s.stage = "s" + std::to_string(k);
    s.attempt = k % 4 + 1;
    s.ranks = k + 1;
    s.nodes = k % 5 + 1;
    s.cores = 2 * k;
    s.gpus = k % 2;
    s.wall_start = kOrigin + k;
    s.wall_end = kOrigin + 2 * k + 0.5;
    s.first_step = static_cast<std::uint64_t>(k);
    s.last_step = static_cast<std::uint64_t>(3 * k);
    if (k % 2) s.simulated_start = 10.0 * k;
    if (k % 3) s.simulated_end = 20.0 * k;
    if (k % 4) s.cpu_seconds = 0.25 * k;
    s.queue_wait_seconds = 0.5 * k;
    s.checkpoint_seconds = 0.125 * k;
    s.checkpoints = k;
    s.output_seconds = 0.0625 * k;
    s.lost_steps = static_cast<std::uint64_t>(k % 7);
    s.lost_core_hours = 0.001 * k;
    if (k % 5) s.energy_joules = 100.0 * k;
    s.energy_source = k % 5 ? "rapl" : "unavailable: not measured";
    s.outcome = k % 2 ? Outcome::completed : Outcome::lost;
    s.error = k % 2 ? "" : "rank " + std::to_string(k) + " died";
    if (k % 3 == 0) s.slurm_job_id = std::to_string(1000 + k);
    if (k % 3 == 0) s.slurm_restart_count = k % 2;
    return s;
  };
  // Two statements' worth and some over: both the many-row and the one-row statement run.
  std::vector<accounting::Segment> rows;
  for (int k = 0; k < 37; ++k) rows.push_back(segment(k));
  std::vector<accounting::Segment*> pointers;
  for (auto& r : rows) pointers.push_back(&r);
  EXPECT_TRUE(store.insert_new(pointers).empty());
  store.commit();
  const auto stored = AccountingStore(dir / "accounting.db", AccountingStore::Mode::read_only).segments();
  ASSERT_EQ(stored.size(), rows.size());
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const auto& a = rows[k];
    const auto& b = stored[k];
    SCOPED_TRACE(a.stage);
    EXPECT_EQ(b.id, a.id);
    EXPECT_EQ(b.run_id, a.run_id);
    EXPECT_EQ(b.project, a.project);
    EXPECT_EQ(b.grant, a.grant);
    EXPECT_EQ(b.scenario, a.scenario);
    EXPECT_EQ(b.stage, a.stage);
    EXPECT_EQ(b.attempt, a.attempt);
    EXPECT_EQ(b.ranks, a.ranks);
    EXPECT_EQ(b.nodes, a.nodes);
    EXPECT_EQ(b.cores, a.cores);
    EXPECT_EQ(b.gpus, a.gpus);
    EXPECT_EQ(b.wall_start, a.wall_start);
    EXPECT_EQ(b.wall_end, a.wall_end);
    EXPECT_EQ(b.first_step, a.first_step);
    EXPECT_EQ(b.last_step, a.last_step);
    EXPECT_EQ(b.simulated_start, a.simulated_start);
    EXPECT_EQ(b.simulated_end, a.simulated_end);
    EXPECT_EQ(b.cpu_seconds, a.cpu_seconds);
    EXPECT_EQ(b.queue_wait_seconds, a.queue_wait_seconds);
    EXPECT_EQ(b.checkpoint_seconds, a.checkpoint_seconds);
    EXPECT_EQ(b.checkpoints, a.checkpoints);
    EXPECT_EQ(b.output_seconds, a.output_seconds);
    EXPECT_EQ(b.lost_steps, a.lost_steps);
    EXPECT_EQ(b.lost_core_hours, a.lost_core_hours);
    EXPECT_EQ(b.energy_joules, a.energy_joules);
    EXPECT_EQ(b.energy_source, a.energy_source);
    EXPECT_EQ(b.outcome, a.outcome);
    EXPECT_EQ(b.error, a.error);
    EXPECT_EQ(b.slurm_job_id, a.slurm_job_id);
    EXPECT_EQ(b.slurm_restart_count, a.slurm_restart_count);
  }
  // A statement's worth in which one row's id is taken already: that row is named, the rest
  // are written.
  std::vector<accounting::Segment> more;
  for (int k = 100; k < 116; ++k) more.push_back(segment(k));
  more[5].id = rows[0].id;
  pointers.clear();
  for (auto& r : more) pointers.push_back(&r);
  const auto problems = store.insert_new(pointers);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("accounting.db"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("'s105'"), std::string::npos) << problems[0];
  store.commit();
  EXPECT_EQ(store.segments().size(), rows.size() + more.size() - 1);
  EXPECT_EQ(store.segments_of("s104").size(), 1u);
  EXPECT_EQ(store.segments_of("s106").size(), 1u);
  EXPECT_TRUE(store.segments_of("s105").empty());
}

TEST(Accounting, MetricsAreKeptWithTheirSegmentStepAndModelTime) {
  const auto checked = check_campaign(kCampaign);
  const auto dir = fresh_dir("metrics");
  AccountingStore store(dir / "accounting.db");
  Books b(checked, store, kOrigin);
  b.run.begin(0);
  b.run.decide(0);
  b.run.progressed(b.id("spin"), b.active("spin").attempt, 10, 5.0, 1);
  b.recorder.metric(b.id("spin"), 10, "skill", 0.75, 1);
  store.commit();
  const auto metrics = AccountingStore(dir / "accounting.db", AccountingStore::Mode::read_only).metrics("spin");
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_EQ(metrics[0].name, "skill");
  EXPECT_EQ(metrics[0].step, 10u);
  EXPECT_DOUBLE_EQ(*metrics[0].simulated, 5.0);
  EXPECT_EQ(metrics[0].segment_id, store.segments().front().id);
}

TEST(Accounting, AFileThatIsNotAStoreOrIsNewerIsRefusedNamingIt) {
  const auto dir = fresh_dir("refuse");
  const auto junk = dir / "accounting.db";
  std::ofstream(junk) << "not a database, just text that is long enough to have a header page";
  try {
    AccountingStore store(junk);
    FAIL() << "opened a text file";
  } catch (const accounting::AccountingError& e) {
    EXPECT_NE(std::string(e.what()).find(junk.string()), std::string::npos) << e.what();
  }
  const auto newer = dir / "newer.db";
  {
    AccountingStore store(newer);
  }
  {
    // A later perennial's schema.
    std::string command = "sqlite3 ";
    command += newer.string();
    command += " 'PRAGMA user_version = 99'";
    if (std::system(command.c_str()) != 0) GTEST_SKIP() << "the sqlite3 command is not installed";
  }
  try {
    AccountingStore store(newer);
    FAIL() << "opened a newer schema";
  } catch (const accounting::AccountingError& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
}

// Books written before the slurm_ columns (schema 1) are read as they are, and get the columns
// when a newer perennial writes to them; the old rows keep NULL there.
TEST(Accounting, BooksOfSchemaOneAreReadAndMigratedKeepingTheirRows) {
  const auto dir = fresh_dir("migrate");
  const auto books = dir / "accounting.db";
  {
    AccountingStore store(books);
    accounting::RunRecord run;
    run.campaign = "old";
    run.mode = "real";
    run.host = "h";
    accounting::Segment s;
    s.run_id = store.begin_run(run);
    s.project = "p";
    s.stage = "a";
    s.cores = 4;
    s.wall_start = 100;
    s.wall_end = 200;
    s.outcome = accounting::Outcome::completed;
    store.write(s);
    store.commit();
  }
  // What a version-1 perennial wrote: no slurm_ columns (SQLite >= 3.35 drops columns).
  const std::string command = "sqlite3 " + books.string() +
                              " 'ALTER TABLE segments DROP COLUMN slurm_job_id; ALTER TABLE segments DROP COLUMN "
                              "slurm_restart_count; PRAGMA user_version = 1'";
  if (std::system(command.c_str()) != 0) GTEST_SKIP() << "the sqlite3 command is not installed";
  {
    const AccountingStore old(books, AccountingStore::Mode::read_only);
    const auto rows = old.segments();
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].stage, "a");
    EXPECT_FALSE(rows[0].slurm_job_id);
    EXPECT_FALSE(rows[0].slurm_restart_count);
  }
  {
    AccountingStore store(books);  // read_write: brought up to version 2
    accounting::Segment s;
    s.run_id = store.runs().front().id;
    s.project = "p";
    s.stage = "b";
    s.wall_start = 300;
    s.wall_end = 400;
    s.slurm_job_id = "4242";
    s.slurm_restart_count = 1;
    store.write(s);
    store.commit();
  }
  const AccountingStore now(books, AccountingStore::Mode::read_only);
  const auto rows = now.segments();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_FALSE(rows[0].slurm_job_id);
  EXPECT_EQ(rows[1].slurm_job_id.value_or(""), "4242");
  EXPECT_EQ(rows[1].slurm_restart_count.value_or(-1), 1);
}

TEST(Accounting, TheSlurmJobComesFromTheEnvironment) {
  ::unsetenv("SLURM_JOB_ID");
  ::unsetenv("SLURM_RESTART_COUNT");
  EXPECT_FALSE(accounting::SlurmJob::from_environment().job_id);
  ::setenv("SLURM_JOB_ID", "77", 1);
  auto job = accounting::SlurmJob::from_environment();
  EXPECT_EQ(job.job_id.value_or(""), "77");
  EXPECT_EQ(job.restart_count.value_or(-1), 0);  // no requeue yet
  ::setenv("SLURM_RESTART_COUNT", "2", 1);
  EXPECT_EQ(accounting::SlurmJob::from_environment().restart_count.value_or(-1), 2);
  ::unsetenv("SLURM_JOB_ID");
  ::unsetenv("SLURM_RESTART_COUNT");
}

// Two scenarios, hand-worked: one stage per scenario, a 360-day calendar.
TEST(ClimateFigures, SypdAsypdChsyAndJpsyFollowTheirDefinitions) {
  using accounting::Segment;
  const double year = 360.0 * 86400.0;
  auto segment = [&](const std::string& stage, const std::string& scenario, double start, double seconds,
                     double sim_start_years, double sim_end_years, std::int64_t cores, double queue) {
    Segment s;
    s.stage = stage;
    s.scenario = scenario;
    s.wall_start = start;
    s.wall_end = start + seconds;
    s.simulated_start = sim_start_years * year;
    s.simulated_end = sim_end_years * year;
    s.cores = cores;
    s.queue_wait_seconds = queue;
    s.checkpoint_seconds = seconds / 10;
    s.energy_joules = 1000.0 * seconds;
    return s;
  };
  std::vector<Segment> rows;
  // a: 1 h queued, then 12 h for 2 years on 100 cores, lost after 1.5 more years in 6 h
  // (0.5 of them recomputed: it resumes from year 3), then 6 h from year 3 to year 4.
  rows.push_back(segment("a", R"({"f":"2.6"})", 3600, 12 * 3600, 0, 2, 100, 3600));
  rows.push_back(segment("a", R"({"f":"2.6"})", 13 * 3600, 6 * 3600, 2, 3.5, 100, 0));
  rows.push_back(segment("a", R"({"f":"2.6"})", 20 * 3600, 6 * 3600, 3, 4, 100, 3600));
  // b: 24 h for 4 years on 50 cores, straight away.
  rows.push_back(segment("b", R"({"f":"8.5"})", 0, 24 * 3600, 0, 4, 50, 0));
  rows.back().energy_joules.reset();

  const auto stages = accounting::figures_by_stage(rows, 360.0);
  ASSERT_EQ(stages.size(), 2u);
  const auto& a = stages[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_DOUBLE_EQ(a.simulated_years, 4.0);
  EXPECT_DOUBLE_EQ(a.running_seconds, 24 * 3600.0);
  // SYPD: 2 + 1.5 + 1 = 4.5 model years advanced in 24 running hours.
  EXPECT_DOUBLE_EQ(*a.sypd, 4.5);
  // ASYPD: 4 net years from the first submission (t=0) to the end (t=26 h).
  EXPECT_DOUBLE_EQ(*a.asypd, 4.0 / (26.0 / 24.0));
  EXPECT_DOUBLE_EQ(*a.chsy, 2400.0 / 4.0);
  EXPECT_DOUBLE_EQ(*a.jpsy, 1000.0 * 24 * 3600 / 4.0);
  EXPECT_DOUBLE_EQ(a.checkpoint_share, 0.1);
  EXPECT_EQ(a.max_cores, 100);
  const auto& b = stages[1];
  EXPECT_DOUBLE_EQ(*b.sypd, 4.0);
  EXPECT_DOUBLE_EQ(*b.asypd, 4.0);
  EXPECT_DOUBLE_EQ(*b.chsy, 1200.0 / 4.0);
  EXPECT_FALSE(b.jpsy) << "energy unknown: no JPSY, never 0";

  const auto scenarios = accounting::figures_by_scenario(rows, 360.0);
  ASSERT_EQ(scenarios.size(), 2u);
  EXPECT_EQ(scenarios[0].name, R"({"f":"2.6"})");
  EXPECT_DOUBLE_EQ(*scenarios[0].chsy, 600.0);
  // A stage that advances no model time has no climate figures at all.
  Segment still = segment("c", "{}", 0, 3600, 0, 0, 4, 0);
  const auto none = accounting::figures_by_stage({still}, 365.0);
  EXPECT_FALSE(none[0].sypd);
  EXPECT_FALSE(none[0].chsy);
}

TEST(Calendar, TheCampaignFileNamesItsCalendarAndAWrongNameIsAnError) {
  const auto good = check_campaign("campaign: c\ncalendar: 360_day\nstages:\n  - {name: a, kernel: any}\n");
  ASSERT_TRUE(good.diagnostics.empty()) << good.text();
  EXPECT_DOUBLE_EQ(good.graph->campaign().calendar.days_per_year, 360.0);
  const auto fallback = check_campaign("campaign: c\nstages:\n  - {name: a, kernel: any}\n");
  EXPECT_EQ(fallback.graph->campaign().calendar.name, "365_day");
  const auto bad = check_campaign("campaign: c\ncalendar: lunar\nstages:\n  - {name: a, kernel: any}\n");
  EXPECT_NE(bad.text().find("calendar"), std::string::npos) << bad.text();
  EXPECT_NE(bad.text().find("360_day"), std::string::npos) << "lists the accepted names: " << bad.text();
}

// A segment's energy: each node's RAPL reading shared out by the cores the segment reserved
// there; modelled from declared power when a node has none; unavailable, never 0, otherwise.
TEST(SegmentEnergy, RaplReadingsAreSharedOutByReservedCoresAndAMissingOneIsNeverZero) {
  Machine m = two_nodes();  // two nodes of 4 cores
  ActiveRun r;
  r.allocation.ranks_on = {{0, 2}, {1, 1}};
  r.allocation.per_rank.cores = 1;
  r.allocation.workers = {1, 2, 5};
  r.workers = r.allocation.workers;
  r.node_energy = {{2, 1000.0}, {5, 400.0}};  // one reading per node is enough
  const auto rapl = rapl_energy_of(m, r);
  ASSERT_TRUE(rapl.joules);
  EXPECT_EQ(rapl.source, EnergySource::rapl);
  EXPECT_DOUBLE_EQ(*rapl.joules, 1000.0 * 2 / 4 + 400.0 * 1 / 4);
  r.node_energy.erase(5);
  r.energy_note = "cannot read /sys/class/powercap/intel-rapl:0/energy_uj: Permission denied";
  const auto missing = rapl_energy_of(m, r);
  EXPECT_FALSE(missing.joules);
  EXPECT_NE(missing.source_text().find("Permission denied"), std::string::npos) << missing.source_text();

  // The model: nodes declaring power.
  ClusterSpec cluster;
  NodeClass k;
  k.names = {"n0", "n1"};
  k.cores = 4;
  k.power = NodePower{100.0, 300.0, 0.0};
  cluster.classes.push_back(k);
  const auto model = model_energy_of(m, cluster, r, 10.0, 30.0);
  ASSERT_TRUE(model.joules) << model.source_text();
  EXPECT_EQ(model.source, EnergySource::model);
  // Idle share 100 W x 2/4 + 100 W x 1/4 for 10 s; dynamic (300-100)/4 W per CPU-second for 30 s.
  EXPECT_NEAR(*model.joules, 10.0 * (50.0 + 25.0) + 30.0 * 50.0, 1e-9);
  ClusterSpec undeclared;
  const auto none = model_energy_of(m, undeclared, r, 10.0, 30.0);
  EXPECT_FALSE(none.joules);
  EXPECT_NE(none.source_text().find("declares no power"), std::string::npos) << none.source_text();
}
