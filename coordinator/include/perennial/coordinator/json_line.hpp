#pragma once
// JsonLine: one flat JSON object written straight as text, for the records every stage makes
// (its start and its completion, in events.jsonl and in the journal). An nlohmann tree built
// and dumped for each of those four records was about a tenth of rank 0's time per short
// stage (perf, 10,000 one-step stages). Everything else keeps nlohmann.
//
// Values: strings (escaped as JSON requires), whole numbers, doubles (shortest text that reads
// back to the same double; null when not finite, as nlohmann writes them), booleans, and lists
// of whole numbers or strings; nested lists and objects go in as text already written (raw).
// Keys are escaped like strings.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace perennial {

class JsonLine {
 public:
  // Room for a stage's record from the start: grown from nothing, the text was reallocated
  // three or four times on the way to its 100-200 bytes, which was most of the cost of
  // writing a short value (callgrind: about 600 instructions a string field, 11,000 a stage).
  JsonLine() {
    text_.reserve(kTypicalBytes);
    text_.push_back('{');
  }

  JsonLine& text(std::string_view key, std::string_view value);
  JsonLine& whole(std::string_view key, std::int64_t value);
  JsonLine& count(std::string_view key, std::uint64_t value);
  JsonLine& number(std::string_view key, double value);
  JsonLine& flag(std::string_view key, bool value);
  JsonLine& wholes(std::string_view key, const std::vector<int>& values);
  JsonLine& texts(std::string_view key, const std::vector<std::string>& values);
  /// A value already written as JSON (a list or an object built by other JsonLines), as is.
  JsonLine& raw(std::string_view key, std::string_view json);

  /// The object, closed: `{"key":value,...}` with no newline.
  std::string str() const { return text_ + "}"; }
  /// The object, closed, appended to `out` (no copy of it made on the way).
  void append_to(std::string& out) const {
    out += text_;
    out += '}';
  }

 private:
  static constexpr std::size_t kTypicalBytes = 256;
  void key(std::string_view name);
  std::string text_;
};

/// Appends `value` to `out` as a JSON string, quotes included.
void append_json_string(std::string& out, std::string_view value);
/// Appends `values` to `out` as a JSON array of strings.
void append_json_strings(std::string& out, const std::vector<std::string>& values);

}  // namespace perennial
