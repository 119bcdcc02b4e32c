// libFuzzer target: a YAML text read by two threads must be read as by one
// (runtime/src/yaml_document.hpp). Any bytes are the text; it is split where a second thread
// would start looking for a sequence entry (the middle, and a point the first byte picks). Two
// readings that differ (nodes, positions, an error's message or place) abort; so does a crash,
// a hang or a sanitizer report. Built by ci/fuzz.sh.

#include "yaml_document.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace {

using perennial::yaml::Document;
using perennial::yaml::ParseError;
using perennial::yaml::ReadOptions;

void expect_same(std::string_view text, const std::optional<Document>& alone, const std::optional<ParseError>& error,
                 std::size_t near) {
  try {
    const Document split(text, ReadOptions{0, near});
    if (error || !split.same_nodes(*alone)) std::abort();
  } catch (const ParseError& e) {
    if (!error || std::string_view(e.what()) != error->what() || e.mark.line != error->mark.line ||
        e.mark.column != error->mark.column) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::optional<Document> alone;
  std::optional<ParseError> error;
  try {
    alone.emplace(text, ReadOptions{std::numeric_limits<std::size_t>::max(), 0});
  } catch (const ParseError& e) {
    error = e;
  }
  if (size < 2) return 0;
  expect_same(text, alone, error, 0);
  expect_same(text, alone, error, 1 + data[0] * (size - 1) / 256);
  return 0;
}
