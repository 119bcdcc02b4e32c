#include <perennial/text.hpp>

#include <algorithm>
#include <numeric>
#include <optional>
#include <utility>

namespace perennial {

namespace {
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}
}  // namespace

std::string nearest_name(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& candidate : candidates) {
    std::size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

std::vector<std::string> nearest_names(std::string_view word, const std::vector<std::string>& candidates,
                                       std::size_t count) {
  const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  std::vector<std::pair<std::size_t, std::string>> close;
  for (const auto& candidate : candidates) {
    if (const std::size_t d = edit_distance(word, candidate); d <= limit) close.emplace_back(d, candidate);
  }
  std::stable_sort(close.begin(), close.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < close.size() && i < count; ++i) out.push_back(close[i].second);
  return out;
}

bool has_glob_chars(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative matcher with one backtrack point for the last `*`: linear in practice.
  std::size_t p = 0, t = 0, star = std::string_view::npos, star_text = 0;
  auto match_class = [&](std::size_t& pi, char c) {
    // pattern[pi] == '['; advances pi past the class and says whether c is in it.
    std::size_t i = pi + 1;
    bool negate = i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^');
    if (negate) ++i;
    bool found = false;
    bool first = true;
    while (i < pattern.size() && (first || pattern[i] != ']')) {
      first = false;
      if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
        if (pattern[i] <= c && c <= pattern[i + 2]) found = true;
        i += 3;
      } else {
        if (pattern[i] == c) found = true;
        ++i;
      }
    }
    if (i >= pattern.size()) return std::optional<bool>{};  // unterminated: literal '['
    pi = i + 1;
    return std::optional<bool>{found != negate};
  };
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
      continue;
    }
    if (p < pattern.size()) {
      if (pattern[p] == '?') { ++p; ++t; continue; }
      if (pattern[p] == '[') {
        std::size_t next = p;
        auto in_class = match_class(next, text[t]);
        if (in_class && *in_class) { p = next; ++t; continue; }
        if (!in_class && text[t] == '[') { ++p; ++t; continue; }
      } else if (pattern[p] == text[t]) {
        ++p; ++t; continue;
      }
    }
    if (star == std::string_view::npos) return false;
    p = star + 1;
    t = ++star_text;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace perennial
