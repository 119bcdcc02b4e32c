// The example climate kernels driven directly, without the runtime, on groups of 1 to 4 ranks
// split from a 4-rank world. The central property: the fields are bit-identical whatever the
// rank count, and a checkpoint restored on another rank count continues bit-identically.
// Every test runs on every world rank (the splits are collective); world rank 0 holds group
// rank 0 of every group, so it compares the gathered results.

#include "memory_io.hpp"

#include <perennial/errors.hpp>
#include <perennial/kernel.hpp>
#include <perennial/stage_context.hpp>

#include <boost/mpi/collectives/broadcast.hpp>
#include <boost/mpi/communicator.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace mpi = boost::mpi;
using perennial::memio::ArrayStore;
using perennial::memio::MemoryInput;
using perennial::memio::MemorySink;
using Inputs = std::map<std::string, std::vector<std::shared_ptr<const perennial::InputArray>>>;
using Metrics = std::vector<std::pair<std::string, double>>;

perennial::Parameters parameters(std::map<std::string, std::string> values) {
  perennial::Parameters p;
  for (auto& [name, text] : values) p.set(name, text);
  return p;
}

perennial::Parameters heat_parameters(int ny, int nx, std::uint64_t metric_every = 20) {
  return parameters({{"nx", std::to_string(nx)}, {"ny", std::to_string(ny)}, {"forcing", "4.5"},
                     {"metric_every", std::to_string(metric_every)}});
}

/// One kernel with its StageContext on a group communicator, recording reported metrics.
class Stage {
 public:
  Stage(const std::string& kernel, mpi::communicator group, perennial::Parameters params,
        std::uint64_t steps, Inputs inputs = {})
      : ctx_("test-stage", kernel, std::move(group), std::move(params), steps, std::move(inputs),
             [this](const std::string& name, double value) { metrics.emplace_back(name, value); },
             nullptr),
        kernel_(perennial::KernelRegistry::instance().create(kernel, "test-stage")) {}
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;

  perennial::StageContext& ctx() { return ctx_; }
  perennial::Kernel& kernel() { return *kernel_; }
  /// Steps [from, to), numbered as the runtime numbers them.
  void run(std::uint64_t from, std::uint64_t to) {
    for (std::uint64_t s = from; s < to; ++s) {
      ctx_.set_step(s);
      kernel_->step(ctx_);
    }
  }
  /// The named output gathered on group rank 0 (empty elsewhere). Collective.
  std::vector<double> output(const std::string& name) {
    MemorySink sink(ctx_.comm());
    kernel_->write_outputs(ctx_, sink);
    return sink.store.values[name];
  }

  Metrics metrics;

 private:
  perennial::StageContext ctx_;
  std::unique_ptr<perennial::Kernel> kernel_;
};

/// The first `ranks` world ranks in one group; the others get a group they leave unused.
/// Collective over the world.
mpi::communicator first_ranks(int ranks, bool& member) {
  mpi::communicator world;
  member = world.rank() < ranks;
  return world.split(member ? 0 : 1);
}

struct Heat2DResult {
  std::vector<double> temperature;
  Metrics metrics;
};

/// heat2d for `steps` steps on the first `ranks` ranks; the result is filled on world rank 0.
Heat2DResult run_heat2d(int ranks, const perennial::Parameters& params, std::uint64_t steps) {
  bool member = false;
  auto group = first_ranks(ranks, member);
  Heat2DResult result;
  if (!member) return result;
  Stage stage("heat2d", group, params, steps);
  stage.kernel().initialize(stage.ctx());
  stage.run(0, steps);
  result.temperature = stage.output("temperature");
  result.metrics = stage.metrics;
  if (group.rank() != 0) {
    EXPECT_TRUE(stage.metrics.empty()) << "only group rank 0 reports metrics";
  }
  return result;
}

