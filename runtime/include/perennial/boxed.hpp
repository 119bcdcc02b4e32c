#pragma once
// Boxed<T>: an optional value kept on the heap, in the space of one pointer.

#include <memory>
#include <optional>
#include <utility>

namespace perennial {

/// What std::optional<T> offers (a test, `*`, `->`, assignment from a T or nullopt, reset,
/// emplace, conversion to std::optional<T>), with the value on the heap: for large members
/// that are seldom present in a type held by the hundred thousand (a StageSpec's `command:`
/// and `promise:`, 520 bytes of every stage as optionals). Copies are deep.
template <class T> class Boxed {
 public:
  Boxed() = default;
  Boxed(std::nullopt_t) {}  // implicit, as optional's
  Boxed(const T& value) : value_(std::make_unique<T>(value)) {}
  Boxed(T&& value) : value_(std::make_unique<T>(std::move(value))) {}
  Boxed(const std::optional<T>& value) : value_(value ? std::make_unique<T>(*value) : nullptr) {}
  Boxed(const Boxed& other) : value_(other.value_ ? std::make_unique<T>(*other.value_) : nullptr) {}
  Boxed(Boxed&&) noexcept = default;
  ~Boxed() = default;

  Boxed& operator=(const Boxed& other) {
    if (this != &other) value_ = other.value_ ? std::make_unique<T>(*other.value_) : nullptr;
    return *this;
  }
  Boxed& operator=(Boxed&&) noexcept = default;
  Boxed& operator=(std::nullopt_t) {
    value_.reset();
    return *this;
  }
  Boxed& operator=(const T& value) { return *this = Boxed(value); }
  Boxed& operator=(T&& value) { return *this = Boxed(std::move(value)); }

  bool has_value() const { return value_ != nullptr; }
  explicit operator bool() const { return has_value(); }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return value_.get(); }
  const T* operator->() const { return value_.get(); }
  T& value() {
    if (!value_) throw std::bad_optional_access();
    return *value_;
  }
  const T& value() const {
    if (!value_) throw std::bad_optional_access();
    return *value_;
  }
  void reset() { value_.reset(); }
  template <class... Args> T& emplace(Args&&... args) {
    value_ = std::make_unique<T>(std::forward<Args>(args)...);
    return *value_;
  }
  operator std::optional<T>() const { return value_ ? std::optional<T>(*value_) : std::nullopt; }

 private:
  std::unique_ptr<T> value_;
};

}  // namespace perennial
