#include <perennial/accounting/store.hpp>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <sqlite3.h>

#include <array>
#include <cstdlib>

namespace perennial::accounting {

namespace {

constexpr std::array<const char*, 7> kOutcomeNames = {"running", "completed", "failed",     "preempted",
                                                      "lost",    "suspended", "interrupted"};

// Version 2 (1 had no slurm_ columns: migrate() adds them). Times are unix seconds (REAL); core-hours are derived columns so a query never
// has to repeat the formula (and cannot get it wrong). Documented in docs/accounting.md.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY,
  campaign TEXT NOT NULL,
  mode TEXT NOT NULL,
  started REAL NOT NULL,
  ended REAL,
  ranks INTEGER NOT NULL,
  host TEXT NOT NULL,
  calendar TEXT NOT NULL,
  days_per_year REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS allocations (
  project TEXT PRIMARY KEY,
  grant_id TEXT NOT NULL,
  allocation_core_hours REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  project TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  scenario TEXT NOT NULL,
  stage TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  ranks INTEGER NOT NULL,
  nodes INTEGER NOT NULL,
  cores INTEGER NOT NULL,
  gpus INTEGER NOT NULL,
  wall_start REAL NOT NULL,
  wall_end REAL NOT NULL,
  wall_seconds REAL GENERATED ALWAYS AS (MAX(wall_end - wall_start, 0.0)) VIRTUAL,
  first_step INTEGER NOT NULL,
  last_step INTEGER NOT NULL,
  simulated_start REAL,
  simulated_end REAL,
  core_hours REAL GENERATED ALWAYS AS (MAX(wall_end - wall_start, 0.0) * cores / 3600.0) VIRTUAL,
  cpu_hours REAL GENERATED ALWAYS AS (cpu_seconds / 3600.0) VIRTUAL,
  cpu_seconds REAL,
  node_hours REAL GENERATED ALWAYS AS (MAX(wall_end - wall_start, 0.0) * nodes / 3600.0) VIRTUAL,
  gpu_hours REAL GENERATED ALWAYS AS (MAX(wall_end - wall_start, 0.0) * gpus / 3600.0) VIRTUAL,
  queue_wait_seconds REAL NOT NULL,
  checkpoint_seconds REAL NOT NULL,
  checkpoints INTEGER NOT NULL,
  output_seconds REAL NOT NULL,
  lost_steps INTEGER NOT NULL,
  lost_core_hours REAL NOT NULL,
  energy_joules REAL,
  energy_source TEXT NOT NULL,
  outcome TEXT NOT NULL,
  error TEXT NOT NULL,
  slurm_job_id TEXT,
  slurm_restart_count INTEGER
);
CREATE INDEX IF NOT EXISTS segments_by_stage ON segments(stage, id);
CREATE TABLE IF NOT EXISTS checkpoints (
  segment_id INTEGER NOT NULL REFERENCES segments(id),
  stage TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  step INTEGER NOT NULL,
  wall REAL NOT NULL,
  seconds REAL NOT NULL,
  bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoints_by_segment ON checkpoints(segment_id);
CREATE TABLE IF NOT EXISTS metrics (
  segment_id INTEGER NOT NULL REFERENCES segments(id),
  stage TEXT NOT NULL,
  name TEXT NOT NULL,
  step INTEGER NOT NULL,
  simulated REAL,
  value REAL NOT NULL,
  wall REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_by_stage ON metrics(stage, name, step);
)sql";

// Every column of a segment but its id, in the order write() binds them.
constexpr const char* kSegmentFields =
    "run_id, project, grant_id, scenario, stage, attempt, ranks, nodes, cores, gpus, wall_start, wall_end, "
    "first_step, last_step, simulated_start, simulated_end, cpu_seconds, queue_wait_seconds, checkpoint_seconds, "
    "checkpoints, output_seconds, lost_steps, lost_core_hours, energy_joules, energy_source, outcome, error, "
    "slurm_job_id, slurm_restart_count";

// The same, read from a version-1 file opened read-only (it has no slurm_ columns).
constexpr const char* kSegmentFieldsV1 =
    "run_id, project, grant_id, scenario, stage, attempt, ranks, nodes, cores, gpus, wall_start, wall_end, "
    "first_step, last_step, simulated_start, simulated_end, cpu_seconds, queue_wait_seconds, checkpoint_seconds, "
    "checkpoints, output_seconds, lost_steps, lost_core_hours, energy_joules, energy_source, outcome, error, "
    "NULL, NULL";

template <class T> void bind_optional(SQLite::Statement& q, int index, const std::optional<T>& value) {
  if (value) {
    q.bind(index, *value);
  } else {
    q.bind(index);
  }
}

std::optional<double> optional_double(const SQLite::Column& c) {
  return c.isNull() ? std::nullopt : std::optional<double>(c.getDouble());
}

std::uint64_t as_u64(const SQLite::Column& c) { return static_cast<std::uint64_t>(c.getInt64()); }

Segment read_segment(SQLite::Statement& q) {
  Segment s;
  s.id = q.getColumn(0).getInt64();
  s.run_id = q.getColumn(1).getInt64();
  s.project = q.getColumn(2).getString();
  s.grant = q.getColumn(3).getString();
  s.scenario = q.getColumn(4).getString();
  s.stage = q.getColumn(5).getString();
  s.attempt = q.getColumn(6).getInt();
  s.ranks = q.getColumn(7).getInt();
  s.nodes = q.getColumn(8).getInt();
  s.cores = q.getColumn(9).getInt64();
  s.gpus = q.getColumn(10).getInt64();
  s.wall_start = q.getColumn(11).getDouble();
  s.wall_end = q.getColumn(12).getDouble();
  s.first_step = as_u64(q.getColumn(13));
  s.last_step = as_u64(q.getColumn(14));
  s.simulated_start = optional_double(q.getColumn(15));
  s.simulated_end = optional_double(q.getColumn(16));
  s.cpu_seconds = optional_double(q.getColumn(17));
  s.queue_wait_seconds = q.getColumn(18).getDouble();
  s.checkpoint_seconds = q.getColumn(19).getDouble();
  s.checkpoints = q.getColumn(20).getInt();
  s.output_seconds = q.getColumn(21).getDouble();
  s.lost_steps = as_u64(q.getColumn(22));
  s.lost_core_hours = q.getColumn(23).getDouble();
  s.energy_joules = optional_double(q.getColumn(24));
  s.energy_source = q.getColumn(25).getString();
  s.outcome = parse_outcome(q.getColumn(26).getString()).value_or(Outcome::interrupted);
  s.error = q.getColumn(27).getString();
  if (!q.getColumn(28).isNull()) s.slurm_job_id = q.getColumn(28).getString();
  if (!q.getColumn(29).isNull()) s.slurm_restart_count = q.getColumn(29).getInt();
  return s;
}

}  // namespace

// The parameters of one segment in a write statement: every field, then its id.
constexpr int kSegmentParameters = 30;

// Segments inserted by one statement when several are written at once (insert_new): a 16-row
// INSERT cost 2.1-2.4 us a row against 3.5-3.6 us for one row a statement (30,000 rows of
// this table's shape in one transaction, on this machine kind), most of rank 0's time per
// short stage in the books being the insert.
constexpr std::size_t kSegmentsPerInsert = 16;

// Binds `s`'s fields, then its id (the update's WHERE, or the insert's), from parameter
// `after + 1` on. Text is bound without a copy: `s` outlives the statement's run, and every
// run binds all parameters afresh.
SQLite::Statement& bind_segment(SQLite::Statement& q, int after, const Segment& s) {
  int i = after;
  q.bind(++i, s.run_id);
  q.bindNoCopy(++i, s.project);
  q.bindNoCopy(++i, s.grant);
  q.bindNoCopy(++i, s.scenario);
  q.bindNoCopy(++i, s.stage);
  q.bind(++i, s.attempt);
  q.bind(++i, s.ranks);
  q.bind(++i, s.nodes);
  q.bind(++i, s.cores);
  q.bind(++i, s.gpus);
  q.bind(++i, s.wall_start);
  q.bind(++i, s.wall_end);
  q.bind(++i, static_cast<std::int64_t>(s.first_step));
  q.bind(++i, static_cast<std::int64_t>(s.last_step));
  bind_optional(q, ++i, s.simulated_start);
  bind_optional(q, ++i, s.simulated_end);
  bind_optional(q, ++i, s.cpu_seconds);
  q.bind(++i, s.queue_wait_seconds);
  q.bind(++i, s.checkpoint_seconds);
  q.bind(++i, s.checkpoints);
  q.bind(++i, s.output_seconds);
  q.bind(++i, static_cast<std::int64_t>(s.lost_steps));
  q.bind(++i, s.lost_core_hours);
  bind_optional(q, ++i, s.energy_joules);
  q.bindNoCopy(++i, s.energy_source);
  q.bindNoCopy(++i, outcome_name(s.outcome));
  q.bindNoCopy(++i, s.error);
  bind_optional(q, ++i, s.slurm_job_id);
  bind_optional(q, ++i, s.slurm_restart_count);
  q.bind(++i, s.id);
  return q;
}

// "(?, ?, ..., ?), (...)": `rows` groups of a segment's parameters.
std::string segment_values(std::size_t rows) {
  std::string one = "(?";
  for (int k = 1; k < kSegmentParameters; ++k) one += ", ?";
  one += ')';
  std::string all = one;
  for (std::size_t r = 1; r < rows; ++r) all += ", " + one;
  return all;
}

// The write path's statements, prepared once per store: preparing a 28-column segment
// statement (its generated columns included) cost more than running it, about a fifth of
// rank 0's time when 10,000 short stages went by (perf). Each is reset before it is bound.
struct AccountingStore::Statements {
  explicit Statements(SQLite::Database& db)
      : insert_segment(db, fmt::format("INSERT INTO segments ({}, id) VALUES {}", kSegmentFields, segment_values(1))),
        insert_segments(db, fmt::format("INSERT INTO segments ({}, id) VALUES {}", kSegmentFields,
                                        segment_values(kSegmentsPerInsert))),
        update_segment(db, "UPDATE segments SET run_id = ?, project = ?, grant_id = ?, scenario = ?, stage = ?, "
                           "attempt = ?, ranks = ?, nodes = ?, cores = ?, gpus = ?, wall_start = ?, wall_end = ?, "
                           "first_step = ?, last_step = ?, simulated_start = ?, simulated_end = ?, cpu_seconds = ?, "
                           "queue_wait_seconds = ?, checkpoint_seconds = ?, checkpoints = ?, output_seconds = ?, "
                           "lost_steps = ?, lost_core_hours = ?, energy_joules = ?, energy_source = ?, outcome = ?, "
                           "error = ?, slurm_job_id = ?, slurm_restart_count = ? WHERE id = ?"),
        insert_checkpoint(db, "INSERT INTO checkpoints (segment_id, stage, epoch, step, wall, seconds, bytes) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?)"),
        insert_metric(db, "INSERT INTO metrics (segment_id, stage, name, step, simulated, value, wall) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)"),
        upsert_allocation(db, "INSERT INTO allocations (project, grant_id, allocation_core_hours) VALUES (?, ?, ?) "
                              "ON CONFLICT(project) DO UPDATE SET grant_id = excluded.grant_id, "
                              "allocation_core_hours = excluded.allocation_core_hours") {}

