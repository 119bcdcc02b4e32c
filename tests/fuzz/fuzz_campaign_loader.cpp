// libFuzzer target: the campaign loader (issue 16, point 5). Any bytes are a campaign file:
// the loader must answer with a campaign or with diagnostics, never crash, hang or trip a
// sanitizer. Built by ci/fuzz.sh (clang, -fsanitize=fuzzer,address,undefined).

#include <perennial/campaign_loader.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto loaded = perennial::load_campaign_text(text, "/fuzz/campaign.yaml");
  // Walk what came back, as validate does when it prints.
  if (loaded.campaign) {
    std::size_t fields = 0;
    for (const auto& s : loaded.campaign->stages) fields += s.name.size() + s.parameters.raw().size();
    (void)fields;
  }
  (void)loaded.diagnostics.to_string();
  return 0;
}
