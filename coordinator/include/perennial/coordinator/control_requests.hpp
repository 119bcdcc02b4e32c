#pragma once
// ControlRequests: how `perennial priority` reaches a running coordinator: through files in
// `<output folder>/control/`, because the scientist's shell is not part of the MPI job. The
// command writes `<id>.request.json` (under a temporary name, then renamed: a reader never sees
// half of one); the coordinator takes pending requests in id order (ids sort by time), applies
// each, writes `<id>.answer.json` the same way and removes the request; the command waits for
// its answer and removes it. A request nobody answered stays until the next run takes it.
// Plain C++, no MPI.

#include <perennial/coordinator/hand.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

class ControlRequests {
 public:
  /// The control folder of the campaign output folder `campaign_folder` (created on submit).
  explicit ControlRequests(const std::filesystem::path& campaign_folder);
  const std::filesystem::path& dir() const { return dir_; }

  /// Writes a request under a fresh id and returns the id. Throws Error naming the file.
  std::string submit(const HandRequest& request);

  struct Pending {
    std::string id;
    std::optional<HandRequest> request;  ///< absent when the file is no request
    std::string problem;                 ///< why it is none (file, field): to be answered, not applied
  };
  /// Requests not answered yet, oldest first. Never throws on a bad file: it comes with its
  /// problem. A missing folder has none.
  std::vector<Pending> pending() const;

  struct Answer {
    bool accepted = false;
    std::string message;
  };
  /// Writes the answer to `id` and removes its request. Throws Error naming the file.
  void answer(const std::string& id, const Answer& answer);
  /// The answer to `id` once written (nullopt until then); taking it removes it.
  std::optional<Answer> take_answer(const std::string& id);
  /// Removes answers nobody took within `age` (the command had given up waiting); returns how
  /// many. The coordinator calls it when it starts.
  std::size_t drop_answers_older_than(std::chrono::seconds age);

 private:
  std::filesystem::path request_file(const std::string& id) const { return dir_ / (id + ".request.json"); }
  std::filesystem::path answer_file(const std::string& id) const { return dir_ / (id + ".answer.json"); }
  std::filesystem::path dir_;
};

}  // namespace perennial
