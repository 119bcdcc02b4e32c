// PERENNIAL_REGISTER_KERNEL as the README shows it: a statement with its `;`, twice in one
// file (a scientist's kernels.cpp often holds several), even twice on one line.

#include <perennial/kernel.hpp>

#include <gtest/gtest.h>

namespace {

class First : public perennial::Kernel {
 public:
  void initialize(perennial::StageContext&) override {}
  void step(perennial::StageContext&) override {}
  void write_outputs(perennial::StageContext&, perennial::OutputSink&) override {}
};
class Second final : public First {};
class Third final : public First {};

}  // namespace

PERENNIAL_REGISTER_KERNEL(First, "registration-first");
PERENNIAL_REGISTER_KERNEL(Second, "registration-second");
PERENNIAL_REGISTER_KERNEL(Third, "registration-third"); PERENNIAL_REGISTER_KERNEL(First, "registration-fourth");

TEST(KernelRegistration, SeveralKernelsRegisterFromOneFile) {
  const auto& registry = perennial::KernelRegistry::instance();
  for (const char* name : {"registration-first", "registration-second", "registration-third", "registration-fourth"}) {
    EXPECT_TRUE(registry.contains(name)) << name;
  }
  EXPECT_TRUE(registry.duplicates().empty());
  EXPECT_NE(registry.create("registration-second", "s"), nullptr);
}
