#pragma once
// CheckpointIdentity and EpochInfo: whose state a checkpoint holds and how far it had got.

#include <cstdint>
#include <string>

namespace perennial::checkpoint {

/// Who wrote a checkpoint. A restart accepts a checkpoint only when every field matches:
/// state saved by another stage, kernel or kernel version would restore into the wrong code.
/// Stored as root string attributes `campaign`, `stage`, `kernel`, `kernel_version`, `definition`.
struct CheckpointIdentity {
  std::string campaign;
  std::string stage;
  std::string kernel;
  std::string kernel_version;  ///< KernelInfo::version: bumped when the saved state changes
  /// Digest of the stage's definition (kernel, parameters, inputs, outputs): a checkpoint of
  /// the same stage run with other parameters must not be restored.
  std::string definition;

  friend bool operator==(const CheckpointIdentity&, const CheckpointIdentity&) = default;
};

/// Where in the run a checkpoint was taken. Stored as root attributes `epoch`, `step`
/// (uint64) and `time` (float64).
struct EpochInfo {
  std::uint64_t epoch = 0;  ///< checkpoint sequence number of the stage, from 0
  std::uint64_t step = 0;   ///< steps completed when it was taken
  double time = 0.0;        ///< model time, in the kernel's own units

  friend bool operator==(const EpochInfo&, const EpochInfo&) = default;
};

}  // namespace perennial::checkpoint
