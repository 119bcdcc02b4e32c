#include <perennial/coordinator/respawner.hpp>
#include <perennial/errors.hpp>

#include <boost/mpi/collectives.hpp>
#include <fmt/format.h>

#include <mpi.h>
#include <unistd.h>

#include <cstdlib>
#include <set>

namespace perennial {

namespace {

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<std::size_t>(length));
}

// The PML this process's MPI_Init chose, read from MPI_T: Open MPI closes the components it
// did not choose and their control variables go with them, so the chosen one is the only
// component with `pml_<name>_...` variables left. Empty when that is not so (another MPI, a
// wrapping layer such as pml monitoring), and the new processes then choose for themselves.
std::string chosen_pml() {
  int provided = 0;
  if (MPI_T_init_thread(MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS) return {};
  int count = 0;
  std::set<std::string> components;
  if (MPI_T_cvar_get_num(&count) == MPI_SUCCESS) {
    for (int i = 0; i < count; ++i) {
      char name[256] = {};
      char description[1024] = {};
      int name_length = sizeof(name);
      int description_length = sizeof(description);
      int verbosity = 0, bind = 0, scope = 0;
      MPI_Datatype type = MPI_DATATYPE_NULL;
      MPI_T_enum values = MPI_T_ENUM_NULL;
      if (MPI_T_cvar_get_info(i, name, &name_length, &verbosity, &type, &values, description, &description_length,
                              &bind, &scope) != MPI_SUCCESS) {
        continue;  // a variable of a closed component
      }
      const std::string n(name);
      if (n.rfind("pml_", 0) != 0) continue;
      const std::string component = n.substr(4, n.find('_', 4) - 4);
      if (component != "base") components.insert(component);
    }
  }
  MPI_T_finalize();
  return components.size() == 1 ? *components.begin() : std::string();
}

// PERENNIAL_SPAWN_PML: `off` gives the new processes no PML (they probe as before: for
// measuring what the hint saves), a name gives them that one; unset, this job's choice.
std::string pml_for_spawns() {
  const char* text = std::getenv("PERENNIAL_SPAWN_PML");
  if (!text) return chosen_pml();
  const std::string value(text);
  return value == "off" ? std::string() : value;
}

}  // namespace

Respawner::Respawner(std::string executable, std::vector<std::string> arguments) : state_(std::make_shared<State>()) {
  state_->executable = std::move(executable);
  state_->arguments = std::move(arguments);
  state_->pml = pml_for_spawns();
  thread_ = std::thread([state = state_] { run(state); });
}

Respawner::~Respawner() {
  bool stuck = false;
  {
    std::lock_guard lock(state_->mutex);
    state_->stop = true;
    stuck = state_->in_flight > 0;
  }
  state_->wake.notify_all();
  // A spawn that never returned (a launch hung inside MPI) cannot be interrupted: leave its
  // thread behind, holding the state it reads; the process ends with _exit after failures.
  if (stuck) thread_.detach();
  else if (thread_.joinable()) thread_.join();
}

std::uint64_t Respawner::request(int ranks, int first_id) {
  std::lock_guard lock(state_->mutex);
  const std::uint64_t ticket = state_->next_ticket++;
  state_->queue.push_back({ticket, ranks, first_id});
  ++state_->in_flight;
  if (!state_->busy_since) state_->busy_since = std::chrono::steady_clock::now();
  state_->wake.notify_all();
  return ticket;
}

std::optional<SpawnResult> Respawner::poll() {
  std::lock_guard lock(state_->mutex);
  if (state_->done.empty()) return std::nullopt;
  SpawnResult r = std::move(state_->done.front());
  state_->done.pop_front();
  return r;
}

std::size_t Respawner::pending() const {
  std::lock_guard lock(state_->mutex);
  return state_->in_flight;
}

double Respawner::oldest_pending_seconds() const {
  std::lock_guard lock(state_->mutex);
  if (!state_->busy_since) return 0.0;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - *state_->busy_since).count();
}

void Respawner::run(const std::shared_ptr<State>& state) {
  while (true) {
    Request r{};
    {
      std::unique_lock lock(state->mutex);
      state->wake.wait(lock, [&state] { return state->stop || !state->queue.empty(); });
      if (state->stop) return;
      r = state->queue.front();
      state->queue.pop_front();
      state->busy_since = std::chrono::steady_clock::now();
    }
    SpawnResult result = spawn(*state, r);
    std::lock_guard lock(state->mutex);
    state->done.push_back(std::move(result));
    --state->in_flight;
    if (state->queue.empty()) state->busy_since.reset();
    else state->busy_since = std::chrono::steady_clock::now();
  }
}

SpawnResult Respawner::spawn(const State& state, const Request& r) {
  SpawnResult result;
  result.ticket = r.ticket;
  result.ranks = r.ranks;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> args = state.arguments;
  args.push_back("--first-id");
  args.push_back(std::to_string(r.first_id));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<int> codes(static_cast<std::size_t>(r.ranks), MPI_SUCCESS);
  MPI_Comm self = MPI_COMM_NULL, inter = MPI_COMM_NULL, merged = MPI_COMM_NULL;
  MPI_Comm_dup(MPI_COMM_SELF, &self);
  MPI_Comm_set_errhandler(self, MPI_ERRORS_RETURN);
  MPI_Info info = MPI_INFO_NULL;
  if (!state.pml.empty()) {
    // Open MPI's spawn puts an `ompi_param` into the new processes' environment.
    MPI_Info_create(&info);
    MPI_Info_set(info, "ompi_param", ("OMPI_MCA_pml=" + state.pml).c_str());
  }
  int code = MPI_Comm_spawn(state.executable.c_str(), argv.data(), r.ranks, info, 0, self, &inter, codes.data());
  if (info != MPI_INFO_NULL) MPI_Info_free(&info);
  MPI_Comm_free(&self);
  if (code != MPI_SUCCESS) {
    result.error = fmt::format("MPI_Comm_spawn of {} worker(s) failed: {}", r.ranks, mpi_error_text(code));
  } else {
    for (int c : codes) {
      if (c != MPI_SUCCESS && result.error.empty()) result.error = "a spawned worker failed to start: " + mpi_error_text(c);
    }
  }
  if (result.error.empty()) {
    MPI_Comm_set_errhandler(inter, MPI_ERRORS_RETURN);
    code = MPI_Intercomm_merge(inter, 0, &merged);  // rank 0 first: the new workers see it as their rank 0
    if (code != MPI_SUCCESS) result.error = "MPI_Intercomm_merge with the spawned workers failed: " + mpi_error_text(code);
  }
  if (result.error.empty()) {
    try {
      boost::mpi::communicator merged_comm(merged, boost::mpi::comm_take_ownership);
      result.channel = std::make_unique<ControlChannel>(merged_comm);
      msg::Hello mine{static_cast<int>(::getpid()), {}, {}, 0};
      boost::mpi::all_gather(result.channel->comm(), mine, result.hellos);
    } catch (const std::exception& e) {
      result.channel.reset();
      result.error = std::string("connecting the spawned workers failed: ") + e.what();
    }
  }
  // The intercommunicator is kept: freeing it is formally collective with the new workers,
  // which never free theirs. One handle per respawn.
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace perennial
