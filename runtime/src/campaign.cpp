#include <perennial/campaign.hpp>
#include <perennial/diagnostics.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>

namespace perennial {

namespace {

// One copy of each text in `names`, never freed (what it hands out outlives statics), behind
// a per-thread cache: a campaign's hundred thousand stages repeat a few dozen field names,
// and two loader threads intern them at once without contending for the lock.
class TextPool {
 public:
  // A thread's own index of what it has interned from this pool already.
  using Seen = std::unordered_map<std::string_view, const std::string*>;

  const std::string* intern(std::string_view text, Seen& seen) {
    if (const auto it = seen.find(text); it != seen.end()) return it->second;
    const std::string* interned = nullptr;
    {
      const std::lock_guard<std::mutex> hold(lock_);
      auto it = names_.find(text);
      if (it == names_.end()) it = names_.emplace(text).first;
      interned = &*it;
    }
    seen.emplace(*interned, interned);
    return interned;
  }

 private:
  std::mutex lock_;
  std::set<std::string, std::less<>> names_;
};

TextPool& file_names() {
  static auto* pool = new TextPool();  // never destroyed: locations outlive statics
  return *pool;
}

// `kernel`, `parameters.forcing`: the names FieldLocations entries point to.
const std::string* intern_field(std::string_view field) {
  static auto* pool = new TextPool();
  thread_local TextPool::Seen seen;
  return pool->intern(field, seen);
}

}  // namespace

const std::string* SourceFile::intern(std::string_view name) {
  thread_local TextPool::Seen seen;
  return file_names().intern(name, seen);
}

void FieldLocations::set(std::string_view field, const SourceLocation& where) {
  if (entries_.empty()) file_ = where.file;
  auto it = std::lower_bound(entries_.begin(), entries_.end(), field,
                             [](const Entry& entry, std::string_view f) { return *entry.field < f; });
  if (it == entries_.end() || *it->field != field) it = entries_.insert(it, Entry{intern_field(field)});
  it->line = where.line;
  it->column = where.column;
}

std::optional<SourceLocation> FieldLocations::find(std::string_view field) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), field,
                             [](const Entry& entry, std::string_view f) { return *entry.field < f; });
  if (it == entries_.end() || *it->field != field) return std::nullopt;
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
