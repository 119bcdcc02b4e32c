#pragma once
// Parameters: a stage's `parameters:` map, read with types. Values keep the text written
// in the campaign file, so `forcing: 2.6` names a stage `ssp-2.6`, not `ssp-2.600000`.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

class Parameters {
 public:
  Parameters() = default;
  explicit Parameters(std::string stage) : stage_(std::move(stage)) {}

  void set(const std::string& name, std::string scalar_text) { values_[name] = {std::move(scalar_text)}; }
  void set_list(const std::string& name, std::vector<std::string> items) { values_[name] = std::move(items); }
  bool contains(const std::string& name) const { return values_.count(name) != 0; }
  const std::map<std::string, std::vector<std::string>>& raw() const { return values_; }
  const std::string& stage() const { return stage_; }
  void set_stage(std::string stage) { stage_ = std::move(stage); }

  /// T is double, float, int, std::int64_t, bool, std::string or std::vector of those.
  /// Throws ParameterError naming the stage and parameter when missing or mistyped.
  template <class T> T get(const std::string& name) const;
  template <class T> T get_or(const std::string& name, T fallback) const {
    return contains(name) ? get<T>(name) : fallback;
  }

  template <class Archive>
  void serialize(Archive& ar, unsigned) { ar & stage_ & values_; }

 private:
  const std::vector<std::string>& lookup(const std::string& name) const;

  std::string stage_;
  // A scalar is a one-element vector; a list keeps its items. Lists of one item read as scalars.
  std::map<std::string, std::vector<std::string>> values_;
};

}  // namespace perennial
