#pragma once
// Small text helpers shared by validation and the command line.

#include <string>
#include <string_view>
#include <vector>

namespace perennial {

/// The candidate closest to `word` by edit distance, or empty when none is close enough
/// to be a plausible typo.
std::string nearest_name(std::string_view word, const std::vector<std::string>& candidates);
/// Up to `count` candidates close enough to be plausible typos of `word`, closest first.
std::vector<std::string> nearest_names(std::string_view word, const std::vector<std::string>& candidates,
                                       std::size_t count);

/// Shell-style glob: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`; everything else is literal.
bool glob_match(std::string_view pattern, std::string_view text);
bool has_glob_chars(std::string_view pattern);

}  // namespace perennial
