#pragma once
// Diagnostic: one problem found in a campaign before anything runs, printed as
// `FILE:LINE:COLUMN: field: message` so editors and CI logs can jump to it.

#include <perennial/campaign.hpp>

#include <string>
#include <vector>

namespace perennial {

struct Diagnostic {
  SourceLocation where;
  std::string field;    ///< e.g. `stages.ssp-{forcing}.inputs.initial`
  std::string message;

  std::string to_string() const;
};

class Diagnostics {
 public:
  void add(SourceLocation where, std::string field, std::string message);
  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  const std::vector<Diagnostic>& items() const { return items_; }
  /// Sorted by file position, one per line, each ending in '\n'.
  std::string to_string() const;

 private:
  std::vector<Diagnostic> items_;
};

}  // namespace perennial
