#include <perennial/cluster.hpp>
#include <perennial/errors.hpp>

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <regex>

namespace perennial {

std::size_t ClusterSpec::node_count() const {
  std::size_t n = 0;
  for (const auto& c : classes) n += c.names.size();
  return n;
}

namespace {

// One bracket's list, `0001-0004,0007`, as strings with the padding of each range's start.
std::vector<std::string> expand_bracket(const std::string& pattern, const std::string& inside, std::size_t limit) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= inside.size()) {
    const auto comma = inside.find(',', start);
    const std::string part = inside.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    static const std::regex range(R"((\d+)(?:-(\d+))?)");
    std::smatch m;
    if (!std::regex_match(part, m, range)) {
      throw Error(fmt::format("host list '{}': '{}' is not a number or a range like 001-100", pattern, part));
    }
    const std::string first = m[1].str();
    const std::string last = m[2].matched ? m[2].str() : first;
    unsigned long long lo = 0, hi = 0;
    if (std::from_chars(first.data(), first.data() + first.size(), lo).ec != std::errc() ||
        std::from_chars(last.data(), last.data() + last.size(), hi).ec != std::errc()) {
      throw Error(fmt::format("host list '{}': '{}' holds a number too large to be a host number", pattern, part));
    }
    if (hi < lo) throw Error(fmt::format("host list '{}': range {} runs backwards", pattern, part));
    if (hi - lo + 1 > limit) throw Error(fmt::format("host list '{}' names more than {} hosts", pattern, limit));
    for (unsigned long long v = lo; v <= hi; ++v) out.push_back(fmt::format("{:0{}}", v, first.size()));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

std::vector<std::string> expand_hostlist(const std::string& pattern, std::size_t limit) {
  if (pattern.empty()) throw Error("host list is empty");
  const auto open = pattern.find('[');
  if (open == std::string::npos) {
    if (pattern.find(']') != std::string::npos) throw Error(fmt::format("host list '{}': ']' without '['", pattern));
    return {pattern};
  }
  const auto close = pattern.find(']', open);
  if (close == std::string::npos) throw Error(fmt::format("host list '{}': '[' without ']'", pattern));
  const std::string prefix = pattern.substr(0, open);
  const auto middles = expand_bracket(pattern, pattern.substr(open + 1, close - open - 1), limit);
  const std::string rest = pattern.substr(close + 1);
  const auto rests = rest.empty() ? std::vector<std::string>{""} : expand_hostlist(rest, limit);
  std::vector<std::string> out;
  for (const auto& m : middles) {
    for (const auto& r : rests) {
      if (out.size() >= limit) throw Error(fmt::format("host list '{}' names more than {} hosts", pattern, limit));
      out.push_back(prefix + m + r);
    }
  }
  return out;
}

std::optional<std::uint64_t> parse_bytes(const std::string& text) {
  static const std::regex amount(R"(\s*([0-9]*\.?[0-9]+)\s*([KMGTP]?)(i?)(B?)\s*)", std::regex::icase);
  std::smatch m;
  if (!std::regex_match(text, m, amount)) return std::nullopt;
  const std::string digits = m[1].str();
  double value = 0.0;
  // from_chars, not std::stod: a number too long for a double is an amount too large, not an exception.
  if (std::from_chars(digits.data(), digits.data() + digits.size(), value).ec != std::errc()) {
    return std::numeric_limits<std::uint64_t>::max();
  }
  const std::string unit = m[2].str();
  const bool binary = m[3].matched && !m[3].str().empty();
  if (binary && unit.empty()) return std::nullopt;  // "iB" alone
  const double base = binary ? 1024.0 : 1000.0;
  int power = 0;
  if (!unit.empty()) power = static_cast<int>(std::string("KMGTP").find(static_cast<char>(std::toupper(unit[0])))) + 1;
  const double bytes = value * std::pow(base, power);
  if (bytes > 1.8e19) return std::numeric_limits<std::uint64_t>::max();
  return static_cast<std::uint64_t>(std::llround(bytes));
}

std::string format_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.3g} {}", v, units[u]);
}

}  // namespace perennial
