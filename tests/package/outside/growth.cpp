// A kernel written outside Perennial's tree: logistic growth of a population on each cell of
// a row, split over the stage group's ranks; checkpointed, with one output and one metric.

#include <perennial/array_io.hpp>
#include <perennial/hyperslab.hpp>
#include <perennial/kernel.hpp>
#include <perennial/stage_context.hpp>

#include <mpi.h>

#include <cstdint>
#include <span>
#include <vector>

class Growth final : public perennial::Kernel {
 public:
  void initialize(perennial::StageContext& ctx) override {
    cells_ = static_cast<std::uint64_t>(ctx.parameter<int>("cells"));
    rate_ = ctx.parameter<double>("rate");
    mine_ = perennial::even_split(cells_, ctx.comm().size(), ctx.comm().rank());
    population_.assign(mine_.count, 0.0);
    for (std::uint64_t i = 0; i < mine_.count; ++i) population_[i] = 0.01 * static_cast<double>(1 + (mine_.first + i) % 7);
  }
  void step(perennial::StageContext& ctx) override {
    double local = 0.0;
    for (double& p : population_) {
      p += rate_ * p * (1.0 - p);
      local += p;
    }
    double total = 0.0;
    MPI_Allreduce(&local, &total, 1, MPI_DOUBLE, MPI_SUM, ctx.comm());
    if (ctx.comm().rank() == 0) ctx.report_metric("mean_population", total / static_cast<double>(cells_));
  }
  void write_outputs(perennial::StageContext&, perennial::OutputSink& out) override {
    out.write<double>("population", slab(), std::span<const double>(population_));
  }
  void save(perennial::StageContext&, perennial::CheckpointWriter& w) override {
    w.write<double>("population", slab(), std::span<const double>(population_), {"cell"}, "1");
  }
  void restore(perennial::StageContext& ctx, perennial::CheckpointReader& r) override {
    mine_ = perennial::even_split(cells_, ctx.comm().size(), ctx.comm().rank());
    population_.assign(mine_.count, 0.0);
    r.read<double>("population", slab(), std::span<double>(population_));
  }
  perennial::KernelInfo info() const override {
    perennial::KernelInfo info;
    info.checkpoints = true;
    info.parameters["cells"] = {.type = perennial::ParameterType::integer, .min = 1, .units = "cells",
                                .description = "cells along the row"};
    info.parameters["rate"] = {.type = perennial::ParameterType::number, .default_value = "0.1", .min = 0, .units = "1",
                               .description = "growth per step"};
    info.outputs["population"] = {perennial::DType::float64, std::vector<std::string>{"cell"}, "1"};
    info.metrics["mean_population"] = {"1", "the row's mean, every step"};
    return info;
  }

 private:
  perennial::Hyperslab slab() const { return {{cells_}, {mine_.first}, {mine_.count}}; }
  std::uint64_t cells_ = 0;
  double rate_ = 0.1;
  perennial::BlockRange mine_{0, 0};
  std::vector<double> population_;
};
PERENNIAL_REGISTER_KERNEL(Growth, "growth");
