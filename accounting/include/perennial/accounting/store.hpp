#pragma once
// AccountingStore: the campaign's books, an SQLite database in the output folder
// (`<output_dir>/accounting.db`, WAL mode) that every run of the campaign adds to.
//
// One row per run *segment* of a stage: a stretch of one attempt on one set of ranks, from
// its start to its completion, failure, preemption, loss or checkpointed stop. Like Slurm's
// sacct, a segment's core-hours are allocated ones (wall x reserved cores, CPUTimeRAW) and
// its CPU-hours the ranks' measured use (TotalCPU). A row is written when the segment
// starts (outcome `running`) and updated at each checkpoint and at its end, so a coordinator
// killed mid-run leaves rows a later run closes as `interrupted` at their last update:
// allocated time is never silently dropped (see docs/accounting.md for the schema).
//
// Writes are committed in groups, like the coordinator's journal syncs: each joins the open
// batch (one SQLite transaction, begun by the first write after a commit), and the
// coordinator commits it once it is 20 ms old. A transaction per row cost rank 0 more than
// the rest of a short stage's dispatch. So a row is durable once its batch commits, not when
// write() returns: a SIGKILL of rank 0 loses the rows of the open batch (at most the last
// ~20 ms of them) and never a committed one (SQLite's WAL survives the death of the process);
// a batch that fails to commit is rolled back, its rows lost and the error said.
//
// Plain C++ over SQLiteCpp; no MPI. One writer at a time (rank 0); readers (`perennial
// status`, `report`, sqlite3, pandas) may read while it runs.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace SQLite { class Database; class Statement; }

namespace perennial::accounting {

/// The schema version this build writes (PRAGMA user_version). A newer one is refused; an
/// older one is read as it is and brought up to this one when opened for writing.
/// 2: segments.slurm_job_id and segments.slurm_restart_count.
inline constexpr int kSchemaVersion = 2;

/// How a segment ended.
enum class Outcome { running, completed, failed, preempted, lost, suspended, interrupted };
const char* outcome_name(Outcome o);
std::optional<Outcome> parse_outcome(const std::string& text);

/// A stage's run segment: one row of `segments`.
struct Segment {
  std::int64_t id = 0;      ///< rowid, set by its first write()
  std::int64_t run_id = 0;  ///< the campaign run (a `runs` row) it belongs to
  std::string project;
  std::string grant;
  std::string scenario;  ///< the stage's `for_each` values as a JSON object, `{}` for none
  std::string stage;
  int attempt = 0;
  int ranks = 0;
  int nodes = 0;
  std::int64_t cores = 0;  ///< reserved: ranks x cores_per_rank
  std::int64_t gpus = 0;   ///< reserved
  double wall_start = 0.0;  ///< unix seconds
  double wall_end = 0.0;    ///< unix seconds; for a running segment, its last update
  std::uint64_t first_step = 0;  ///< the step it started from (its restored epoch's, or 0)
  std::uint64_t last_step = 0;   ///< the newest step known to be computed
  std::optional<double> simulated_start;  ///< model time (s) at first_step, when kernels advance it
  std::optional<double> simulated_end;    ///< model time (s) at last_step
  std::optional<double> cpu_seconds;      ///< summed over the ranks (getrusage); unknown for lost ranks
  double queue_wait_seconds = 0.0;        ///< ready (or interrupted) until this start
  double checkpoint_seconds = 0.0;        ///< writing, syncing, renaming and verifying epochs
  int checkpoints = 0;
  double output_seconds = 0.0;            ///< writing, syncing and renaming its outputs
  std::uint64_t lost_steps = 0;  ///< steps of this segment computed again later
  double lost_core_hours = 0.0;  ///< core-hours of those steps
  std::optional<double> energy_joules;
  std::string energy_source = "unavailable: not measured";  ///< `rapl`, `model (...)`, or `unavailable: why`
  Outcome outcome = Outcome::running;
  std::string error;  ///< failed or lost: why
  std::optional<std::string> slurm_job_id;  ///< the Slurm job it ran in (SLURM_JOB_ID); none outside Slurm
  std::optional<int> slurm_restart_count;   ///< that job's requeues so far (SLURM_RESTART_COUNT, 0 when unset)

