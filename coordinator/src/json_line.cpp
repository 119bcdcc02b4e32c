#include <perennial/coordinator/json_line.hpp>

#include <fmt/format.h>

#include <cmath>

namespace perennial {

void append_json_string(std::string& out, std::string_view value) {
  out += '"';
  for (const char c : value) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;  // UTF-8 passes through, as nlohmann writes it
        }
    }
  }
  out += '"';
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
  fmt::format_to(std::back_inserter(text_), "{}", value);
  return *this;
}

JsonLine& JsonLine::count(std::string_view name, std::uint64_t value) {
  key(name);
  fmt::format_to(std::back_inserter(text_), "{}", value);
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
    fmt::format_to(std::back_inserter(text_), "{}", value);
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
    fmt::format_to(std::back_inserter(text_), "{}", values[i]);
  }
  text_ += ']';
  return *this;
}

JsonLine& JsonLine::texts(std::string_view name, const std::vector<std::string>& values) {
  key(name);
  text_ += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) text_ += ',';
    append_json_string(text_, values[i]);
  }
  text_ += ']';
  return *this;
}

}  // namespace perennial
