#pragma once
// FaultPlan: failures to cause on purpose, for tests and for users' own fire drills. From
// `perennial run --inject '...'` and the campaign file's `faults:` list, one fault per item
// (';' separates items on the command line), each `kind:key=value,...`:
//
//   kill:rank=3,step=120             SIGKILL worker 3 right after it completes step 120 of its stage
//   kill:rank=3,time=40              ... or 40 s after it started (rank=0: the coordinator itself)
//   kill-node:node=1,step=120        SIGKILL every rank of node 1 once one of them completes step 120
//   kill-in-checkpoint:rank=2,epoch=3  SIGKILL worker 2 after writing epoch 3, before its commit
//   corrupt-checkpoint:stage=a,step=450  flip one bit in the data of stage a's newest committed epoch
//   truncate-checkpoint:stage=a,step=450 cut stage a's newest committed epoch to half its size
//   silence:rank=2,step=100          worker 2 stops sending heartbeats (alive but unheard)
//   fill-disk:stage=a,epoch=2        fill the checkpoint file system while epoch 2 is written
//
// Ranks are worker ids (the world rank for the ranks mpirun started; respawned ranks get
// new ids), so a kill fires once. Faults tied to a stage fire in its first attempt of a run.
// Plain C++: parsing and matching only; the worker carries the faults out.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

enum class FaultKind { kill, kill_node, kill_in_checkpoint, corrupt_checkpoint, truncate_checkpoint, silence, fill_disk };

struct Fault {
  FaultKind kind = FaultKind::kill;
  int rank = -1;   ///< worker id (kill, kill-in-checkpoint, silence)
  int node = -1;   ///< node index (kill-node)
  std::string stage;
  std::optional<std::uint64_t> step;   ///< fires right after this step completes
  std::optional<double> time;          ///< fires this many seconds after the process started
  std::optional<std::uint64_t> epoch;  ///< fires while this epoch is written
  std::string text;                    ///< as written, for logs
};

struct FaultPlan {
  std::vector<Fault> faults;

  /// Parses `kind:key=value,...` items separated by ';'. Throws Error naming the item and
  /// what is wrong with it; `origin` ("--inject", "faults[2]") prefixes the message.
  static FaultPlan parse(const std::string& text, const std::string& origin = "--inject");
  /// The plan as text parse() reads back (it travels to workers in each assignment).
  std::string to_string() const;
  bool empty() const { return faults.empty(); }
  void append(const FaultPlan& other);
};

std::string_view fault_kind_name(FaultKind kind);

}  // namespace perennial