bool bit_identical(const std::vector<double>& a, const std::vector<double>& b) {
  return !a.empty() && a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

int world_rank() { return mpi::communicator().rank(); }

TEST(Heat2D, FieldIsBitIdenticalForAnyRankCount) {
  // 50 steps with metrics every 20: reports after steps 20, 40 and the last one, 50.
  const auto params = heat_parameters(16, 32);
  const auto reference = run_heat2d(1, params, 50);
  for (int ranks : {2, 3, 4}) {
    const auto result = run_heat2d(ranks, params, 50);
    if (world_rank() != 0) continue;
    EXPECT_TRUE(bit_identical(result.temperature, reference.temperature)) << ranks << " ranks";
    EXPECT_EQ(result.metrics, reference.metrics) << ranks << " ranks";
  }
  if (world_rank() != 0) return;
  ASSERT_EQ(reference.temperature.size(), 16u * 32u);
  for (double t : reference.temperature) ASSERT_TRUE(t > 200.0 && t < 340.0) << t;
  ASSERT_EQ(reference.metrics.size(), 3u);
  for (const auto& [name, value] : reference.metrics) {
    EXPECT_EQ(name, "global_mean_temperature");
    EXPECT_GT(value, 270.0);
    EXPECT_LT(value, 310.0);
  }
}

TEST(Heat2D, MoreRanksThanLatitudes) {
  const auto params = heat_parameters(3, 8);
  const auto reference = run_heat2d(1, params, 30);
  for (int ranks : {2, 4}) {
    const auto result = run_heat2d(ranks, params, 30);
    if (world_rank() != 0) continue;
    EXPECT_TRUE(bit_identical(result.temperature, reference.temperature)) << ranks << " ranks";
    EXPECT_EQ(result.metrics, reference.metrics) << ranks << " ranks";
  }
}

TEST(Heat2D, MissingParameterNamesIt) {
  mpi::communicator self(MPI_COMM_SELF, mpi::comm_attach);
  Stage stage("heat2d", self, parameters({{"nx", "16"}}), 1);
  try {
    stage.kernel().initialize(stage.ctx());
    FAIL() << "initialize accepted parameters without ny";
  } catch (const perennial::ParameterError& e) {
    EXPECT_NE(std::string(e.what()).find("'ny'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test-stage"), std::string::npos) << e.what();
  }
}

// Issue 12: heat2d declares its defaults and ranges once, in info(); the runtime applies them
// when it sets a stage up, so the kernel reads every value without a fallback or a check.
TEST(Heat2D, DeclaredDefaultsFillWhatTheStageLeavesOut) {
  mpi::communicator self(MPI_COMM_SELF, mpi::comm_attach);
  Stage stage("heat2d", self, parameters({{"nx", "16"}, {"ny", "8"}}), 1);
  EXPECT_EQ(stage.ctx().parameter<double>("heat_capacity"), 2.0e8);
  EXPECT_EQ(stage.ctx().parameter<double>("forcing"), 0.0);
  EXPECT_EQ(stage.ctx().parameter<int>("metric_every"), 50);
  EXPECT_FALSE(stage.ctx().parameters().contains("dt"));  // derived from the grid by the kernel
  EXPECT_NO_THROW(stage.kernel().initialize(stage.ctx()));
}

TEST(Heat2D, DeclaredRangesAreEnforcedWhenTheStageIsSetUp) {
  mpi::communicator self(MPI_COMM_SELF, mpi::comm_attach);
  try {
    Stage stage("heat2d", self, parameters({{"nx", "2"}, {"ny", "8"}}), 1);
    FAIL() << "a stage with nx 2 was set up";
  } catch (const perennial::ParameterError& e) {
    EXPECT_STREQ(e.what(), "stage 'test-stage': parameter 'nx' must be at least 3, not 2");
  }
  EXPECT_THROW(Stage("heat2d", self, parameters({{"nx", "16"}, {"ny", "8"}, {"albedo", "1.2"}}), 1),
               perennial::ParameterError);
}

TEST(Heat2D, UnstableTimeStepIsRefused) {
  mpi::communicator self(MPI_COMM_SELF, mpi::comm_attach);
  auto params = heat_parameters(64, 128);
  params.set("dt", "1e7");
  Stage stage("heat2d", self, params, 1);
  EXPECT_THROW(stage.kernel().initialize(stage.ctx()), perennial::ParameterError);
}

TEST(Heat2D, InitialInputIsReadAndShapeChecked) {
  std::vector<double> field(4 * 6);
  for (std::size_t k = 0; k < field.size(); ++k) field[k] = 250.0 + static_cast<double>(k);
  bool member = false;
  auto group = first_ranks(3, member);
  if (member) {
    Inputs good{{"initial", {std::make_shared<MemoryInput>("spinup", "temperature",
                                                           std::vector<std::uint64_t>{4, 6}, field)}}};
    Stage stage("heat2d", group, heat_parameters(4, 6), 0, good);
    stage.kernel().initialize(stage.ctx());
    const auto written = stage.output("temperature");
    if (group.rank() == 0) {
      EXPECT_TRUE(bit_identical(written, field));
    }
  }

  mpi::communicator self(MPI_COMM_SELF, mpi::comm_attach);
  Inputs bad{{"initial", {std::make_shared<MemoryInput>("spinup", "temperature",
                                                        std::vector<std::uint64_t>{4, 6}, field)}}};
  Stage stage("heat2d", self, heat_parameters(5, 6), 0, bad);
  try {
    stage.kernel().initialize(stage.ctx());
    FAIL() << "a [4, 6] input was accepted for a 5 x 6 grid";
  } catch (const perennial::KernelError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("test-stage"), std::string::npos) << what;
    EXPECT_NE(what.find("[4, 6]"), std::string::npos) << what;
    EXPECT_NE(what.find("[5, 6]"), std::string::npos) << what;
  }
}

