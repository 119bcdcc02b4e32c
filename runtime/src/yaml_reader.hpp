#pragma once
// Reader: walks a campaign file's YAML tree and records every problem with its position
// (file, line, column, field path) instead of stopping at the first one. Internal to the
// loader's source files.

#include <perennial/diagnostics.hpp>
#include <perennial/source_location.hpp>
#include <perennial/text.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include "yaml_document.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace perennial::loader {

// A field's dotted path as messages name it (`stages.ssp-4.5.outputs.tas.units`, `after[2]`),
// put together only when a message needs it: reading a 100,000-stage campaign names millions
// of fields and reports none, and building each name took a tenth of the time. Holds views:
// it lives no longer than the call it is passed to (a temporary std::string argument does).
class FieldPath {
 public:
  FieldPath(const std::string& whole) : base_(whole) {}  // implicit: any field name already built
  FieldPath(const char* whole) : base_(whole) {}
  FieldPath(std::string_view parent, std::string_view key) : base_(parent), key_(key) {}
  /// The same field's item `index` (`after[2]`).
  FieldPath item(std::size_t index) const {
    FieldPath f = *this;
    f.index_ = index;
    return f;
  }

  std::string str() const {
    std::string out(base_);
    if (!key_.empty()) {
      if (!out.empty()) out += '.';
      out += key_;
    }
    if (index_ != kNoIndex) out += fmt::format("[{}]", index_);
    return out;
  }
  operator std::string() const { return str(); }

 private:
  static constexpr std::size_t kNoIndex = static_cast<std::size_t>(-1);
  std::string_view base_;
  std::string_view key_;
  std::size_t index_ = kNoIndex;
};

/// `parent.key`, named only if a message needs it.
inline FieldPath sub(std::string_view parent, std::string_view key) { return FieldPath(parent, key); }

// Walks the YAML tree, recording every problem with its position instead of stopping at
// the first one: a scientist fixing a campaign wants the whole list at once.
class Reader {
 public:
  Reader(std::string file, Diagnostics& diagnostics) : file_(std::move(file)), diag_(diagnostics) {}

  SourceLocation at(const yaml::Node& node) const {
    const yaml::Mark mark = node.Mark();
    if (mark.is_null()) return {file_, 0, 0};
    return {file_, mark.line + 1, mark.column + 1};
  }
  void error(const SourceLocation& where, const FieldPath& field, const std::string& message) {
    diag_.add(where, field.str(), message);
  }
  void error(const yaml::Node& node, const FieldPath& field, const std::string& message) {
    error(at(node), field, message);
  }

  // Reports keys outside `allowed`, suggesting the nearest valid name.
  void check_keys(const yaml::Node& map, const FieldPath& field, const std::vector<std::string>& allowed) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      const std::string_view text = it->first.text();
      // Lengths first: a stage's ten keys against thirty names, a hundred thousand times.
      if (std::any_of(allowed.begin(), allowed.end(),
                      [&](const std::string& name) { return name.size() == text.size() && name == text; })) {
        continue;
      }
      const std::string key(text);
      std::string hint = nearest_name(key, allowed);
      std::string message = fmt::format("unknown field '{}'", key);
      if (!hint.empty()) message += fmt::format("; did you mean '{}'?", hint);
      else message += fmt::format(" (valid: {})", fmt::join(allowed, ", "));
      error(it->first, join(field.str(), key), message);
    }
  }

  bool require_map(const yaml::Node& node, const FieldPath& field) {
    if (node.IsMap()) return true;
    error(node, field, "must be a mapping of `key: value` pairs");
    return false;
  }

  std::optional<std::string> scalar(const yaml::Node& node, const FieldPath& field) {
    if (node.IsScalar()) return node.Scalar();
    error(node, field, "must be a single value");
    return std::nullopt;
  }

  std::optional<std::string> nonempty_string(const yaml::Node& node, const FieldPath& field) {
    auto text = scalar(node, field);
    if (text && text->empty()) {
      error(node, field, "must not be empty");
      return std::nullopt;
    }
    return text;
  }

  // A number from `minimum` to `maximum`. An integer type also reads `1e3`, never `2.5`; a
  // value out of bounds or too long for any machine type is an error naming the bound.
  template <class T>
  std::optional<T> number(const yaml::Node& node, const FieldPath& field, T minimum, T maximum) {
    auto text = scalar(node, field);
    if (!text) return std::nullopt;
    constexpr bool whole = std::is_integral_v<T>;
    const std::string kind = whole ? "a whole number" : "a number";
    auto fail = [&](const std::string& rule, bool quote) -> std::optional<T> {
      error(node, field, fmt::format("must be {}, not {}", rule, quote ? "'" + *text + "'" : *text));
      return std::nullopt;
    };
    auto below = [&] { return fail(fmt::format("{}at least {}", whole ? "a whole number of " : "", minimum), false); };
    auto above = [&] { return fail(fmt::format("at most {}", maximum), false); };
    std::string_view digits = *text;
    if (digits.starts_with('+')) digits.remove_prefix(1);
    const char* first = digits.data();
    const char* last = first + digits.size();
    if constexpr (whole) {  // exactly, so that 2^53 + 1 is not rounded into range
      T exact{};
      if (auto [end, ec] = std::from_chars(first, last, exact); ec == std::errc() && end == last) {
        if (exact < minimum) return below();
        if (exact > maximum) return above();
        return exact;
      }
    }
    double value = 0.0;
    const auto [end, ec] = std::from_chars(first, last, value);
    if (digits.empty() || end != last || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
      return fail(kind, true);
    }
    if (ec == std::errc::result_out_of_range) {  // beyond a double: huge, unless a negative exponent
      const bool tiny = digits.find("e-") != std::string_view::npos || digits.find("E-") != std::string_view::npos;
      if (!tiny) return digits.starts_with('-') ? below() : above();
      value = 0.0;
    }
    if (!std::isfinite(value)) return fail(whole ? kind : "a finite number", true);
    if (value < static_cast<double>(minimum)) return below();
    if (value > static_cast<double>(maximum)) return above();
    if (whole && value != std::floor(value)) return fail(kind, false);
    return static_cast<T>(value);
  }

  std::optional<bool> boolean(const yaml::Node& node, const FieldPath& field) {
    auto text = scalar(node, field);
    if (!text) return std::nullopt;
    if (*text == "true" || *text == "True" || *text == "yes") return true;
    if (*text == "false" || *text == "False" || *text == "no") return false;
    error(node, field, fmt::format("'{}' is not true or false", *text));
    return std::nullopt;
  }

  std::vector<std::string> string_list(const yaml::Node& node, const FieldPath& field) {
    std::vector<std::string> out;
    if (node.IsScalar()) {  // a single item may be written without brackets
      out.push_back(node.Scalar());
      return out;
    }
    if (!node.IsSequence()) {
      error(node, field, "must be a list");
      return out;
    }
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (auto s = nonempty_string(node[i], field.item(i))) out.push_back(*s);
    }
    return out;
  }

  static std::string join(const std::string& parent, const std::string& key) {
    return parent.empty() ? key : parent + "." + key;
  }

 private:
  SourceFile file_;  // shared by every location the reader makes
  Diagnostics& diag_;
};

}  // namespace perennial::loader