  /// `q`, ready to be bound again (a failed earlier run of it is reported where it failed).
  static SQLite::Statement& fresh(SQLite::Statement& q) {
    q.tryReset();
    return q;
  }

  SQLite::Statement insert_segment;
  SQLite::Statement insert_segments;  ///< kSegmentsPerInsert at once
  SQLite::Statement update_segment;
  SQLite::Statement insert_checkpoint;
  SQLite::Statement insert_metric;
  SQLite::Statement upsert_allocation;
};

const char* outcome_name(Outcome o) { return kOutcomeNames.at(static_cast<std::size_t>(o)); }

std::optional<Outcome> parse_outcome(const std::string& text) {
  for (std::size_t i = 0; i < kOutcomeNames.size(); ++i) {
    if (text == kOutcomeNames[i]) return static_cast<Outcome>(i);
  }
  return std::nullopt;
}

AccountingStore::AccountingStore(const std::filesystem::path& path, Mode mode) : path_(path) {
  try {
    // NOMUTEX: one thread uses a store (rank 0's loop, or a command), so SQLite's own lock
    // around every call is pure cost: about 70 of them a segment row, 1.7 us of rank 0's CPU
    // per short stage (100,000 stages, 6 runs alternating: 2.64-2.97 s against 2.75-3.11 s).
    const int flags =
        (mode == Mode::read_only ? SQLite::OPEN_READONLY : SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) |
        SQLite::OPEN_NOMUTEX;
    db_ = std::make_unique<SQLite::Database>(path.string(), flags);
    // A reader (status, a report) may meet a checkpoint of the WAL: wait for it, boundedly.
    db_->setBusyTimeout(10'000);
    const int version = db_->execAndGet("PRAGMA user_version").getInt();
    schema_version_ = version == 0 ? kSchemaVersion : version;
    if (version > kSchemaVersion) {
      throw AccountingError(fmt::format("{}: accounting schema version {} is newer than this perennial's ({}); use the "
                                        "perennial that wrote it, or a newer one",
                                        path.string(), version, kSchemaVersion));
    }
    if (mode == Mode::read_write) {
      // WAL: a committed transaction is in the log before commit returns, so the death of
      // this process loses nothing committed; NORMAL sync skips the fsync per commit (an
      // OS crash may lose the last commits, never corrupt the file), which keeps a row per
      // segment cheap when thousands of short stages go by.
      db_->exec("PRAGMA journal_mode=WAL");
      db_->exec("PRAGMA synchronous=NORMAL");
      db_->exec("PRAGMA foreign_keys=ON");
      create_schema();
      statements_ = std::make_unique<Statements>(*db_);
      next_segment_id_ = db_->execAndGet("SELECT COALESCE(MAX(id), 0) + 1 FROM segments").getInt64();
    } else if (version == 0) {
      throw AccountingError(fmt::format("{}: not a Perennial accounting store (no schema)", path.string()));
    }
  } catch (const SQLite::Exception& e) {
    throw AccountingError(fmt::format("{}: cannot open the accounting store: {}", path.string(), e.what()));
  }
}

AccountingStore::~AccountingStore() {
  try {
    if (db_) commit();
  } catch (...) {
    // A destructor must not throw; the caller committed already where it mattered.
  }
}

AccountingStore::Statements& AccountingStore::batch() {
  if (!statements_) throw AccountingError(fmt::format("{}: the accounting store was opened read-only", path_.string()));
  // No transaction open: none was begun since the last commit, or SQLite rolled the batch
  // back itself after an I/O error or a full disk (the write that met it was reported).
  if (sqlite3_get_autocommit(db_->getHandle()) != 0) {
    db_->exec("BEGIN");
    batch_since_ = std::chrono::steady_clock::now();
  }
  return *statements_;
}

void AccountingStore::commit() {
  if (!batch_since_) return;
  batch_since_.reset();
  if (sqlite3_get_autocommit(db_->getHandle()) != 0) return;  // rolled back already (see batch())
  try {
    db_->exec("COMMIT");
  } catch (const SQLite::Exception& e) {
    // Given up rather than left open: an open batch would hold every later row back as well.
    if (sqlite3_get_autocommit(db_->getHandle()) == 0) db_->tryExec("ROLLBACK");
    throw AccountingError(
        fmt::format("{}: cannot commit the rows written in the last moments (they are lost): {}", path_.string(), e.what()));
  }
}

void AccountingStore::commit_if_older_than(std::chrono::duration<double> age) {
  if (batch_since_ && std::chrono::steady_clock::now() - *batch_since_ >= age) commit();
}

void AccountingStore::create_schema() {
  SQLite::Transaction t(*db_);
  if (schema_version_ == 1) {
    // Books written before version 2: their rows keep NULL (not run under Slurm, as far as
    // they know). ADD COLUMN leaves the rows as they are: cheap on any size of books.
    db_->exec("ALTER TABLE segments ADD COLUMN slurm_job_id TEXT");
    db_->exec("ALTER TABLE segments ADD COLUMN slurm_restart_count INTEGER");
  }
  db_->exec(kSchema);
  db_->exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion));
  t.commit();
  schema_version_ = kSchemaVersion;
}

SlurmJob SlurmJob::from_environment() {
  SlurmJob job;
  const char* id = std::getenv("SLURM_JOB_ID");
  if (!id || !*id) return job;
  job.job_id = id;
  job.restart_count = 0;
  if (const char* restarts = std::getenv("SLURM_RESTART_COUNT"); restarts && *restarts) {
    job.restart_count = std::atoi(restarts);
  }
  return job;
}

std::int64_t AccountingStore::begin_run(RunRecord run) {
  try {
    batch();
    // Segments an earlier coordinator never closed: it died (or was killed) with them running.
    db_->exec("UPDATE segments SET outcome = 'interrupted', "
              "error = 'the coordinator ended while it ran; accounted up to its last update' "
              "WHERE outcome = 'running'");
    SQLite::Statement q(*db_, "INSERT INTO runs (campaign, mode, started, ended, ranks, host, calendar, days_per_year) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, run.campaign);
    q.bind(2, run.mode);
    q.bind(3, run.started);
    bind_optional(q, 4, run.ended);
    q.bind(5, run.ranks);
    q.bind(6, run.host);
    q.bind(7, run.calendar);
    q.bind(8, run.days_per_year);
    q.exec();
    const auto id = db_->getLastInsertRowid();
    commit();
    return id;
  } catch (const SQLite::Exception& e) {
    throw AccountingError(fmt::format("{}: cannot record the run: {}", path_.string(), e.what()));
  }
}

void AccountingStore::end_run(std::int64_t run_id, double ended) {
  try {
    batch();
    SQLite::Statement q(*db_, "UPDATE runs SET ended = ? WHERE id = ?");
    q.bind(1, ended);
    q.bind(2, run_id);
    q.exec();
    commit();
  } catch (const SQLite::Exception& e) {
    throw AccountingError(fmt::format("{}: cannot close run {}: {}", path_.string(), run_id, e.what()));
  }
}

void AccountingStore::set_allocations(const std::vector<AllocationRow>& rows) {
  try {
    Statements& w = batch();
    for (const auto& r : rows) {
      auto& q = Statements::fresh(w.upsert_allocation);
      q.bind(1, r.project);
      q.bind(2, r.grant);
      q.bind(3, r.allocation_core_hours);
      q.exec();
    }
    commit();
  } catch (const SQLite::Exception& e) {
    throw AccountingError(fmt::format("{}: cannot record allocations: {}", path_.string(), e.what()));
  }
}

void AccountingStore::write(Segment& s, bool first) {
  try {
    Statements& w = batch();
    if (s.id == 0) {
      // Ids are handed out here, not by SQLite, which would give the id of a row rolled back
      // with its batch to the next row inserted, and the first segment's updates would then
      // overwrite the second's.
      s.id = next_segment_id_++;
    } else if (!first) {
      bind_segment(Statements::fresh(w.update_segment), 0, s).exec();
      if (db_->getChanges() > 0) return;
      // No such row: its insert failed, or was in a batch that was rolled back (a full disk).
      // Inserted again under its id, the segment goes on being accounted.
    }
    bind_segment(Statements::fresh(w.insert_segment), 0, s).exec();
  } catch (const SQLite::Exception& e) {
    throw AccountingError(
        fmt::format("{}: cannot write the segment of stage '{}': {}", path_.string(), s.stage, e.what()));
  }
}

std::vector<std::string> AccountingStore::insert_new(const std::vector<Segment*>& segments) {
  std::vector<std::string> problems;
  const auto one_by_one = [&](std::size_t from, std::size_t to) {
    for (std::size_t k = from; k < to; ++k) {
      try {
        write(*segments[k], true);
      } catch (const AccountingError& e) {
        problems.emplace_back(e.what());
      }
    }
  };
  std::size_t done = 0;
  for (; segments.size() - done >= kSegmentsPerInsert; done += kSegmentsPerInsert) {
    try {
      auto& q = Statements::fresh(batch().insert_segments);
      for (std::size_t k = 0; k < kSegmentsPerInsert; ++k) {
        Segment& s = *segments[done + k];
        if (s.id == 0) s.id = next_segment_id_++;
        bind_segment(q, static_cast<int>(k) * kSegmentParameters, s);
      }
      q.exec();
    } catch (const SQLite::Exception&) {
      // One at a time then: each row that cannot be written is named, and the others are.
      one_by_one(done, done + kSegmentsPerInsert);
    }
  }
  one_by_one(done, segments.size());
  return problems;
}

void AccountingStore::add_checkpoint(const CheckpointRow& row) {
  try {
    auto& q = Statements::fresh(batch().insert_checkpoint);
    q.bind(1, row.segment_id);
    q.bind(2, row.stage);
    q.bind(3, static_cast<std::int64_t>(row.epoch));
    q.bind(4, static_cast<std::int64_t>(row.step));
    q.bind(5, row.wall);
    q.bind(6, row.seconds);
    q.bind(7, static_cast<std::int64_t>(row.bytes));
    q.exec();
  } catch (const SQLite::Exception& e) {
    throw AccountingError(fmt::format("{}: cannot record a checkpoint of stage '{}': {}", path_.string(), row.stage,
                                      e.what()));
  }
}

void AccountingStore::add_metric(const MetricRow& m) {
  try {
    auto& q = Statements::fresh(batch().insert_metric);
    q.bind(1, m.segment_id);
    q.bind(2, m.stage);
    q.bind(3, m.name);
    q.bind(4, static_cast<std::int64_t>(m.step));
    bind_optional(q, 5, m.simulated);
    q.bind(6, m.value);
    q.bind(7, m.wall);
    q.exec();
  } catch (const SQLite::Exception& e) {
    throw AccountingError(fmt::format("{}: cannot record metric '{}' of stage '{}': {}", path_.string(), m.name, m.stage,
                                      e.what()));
  }
}

std::vector<RunRecord> AccountingStore::runs() const {
  std::vector<RunRecord> out;
  SQLite::Statement q(*db_, "SELECT id, campaign, mode, started, ended, ranks, host, calendar, days_per_year FROM runs "
                            "ORDER BY id");
  while (q.executeStep()) {
    RunRecord r;
    r.id = q.getColumn(0).getInt64();
    r.campaign = q.getColumn(1).getString();
    r.mode = q.getColumn(2).getString();
    r.started = q.getColumn(3).getDouble();
    r.ended = optional_double(q.getColumn(4));
    r.ranks = q.getColumn(5).getInt();
    r.host = q.getColumn(6).getString();
    r.calendar = q.getColumn(7).getString();
    r.days_per_year = q.getColumn(8).getDouble();
    out.push_back(std::move(r));
  }
  return out;
}

const char* AccountingStore::segment_fields() const {
  return schema_version_ >= 2 ? kSegmentFields : kSegmentFieldsV1;
}

std::vector<Segment> AccountingStore::segments() const {
  std::vector<Segment> out;
  SQLite::Statement q(*db_, fmt::format("SELECT id, {} FROM segments ORDER BY wall_start, id", segment_fields()));
  while (q.executeStep()) out.push_back(read_segment(q));
  return out;
}

std::vector<Segment> AccountingStore::segments_of(const std::string& stage) const {
  std::vector<Segment> out;
  SQLite::Statement q(*db_, fmt::format("SELECT id, {} FROM segments WHERE stage = ? ORDER BY id", segment_fields()));
  q.bind(1, stage);
  while (q.executeStep()) out.push_back(read_segment(q));
  return out;
}

namespace {
std::vector<CheckpointRow> read_checkpoints(SQLite::Statement& q) {
  std::vector<CheckpointRow> out;
  while (q.executeStep()) {
    out.push_back({q.getColumn(0).getInt64(), q.getColumn(1).getString(), as_u64(q.getColumn(2)),
                   as_u64(q.getColumn(3)), q.getColumn(4).getDouble(), q.getColumn(5).getDouble(),
                   as_u64(q.getColumn(6))});
  }
  return out;
}
}  // namespace

std::vector<CheckpointRow> AccountingStore::checkpoints_of(std::int64_t segment_id) const {
  SQLite::Statement q(*db_,
                      "SELECT segment_id, stage, epoch, step, wall, seconds, bytes FROM checkpoints "
                      "WHERE segment_id = ? ORDER BY step");
  q.bind(1, segment_id);
  return read_checkpoints(q);
}

std::vector<CheckpointRow> AccountingStore::checkpoints() const {
  SQLite::Statement q(*db_,
                      "SELECT segment_id, stage, epoch, step, wall, seconds, bytes FROM checkpoints "
                      "ORDER BY segment_id, wall, step");
  return read_checkpoints(q);
}

std::vector<MetricRow> AccountingStore::metrics(const std::string& stage) const {
  std::vector<MetricRow> out;
  SQLite::Statement q(*db_, std::string("SELECT segment_id, stage, name, step, simulated, value, wall FROM metrics") +
                                (stage.empty() ? "" : " WHERE stage = ?") + " ORDER BY rowid");
  if (!stage.empty()) q.bind(1, stage);
  while (q.executeStep()) {
    out.push_back({q.getColumn(0).getInt64(), q.getColumn(1).getString(), q.getColumn(2).getString(),
                   as_u64(q.getColumn(3)), optional_double(q.getColumn(4)), q.getColumn(5).getDouble(),
                   q.getColumn(6).getDouble()});
  }
  return out;
}

std::vector<AllocationRow> AccountingStore::allocations() const {
  std::vector<AllocationRow> out;
  SQLite::Statement q(*db_, "SELECT project, grant_id, allocation_core_hours FROM allocations ORDER BY project");
  while (q.executeStep()) {
    out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(2).getDouble()});
  }
  return out;
}

}  // namespace perennial::accounting
