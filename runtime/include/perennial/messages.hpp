#pragma once
// The messages rank 0 (the coordinator) and the workers exchange, and nothing else crosses
// between them. Each type has its own MPI tag; payloads travel with Boost.Serialization.

#include <perennial/serialization.hpp>
#include <perennial/campaign.hpp>
#include <perennial/parameters.hpp>


#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace perennial::msg {

/// MPI tags of the control channel (a duplicate of MPI_COMM_WORLD made at start-up).
enum Tag : int {
  kAssignStage = 101,  ///< coordinator -> each member of a stage group
  kStageDone = 102,    ///< worker -> coordinator, once per member when its part ended
  kMetric = 103,       ///< worker -> coordinator, a kernel's result metric
  kShutdown = 104,     ///< coordinator -> worker: leave the worker loop
  kCheckpointRequest = 105,  ///< coordinator -> a group's first rank: checkpoint at the next step boundary
  kEpochCommitted = 106,     ///< a group's first rank -> coordinator: an epoch is durable and verified
  kStageRestored = 107,      ///< a group's first rank -> coordinator: what the stage resumed from
  kCheckpointFailed = 108,   ///< a group's first rank -> coordinator: an epoch could not be written
  kStopDeclined = 109,       ///< a group's first rank -> coordinator: asked to stop, but no epoch was committed
  kProgress = 110,           ///< a group's first rank -> coordinator: how far it is (at most once a second)
  // On the heartbeat channel (its own communicator, served by a thread in each worker):
  kHeartbeat = 201,          ///< worker -> coordinator, every heartbeat period: an int, the worker's rank
  kAbortStage = 202,         ///< coordinator -> worker: your group lost a member; end this process now
  kCoordinatorBeat = 203,    ///< coordinator -> worker, 4 times a second: rank 0 is alive
};

/// One upstream dataset a stage reads.
struct InputFile {
  std::string stage;
  std::string output;
  std::string path;     ///< the upstream stage's output file
  OutputSpec declared;  ///< what the upstream stage declared: the file must match it

  template <class Archive> void serialize(Archive& ar, unsigned) { ar & stage & output & path & declared; }
};

/// Run a stage on a group of ranks. Sent to every member; `members` lists them in group order.
struct AssignStage {
  std::uint32_t stage_id = 0;
  std::uint32_t attempt = 0;
  std::string stage;
  std::string kernel;
  std::vector<int> members;  ///< ranks in the worker's pool communicator; the group's rank r is members[r]
  std::uint64_t steps = 0;
  Parameters parameters;
  std::vector<OutputSpec> outputs;
  std::map<std::string, std::vector<InputFile>> inputs;
  std::string output_file;  ///< final path of the stage's output file
  std::string log_dir;
  std::string campaign;
  std::string definition;                ///< digest of kernel, parameters, inputs, outputs
  CheckpointSpec checkpoint;
  std::string checkpoint_dir;            ///< `<output_dir>/checkpoints/<stage>`
  std::vector<std::string> restore_from; ///< committed epoch files, newest first
  std::uint64_t next_epoch = 1;          ///< number of the next epoch to write (never reused)
  std::string faults;                    ///< the run's FaultPlan as text (drills), usually empty
  int cores_per_rank = 1;                ///< cores reserved for each rank on its node
  std::optional<ExternalModelSpec> command;  ///< a `command:` stage's model (then `kernel` is empty)
  OutputMetadata output_metadata;        ///< CF attributes and time coordinate of its output file
  MpiIoHints mpi_io_hints;               ///< for every checkpoint and output file it writes

  template <class Archive> void serialize(Archive& ar, unsigned) {
    ar & stage_id & attempt & stage & kernel & members & steps & parameters & outputs & inputs &
        output_file & log_dir & campaign & definition & checkpoint & checkpoint_dir & restore_from & next_epoch &
        faults & cores_per_rank;
    ar & output_metadata & mpi_io_hints;  // issue 15's CF outputs and MPI-IO hints
    ar & command;
  }
};

/// Checkpoint at the next step boundary; with `stop`, then end the stage (it resumes later).
struct CheckpointRequest {
  std::uint32_t stage_id = 0;
  std::uint32_t attempt = 0;
  bool stop = false;
  /// Stop at the next scheduled epoch rather than checkpointing now: a move to more or fewer
  /// ranks waits for the checkpoint the stage writes anyway, and so costs only the restart.
  bool at_next_epoch = false;

  template <class Archive> void serialize(Archive& ar, unsigned) { ar & stage_id & attempt & stop & at_next_epoch; }
};

struct EpochCommitted {
  std::uint32_t stage_id = 0;
  std::uint32_t attempt = 0;
  std::uint64_t epoch = 0;
  std::uint64_t step = 0;
  std::string file;
  double seconds = 0.0;        ///< checkpoint cost: write, sync, rename, verify
  std::uint64_t bytes = 0;
  std::string interval;        ///< the interval now in force, and why
  double simulated = 0.0;      ///< model time at `step`

