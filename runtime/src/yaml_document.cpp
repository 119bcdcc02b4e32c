#include "yaml_document.hpp"

#include <fmt/format.h>
#include <yaml.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <unordered_map>

namespace perennial::yaml {

namespace {

// Owns a libyaml parser reading `text` (which must outlive it).
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {
    if (!yaml_parser_initialize(&parser_)) throw std::bad_alloc();
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  }
  ~Parser() { yaml_parser_delete(&parser_); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // The next event into `event` (which the caller then owns); throws ParseError.
  void next(yaml_event_t& event) {
    if (yaml_parser_parse(&parser_, &event)) return;
    if (parser_.error == YAML_MEMORY_ERROR) throw std::bad_alloc();
    throw ParseError(where(), message());
  }

 private:
  // The reader (bad UTF-8, control characters) knows only a byte offset: count the lines.
  Mark where() const {
    if (parser_.error != YAML_READER_ERROR) {
      return {static_cast<int>(std::min<std::size_t>(parser_.problem_mark.line, std::numeric_limits<int>::max())),
              static_cast<int>(std::min<std::size_t>(parser_.problem_mark.column, std::numeric_limits<int>::max()))};
    }
    const std::size_t offset = std::min(parser_.problem_offset, text_.size());
    const std::string_view before = text_.substr(0, offset);
    const auto newlines = std::count(before.begin(), before.end(), '\n');
    const auto line_start = before.rfind('\n');
    const std::size_t column = line_start == std::string_view::npos ? offset : offset - line_start - 1;
    return {static_cast<int>(std::min<std::ptrdiff_t>(newlines, std::numeric_limits<int>::max())),
            static_cast<int>(std::min<std::size_t>(column, std::numeric_limits<int>::max()))};
  }

  std::string message() const {
    std::string text = parser_.problem ? parser_.problem : "malformed YAML";
    if (parser_.error == YAML_READER_ERROR) {
      if (parser_.problem_value != -1) text += fmt::format(" (byte 0x{:02x})", parser_.problem_value);
      text += ": the file must be UTF-8 text";
    }
    if (parser_.context) {
      text += fmt::format(" ({} at line {}, column {})", parser_.context, parser_.context_mark.line + 1,
                          parser_.context_mark.column + 1);
    }
    return text;
  }

  std::string_view text_;
  yaml_parser_t parser_{};
};

// Owns one event, deleted when it leaves scope.
struct Event {
  yaml_event_t event{};
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() { yaml_event_delete(&event); }
};

// yaml-cpp's IsNullString: the plain scalars that are null rather than text.
bool null_text(std::string_view text) {
  return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

constexpr std::size_t kMostDepth = 1000;

std::uint32_t clamp32(std::size_t value, std::uint32_t most) {
  return static_cast<std::uint32_t>(std::min<std::size_t>(value, most));
}

}  // namespace

Document::Document(std::string_view text) {
  // Offsets into the scalar buffer are 32-bit; no campaign file comes near.
  if (text.size() >= std::numeric_limits<std::uint32_t>::max()) throw ParseError({0, 0}, "the file is larger than 4 GiB");
  // Generous upper bounds (a node takes at least two bytes of text): pages never written are
  // never resident, and a vector that never reallocates never holds two copies at once.
  items_.reserve(text.size() / 2 + 1);
  children_.reserve(text.size() / 2 + 1);
  scalars_.reserve(text.size());

  struct Open {
    std::uint32_t item;
    std::size_t first_pending;  // its children so far: pending[first_pending...]
    bool flow_map;
  };
  std::vector<Open> open;
  std::vector<std::uint32_t> pending;
  std::vector<std::uint32_t> empty_values;  // placed where the next event starts, as yaml-cpp does
  std::unordered_map<std::string, std::uint32_t> anchors;

  auto add = [&](Kind kind, const yaml_mark_t& mark, std::uint32_t begin, std::uint32_t count) {
    if (items_.size() >= std::numeric_limits<std::uint32_t>::max()) throw ParseError({0, 0}, "too many YAML nodes");
    const auto index = static_cast<std::uint32_t>(items_.size());
    items_.push_back({clamp32(mark.line, kNoLine - 1),
                      clamp32(mark.column, kColumnMask) | (static_cast<std::uint32_t>(kind) << kKindShift), begin, count});
    return index;
  };
  auto anchor = [&](const yaml_char_t* name, std::uint32_t index) {
    if (name) anchors[reinterpret_cast<const char*>(name)] = index;
  };
  // YAML forbids a key twice in one mapping, but libyaml lets it through and a reader would
  // take one of the two values without a word: a `steps:` typed twice is another run than
  // the author meant. Scalar keys only (a campaign file has no other kind). Maps of a few
  // keys, as a stage's are, are compared pairwise; larger ones through a set.
  std::unordered_map<std::string_view, std::uint32_t> seen_keys;
  auto refuse_duplicate_keys = [&](std::size_t first) {
    const std::size_t pairs = (pending.size() - first) / 2;
    if (pairs < 2) return;
    auto key_text = [&](std::size_t pair) -> std::optional<std::string_view> {
      const std::uint32_t key = pending[first + 2 * pair];
      if (kind(key) != Kind::scalar) return std::nullopt;
      return std::string_view(scalars_.data() + items_[key].begin, items_[key].count);
    };
    auto refuse = [&](std::size_t earlier, std::size_t later) {
      const yaml::Mark again = Node(this, pending[first + 2 * later]).Mark();
      throw ParseError(again, fmt::format("duplicate key '{}' in this mapping (also at line {}); a key may appear once",
                                          *key_text(later), Node(this, pending[first + 2 * earlier]).Mark().line + 1));
    };
    if (pairs <= 16) {
      for (std::size_t later = 1; later < pairs; ++later) {
        const auto b = key_text(later);
        if (!b) continue;
        for (std::size_t earlier = 0; earlier < later; ++earlier) {
          const auto a = key_text(earlier);
          if (a && *a == *b) refuse(earlier, later);
        }
      }
      return;
    }
    seen_keys.clear();
    for (std::size_t pair = 0; pair < pairs; ++pair) {
      const auto k = key_text(pair);
      if (!k) continue;
      const auto [at, fresh] = seen_keys.emplace(*k, static_cast<std::uint32_t>(pair));
      if (!fresh) refuse(at->second, pair);
    }
  };

  Parser parser(text);
  while (true) {
    Event e;
    parser.next(e.event);
    const yaml_event_t& ev = e.event;
    for (const auto index : empty_values) {
      items_[index].line = clamp32(ev.start_mark.line, kNoLine - 1);
      items_[index].column_and_kind = clamp32(ev.start_mark.column, kColumnMask) |
                                      (items_[index].column_and_kind & ~kColumnMask);
    }
    empty_values.clear();
    std::optional<std::uint32_t> done;  // a node now complete: a child of the open collection
    switch (ev.type) {
      case YAML_STREAM_START_EVENT:
      case YAML_NO_EVENT:
        break;
      case YAML_DOCUMENT_START_EVENT:
        break;
      case YAML_DOCUMENT_END_EVENT:
      case YAML_STREAM_END_EVENT:
        // yaml-cpp's Load reads the first document only; an empty stream is a null root
        // with no position.
        if (items_.empty()) items_.push_back({kNoLine, static_cast<std::uint32_t>(Kind::null) << kKindShift, 0, 0});
        return;
      case YAML_SCALAR_EVENT: {
        const std::string_view value(reinterpret_cast<const char*>(ev.data.scalar.value), ev.data.scalar.length);
        const bool plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev.data.scalar.tag == nullptr;
        std::uint32_t index;
        if (plain && null_text(value)) {
          index = add(Kind::null, ev.start_mark, 0, 0);
          // Nothing written: yaml-cpp placed it where the next token starts, which libyaml's
          // mark already is in a flow mapping (the `,` or `}` after the key).
          const bool flow_value =
              !open.empty() && open.back().flow_map && (pending.size() - open.back().first_pending) % 2 == 1;
          if (ev.start_mark.index == ev.end_mark.index && !flow_value) empty_values.push_back(index);
        } else {
          index = add(Kind::scalar, ev.start_mark, static_cast<std::uint32_t>(scalars_.size()),
                      static_cast<std::uint32_t>(value.size()));
          scalars_.append(value);
        }
        anchor(ev.data.scalar.anchor, index);
        done = index;
        break;
      }
      case YAML_ALIAS_EVENT: {
        const auto it = anchors.find(reinterpret_cast<const char*>(ev.data.alias.anchor));
        if (it == anchors.end()) {
          throw ParseError({static_cast<int>(ev.start_mark.line), static_cast<int>(ev.start_mark.column)},
                           "the referenced anchor is not defined");
        }
        done = it->second;
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        const bool map = ev.type == YAML_MAPPING_START_EVENT;
        // libyaml's scanner checks every open flow level at every token: 100,000 `[` took
        // minutes. yaml-cpp refused nesting beyond 2000; a campaign needs less than ten.
        if (open.size() >= kMostDepth) {
          throw ParseError({static_cast<int>(std::min<std::size_t>(ev.start_mark.line, std::numeric_limits<int>::max())),
                            static_cast<int>(std::min<std::size_t>(ev.start_mark.column, std::numeric_limits<int>::max()))},
                           fmt::format("nested deeper than {} levels", kMostDepth));
        }
        const auto index = add(map ? Kind::map : Kind::sequence, ev.start_mark, 0, 0);
        anchor(map ? ev.data.mapping_start.anchor : ev.data.sequence_start.anchor, index);
        open.push_back({index, pending.size(), map && ev.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE});
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        const Open o = open.back();
        open.pop_back();
        if (ev.type == YAML_MAPPING_END_EVENT) refuse_duplicate_keys(o.first_pending);
        const std::size_t count = pending.size() - o.first_pending;
        if (children_.size() + count >= std::numeric_limits<std::uint32_t>::max()) {
          throw ParseError({0, 0}, "too many YAML nodes");
        }
        items_[o.item].begin = static_cast<std::uint32_t>(children_.size());
        items_[o.item].count = static_cast<std::uint32_t>(ev.type == YAML_MAPPING_END_EVENT ? count / 2 : count);
        children_.insert(children_.end(), pending.begin() + static_cast<std::ptrdiff_t>(o.first_pending), pending.end());
        pending.resize(o.first_pending);
        done = o.item;
        break;
      }
    }
    if (done && !open.empty()) pending.push_back(*done);
  }
}

std::string_view Node::text() const {
  if (!IsScalar()) return {};
  const auto& item = doc_->items_[index_];
  return std::string_view(doc_->scalars_.data() + item.begin, item.count);  // in range by construction
}

yaml::Mark Node::Mark() const {
  if (!doc_) return {};
  const auto& item = doc_->items_[index_];
  if (item.line == Document::kNoLine) return {};
  return {static_cast<int>(std::min<std::uint32_t>(item.line, std::numeric_limits<int>::max())),
          static_cast<int>(item.column_and_kind & Document::kColumnMask)};
}

std::size_t Node::size() const {
  if (!IsSequence() && !IsMap()) return 0;
  return doc_->items_[index_].count;
}

Node Node::operator[](std::string_view key) const {
  if (!IsMap()) return {};
  // The loader asks a stage's map of about ten entries for some thirty keys: lengths first,
  // then bytes, with no Node made per entry.
  const auto& item = doc_->items_[index_];
  const std::uint32_t* entry = doc_->children_.data() + item.begin;
  const char* text = doc_->scalars_.data();
  for (std::uint32_t i = 0; i < item.count; ++i, entry += 2) {
    const auto& k = doc_->items_[entry[0]];
    if (k.count != key.size() || doc_->kind(entry[0]) != Kind::scalar) continue;
    if (key.empty() || std::memcmp(text + k.begin, key.data(), key.size()) == 0) return Node(doc_, entry[1]);
  }
  return {};
}

Node Node::operator[](std::size_t index) const {
  if (!IsSequence() || index >= size()) return {};
  return Node(doc_, doc_->children_[doc_->items_[index_].begin + index]);
}

void NodeIterator::load() {
  if (position_ >= of_.size()) return;
  const auto& item = of_.doc_->items_[of_.index_];
  const auto* children = of_.doc_->children_.data() + item.begin;
  if (of_.IsSequence()) {
    static_cast<Node&>(entry_) = Node(of_.doc_, children[position_]);
  } else {
    entry_.first = Node(of_.doc_, children[2 * position_]);
    entry_.second = Node(of_.doc_, children[2 * position_ + 1]);
  }
}

}  // namespace perennial::yaml
