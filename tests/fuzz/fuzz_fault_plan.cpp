// libFuzzer target: the fault-drill parser (`--inject` and a campaign's `faults:`; issue 16,
// point 5). Any text is a drill list: it parses or throws Error naming what is wrong, never
// crashes or trips a sanitizer.

#include <perennial/errors.hpp>
#include <perennial/fault_plan.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)perennial::FaultPlan::parse(text, "--inject");
  } catch (const perennial::Error&) {
    // A refused drill list: the expected answer to most inputs.
  }
  return 0;
}
