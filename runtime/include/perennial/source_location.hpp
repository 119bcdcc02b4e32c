#pragma once
// SourceLocation: a place in a campaign file, so that every error can point at its line.

#include <string>

namespace perennial {

/// A place in a campaign file; line and column are 1-based (0 when unknown).
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;

  template <class Archive> void serialize(Archive& ar, unsigned) { ar & file & line & column; }
};

}  // namespace perennial