  template <class Archive> void serialize(Archive& ar, unsigned) {
    ar & stage_id & attempt & epoch & step & file & seconds & bytes & interval & simulated;
  }
};

/// An epoch that could not be written or did not verify; the stage goes on without it.
struct CheckpointFailed {
  std::uint32_t stage_id = 0;
  std::uint32_t attempt = 0;
  std::uint64_t epoch = 0;
  std::uint64_t step = 0;
  std::string error;

  template <class Archive> void serialize(Archive& ar, unsigned) { ar & stage_id & attempt & epoch & step & error; }
};

/// A stop request the stage could not carry out: a stop must follow a committed epoch, and
/// none was (checkpoints are off for it, or the one at this boundary failed). It keeps running.
struct StopDeclined {
  std::uint32_t stage_id = 0;
  std::uint32_t attempt = 0;
  std::uint64_t step = 0;
  std::string reason;

  template <class Archive> void serialize(Archive& ar, unsigned) { ar & stage_id & attempt & step & reason; }
};

struct StageRestored {
  std::uint32_t stage_id = 0;
  std::uint32_t attempt = 0;
  bool restored = false;               ///< false: started from its inputs
  std::string file;                    ///< the epoch restored
  std::uint64_t step = 0;
  std::vector<std::string> rejected;   ///< epochs skipped, each with what was wrong
  double simulated = 0.0;              ///< model time at `step` (StageContext::time)

  template <class Archive> void serialize(Archive& ar, unsigned) {
    ar & stage_id & attempt & restored & file & step & rejected & simulated;
  }
};

/// How far a running group is; sent by its first rank at step boundaries, at most once a
/// second, so that the books and `status` know a stage's progress between checkpoints.
struct Progress {
  std::uint32_t stage_id = 0;
  std::uint32_t attempt = 0;
  std::uint64_t step = 0;   ///< steps completed
  double simulated = 0.0;   ///< model time after them

  template <class Archive> void serialize(Archive& ar, unsigned) { ar & stage_id & attempt & step & simulated; }
};

/// A member's report that its part of a stage ended, successfully or not.
struct StageDone {
  std::uint32_t stage_id = 0;
  std::uint32_t attempt = 0;
  bool ok = false;
  std::string error;             ///< the kernel's or runtime's message when !ok
  std::uint64_t steps_done = 0;
  double seconds = 0.0;          ///< wall time of this member's part
  double cpu_seconds = 0.0;      ///< CPU time this member spent on it
  bool stopped = false;          ///< checkpointed and stopped on request: resumable, not completed
  double simulated = 0.0;        ///< model time it ended at
  double output_seconds = 0.0;   ///< writing, syncing and renaming the stage's outputs
  bool energy_measured = false;  ///< node_energy_joules holds the node's RAPL reading over this run
  double node_energy_joules = 0.0;  ///< the whole node's, not this rank's: rank 0 shares it out
  std::string energy_note;       ///< why it was not measured
  /// Set when the stage's model executable was lost (killed by a signal it was not sent:
  /// the OOM killer, a node's failure): resumable from its restart files, like lost ranks.
  std::string model_lost;

  template <class Archive> void serialize(Archive& ar, unsigned) {
    ar & stage_id & attempt & ok & error & steps_done & seconds & cpu_seconds & stopped & simulated & output_seconds &
        energy_measured & node_energy_joules & energy_note & model_lost;
  }
};

struct Metric {
  std::uint32_t stage_id = 0;
  std::uint32_t attempt = 0;  ///< a late value of an earlier run of the stage is refused
  std::uint64_t step = 0;
  std::string name;
  double value = 0.0;
  double simulated = 0.0;  ///< model time when reported (0: the kernel advances none)

  template <class Archive> void serialize(Archive& ar, unsigned) { ar & stage_id & attempt & step & name & value & simulated; }
};

/// What every process tells the others of its pool once, at start-up (an all-gather on the
/// pool's control communicator): enough for the coordinator's books and for drills that
/// kill a whole node.
struct Hello {
  int pid = 0;
  std::string host;
  std::string node;  ///< the host, or a fake node name under --fake-nodes
  int worker_id = 0; ///< see WorkerIdentity::id; 0 for the coordinator

  template <class Archive> void serialize(Archive& ar, unsigned) { ar & pid & host & node & worker_id; }
};

struct Shutdown {
  int exit_code = 0;
  /// A rank died in this job: MPI_Finalize would wait for it forever, so flush and _exit.
  bool skip_finalize = false;
  template <class Archive> void serialize(Archive& ar, unsigned) { ar & exit_code & skip_finalize; }
};

}  // namespace perennial::msg

PERENNIAL_MESSAGE_SERIALIZATION(perennial::msg::InputFile)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::msg::AssignStage)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::msg::CheckpointRequest)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::msg::EpochCommitted)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::msg::CheckpointFailed)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::msg::StopDeclined)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::msg::StageRestored)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::msg::Progress)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::msg::StageDone)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::msg::Metric)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::msg::Hello)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::msg::Shutdown)
