// EnsembleMean: the element-wise mean of several runs of one field (an ensemble, e.g. the same
// model under different forcing scenarios) and how far the members disagree.
//
// The members are added in a fixed order (ctx.inputs gives them in stage-name order) on every
// rank, and the spread is a maximum, which no reduction order can change, so both results are
// identical for any rank count.

#include "climate/lat_lon_grid.hpp"

#include <perennial/errors.hpp>
#include <perennial/kernel.hpp>
#include <perennial/stage_context.hpp>

#include <boost/mpi/collectives/all_reduce.hpp>
#include <boost/mpi/operations.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace perennial::examples {
namespace {

std::string member_name(const InputArray& member) {
  return member.stage() + "." + member.output();
}

/// Throws KernelError unless every member is a float64 2-D array like the first one.
void check_members(const StageContext& ctx, const std::vector<const InputArray*>& members) {
  if (members.empty()) {
    throw KernelError(ctx.stage(), "input 'members' is bound to no datasets");
  }
  const InputArray& first = *members.front();
  if (first.shape().size() != 2) {
    throw KernelError(ctx.stage(), fmt::format("member {} has {} dimensions {}; ensemble-mean needs 2",
                                               member_name(first), first.shape().size(), first.dims()));
  }
  for (const InputArray* member : members) {
    if (member->dtype() != DType::float64) {
      throw KernelError(ctx.stage(), fmt::format("member {} is {}, not float64", member_name(*member),
                                                 dtype_name(member->dtype())));
    }
    if (member->dims() != first.dims() || member->shape() != first.shape()) {
      throw KernelError(ctx.stage(), fmt::format(
          "members {} (dims {}, shape {}) and {} (dims {}, shape {}) differ", member_name(first),
          first.dims(), first.shape(), member_name(*member), member->dims(), member->shape()));
    }
  }
}

class EnsembleMean final : public Kernel {
 public:
  void initialize(StageContext& ctx) override {
    const auto members = ctx.inputs("members");
    check_members(ctx, members);
    split(ctx, members.front()->shape());

    std::vector<double> block(mean_.size()), low(mean_.size()), high(mean_.size());
    for (std::size_t m = 0; m < members.size(); ++m) {
      members[m]->read<double>(slab(), std::span<double>(block));
      for (std::size_t k = 0; k < block.size(); ++k) {
        mean_[k] = m == 0 ? block[k] : mean_[k] + block[k];
        low[k] = m == 0 ? block[k] : std::min(low[k], block[k]);
        high[k] = m == 0 ? block[k] : std::max(high[k], block[k]);
      }
    }
    const auto count = static_cast<double>(members.size());
    for (double& value : mean_) value /= count;

    double spread = 0.0;
    for (std::size_t k = 0; k < mean_.size(); ++k) spread = std::max(spread, high[k] - low[k]);
    // Every rank keeps the spread so that save() writes the same scalar everywhere.
    boost::mpi::all_reduce(ctx.comm(), spread, spread_, boost::mpi::maximum<double>());
    if (ctx.comm().rank() == 0) ctx.report_metric("ensemble_spread", spread_);
  }

  /// The mean does not evolve: the work is done once, in initialize().
  void step(StageContext&) override {}

  void write_outputs(StageContext&, OutputSink& out) override {
    const LatLonGrid grid{static_cast<int>(shape_[0]), static_cast<int>(shape_[1])};
    out.write_coordinate("lat", grid.lats(), "degrees_north");
    out.write_coordinate("lon", grid.lons(), "degrees_east");
    out.write<double>("mean", slab(), mean_);
  }

  void save(StageContext&, CheckpointWriter& checkpoint) override {
    checkpoint.write<double>("mean", slab(), mean_, {"lat", "lon"}, "K");
    checkpoint.write_scalar("ensemble_spread", spread_);
  }

  void restore(StageContext& ctx, CheckpointReader& checkpoint) override {
    const auto shape = checkpoint.shape("mean");
    if (shape.size() != 2) {
      throw KernelError(ctx.stage(), fmt::format("checkpointed mean has shape {}; expected 2-D", shape));
    }
    split(ctx, shape);
    checkpoint.read<double>("mean", slab(), std::span<double>(mean_));
    spread_ = checkpoint.read_scalar("ensemble_spread");
  }

  KernelInfo info() const override {
    const ArraySchema field{DType::float64, std::vector<std::string>{"lat", "lon"}, "K"};
    KernelInfo info;
    info.outputs["mean"] = field;
    info.inputs["members"] = field;
    info.inputs_open = false;
    info.checkpoints = true;
    info.parameters_open = false;  // it takes none: any parameter written for it is a mistake
    info.metrics["ensemble_spread"] = {"K", "the members' spread about their mean"};
    return info;
  }

 private:
  void split(const StageContext& ctx, std::vector<std::uint64_t> shape) {
    shape_ = std::move(shape);
    range_ = even_split(shape_[0], ctx.comm().size(), ctx.comm().rank());
    mean_.assign(range_.count * shape_[1], 0.0);
  }
  Hyperslab slab() const { return row_block(shape_[0], shape_[1], range_.first, range_.count); }

  std::vector<std::uint64_t> shape_;
  BlockRange range_{0, 0};
  std::vector<double> mean_;  // this rank's rows of the mean
  double spread_ = 0.0;       // max over cells of (max - min) across members, on every rank
};

PERENNIAL_REGISTER_KERNEL(EnsembleMean, "ensemble-mean");

}  // namespace
}  // namespace perennial::examples
