#include <perennial/campaign.hpp>
#include <perennial/diagnostics.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <sstream>

namespace perennial {

const std::string* SourceFile::intern(std::string_view name) {
  static std::mutex lock;
  static auto* names = new std::set<std::string, std::less<>>();  // never destroyed: locations outlive statics
  const std::lock_guard<std::mutex> hold(lock);
  auto it = names->find(name);
  if (it == names->end()) it = names->emplace(name).first;
  return &*it;
}

void FieldLocations::set(std::string_view field, const SourceLocation& where) {
  if (entries_.empty()) file_ = where.file;
  auto it = std::lower_bound(entries_.begin(), entries_.end(), field,
                             [](const Entry& entry, std::string_view f) { return entry.field < f; });
  if (it == entries_.end() || it->field != field) it = entries_.insert(it, Entry{std::string(field)});
  it->line = where.line;
  it->column = where.column;
}

std::optional<SourceLocation> FieldLocations::find(std::string_view field) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), field,
                             [](const Entry& entry, std::string_view f) { return entry.field < f; });
  if (it == entries_.end() || it->field != field) return std::nullopt;
  return SourceLocation{file_, it->line, it->column};
}

SourceLocation StageSpec::location_of(std::string_view field) const {
  auto found = field_where.find(field);
  return found ? *found : where;
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
