// Every kernel built into `perennial` declares its parameters (issue 12), and what it declares
// holds together: each default passes its own declaration, and each one-line description and
// number's units are there for `perennial kernels` to print.

#include <perennial/kernel.hpp>
#include <perennial/worker/worker.hpp>

#include <gtest/gtest.h>

namespace {

using perennial::KernelRegistry;
using perennial::ParameterType;

const KernelRegistry& all_kernels() {
  static const bool registered = [] {
    perennial::register_builtin_kernels();
    return true;
  }();
  (void)registered;
  return KernelRegistry::instance();
}

TEST(KernelDeclarations, DefaultsPassTheirOwnDeclaration) {
  for (const auto& name : all_kernels().names()) {
    for (const auto& [parameter, spec] : all_kernels().create(name, "")->info().parameters) {
      SCOPED_TRACE(name + "." + parameter);
      EXPECT_FALSE(spec.description.empty());
      if (spec.type == ParameterType::integer || spec.type == ParameterType::number) {
        EXPECT_FALSE(spec.units.empty()) << "a number without units (write 1 when dimensionless)";
      }
      if (spec.min && spec.max) {
        EXPECT_LE(*spec.min, *spec.max);
      }
      if (spec.default_value && !spec.default_value->empty()) {
        const auto problem = perennial::parameter_problem(spec, {*spec.default_value});
        EXPECT_FALSE(problem) << *problem;
      }
    }
  }
}

TEST(KernelDeclarations, EveryKernelOfThisRepositoryDeclaresItsParameters) {
  auto info = [](const std::string& kernel) { return all_kernels().create(kernel, "")->info(); };
  const auto heat = info("heat2d").parameters;
  for (const char* p : {"nx", "ny", "forcing", "heat_capacity", "diffusivity", "albedo", "wind", "metric_every", "dt", "pace"}) {
    EXPECT_TRUE(heat.count(p)) << p;
  }
  EXPECT_EQ(heat.size(), 10u);
  EXPECT_FALSE(heat.at("nx").default_value);   // required
  EXPECT_FALSE(heat.at("ny").default_value);
  EXPECT_EQ(heat.at("dt").default_value, "");  // derived from the grid's stability limit
  EXPECT_EQ(info("burn-cpu").parameters.count("seconds_per_step"), 1u);
  const auto fail = info("fail-at-step").parameters;
  EXPECT_EQ(fail.size(), 3u);
  EXPECT_EQ(fail.at("collective").type, ParameterType::boolean);
  // Takes none, and says so; noop stands in for any kernel in drills, so it takes any.
  EXPECT_TRUE(info("ensemble-mean").parameters.empty());
  EXPECT_FALSE(info("ensemble-mean").parameters_open);
  EXPECT_TRUE(info("noop").parameters_open);
}

}  // namespace
