#pragma once
// SourceLocation: a place in a campaign file, so that every error can point at its line.
// SourceFile: the file's name as locations hold it, one string shared by all of them.

#include <perennial/serialization.hpp>
#include <fmt/core.h>

#include <compare>
#include <ostream>
#include <string>
#include <string_view>

namespace perennial {

/// A campaign file's name as every location in it holds it: a pointer to one interned copy
/// of the name, kept for the life of the process. A 100,000-stage campaign holds over a
/// million locations; a copy of the path in each took a fifth of the memory validating it
/// needed, and a shared_ptr's reference count an atomic add and subtract per location.
/// Reads as a `const std::string&`; "" when default-constructed.
class SourceFile {
 public:
  SourceFile() = default;
  SourceFile(std::string_view name) : name_(intern(name)) {}  // implicit: a name
  SourceFile(const std::string& name) : SourceFile(std::string_view(name)) {}
  SourceFile(const char* name) : SourceFile(std::string_view(name)) {}

  const std::string& str() const { return name_ ? *name_ : empty(); }
  operator const std::string&() const { return str(); }

  friend bool operator==(const SourceFile& a, const SourceFile& b) { return a.name_ == b.name_ || a.str() == b.str(); }
  friend std::strong_ordering operator<=>(const SourceFile& a, const SourceFile& b) { return a.str() <=> b.str(); }
  friend std::ostream& operator<<(std::ostream& out, const SourceFile& file) { return out << file.str(); }

  template <class Archive> void serialize(Archive& ar, unsigned) {
    std::string text = str();
    ar & text;
    if constexpr (Archive::is_loading::value) *this = SourceFile(text);
  }

 private:
  // The one copy of `name` (thread-safe; a process names few files, never freed).
  static const std::string* intern(std::string_view name);
  static const std::string& empty() {
    static const std::string none;
    return none;
  }
  const std::string* name_ = nullptr;
};

/// A place in a campaign file; line and column are 1-based (0 when unknown).
struct SourceLocation {
  SourceFile file;
  int line = 0;
  int column = 0;

  template <class Archive> void serialize(Archive& ar, unsigned) { ar & file & line & column; }
};

}  // namespace perennial

PERENNIAL_MESSAGE_SERIALIZATION(perennial::SourceFile)
PERENNIAL_MESSAGE_SERIALIZATION(perennial::SourceLocation)

template <> struct fmt::formatter<perennial::SourceFile> : fmt::formatter<std::string_view> {
  template <class Context> auto format(const perennial::SourceFile& file, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(file.str(), ctx);
  }
};
