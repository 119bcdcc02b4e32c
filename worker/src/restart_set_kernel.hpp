#pragma once
// RestartSetKernel: a model executable's restart set as a checkpoint. save() stores a manifest
// (size and path of each file) and each file's bytes in one epoch file, so the checkpoint
// machinery (checksums, verification before use, fallback to an older epoch, pruning)
// serves models as it serves kernels; restore() writes the files back into the run folder.
// Collective over the stage group, as every Kernel call is; only the group's first rank
// touches the files.

#include <perennial/external_model.hpp>
#include <perennial/kernel.hpp>

#include <boost/mpi/communicator.hpp>

#include <filesystem>

namespace perennial {

class RestartSetKernel final : public Kernel {
 public:
  RestartSetKernel(std::filesystem::path run_dir, const boost::mpi::communicator& group)
      : run_dir_(std::move(run_dir)), group_(group) {}

  void initialize(StageContext&) override {}
  void step(StageContext&) override {}
  void write_outputs(StageContext&, OutputSink&) override {}
  void save(StageContext&, CheckpointWriter& writer) override;
  /// Throws Error for a manifest naming a file outside the run folder or a size that differs.
  void restore(StageContext&, CheckpointReader& reader) override;
  KernelInfo info() const override;

  RestartSet pending;  ///< the set save() stores (the first rank's)

 private:
  std::filesystem::path run_dir_;
  const boost::mpi::communicator& group_;
};

}  // namespace perennial