TEST(Heat2D, RestoreOnAnotherRankCountContinuesBitIdentically) {
  const auto params = heat_parameters(16, 32, 10);
  const auto uninterrupted = run_heat2d(1, params, 40);

  // Save after 25 steps on 3 ranks, then share the "file" with every rank.
  ArrayStore checkpoint;
  Metrics before;
  {
    bool member = false;
    auto group = first_ranks(3, member);
    if (member) {
      Stage stage("heat2d", group, params, 40);
      stage.kernel().initialize(stage.ctx());
      stage.run(0, 25);
      perennial::memio::MemoryCheckpointWriter writer(group, checkpoint);
      stage.kernel().save(stage.ctx(), writer);
      checkpoint.scalars["time"] = stage.ctx().time();  // the runtime's part of a checkpoint
      before = stage.metrics;
    }
    mpi::broadcast(mpi::communicator(), checkpoint, 0);
  }

  for (int ranks : {2, 4}) {
    bool member = false;
    auto group = first_ranks(ranks, member);
    if (!member) continue;
    Stage stage("heat2d", group, params, 40);
    perennial::memio::MemoryCheckpointReader reader(checkpoint);
    stage.kernel().restore(stage.ctx(), reader);  // without initialize(), as after a crash
    stage.ctx().set_time(checkpoint.scalars.at("time"));
    stage.run(25, 40);
    const auto restored = stage.output("temperature");
    if (world_rank() != 0) continue;
    EXPECT_TRUE(bit_identical(restored, uninterrupted.temperature)) << "restored on " << ranks << " ranks";
    Metrics all = before;
    all.insert(all.end(), stage.metrics.begin(), stage.metrics.end());
    EXPECT_EQ(all, uninterrupted.metrics);
  }
}

TEST(EnsembleMean, ExactMeanAndSpreadForAnyRankCount) {
  // Members base + 0, base + 1, base + 4: integers, so the mean base + 5/3 is computed exactly
  // as (3 base + 5) / 3 by every split, and the spread is 4.
  const std::vector<std::uint64_t> shape{5, 7};
  std::vector<double> base(35), expected(35);
  for (std::size_t k = 0; k < base.size(); ++k) {
    base[k] = 260.0 + static_cast<double>(k);
    expected[k] = (3.0 * base[k] + 5.0) / 3.0;
  }
  Inputs members;
  for (double offset : {0.0, 1.0, 4.0}) {
    auto values = base;
    for (double& v : values) v += offset;
    members["members"].push_back(std::make_shared<MemoryInput>(
        "ssp-" + std::to_string(static_cast<int>(offset)), "temperature", shape, values));
  }
  for (int ranks : {1, 2, 3, 4}) {
    bool member = false;
    auto group = first_ranks(ranks, member);
    if (!member) continue;
    Stage stage("ensemble-mean", group, {}, 1, members);
    stage.kernel().initialize(stage.ctx());
    stage.run(0, 1);
    const auto mean = stage.output("mean");
    if (group.rank() != 0) continue;
    EXPECT_TRUE(bit_identical(mean, expected)) << ranks << " ranks";
    EXPECT_EQ(stage.metrics, (Metrics{{"ensemble_spread", 4.0}})) << ranks << " ranks";
  }
}

TEST(EnsembleMean, MismatchedMembersAreNamed) {
  mpi::communicator self(MPI_COMM_SELF, mpi::comm_attach);
  Inputs members{{"members", {std::make_shared<MemoryInput>("ssp-2.6", "temperature",
                                                            std::vector<std::uint64_t>{2, 3},
                                                            std::vector<double>(6, 280.0)),
                              std::make_shared<MemoryInput>("ssp-4.5", "temperature",
                                                            std::vector<std::uint64_t>{3, 3},
                                                            std::vector<double>(9, 280.0))}}};
  Stage stage("ensemble-mean", self, {}, 1, members);
  try {
    stage.kernel().initialize(stage.ctx());
    FAIL() << "members of different shapes were accepted";
  } catch (const perennial::KernelError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("ssp-2.6.temperature"), std::string::npos) << what;
    EXPECT_NE(what.find("ssp-4.5.temperature"), std::string::npos) << what;
  }
}

TEST(Kernels, DeclareTheirArrays) {
  auto heat = perennial::KernelRegistry::instance().create("heat2d", "test-stage");
  const auto info = heat->info();
  ASSERT_EQ(info.outputs.count("temperature"), 1u);
  EXPECT_EQ(info.outputs.at("temperature").units, "K");
  EXPECT_EQ(info.inputs.count("initial"), 1u);
  auto mean = perennial::KernelRegistry::instance().create("ensemble-mean", "test-stage");
  EXPECT_EQ(mean->info().outputs.count("mean"), 1u);
  EXPECT_EQ(mean->info().inputs.count("members"), 1u);
}

}  // namespace
