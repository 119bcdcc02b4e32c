// libFuzzer target: the campaign loader (issue 16, point 5). Any bytes are a campaign file:
// the loader must answer with a campaign or with diagnostics, never crash, hang or trip a
// sanitizer; and read again by two threads (as a long file is) it must be the same campaign.
// Built by ci/fuzz.sh (clang, -fsanitize=fuzzer,address,undefined).

#include <perennial/campaign_loader.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
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
  // Read again by two threads (a long file's way: LoadOptions), it must be the same campaign:
  // the same diagnostics in the same order, the same stages.
  const auto two = perennial::load_campaign_text(text, "/fuzz/campaign.yaml", perennial::LoadOptions{0});
  if (two.diagnostics.size() != loaded.diagnostics.size() || two.campaign.has_value() != loaded.campaign.has_value()) {
    std::abort();
  }
  for (std::size_t i = 0; i < two.diagnostics.size(); ++i) {
    if (two.diagnostics.items()[i].to_string() != loaded.diagnostics.items()[i].to_string()) std::abort();
  }
  if (loaded.campaign) {
    const auto& a = loaded.campaign->stages;
    const auto& b = two.campaign->stages;
    if (a.size() != b.size()) std::abort();
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i].name != b[i].name || a[i].steps != b[i].steps || a[i].ranks != b[i].ranks ||
          a[i].parameters.raw() != b[i].parameters.raw() || a[i].where.line != b[i].where.line ||
          a[i].where.column != b[i].where.column) {
        std::abort();
      }
    }
  }
  return 0;
}
