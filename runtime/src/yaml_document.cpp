#include "yaml_document.hpp"

#include <fmt/format.h>
#include <yaml.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stop_token>
#include <system_error>
#include <thread>
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

// Turns libyaml events into nodes, appending them to a Part. The first thread's builder writes
// the document's own nodes; the second thread's builds its part apart, starting inside an open
// block sequence (its `continuation` root, which makes no node of its own), with its lines
// counted from where its text starts. finish_with() then moves such a part to the end of the
// first.
class Document::Builder {
 public:
  Builder(Part& out, std::uint32_t line_base, bool continuation)
      : out_(out), line_base_(line_base), continuation_(continuation) {}

  enum class Step { more, finished };

  // The document is finished at its end or, for a continuation, when its root sequence closes.
  Step feed(const yaml_event_t& ev) {
    place_empty_values(ev.start_mark);
    std::optional<std::uint32_t> done;  // a node now complete: a child of the open collection
    switch (ev.type) {
      case YAML_STREAM_START_EVENT:
      case YAML_NO_EVENT:
      case YAML_DOCUMENT_START_EVENT:
        break;
      case YAML_DOCUMENT_END_EVENT:
      case YAML_STREAM_END_EVENT:
        // yaml-cpp's Load reads the first document only; an empty stream is a null root
        // with no position.
        if (out_.items.empty()) out_.items.push_back({kNoLine, static_cast<std::uint32_t>(Kind::null) << kKindShift, 0, 0});
        return Step::finished;
      case YAML_SCALAR_EVENT: {
        const std::string_view value(reinterpret_cast<const char*>(ev.data.scalar.value), ev.data.scalar.length);
        const bool plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev.data.scalar.tag == nullptr;
        std::uint32_t index;
        if (plain && null_text(value)) {
          index = add(Kind::null, ev.start_mark, 0, 0);
          // Nothing written: yaml-cpp placed it where the next token starts, which libyaml's
          // mark already is in a flow mapping (the `,` or `}` after the key).
          const bool flow_value =
              !open_.empty() && open_.back().flow_map && (pending_.size() - open_.back().first_pending) % 2 == 1;
          if (ev.start_mark.index == ev.end_mark.index && !flow_value) empty_values_.push_back(index);
        } else {
          index = add(Kind::scalar, ev.start_mark, static_cast<std::uint32_t>(out_.scalars.size()),
                      static_cast<std::uint32_t>(value.size()));
          out_.scalars.append(value);
        }
        anchor(ev.data.scalar.anchor, index);
        done = index;
        break;
      }
      case YAML_ALIAS_EVENT: {
        const auto it = anchors_.find(reinterpret_cast<const char*>(ev.data.alias.anchor));
        if (it == anchors_.end()) throw ParseError(mark(ev.start_mark), "the referenced anchor is not defined");
        done = it->second;
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        const bool map = ev.type == YAML_MAPPING_START_EVENT;
        // libyaml's scanner checks every open flow level at every token: 100,000 `[` took
        // minutes. yaml-cpp refused nesting beyond 2000; a campaign needs less than ten.
        if (open_.size() >= kMostDepth) throw ParseError(mark(ev.start_mark), fmt::format("nested deeper than {} levels", kMostDepth));
        deepest_start_ = std::max(deepest_start_, open_.size());
        if (continuation_ && open_.empty()) {
          open_.push_back({kNoItem, pending_.size(), false, true});
          break;
        }
        const auto index = add(map ? Kind::map : Kind::sequence, ev.start_mark, 0, 0);
        anchor(map ? ev.data.mapping_start.anchor : ev.data.sequence_start.anchor, index);
        const bool block_sequence = !map && ev.data.sequence_start.style != YAML_FLOW_SEQUENCE_STYLE;
        open_.push_back({index, pending_.size(), map && ev.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE,
                         block_sequence});
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        if (continuation_ && open_.size() == 1) return Step::finished;  // its items stay pending
        done = close(ev.type == YAML_MAPPING_END_EVENT);
        break;
    }
    if (done && !open_.empty()) pending_.push_back(*done);
    return Step::more;
  }

  // Whether the innermost open collection is a block sequence whose first `-` is at `column`:
  // the one a second thread's part, starting with a `-` at that column, continues.
  bool in_block_sequence_at(std::size_t column) const {
    if (open_.empty() || !open_.back().block_sequence || open_.back().item == kNoItem) return false;
    return (out_.items[open_.back().item].column_and_kind & kColumnMask) == column;
  }

  // Moves `tail` (a continuation's part, read from where this builder stopped) to the end of
  // this one's nodes, then closes every collection still open as the document's end would.
  // Returns false, having changed nothing, if reading on alone would end otherwise: nesting
  // too deep where the parts meet, an open map still to get a value, or more nodes than
  // 32-bit indices hold.
  bool finish_with(Builder& tail, const yaml_mark_t& tail_start) {
    if (open_.size() - 1 + tail.deepest_start_ >= kMostDepth) return false;
    // At the end of the text every open collection closes, and nothing else happens only if
    // each open map is waiting for its value (the collection above it). A map whose open
    // child is a key (`? ` a complex key) gets a null value after it, which libyaml makes
    // and this merge would not: a randomized comparison of both readings found such a text.
    for (std::size_t level = 0; level + 1 < open_.size(); ++level) {
      const Open& o = open_[level];
      if (kind(o.item) == Kind::map && (open_[level + 1].first_pending - o.first_pending) % 2 == 0) return false;
    }
    const std::size_t most = std::numeric_limits<std::uint32_t>::max();
    if (out_.items.size() + tail.out_.items.size() >= most || out_.children.size() + tail.out_.children.size() >= most ||
        out_.children.size() + tail.out_.children.size() + pending_.size() + tail.pending_.size() >= most) {
      return false;
    }
    // The empty values left before the split sit where the part's first node starts.
    place_empty_values(tail_start);
    const auto item_base = static_cast<std::uint32_t>(out_.items.size());
    const auto child_base = static_cast<std::uint32_t>(out_.children.size());
    const auto scalar_base = static_cast<std::uint32_t>(out_.scalars.size());
    for (Item item : tail.out_.items) {
      const auto kind = static_cast<Kind>(item.column_and_kind >> kKindShift);
      if (kind == Kind::scalar) item.begin += scalar_base;
      if (kind == Kind::sequence || kind == Kind::map) item.begin += child_base;
      out_.items.push_back(item);
    }
    for (const auto child : tail.out_.children) out_.children.push_back(child + item_base);
    out_.scalars.append(tail.out_.scalars);
    for (const auto item : tail.pending_) pending_.push_back(item + item_base);
    while (!open_.empty()) {
      const std::uint32_t done = close(kind(open_.back().item) == Kind::map);
      if (!open_.empty()) pending_.push_back(done);
    }
    return true;
  }

 private:
  static constexpr std::uint32_t kNoItem = std::numeric_limits<std::uint32_t>::max();

  struct Open {
    std::uint32_t item;
    std::size_t first_pending;  // its children so far: pending[first_pending...]
    bool flow_map;
    bool block_sequence;
  };

  yaml::Mark mark(const yaml_mark_t& m) const {
    return {static_cast<int>(std::min<std::size_t>(m.line + line_base_, std::numeric_limits<int>::max())),
            static_cast<int>(std::min<std::size_t>(m.column, std::numeric_limits<int>::max()))};
  }
  yaml::Mark mark_of(std::uint32_t index) const { return Document::mark_of(out_.items[index]); }
  Kind kind(std::uint32_t index) const { return static_cast<Kind>(out_.items[index].column_and_kind >> kKindShift); }

  void place_empty_values(const yaml_mark_t& at) {
    for (const auto index : empty_values_) {
      out_.items[index].line = clamp32(at.line + line_base_, kNoLine - 1);
      out_.items[index].column_and_kind = clamp32(at.column, kColumnMask) | (out_.items[index].column_and_kind & ~kColumnMask);
    }
    empty_values_.clear();
  }

  std::uint32_t add(Kind kind, const yaml_mark_t& at, std::uint32_t begin, std::uint32_t count) {
    if (out_.items.size() >= std::numeric_limits<std::uint32_t>::max()) throw ParseError({0, 0}, "too many YAML nodes");
    const auto index = static_cast<std::uint32_t>(out_.items.size());
    out_.items.push_back({clamp32(at.line + line_base_, kNoLine - 1),
                          clamp32(at.column, kColumnMask) | (static_cast<std::uint32_t>(kind) << kKindShift), begin, count});
    return index;
  }

  void anchor(const yaml_char_t* name, std::uint32_t index) {
    if (name) anchors_[reinterpret_cast<const char*>(name)] = index;
  }

  // Closes the innermost open collection; returns its node.
  std::uint32_t close(bool map) {
    const Open o = open_.back();
    open_.pop_back();
    if (map) refuse_duplicate_keys(o.first_pending);
    const std::size_t count = pending_.size() - o.first_pending;
    if (out_.children.size() + count >= std::numeric_limits<std::uint32_t>::max()) throw ParseError({0, 0}, "too many YAML nodes");
    out_.items[o.item].begin = static_cast<std::uint32_t>(out_.children.size());
    out_.items[o.item].count = static_cast<std::uint32_t>(map ? count / 2 : count);
    out_.children.insert(out_.children.end(), pending_.begin() + static_cast<std::ptrdiff_t>(o.first_pending), pending_.end());
    pending_.resize(o.first_pending);
    return o.item;
  }

  // YAML forbids a key twice in one mapping, but libyaml lets it through and a reader would
  // take one of the two values without a word: a `steps:` typed twice is another run than
  // the author meant. Scalar keys only (a campaign file has no other kind). Maps of a few
  // keys, as a stage's are, are compared pairwise; larger ones through a set.
  void refuse_duplicate_keys(std::size_t first) {
    const std::size_t pairs = (pending_.size() - first) / 2;
    if (pairs < 2) return;
    auto key_text = [&](std::size_t pair) -> std::optional<std::string_view> {
      const std::uint32_t key = pending_[first + 2 * pair];
      if (kind(key) != Kind::scalar) return std::nullopt;
      return std::string_view(out_.scalars.data() + out_.items[key].begin, out_.items[key].count);
    };
    auto refuse = [&](std::size_t earlier, std::size_t later) {
      const yaml::Mark again = mark_of(pending_[first + 2 * later]);
      throw ParseError(again, fmt::format("duplicate key '{}' in this mapping (also at line {}); a key may appear once",
                                          *key_text(later), mark_of(pending_[first + 2 * earlier]).line + 1));
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
    seen_keys_.clear();
    for (std::size_t pair = 0; pair < pairs; ++pair) {
      const auto k = key_text(pair);
      if (!k) continue;
      const auto [at, fresh] = seen_keys_.emplace(*k, static_cast<std::uint32_t>(pair));
      if (!fresh) refuse(at->second, pair);
    }
  }

  Part& out_;
  const std::uint32_t line_base_;
  const bool continuation_;
  std::vector<Open> open_;
  std::vector<std::uint32_t> pending_;
  std::vector<std::uint32_t> empty_values_;  // placed where the next event starts, as yaml-cpp does
  std::unordered_map<std::string, std::uint32_t> anchors_;
  std::unordered_map<std::string_view, std::uint32_t> seen_keys_;
  std::size_t deepest_start_ = 0;  // the most collections open when another started
};

namespace {

// Where a second thread may start: a line that opens a block sequence entry (`- ` then a
// node on the same line), the least indented one in a window from `near`: in a campaign file,
// an entry of the stage list rather than of a stage's own lists.
struct SplitPoint {
  std::size_t line_start;  // the text the second thread reads starts here
  std::size_t column;      // of its `-`
  std::size_t node_start;  // where the entry's node starts: its first event must start here
};

// A byte offset of a UTF-8 text as libyaml's marks count it: characters (a UTF-8 BOM at the
// start not counted) and line breaks (`\r\n` as one; `\r`, `\n`, NEL, LS and PS each one).
// Text before the offset that libyaml would refuse never gets this far: its reader stops there.
struct LibyamlPosition {
  std::size_t index = 0;
  std::size_t line = 0;
};

LibyamlPosition libyaml_position(std::string_view text, std::size_t offset) {
  LibyamlPosition at;
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t i = text.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
  for (; i < offset; ++i) {
    const unsigned char c = bytes[i];
    if ((c & 0xC0) != 0x80) ++at.index;  // not a continuation byte: a character starts
    if (c == '\n' || (c == '\r' && (i + 1 >= text.size() || bytes[i + 1] != '\n'))) ++at.line;
    if (c == 0xC2 && i + 1 < offset && bytes[i + 1] == 0x85) ++at.line;
    if (c == 0xE2 && i + 2 < offset && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9)) ++at.line;
  }
  return at;
}

std::optional<SplitPoint> find_split(std::string_view text, std::size_t near) {
  constexpr std::size_t kWindow = 256 * 1024;
  std::size_t at = text.find('\n', near == 0 ? text.size() / 2 : near - 1);
  const std::size_t stop = at == std::string_view::npos ? 0 : std::min(text.size(), at + kWindow);
  std::optional<SplitPoint> best;
  while (at != std::string_view::npos && at + 1 < stop) {
    const std::size_t line = at + 1;
    std::size_t c = line;
    while (c < text.size() && text[c] == ' ') ++c;
    if (c + 1 < text.size() && text[c] == '-' && text[c + 1] == ' ' && (!best || c - line < best->column)) {
      std::size_t node = c + 1;
      while (node < text.size() && text[node] == ' ') ++node;
      if (node < text.size() && text[node] != '\n' && text[node] != '\r' && text[node] != '#' && text[node] != '\t') {
        best = SplitPoint{line, c - line, node};
        if (best->column == 0) break;
      }
    }
    at = text.find('\n', line);
  }
  return best;
}

bool is_end(yaml_event_type_t type) {
  return type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT || type == YAML_DOCUMENT_END_EVENT ||
         type == YAML_STREAM_END_EVENT;
}

}  // namespace

Document::Document(std::string_view text, ReadOptions options) {
  // Offsets into the scalar buffer are 32-bit; no campaign file comes near.
  if (text.size() >= std::numeric_limits<std::uint32_t>::max()) throw ParseError({0, 0}, "the file is larger than 4 GiB");
  // Generous upper bounds (a node takes at least two bytes of text): pages never written are
  // never resident, and a vector that never reallocates never holds two copies at once.
  nodes_.items.reserve(text.size() / 2 + 1);
  nodes_.children.reserve(text.size() / 2 + 1);
  nodes_.scalars.reserve(text.size());

  // The second thread's part, from `split` to the end, built while this thread parses up to it.
  std::optional<SplitPoint> split;
  // UTF-16 (a BOM says so) would need its own search; such a file is read by one thread.
  const bool utf16 = text.substr(0, 2) == "\xFF\xFE" || text.substr(0, 2) == "\xFE\xFF";
  if (text.size() >= options.two_threads_from && !utf16) split = find_split(text, options.split_near);
  LibyamlPosition node_at;  // where the first thread must find the entry's node
  // On the heap, in cache lines of its own: beside this thread's builder on the stack, the two
  // threads' writes to their vectors' ends shared lines, and reading took twice the CPU.
  struct alignas(64) Tail {
    Part nodes;
    std::optional<Builder> builder;
    bool whole = false;  // its root sequence ran to the end of the document, every node well-formed
  };
  std::unique_ptr<Tail> tail;
  std::jthread second;
  if (split) {
    const std::string_view rest = text.substr(split->line_start);
    node_at = libyaml_position(text, split->node_start);
    tail = std::make_unique<Tail>();
    tail->builder.emplace(tail->nodes, clamp32(node_at.line, kNoLine - 1), true);
    auto read_tail = [rest, part = tail.get()](std::stop_token stop) {
      try {
        part->nodes.items.reserve(rest.size() / 2 + 1);
        part->nodes.children.reserve(rest.size() / 2 + 1);
        part->nodes.scalars.reserve(rest.size());
        Parser parser(rest);
        while (!stop.stop_requested()) {
          Event e;
          parser.next(e.event);
          if (part->builder->feed(e.event) != Builder::Step::finished) continue;
          // Its sequence closed. The first thread's document ends there too only if the text
          // ends or a document marker (`...`, `---`) follows. Anything else ends this part's
          // document implicitly (its sequence was its root), where the first thread would read
          // on in an enclosing collection: other top-level keys, or a line less indented than
          // the list. A next document without `---` is an error here, so ask for it.
          Event end;
          parser.next(end.event);
          if (end.event.type != YAML_DOCUMENT_END_EVENT) return;
          if (!end.event.data.document_end.implicit) {
            part->whole = true;
            return;
          }
          Event next;
          parser.next(next.event);
          part->whole = next.event.type == YAML_STREAM_END_EVENT ||
                       (next.event.type == YAML_DOCUMENT_START_EVENT && !next.event.data.document_start.implicit);
          return;
        }
      } catch (...) {
        // Malformed on its own (or out of memory): the first thread reads on and says why.
      }
    };
    try {
      second = std::jthread(read_tail);
    } catch (const std::system_error&) {
      // No thread to be had (a process limit): this one reads it all.
      split.reset();
      tail.reset();
    }
  }

  Builder builder(nodes_, 0, false);
  Parser parser(text);
  while (true) {
    Event e;
    parser.next(e.event);
    if (split && e.event.start_mark.index >= node_at.index) {
      // The first event at or past the entry's node: if it starts the node (libyaml's own
      // count of characters and lines agreeing with ours), inside a block sequence at the
      // entry's column, the second thread's part continues this one exactly.
      const bool continues = e.event.start_mark.index == node_at.index && e.event.start_mark.line == node_at.line &&
                             e.event.start_mark.column == split->node_start - split->line_start &&
                             !is_end(e.event.type) && builder.in_block_sequence_at(split->column);
      if (!continues) second.request_stop();
      second.join();
      if (continues && tail->whole && builder.finish_with(*tail->builder, e.event.start_mark)) {
        two_threads_ = true;
        return;
      }
      split.reset();
      tail.reset();  // its memory, not held while this thread reads on alone
    }
    if (builder.feed(e.event) == Builder::Step::finished) return;
  }
}

bool Document::same_nodes(const Document& other) const {
  const auto& a = nodes_;
  const auto& b = other.nodes_;
  if (a.items.size() != b.items.size() || a.children != b.children || a.scalars != b.scalars) return false;
  for (std::size_t i = 0; i < a.items.size(); ++i) {
    const auto& x = a.items[i];
    const auto& y = b.items[i];
    if (x.line != y.line || x.column_and_kind != y.column_and_kind || x.begin != y.begin || x.count != y.count) return false;
  }
  return true;
}

std::string_view Node::text() const {
  if (!IsScalar()) return {};
  const auto& item = doc_->nodes_.items[index_];
  return std::string_view(doc_->nodes_.scalars.data() + item.begin, item.count);  // in range by construction
}

yaml::Mark Document::mark_of(const Item& item) {
  if (item.line == kNoLine) return {};
  return {static_cast<int>(std::min<std::uint32_t>(item.line, std::numeric_limits<int>::max())),
          static_cast<int>(item.column_and_kind & kColumnMask)};
}

yaml::Mark Node::Mark() const {
  if (!doc_) return {};
  return Document::mark_of(doc_->nodes_.items[index_]);
}

std::size_t Node::size() const {
  if (!IsSequence() && !IsMap()) return 0;
  return doc_->nodes_.items[index_].count;
}

Node Node::operator[](std::string_view key) const {
  if (!IsMap()) return {};
  // The loader asks a stage's map of about ten entries for some thirty keys: lengths first,
  // then bytes, with no Node made per entry.
  const auto& item = doc_->nodes_.items[index_];
  const std::uint32_t* entry = doc_->nodes_.children.data() + item.begin;
  const char* text = doc_->nodes_.scalars.data();
  for (std::uint32_t i = 0; i < item.count; ++i, entry += 2) {
    const auto& k = doc_->nodes_.items[entry[0]];
    if (k.count != key.size() || doc_->kind(entry[0]) != Kind::scalar) continue;
    if (key.empty() || std::memcmp(text + k.begin, key.data(), key.size()) == 0) return Node(doc_, entry[1]);
  }
  return {};
}

Node Node::operator[](std::size_t index) const {
  if (!IsSequence() || index >= size()) return {};
  return Node(doc_, doc_->nodes_.children[doc_->nodes_.items[index_].begin + index]);
}

void NodeIterator::load() {
  if (position_ >= of_.size()) return;
  const auto& item = of_.doc_->nodes_.items[of_.index_];
  const auto* children = of_.doc_->nodes_.children.data() + item.begin;
  if (of_.IsSequence()) {
    static_cast<Node&>(entry_) = Node(of_.doc_, children[position_]);
  } else {
    entry_.first = Node(of_.doc_, children[2 * position_]);
    entry_.second = Node(of_.doc_, children[2 * position_ + 1]);
  }
}

}  // namespace perennial::yaml
