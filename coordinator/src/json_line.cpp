#include <perennial/coordinator/json_line.hpp>

#include <fmt/compile.h>
#include <fmt/format.h>

#include <cmath>

namespace perennial {

namespace {
// Characters a JSON string cannot hold as they are: the quote, the backslash and controls.
bool needs_escape(char c) { return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20; }
}  // namespace

void append_json_string(std::string& out, std::string_view value) {
  out += '"';
  // Names and paths rarely hold a character to escape: runs of plain ones go in one append.
  std::size_t plain = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (!needs_escape(c)) continue;  // UTF-8 passes through, as nlohmann writes it
    out.append(value.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
    }
  }
  out.append(value.data() + plain, value.size() - plain);
  out += '"';
}

void append_json_strings(std::string& out, const std::vector<std::string>& values) {
  out += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, values[i]);
  }
  out += ']';
}

void JsonLine::key(std::string_view name) {
  if (text_.size() > 1) text_ += ',';
  append_json_string(text_, name);
  text_ += ':';
}

JsonLine& JsonLine::text(std::string_view name, std::string_view value) {
  key(name);
  append_json_string(text_, value);
  return *this;
}

JsonLine& JsonLine::whole(std::string_view name, std::int64_t value) {
  key(name);
  fmt::format_to(std::back_inserter(text_), FMT_COMPILE("{}"), value);
  return *this;
}

JsonLine& JsonLine::count(std::string_view name, std::uint64_t value) {
  key(name);
  fmt::format_to(std::back_inserter(text_), FMT_COMPILE("{}"), value);
  return *this;
}

JsonLine& JsonLine::number(std::string_view name, double value) {
  key(name);
  if (!std::isfinite(value)) {
    text_ += "null";
  } else {
    // fmt's "{}" is the shortest text that reads back to the same double. A whole value gets
    // ".0" so that it reads back as a floating-point number, as nlohmann writes it.
    const auto start = text_.size();
    fmt::format_to(std::back_inserter(text_), FMT_COMPILE("{}"), value);
    if (text_.find_first_of(".eEn", start) == std::string::npos) text_ += ".0";
  }
  return *this;
}

JsonLine& JsonLine::flag(std::string_view name, bool value) {
  key(name);
  text_ += value ? "true" : "false";
  return *this;
}

JsonLine& JsonLine::wholes(std::string_view name, const std::vector<int>& values) {
  key(name);
  text_ += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) text_ += ',';
    fmt::format_to(std::back_inserter(text_), FMT_COMPILE("{}"), values[i]);
  }
  text_ += ']';
  return *this;
}

JsonLine& JsonLine::texts(std::string_view name, const std::vector<std::string>& values) {
  key(name);
  append_json_strings(text_, values);
  return *this;
}

JsonLine& JsonLine::raw(std::string_view name, std::string_view json) {
  key(name);
  text_ += json;
  return *this;
}

}  // namespace perennial
