#pragma once
// yaml::Document: a campaign file's YAML read once with libyaml's event parser into a compact
// tree (one array of 16-byte nodes, child indices in a second, scalar text in one buffer),
// each node keeping its line and column. yaml::Node: a handle on one node with the part of
// yaml-cpp's Node interface the loader's field readers use. Internal to the loader.
//
// Why not yaml-cpp's tree: for a 100,000-stage campaign it took seconds and over a GiB (a
// heap-allocated node, its data and a shared_ptr per scalar); see tests/bench/bench_validate.cpp.
//
// What yaml-cpp 0.7 did, kept so that messages and positions stay as they were: only the
// first document of a stream is read; an untagged plain `~`, `null`, `Null`, `NULL` or empty
// value is null (not a scalar); an empty value sits where the next token starts; a map's
// `node[key]` is its first entry with that key; an alias is the anchored node itself (not a
// copy, so `*a` repeated costs nothing).

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace perennial::yaml {

/// A position in the text, 0-based like yaml-cpp's (the loader adds 1); null when unknown.
struct Mark {
  int line = -1;
  int column = -1;
  bool is_null() const { return line < 0; }
};

/// Malformed YAML: libyaml's problem and its context, at the problem's position.
class ParseError : public std::runtime_error {
 public:
  ParseError(Mark where, const std::string& message) : std::runtime_error(message), mark(where) {}
  Mark mark;
};

class Document;
class NodeIterator;

enum class Kind : std::uint8_t { null, scalar, sequence, map };

/// A handle on one node of a Document (which must outlive it); default-constructed or from a
/// missing key it is undefined: false, of no kind, empty, with a null mark.
class Node {
 public:
  Node() = default;

  explicit operator bool() const { return doc_ != nullptr; }
  bool IsDefined() const { return doc_ != nullptr; }
  bool IsNull() const { return is(Kind::null); }
  bool IsScalar() const { return is(Kind::scalar); }
  bool IsSequence() const { return is(Kind::sequence); }
  bool IsMap() const { return is(Kind::map); }

  /// A scalar's text ("" for anything else); text() without the copy.
  std::string Scalar() const { return std::string(text()); }
  std::string_view text() const;
  yaml::Mark Mark() const;

  /// Items of a sequence, entries of a map, 0 for anything else.
  std::size_t size() const;
  /// A map's first value under `key`, undefined when there is none (or this is no map).
  Node operator[](std::string_view key) const;
  Node operator[](const char* key) const { return (*this)[std::string_view(key)]; }
  Node operator[](const std::string& key) const { return (*this)[std::string_view(key)]; }
  /// A sequence's item, undefined when out of range (or this is no sequence).
  Node operator[](std::size_t index) const;
  Node operator[](int index) const { return index < 0 ? Node() : (*this)[static_cast<std::size_t>(index)]; }

  using iterator = NodeIterator;
  iterator begin() const;
  iterator end() const;

 private:
  friend class Document;
  friend class NodeIterator;
  Node(const Document* doc, std::uint32_t index) : doc_(doc), index_(index) {}
  bool is(Kind kind) const;

  const Document* doc_ = nullptr;
  std::uint32_t index_ = 0;
};

/// What a NodeIterator yields, as yaml-cpp's iterators do: the item itself over a sequence;
/// over a map, `first` (the key) and `second` (the value).
struct NodeEntry : Node {
  Node first, second;
};

class NodeIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = NodeEntry;
  using difference_type = std::ptrdiff_t;
  using pointer = const NodeEntry*;
  using reference = const NodeEntry&;

  NodeIterator() = default;
  const NodeEntry& operator*() const { return entry_; }
  const NodeEntry* operator->() const { return &entry_; }
  NodeIterator& operator++() {
    ++position_;
    load();
    return *this;
  }
  bool operator==(const NodeIterator& other) const { return position_ == other.position_; }
  bool operator!=(const NodeIterator& other) const { return position_ != other.position_; }

 private:
  friend class Node;
  NodeIterator(const Node& of, std::size_t position) : of_(of), position_(position) { load(); }
  void load();
  Node of_;
  std::size_t position_ = 0;
  NodeEntry entry_;
};

inline NodeIterator Node::begin() const { return NodeIterator(*this, 0); }
inline NodeIterator Node::end() const { return NodeIterator(*this, size()); }

/// How a Document reads its text.
struct ReadOptions {
  /// Texts at least this long are read by two threads: the second parses from a sequence
  /// entry near the middle (the stage list of a long campaign file) while the first parses up
  /// to it. libyaml's scanner is most of a large file's time and cannot go faster on one core.
  std::size_t two_threads_from = std::size_t{4} << 20;
  /// Where to look for that entry (the first one at or after this byte); 0: the middle.
  std::size_t split_near = 0;
};

/// The first document of a YAML text. Parsing happens in the constructor, which throws
/// ParseError; nodes point into the Document, which therefore neither copies nor moves.
///
/// Read by two threads, a document is the same as read by one, node for node and error for
/// error: the second thread's part is taken only once the first has parsed up to where it
/// starts and found there the sequence entry the second one assumed, at the same column, and
/// only if the second part was well-formed on its own (its sequence ran to the document's
/// end, its aliases named its own anchors). Otherwise the first thread reads on alone, as if
/// there had been no second: a file whose stage list is followed by other top-level keys is
/// read by one thread.
class Document {
 public:
  explicit Document(std::string_view text, ReadOptions options = {});
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;

  /// The document's root; null for an empty text.
  Node root() const { return Node(this, 0); }

  /// Whether two threads read it (for tests and benchmarks).
  bool read_by_two_threads() const { return two_threads_; }
  /// Whether `other` holds the same nodes, in the same order, at the same positions.
  bool same_nodes(const Document& other) const;

 private:
  friend class Node;
  friend class NodeIterator;
  class Builder;

  // 16 bytes: kind in the column's top bits; a scalar's text is scalars[begin, begin + count),
  // a sequence's items are children[begin, begin + count), a map's 2 x count of them (key, value).
  struct Item {
    std::uint32_t line;
    std::uint32_t column_and_kind;
    std::uint32_t begin;
    std::uint32_t count;
  };
  static constexpr unsigned kKindShift = 30;
  static constexpr std::uint32_t kColumnMask = (std::uint32_t{1} << kKindShift) - 1;
  static constexpr std::uint32_t kNoLine = 0xffffffffu;  // a null mark

  // The nodes of a document, or of the part of one that a second thread read.
  struct Part {
    std::vector<Item> items;
    std::vector<std::uint32_t> children;
    std::string scalars;
  };

  // A node's position, null when it has none (what Node::Mark gives).
  static yaml::Mark mark_of(const Item& item);

  Kind kind(std::uint32_t i) const { return static_cast<Kind>(nodes_.items[i].column_and_kind >> kKindShift); }

  Part nodes_;
  bool two_threads_ = false;
};

inline bool Node::is(Kind k) const { return doc_ != nullptr && doc_->kind(index_) == k; }

}  // namespace perennial::yaml
