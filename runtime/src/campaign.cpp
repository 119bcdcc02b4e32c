#include <perennial/campaign.hpp>
#include <perennial/diagnostics.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

namespace perennial {

SourceLocation& FieldLocations::operator[](std::string_view field) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), field,
                             [](const value_type& entry, std::string_view f) { return entry.first < f; });
  if (it == entries_.end() || it->first != field) it = entries_.insert(it, {std::string(field), SourceLocation{}});
  return it->second;
}

FieldLocations::const_iterator FieldLocations::find(std::string_view field) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), field,
                             [](const value_type& entry, std::string_view f) { return entry.first < f; });
  return it != entries_.end() && it->first == field ? it : entries_.end();
}

const SourceLocation& StageSpec::location_of(const std::string& field) const {
  auto it = field_where.find(field);
  return it == field_where.end() ? where : it->second;
}

const OutputSpec* StageSpec::find_output(const std::string& output) const {
  for (const auto& o : outputs) {
    if (o.name == output) return &o;
  }
  return nullptr;
}

std::string Diagnostic::to_string() const {
  return fmt::format("{}:{}:{}: {}: {}", where.file, where.line, where.column, field, message);
}

void Diagnostics::add(SourceLocation where, std::string field, std::string message) {
  items_.push_back({std::move(where), std::move(field), std::move(message)});
}

std::string Diagnostics::to_string() const {
  std::vector<const Diagnostic*> sorted;
  for (const auto& d : items_) sorted.push_back(&d);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic* a, const Diagnostic* b) {
    return std::tie(a->where.file, a->where.line, a->where.column) <
           std::tie(b->where.file, b->where.line, b->where.column);
  });
  std::ostringstream out;
  for (const auto* d : sorted) out << d->to_string() << '\n';
  return out.str();
}

std::string StageSpec::what_runs() const {
  if (!command || command->command.empty()) return kernel;
  return "command:" + std::filesystem::path(command->command.front()).filename().string();
}

}  // namespace perennial
