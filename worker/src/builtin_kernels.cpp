// Diagnostic kernels built into every perennial executable: for dispatch benchmarks,
// scheduling drills and failure drills without writing a solver.

#include <perennial/errors.hpp>
#include <perennial/kernel.hpp>
#include <perennial/stage_context.hpp>
#include <perennial/worker/worker.hpp>

#include <fmt/format.h>

#include <chrono>
#include <limits>
#include <thread>
#include <vector>

namespace perennial {

namespace {

// Declares no parameters, so it takes any: it stands in for real kernels in scheduling
// drills and simulations, whose for_each keys become parameters.
class Noop final : public Kernel {
 public:
  void initialize(StageContext&) override {}
  void step(StageContext&) override {}
  void write_outputs(StageContext&, OutputSink&) override {}
  void save(StageContext&, CheckpointWriter&) override {}
  void restore(StageContext&, CheckpointReader&) override {}
  KernelInfo info() const override {
    KernelInfo info;
    info.checkpoints = true;
    return info;
  }
};

// Keeps the rank's cores busy for `seconds_per_step` of wall time each step: a stand-in for
// a threaded solver, one thread per core the stage reserved (`cores_per_rank`). Group rank 0
// reports the thread count as the metric `threads` on the first step.
class BurnCpu final : public Kernel {
 public:
  void initialize(StageContext& ctx) override { seconds_ = ctx.parameter<double>("seconds_per_step"); }
  void step(StageContext& ctx) override {
    const int threads = ctx.cores_per_rank();
    if (ctx.step() == 0 && ctx.comm().rank() == 0) ctx.report_metric("threads", threads);
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds_);
    auto burn = [until] {
      volatile double sink = 1.0;
      while (std::chrono::steady_clock::now() < until) sink = sink * 1.0000001 + 1e-9;
    };
    std::vector<std::jthread> helpers;
    for (int t = 1; t < threads; ++t) helpers.emplace_back(burn);
    burn();
  }
  void write_outputs(StageContext&, OutputSink&) override {}
  void save(StageContext&, CheckpointWriter&) override {}
  void restore(StageContext&, CheckpointReader&) override {}
  KernelInfo info() const override {
    KernelInfo info;
    info.checkpoints = true;
    info.metrics["threads"] = {"1", "the threads it burns with (its cores_per_rank), at step 0"};
    info.parameters["seconds_per_step"] = {.type = ParameterType::number, .default_value = "0.01", .min = 0,
                                           .units = "s", .description = "wall time each step keeps the cores busy"};
    return info;
  }

 private:
  double seconds_ = 0.0;
};

// Throws at step `fail_at_step` (on every rank, or only on group rank `fail_rank` if set).
// With `collective: true` every step ends in a barrier, so when one rank throws the others
// are left stuck in it: the situation a real solver's halo exchange creates.
class FailAtStep final : public Kernel {
 public:
  void initialize(StageContext& ctx) override {
    fail_at_ = ctx.parameter<std::int64_t>("fail_at_step");
    fail_rank_ = ctx.parameter<int>("fail_rank");
    collective_ = ctx.parameter<bool>("collective");
  }
  void step(StageContext& ctx) override {
    const bool this_rank = fail_rank_ < 0 || fail_rank_ == ctx.comm().rank();
    if (static_cast<std::int64_t>(ctx.step()) == fail_at_ && this_rank) {
      throw Error(fmt::format("fail-at-step: deliberate failure at step {}", ctx.step()));
    }
    if (collective_) ctx.comm().barrier();
  }
  void write_outputs(StageContext&, OutputSink&) override {}
  KernelInfo info() const override {
    using T = ParameterType;
    KernelInfo info;
    info.parameters = {
        {"fail_at_step", {.type = T::integer, .default_value = "0", .min = 0, .units = "steps",
                          .description = "the step that throws (0: the first)"}},
        {"fail_rank", {.type = T::integer, .default_value = "-1", .min = -1, .max = std::numeric_limits<int>::max(),
                       .units = "1", .description = "the group rank that throws; -1: every rank"}},
        {"collective", {.type = T::boolean, .default_value = "false",
                        .description = "end every step in a barrier, so the other ranks are left stuck in it"}},
    };
    return info;
  }

 private:
  std::int64_t fail_at_ = 0;
  int fail_rank_ = -1;
  bool collective_ = false;
};

// Reports the metric `score` (= its step) at every step, and at `bad_step` also what rank 0
// must refuse: a NaN score, an infinite one and a name it does not declare. A test kernel for
// the metric gate; checkpoints nothing but its step.
class ReportScore final : public Kernel {
 public:
  void initialize(StageContext& ctx) override { bad_step_ = ctx.parameter<std::int64_t>("bad_step"); }
  void step(StageContext& ctx) override {
    if (ctx.comm().rank() != 0) return;
    ctx.report_metric("score", static_cast<double>(ctx.step()));
    if (static_cast<std::int64_t>(ctx.step()) == bad_step_) {
      ctx.report_metric("score", std::numeric_limits<double>::quiet_NaN());
      ctx.report_metric("score", std::numeric_limits<double>::infinity());
      ctx.report_metric("scroe", 1.0);
    }
  }
  void write_outputs(StageContext&, OutputSink&) override {}
  void save(StageContext&, CheckpointWriter&) override {}
  void restore(StageContext&, CheckpointReader&) override {}
  KernelInfo info() const override {
    KernelInfo info;
    info.checkpoints = true;
    info.metrics["score"] = {"1", "its step, at every step"};
    info.parameters["bad_step"] = {.type = ParameterType::integer, .default_value = "-1", .min = -1,
                                   .units = "steps", .description = "the step at which it also reports NaN, infinity and an undeclared name"};
    return info;
  }

 private:
  std::int64_t bad_step_ = -1;
};

}  // namespace

void register_builtin_kernels() {
  auto& registry = KernelRegistry::instance();
  registry.add("noop", [] { return std::make_unique<Noop>(); });
  registry.add("burn-cpu", [] { return std::make_unique<BurnCpu>(); });
  registry.add("fail-at-step", [] { return std::make_unique<FailAtStep>(); });
  registry.add("report-score", [] { return std::make_unique<ReportScore>(); });
}

}  // namespace perennial
