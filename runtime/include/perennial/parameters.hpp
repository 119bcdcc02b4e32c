#pragma once
// Parameters: a stage's `parameters:` map, read with types. Values keep the text written
// in the campaign file, so `forcing: 2.6` names a stage `ssp-2.6`, not `ssp-2.600000`.
// ParameterSpec: one parameter as a kernel declares it, for validation before anything runs.

#include <perennial/serialization.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

enum class ParameterType { integer, number, boolean, string };

/// A parameter a kernel takes (KernelInfo::parameters), e.g. `{.type = ParameterType::number,
/// .default_value = "0.0", .units = "W m-2", .description = "radiative forcing"}`.
// Every member has an initializer, so designated initializers may leave any out (GCC 12's
// -Wmissing-field-initializers warns otherwise).
struct ParameterSpec {
  ParameterType type = ParameterType::number;
  bool list = false;                           ///< a list of `type` values, e.g. `[1, 2, 3]`
  std::optional<std::string> default_value{};  ///< as a campaign file writes it; none: required;
                                               ///< "": optional, the kernel derives it (see description)
  std::optional<double> min{}, max{};          ///< integers and numbers: allowed range, inclusive
  bool min_exclusive = false;                  ///< `min` itself is not allowed (`.min = 0` + this: positive)
  std::string units{};                         ///< `1` when dimensionless; empty for non-numbers
  std::string description{};                   ///< one line
};

/// Why one parameter's items (as Parameters keeps them) do not fit `spec`; nullopt when they do.
std::optional<std::string> parameter_problem(const ParameterSpec& spec, const std::vector<std::string>& items);
/// `number, default 0.0, >= 0, W m-2` style summary, for listings and messages.
std::string describe(const ParameterSpec& spec);

class Parameters {
 public:
  Parameters() = default;
  explicit Parameters(std::string stage) : stage_(std::move(stage)) {}

  void set(const std::string& name, std::string scalar_text) { values_[name] = {std::move(scalar_text)}; }
  void set_list(const std::string& name, std::vector<std::string> items) { values_[name] = std::move(items); }
  bool contains(const std::string& name) const { return values_.count(name) != 0; }
  /// Sets each declared default the stage leaves out (not the "" of a derived one).
  void fill_defaults(const std::map<std::string, ParameterSpec>& declared);
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

PERENNIAL_MESSAGE_SERIALIZATION(perennial::Parameters)
