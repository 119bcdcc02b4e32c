#include <perennial/calendar.hpp>

#include <utility>

namespace perennial {

namespace {

const std::vector<std::pair<std::string, double>> kCalendars = {
    {"365_day", 365.0},   {"noleap", 365.0},    {"366_day", 366.0},  {"all_leap", 366.0},
    {"360_day", 360.0},   {"gregorian", 365.2425}, {"standard", 365.2425}, {"proleptic_gregorian", 365.2425},
    {"julian", 365.25},
};

}  // namespace

std::optional<Calendar> calendar_named(const std::string& name) {
  for (const auto& [n, days] : kCalendars) {
    if (n == name) return Calendar{n, days};
  }
  return std::nullopt;
}

std::vector<std::string> calendar_names() {
  std::vector<std::string> out;
  for (const auto& [n, days] : kCalendars) out.push_back(n);
  return out;
}

}  // namespace perennial
