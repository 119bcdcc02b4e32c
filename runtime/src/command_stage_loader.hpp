#pragma once
// The loader's part for stages that run an existing model executable (`command:`).

#include "yaml_reader.hpp"

#include <perennial/campaign.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace perennial::loader {

/// Stage fields that only a `command:` stage takes, and output fields likewise.
const std::vector<std::string>& command_stage_fields();
const std::vector<std::string>& command_output_fields();

/// Reads `command:`, `templates:`, `restart:`, `progress:`, `metrics:`, `launcher:` and the
/// outputs' `file:`/`dataset:` into `s.command`; template files are read now, relative to
/// `campaign_dir`. On a stage with `kernel:` those fields are errors.
void read_command_stage(Reader& r, const yaml::Node& node, const std::string& field,
                        const std::filesystem::path& campaign_dir, StageSpec& s);

/// After expansion: every `{placeholder}` in each command stage's argv and templates is one
/// of its parameters or a built-in; reported once per template stage.
void check_command_placeholders(Reader& r, const std::vector<StageSpec>& stages);

}  // namespace perennial::loader