  double wall_seconds() const { return wall_end > wall_start ? wall_end - wall_start : 0.0; }
  double core_hours() const { return wall_seconds() * static_cast<double>(cores) / 3600.0; }
  double node_hours() const { return wall_seconds() * nodes / 3600.0; }
  double gpu_hours() const { return wall_seconds() * static_cast<double>(gpus) / 3600.0; }
};

/// A campaign run (one `perennial run` or `simulate` of the campaign): a `runs` row.
struct RunRecord {
  std::int64_t id = 0;
  std::string campaign;
  std::string mode;  ///< `real` or `simulated`
  double started = 0.0;  ///< unix seconds
  std::optional<double> ended;
  int ranks = 0;
  std::string host;
  std::string calendar = "365_day";  ///< the model calendar simulated time is counted in
  double days_per_year = 365.0;
};

/// A committed checkpoint epoch: a `checkpoints` row.
struct CheckpointRow {
  std::int64_t segment_id = 0;
  std::string stage;
  std::uint64_t epoch = 0;
  std::uint64_t step = 0;
  double wall = 0.0;  ///< unix seconds, when it was reported committed
  double seconds = 0.0;
  std::uint64_t bytes = 0;
};

/// A metric value a kernel reported: a `metrics` row.
struct MetricRow {
  std::int64_t segment_id = 0;
  std::string stage;
  std::string name;
  std::uint64_t step = 0;
  std::optional<double> simulated;
  double value = 0.0;
  double wall = 0.0;
};

/// A project's allocation, as the campaign file declared it at the newest run.
struct AllocationRow {
  std::string project;
  std::string grant;
  double allocation_core_hours = 0.0;
};

/// The Slurm job this process runs in, from SLURM_JOB_ID and SLURM_RESTART_COUNT: both empty
/// outside Slurm; a first run (no requeue yet) has restart count 0.
struct SlurmJob {
  std::optional<std::string> job_id;
  std::optional<int> restart_count;
  static SlurmJob from_environment();
};

/// Thrown when the store cannot be opened, read or written; names the file.
class AccountingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class AccountingStore {
 public:
  enum class Mode { read_write, read_only };
  /// Opens (creating when read_write) the database at `path`. Throws AccountingError naming
  /// the file when it is not a database, is of a newer schema, or cannot be opened.
  explicit AccountingStore(const std::filesystem::path& path, Mode mode = Mode::read_write);
  ~AccountingStore();
  AccountingStore(const AccountingStore&) = delete;
  AccountingStore& operator=(const AccountingStore&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // ---- writing (rank 0) ---------------------------------------------------------------------
  // Each joins the open batch (begun if there is none). begin_run, set_allocations and
  // end_run, rare and the bounds of a run, commit it at once; the other writes wait for
  // commit(). Reads on this store see the batch's rows before they are committed.

  /// Starts a campaign run; rows of earlier runs still `running` (their coordinator died)
  /// become `interrupted` at their last update. Returns the new run's id.
  std::int64_t begin_run(RunRecord run);
  void end_run(std::int64_t run_id, double ended);
  /// The campaign's projects and their allocations as declared now (replaces earlier ones).
  void set_allocations(const std::vector<AllocationRow>& rows);
  /// Inserts the segment (its id is set) or updates every field of an inserted one. With
  /// `first`, a segment whose id reserve_segment_id() gave is inserted without trying an
  /// update first.
  void write(Segment& segment, bool first = false);
  /// Inserts segments never written before, as write(segment, true) does one by one, several
  /// rows a statement (a third less per row). Every row is tried; returns what write() would
  /// have thrown for each row that could not be written (nothing when all were).
  std::vector<std::string> insert_new(const std::vector<Segment*>& segments);
  /// An id for a segment written later (ids follow the order segments start in, also when
  /// a short one is written only once, at its end).
  std::int64_t reserve_segment_id() { return next_segment_id_++; }
  void add_checkpoint(const CheckpointRow& row);
  void add_metric(const MetricRow& row);
  /// Commits the open batch, if any (the destructor does too). One that cannot be committed
  /// is rolled back so that the next can begin, and AccountingError says its rows are lost.
  void commit();
  /// commit() once the batch's first write is `age` old.
  void commit_if_older_than(std::chrono::duration<double> age);
  /// Rows written and not yet committed.
  bool uncommitted() const { return batch_since_.has_value(); }

  // ---- reading --------------------------------------------------------------------------------
  std::vector<RunRecord> runs() const;
  /// Every segment, in the order they started (ties: by id).
  std::vector<Segment> segments() const;
  std::vector<Segment> segments_of(const std::string& stage) const;
  std::vector<CheckpointRow> checkpoints_of(std::int64_t segment_id) const;
  /// Every checkpoint row, by segment, then commit time (ties: by step).
  std::vector<CheckpointRow> checkpoints() const;
  std::vector<MetricRow> metrics(const std::string& stage = {}) const;
  std::vector<AllocationRow> allocations() const;

 private:
  struct Statements;
  /// The write statements, in the open batch (begun here when there is none).
  Statements& batch();
  void create_schema();
  /// The segment columns to select: an older file opened read-only lacks the newer ones.
  const char* segment_fields() const;
  std::filesystem::path path_;
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<Statements> statements_;  ///< read_write only; after db_: finalized before it closes
  std::optional<std::chrono::steady_clock::time_point> batch_since_;  ///< the open batch's first write
  std::int64_t next_segment_id_ = 1;
  int schema_version_ = kSchemaVersion;  ///< of the file: read_only keeps an older one as it is  ///< never handed out twice, even when a batch is rolled back
};

}  // namespace perennial::accounting
