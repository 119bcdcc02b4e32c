#include <perennial/coordinator/resume.hpp>

#include <perennial/coordinator/json_line.hpp>

#include <fmt/format.h>
#include <xxhash.h>

#include <map>
#include <string_view>

namespace perennial {

namespace {

// The text nlohmann writes for a kernel stage's definition tree below (keys sorted, compact),
// built directly: the tree's allocations were about 4% of rank 0's time per short stage.
// StageDefinitionsStayWhatEarlierVersionsWrote pins the digests both give.
std::string kernel_stage_definition_text(const StageGraph& graph, StageId id) {
  const StageSpec& s = graph.stage(id);
  std::string t = "{";
  const auto& inputs = graph.inputs(id);
  if (!inputs.empty()) {
    std::map<std::string, std::vector<std::string>> sources;  // sorted by name, as nlohmann's object
    for (const auto& input : inputs) {
      auto& list = sources[input.name];
      for (const auto& [upstream, output] : input.sources) list.push_back(graph.stage(upstream).name + "." + output);
    }
    t += "\"inputs\":{";
    for (auto it = sources.begin(); it != sources.end(); ++it) {
      if (it != sources.begin()) t += ',';
      append_json_string(t, it->first);
      t += ':';
      if (it->second.empty()) {
        t += "null";  // the tree's entry was made by operator[] and never given a source
      } else {
        append_json_strings(t, it->second);
      }
    }
    t += "},";
  }
  t += "\"kernel\":";
  append_json_string(t, s.kernel);
  if (!s.outputs.empty()) {
    std::map<std::string_view, const OutputSpec*> outputs;
    for (const auto& o : s.outputs) outputs[o.name] = &o;  // a later one of the same name wins, as in the tree
    t += ",\"outputs\":{";
    for (auto it = outputs.begin(); it != outputs.end(); ++it) {
      if (it != outputs.begin()) t += ',';
      append_json_string(t, it->first);
      t += ":[";
      append_json_string(t, dtype_name(it->second->dtype));
      t += ',';
      append_json_strings(t, it->second->dims);
      t += ',';
      append_json_string(t, it->second->units);
      t += ']';
    }
    t += '}';
  }
  t += ",\"parameters\":{";
  const auto& parameters = s.parameters.raw();
  for (auto it = parameters.begin(); it != parameters.end(); ++it) {
    if (it != parameters.begin()) t += ',';
    append_json_string(t, it->first);
    t += ':';
    append_json_strings(t, it->second);
  }
  t += "}}";
  return t;
}

}  // namespace

std::string stage_definition(const StageGraph& graph, StageId id) {
  const StageSpec& s = graph.stage(id);
  if (!s.command) {
    const std::string text = kernel_stage_definition_text(graph, id);
    return fmt::format("{:016x}", XXH64(text.data(), text.size(), 0));
  }
  // A command stage: the model's definition as well, what it runs and with which files (a
  // changed template or command line makes its restart files and outputs those of another
  // stage). Rare enough to keep the tree.
  nlohmann::json d;
  d["kernel"] = s.kernel;
  d["command"] = s.command->command;
  for (const auto& t : s.command->templates) d["templates"][t.target] = t.text;
  if (s.command->restart) d["restart"] = {s.command->restart->files, s.command->restart->files_per_set, s.command->restart->marker};
  for (const auto& o : s.command->outputs) d["output_files"][o.output] = {o.file, o.dataset};
  d["parameters"] = s.parameters.raw();
  for (const auto& o : s.outputs) {
    d["outputs"][o.name] = {std::string(dtype_name(o.dtype)), o.dims, o.units};
  }
  for (const auto& input : graph.inputs(id)) {
    auto& sources = d["inputs"][input.name];
    for (const auto& [upstream, output] : input.sources) sources.push_back(graph.stage(upstream).name + "." + output);
  }
  const std::string text = d.dump();
  return fmt::format("{:016x}", XXH64(text.data(), text.size(), 0));
}

JsonLine journal_stage_completed_line(const StageGraph& graph, StageId id, const std::string& output_file,
                                      const std::string& definition) {
  return std::move(JsonLine()
                       .text("definition", definition.empty() ? stage_definition(graph, id) : definition)
                       .text("output", output_file)
                       .text("stage", graph.stage(id).name)
                       .count("steps", graph.stage(id).steps)
                       .text("type", "stage_completed"));
}

nlohmann::json journal_stage_completed(const StageGraph& graph, StageId id, const std::string& output_file,
                                       const std::string& definition) {
  return nlohmann::json::parse(journal_stage_completed_line(graph, id, output_file, definition).str());
}

nlohmann::json journal_epoch_committed(const StageGraph& graph, StageId id, const EpochRecord& epoch,
                                       const std::string& definition) {
  return {{"type", "epoch_committed"}, {"stage", graph.stage(id).name},
          {"definition", definition.empty() ? stage_definition(graph, id) : definition},
          {"epoch", epoch.epoch}, {"step", epoch.step}, {"file", epoch.file}};
}

std::vector<StageHistory> read_history(const StageGraph& graph, const JournalContents& journal) {
  std::vector<StageHistory> history(graph.size());
  // Only for the stages the journal names: a fresh campaign has none to compare. Hashing every
  // definition up front (and formatting every stage's unused interval reason, see
  // IntervalChoice::reason) took 12 of the 22 ms before the first dispatch of 10,000 stages.
  std::vector<std::string> definitions(graph.size());
  const auto definition = [&](StageId id) -> const std::string& {
    if (definitions[id].empty()) definitions[id] = stage_definition(graph, id);
    return definitions[id];
  };
  for (const auto& record : journal.records) {
    const auto id = graph.find(record.value("stage", ""));
    if (!id) continue;  // a stage no longer in the campaign
    StageHistory& h = history[*id];
    const std::string type = record.value("type", "");
    const bool same = record.value("definition", "") == definition(*id);
    if (type == "epoch_committed") {
      h.last_epoch = std::max(h.last_epoch, record.value("epoch", std::uint64_t{0}));
      if (same) {
        h.epochs.push_back({record.value("epoch", std::uint64_t{0}), record.value("step", std::uint64_t{0}),
                            record.value("file", ""), std::nullopt, 0});
      } else {
        h.note = "its definition changed since the earlier run: earlier checkpoints are not used";
      }
    } else if (type == "stage_completed") {
      h.completed = same && record.value("steps", std::uint64_t{0}) == graph.stage(*id).steps;
      if (!h.completed) h.note = "its definition or steps changed since it completed: running it again";
    } else if (type == "stage_started" && !same) {
      h.completed = false;
    }
  }
  // A stage whose inputs will be produced again cannot keep results computed from the old
  // ones: neither its completion nor its checkpoints.
  for (StageId id : graph.topological_order()) {
    for (StageId u : graph.upstream(id)) {
      if (history[u].completed) continue;
      if (history[id].completed || !history[id].epochs.empty()) {
        history[id].completed = false;
        history[id].epochs.clear();
        history[id].note = fmt::format("upstream stage '{}' runs again: so does this one, from the start", graph.stage(u).name);
      }
      break;
    }
  }
  return history;
}

}  // namespace perennial
