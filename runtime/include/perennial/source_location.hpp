#pragma once
// SourceLocation: a place in a campaign file, so that every error can point at its line.
// SourceFile: the file's name as locations hold it, one string shared by all of them.

#include <fmt/core.h>

#include <compare>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

namespace perennial {

/// A campaign file's name, shared by every location in it: a 100,000-stage campaign holds
/// over a million locations, and a copy of the path in each took a fifth of the memory
/// validating it needed. Reads as a `const std::string&`; "" when default-constructed.
class SourceFile {
 public:
  SourceFile() = default;
  SourceFile(std::string name) : name_(std::make_shared<const std::string>(std::move(name))) {}  // implicit: a name
  SourceFile(const char* name) : SourceFile(std::string(name)) {}

  const std::string& str() const { return name_ ? *name_ : empty(); }
  operator const std::string&() const { return str(); }

  friend bool operator==(const SourceFile& a, const SourceFile& b) { return a.name_ == b.name_ || a.str() == b.str(); }
  friend std::strong_ordering operator<=>(const SourceFile& a, const SourceFile& b) { return a.str() <=> b.str(); }
  friend std::ostream& operator<<(std::ostream& out, const SourceFile& file) { return out << file.str(); }

  template <class Archive> void serialize(Archive& ar, unsigned) {
    std::string text = str();
    ar & text;
    if constexpr (Archive::is_loading::value) *this = SourceFile(std::move(text));
  }

 private:
  static const std::string& empty() {
    static const std::string none;
    return none;
  }
  std::shared_ptr<const std::string> name_;
};

/// A place in a campaign file; line and column are 1-based (0 when unknown).
struct SourceLocation {
  SourceFile file;
  int line = 0;
  int column = 0;

  template <class Archive> void serialize(Archive& ar, unsigned) { ar & file & line & column; }
};

}  // namespace perennial

template <> struct fmt::formatter<perennial::SourceFile> : fmt::formatter<std::string_view> {
  template <class Context> auto format(const perennial::SourceFile& file, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(file.str(), ctx);
  }
};
