#include <perennial/output_metadata.hpp>

#include <perennial/campaign.hpp>

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <regex>

namespace perennial {

std::string standard_name_problem(std::string_view name) {
  if (name.empty()) return "a standard name must not be empty";
  if (name.front() < 'a' || name.front() > 'z') {
    return fmt::format("'{}' is not a CF standard name: it must start with a lowercase letter", name);
  }
  for (const char c : name) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') continue;
    return fmt::format("'{}' is not a CF standard name: use lowercase letters, digits and underscores "
                       "(e.g. air_temperature)",
                       name);
  }
  return {};
}

namespace {

const std::regex& date_form() {
  static const std::regex form(R"((\d{1,4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2}):(\d{2}))?)");
  return form;
}

int days_in_month(int year, int month, std::string_view calendar) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (calendar == "360_day") return 30;
  if (month != 2) return kDays[month - 1];
  bool leap = false;
  if (calendar == "366_day" || calendar == "all_leap") leap = true;
  else if (calendar == "julian") leap = year % 4 == 0;
  else if (calendar == "gregorian" || calendar == "standard" || calendar == "proleptic_gregorian")
    leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return leap ? 29 : 28;
}

}  // namespace

std::string start_date_problem(std::string_view date, std::string_view calendar) {
  const std::string text(date);
  std::smatch m;
  if (!std::regex_match(text, m, date_form())) {
    return fmt::format("'{}' is not a date of the form YYYY-MM-DD or 'YYYY-MM-DD hh:mm:ss'", date);
  }
  const auto number = [&](int i) { return m[i].matched ? std::stoi(m[i].str()) : 0; };
  const int year = number(1), month = number(2), day = number(3);
  if (month < 1 || month > 12) return fmt::format("'{}': month {} does not exist", date, month);
  if (day < 1 || day > days_in_month(year, month, calendar)) {
    return fmt::format("'{}': day {} does not exist in month {} of the {} calendar", date, day, month, calendar);
  }
  if (number(4) > 23 || number(5) > 59 || number(6) > 59) return fmt::format("'{}': no such time of day", date);
  return {};
}

std::string normalized_start_date(std::string_view date) {
  const std::string text(date);
  std::smatch m;
  if (!std::regex_match(text, m, date_form())) return text;
  const auto number = [&](int i) { return m[i].matched ? std::stoi(m[i].str()) : 0; };
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", number(1), number(2), number(3), number(4), number(5),
                     number(6));
}

std::string describe_hints(const MpiIoHints& asked, const MpiIoHints& reported) {
  std::string out;
  for (const auto& [key, value] : asked) {
    auto it = reported.find(key);
    out += fmt::format("{}{}={} ({})", out.empty() ? "" : ", ", key, value,
                       it == reported.end() ? "not reported" : "MPI-IO: " + it->second);
  }
  return out;
}

OutputMetadata output_metadata_for(const Campaign& campaign, const StageSpec& stage) {
  OutputMetadata m;
  const OutputConventions& cf = campaign.output_conventions;
  m.global.emplace_back("Conventions", cf.conventions.empty() ? std::string(kDefaultConventions) : cf.conventions);
  for (const auto& attribute : cf.attributes) m.global.push_back(attribute);
  m.scenario = stage.scenario;
  const std::string& start = !stage.start_date.empty() ? stage.start_date : cf.start_date;
  m.time_units = "seconds since " + (start.empty() ? std::string(kDefaultStartDate) : normalized_start_date(start));
  m.calendar = campaign.calendar.name;
  return m;
}

}  // namespace perennial
