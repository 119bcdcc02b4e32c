#include <perennial/errors.hpp>
#include <perennial/parameters.hpp>

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdint>

namespace perennial {

const std::vector<std::string>& Parameters::lookup(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw ParameterError(stage_, name, "is missing from the stage's parameters");
  return it->second;
}

namespace {

// Converts one scalar's text; std::from_chars is locale-independent and must consume it all.
template <class T>
T convert(const std::string& stage, const std::string& name, const std::string& text) {
  if constexpr (std::is_same_v<T, std::string>) {
    return text;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (text == "true" || text == "True" || text == "yes") return true;
    if (text == "false" || text == "False" || text == "no") return false;
    throw ParameterError(stage, name, fmt::format("is '{}', not true or false", text));
  } else {
    T value{};
    const char* first = text.data();
    const char* last = first + text.size();
    if (!text.empty() && *first == '+') ++first;
    auto [end, ec] = std::from_chars(first, last, value);
    if (ec != std::errc() || end != last || text.empty()) {
      constexpr const char* kind = std::is_integral_v<T> ? "an integer" : "a number";
      throw ParameterError(stage, name, fmt::format("is '{}', not {}", text, kind));
    }
    return value;
  }
}

template <class T> struct is_vector : std::false_type {};
template <class T> struct is_vector<std::vector<T>> : std::true_type {};

}  // namespace

template <class T>
T Parameters::get(const std::string& name) const {
  const auto& items = lookup(name);
  if constexpr (is_vector<T>::value) {
    T out;
    for (const auto& item : items) out.push_back(convert<typename T::value_type>(stage_, name, item));
    return out;
  } else {
    if (items.size() != 1) {
      throw ParameterError(stage_, name, fmt::format("is a list of {} values, not a single value", items.size()));
    }
    return convert<T>(stage_, name, items.front());
  }
}

void Parameters::fill_defaults(const std::map<std::string, ParameterSpec>& declared) {
  for (const auto& [name, spec] : declared) {
    if (!contains(name) && spec.default_value && !spec.default_value->empty()) set(name, *spec.default_value);
  }
}

namespace {

const char* type_name(ParameterType type) {
  switch (type) {
    case ParameterType::integer: return "integer";
    case ParameterType::number: return "number";
    case ParameterType::boolean: return "boolean";
    case ParameterType::string: return "string";
  }
  return "?";
}

// `>= 0`, `> 0`, `<= 1`, `0 to 1`; empty when unbounded.
std::string range_text(const ParameterSpec& spec) {
  const std::string low = spec.min ? fmt::format("{} {}", spec.min_exclusive ? ">" : ">=", *spec.min) : "";
  if (!spec.max) return low;
  if (!spec.min) return fmt::format("<= {}", *spec.max);
  return spec.min_exclusive ? fmt::format("{} and <= {}", low, *spec.max) : fmt::format("{} to {}", *spec.min, *spec.max);
}

// One item against the spec's type and range. Reads numbers as Parameters::get does, so
// that what validates is what the kernel can read.
std::optional<std::string> item_problem(const ParameterSpec& spec, const std::string& text) {
  auto is = [&](const std::string& rule, bool quote = true) {
    return fmt::format("must be {}, not {}", rule, quote ? "'" + text + "'" : text);
  };
  double value = 0.0;
  switch (spec.type) {
    case ParameterType::string:
      return std::nullopt;
    case ParameterType::boolean:
      if (text == "true" || text == "True" || text == "yes" || text == "false" || text == "False" || text == "no") {
        return std::nullopt;
      }
      return is("true or false");
    case ParameterType::integer: {
      std::int64_t whole = 0;
      const char* first = text.data() + (text.starts_with('+') ? 1 : 0);
      const char* last = text.data() + text.size();
      const auto [end, ec] = std::from_chars(first, last, whole);
      if (text.empty() || ec != std::errc() || end != last) {
        const bool numeric = std::from_chars(first, last, value).ptr == last && !text.empty();
        return is("a whole number", !numeric);
      }
      value = static_cast<double>(whole);
      break;
    }
    case ParameterType::number: {
      const char* first = text.data() + (text.starts_with('+') ? 1 : 0);
      const char* last = text.data() + text.size();
      const auto [end, ec] = std::from_chars(first, last, value);
      if (text.empty() || ec != std::errc() || end != last) return is("a number");
      if (!std::isfinite(value)) return is("a finite number");
      break;
    }
  }
  const bool low = spec.min && (spec.min_exclusive ? value <= *spec.min : value < *spec.min);
  if (low) return is(fmt::format("{} {}", spec.min_exclusive ? "greater than" : "at least", *spec.min), false);
  if (spec.max && value > *spec.max) return is(fmt::format("at most {}", *spec.max), false);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> parameter_problem(const ParameterSpec& spec, const std::vector<std::string>& items) {
  if (!spec.list && items.size() != 1) {
    return fmt::format("must be a single {}, not a list of {} values", type_name(spec.type), items.size());
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (auto problem = item_problem(spec, items[i])) {
      return spec.list ? fmt::format("item {}: {}", i + 1, *problem) : *problem;
    }
  }
  return std::nullopt;
}

std::string describe(const ParameterSpec& spec) {
  std::string out = type_name(spec.type);
  if (spec.list) out = "list of " + out + "s";
  if (!spec.default_value) out += ", required";
  else if (spec.default_value->empty()) out += ", default derived";
  else out += ", default " + *spec.default_value;
  if (auto range = range_text(spec); !range.empty()) out += ", " + range;
  if (spec.units == "1") out += ", dimensionless";
  else if (!spec.units.empty()) out += ", in " + spec.units;
  return out;
}

template double Parameters::get<double>(const std::string&) const;
template float Parameters::get<float>(const std::string&) const;
template int Parameters::get<int>(const std::string&) const;
template long Parameters::get<long>(const std::string&) const;
template long long Parameters::get<long long>(const std::string&) const;
template unsigned long Parameters::get<unsigned long>(const std::string&) const;
template bool Parameters::get<bool>(const std::string&) const;
template std::string Parameters::get<std::string>(const std::string&) const;
template std::vector<double> Parameters::get<std::vector<double>>(const std::string&) const;
template std::vector<int> Parameters::get<std::vector<int>>(const std::string&) const;
template std::vector<std::string> Parameters::get<std::vector<std::string>>(const std::string&) const;

}  // namespace perennial
