#include <perennial/errors.hpp>
#include <perennial/parameters.hpp>

#include <fmt/format.h>

#include <charconv>
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
