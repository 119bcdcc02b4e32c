// Heat2D: a two-dimensional energy-balance model of surface temperature T (K):
//
//   C dT/dt = S(lat) (1 - albedo(lat, lon)) - (A + B (T - 273.15)) + forcing
//             + D laplacian(T) - wind . grad(T)
//
// Absorbed sunlight, outgoing longwave radiation linearised in temperature (the Budyko-Sellers
// closure), a radiative forcing (e.g. an SSP scenario's), poleward heat transport by the
// atmosphere and ocean parameterised as diffusion, and a zonal wind in solid-body rotation.
//
// One step, operator split:
//   1. forward Euler for radiation and meridional diffusion (needs a halo row on each side);
//   2. zonal advection as an exact shift in longitude, linearly interpolated (semi-Lagrangian);
//   3. backward Euler for zonal diffusion: a periodic tridiagonal solve along each row.
// 2 and 3 are unconditionally stable. They matter because cells narrow as cos(lat) toward the
// poles: fully explicit zonal terms would hold a 128x64 grid to minutes per step, whereas the
// meridional limit allows days, so a few hundred steps span the years the model needs to
// relax (C/B is about 3 years).
//
// Rows are split over the stage group. Each cell is updated by the same operations in the same
// order whatever the split, and steps 2-3 stay within a row, so the field is bit-identical for
// any rank count.

#include "climate/lat_lon_grid.hpp"
#include "climate/periodic_diffusion.hpp"

#include <perennial/errors.hpp>
#include <perennial/kernel.hpp>
#include <perennial/stage_context.hpp>

#include <boost/mpi/collectives/gatherv.hpp>
#include <boost/mpi/nonblocking.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <span>
#include <thread>

namespace perennial::examples {
namespace {

constexpr double kSolarConstant = 1361.0;  // W m-2
constexpr double kInsolationP2 = -0.482;   // annual-mean insolation = S0/4 (1 + s2 P2(sin lat))
constexpr double kAlbedoP2 = 0.25;         // brighter toward the poles (ice, cloud)
constexpr double kAlbedoWave = 0.05;       // a zonal wavenumber-2 pattern standing in for continents
constexpr double kOlrA = 203.3;            // W m-2: outgoing longwave radiation at 0 C
constexpr double kOlrB = 2.09;             // W m-2 K-1: its increase per kelvin
constexpr double kFreezing = 273.15;       // K
constexpr double kEarthRadius = 6.371e6;   // m
// Halo tags name the direction a row travels, so the two rows crossing between a pair of ranks
// can never be confused.
constexpr int kTagNorthward = 7101;
constexpr int kTagSouthward = 7102;

double legendre_p2(double x) { return 0.5 * (3.0 * x * x - 1.0); }

/// Meridional diffusion of one row in flux form: cos(lat) at the row's south and north edges,
/// and 1 / (cos(lat) dlat^2) at its centre.
struct MeridionalCoefficients {
  double cos_south, cos_north, inv_area;
};

class Heat2D final : public Kernel {
 public:
  void initialize(StageContext& ctx) override {
    setup(ctx);
    if (ctx.has_input("initial")) {
      const InputArray& input = ctx.input("initial");
      const std::vector<std::uint64_t> expected{rows(), nx_};
      if (input.shape() != expected) {
        throw KernelError(ctx.stage(), fmt::format(
            "input 'initial' ({}.{}) has shape {} but the grid (ny, nx) is {}", input.stage(),
            input.output(), input.shape(), expected));
      }
      input.read<double>(owned_slab(), owned());
    } else {
      // Warm tropics, cold poles and a small zonal wave for the wind and diffusion to act on.
      for (std::size_t j = 0; j < range_.count; ++j) {
        const double lat = LatLonGrid::radians(grid_.lat_deg(global_row(j)));
        for (std::size_t i = 0; i < nx_; ++i) {
          const double lon = LatLonGrid::radians(grid_.lon_deg(static_cast<int>(i)));
          const double s = std::sin(lat);
          row(j + 1)[i] = 303.15 - 45.0 * s * s + 2.0 * std::cos(lat) * std::cos(2.0 * lon);
        }
      }
    }
  }

  void step(StageContext& ctx) override {
    const auto started = std::chrono::steady_clock::now();
    exchange_halos(ctx.comm());
    for (std::size_t j = 0; j < range_.count; ++j) {
      const double* south = row(j);
      const double* here = row(j + 1);
      const double* north = row(j + 2);
      const double* source = source_.data() + j * nx_;
      const MeridionalCoefficients& m = meridional_[j];
      double* out = next_.data() + j * nx_;
      for (std::size_t i = 0; i < nx_; ++i) {
        const double laplacian =
            (m.cos_north * (north[i] - here[i]) - m.cos_south * (here[i] - south[i])) * m.inv_area;
        out[i] = here[i] + dt_over_c_ * (source[i] - kOlrB * (here[i] - kFreezing) +
                                         diffusivity_ * laplacian);
      }
    }
    // All explicit updates are done, so the old rows may now be overwritten.
    for (std::size_t j = 0; j < range_.count; ++j) {
      const double* in = next_.data() + j * nx_;
      double* out = row(j + 1);
      for (std::size_t i = 0; i < nx_; ++i) {
        // Departure point i - shift lies between cells i - k and i - k - 1 (modulo nx).
        const std::size_t a = (i + nx_ - shift_cells_) % nx_;
        const std::size_t b = (a + nx_ - 1) % nx_;
        out[i] = (1.0 - shift_fraction_) * in[a] + shift_fraction_ * in[b];
      }
      zonal_[j].solve(std::span<double>(out, nx_));
    }
    ctx.advance_time(dt_);
    const std::uint64_t done = ctx.step() + 1;
    if (done % metric_every_ == 0 || done == ctx.steps()) report_mean(ctx);
    if (pace_.count() > 0) std::this_thread::sleep_until(started + pace_);
  }

  void write_outputs(StageContext&, OutputSink& out) override {
    out.write_coordinate("lat", grid_.lats(), "degrees_north");
    out.write_coordinate("lon", grid_.lons(), "degrees_east");
    out.write<double>("temperature", owned_slab(), owned());
  }

  void save(StageContext&, CheckpointWriter& checkpoint) override {
    checkpoint.write<double>("temperature", owned_slab(), owned(), {"lat", "lon"}, "K");
  }

  void restore(StageContext& ctx, CheckpointReader& checkpoint) override {
    setup(ctx);  // the restoring group may be new, and of another size than the saver's
    const std::vector<std::uint64_t> expected{rows(), nx_};
    if (const auto shape = checkpoint.shape("temperature"); shape != expected) {
      throw KernelError(ctx.stage(), fmt::format(
          "checkpointed temperature has shape {} but the grid (ny, nx) is {}", shape, expected));
    }
    checkpoint.read<double>("temperature", owned_slab(), owned());
  }

  KernelInfo info() const override {
    const ArraySchema field{DType::float64, std::vector<std::string>{"lat", "lon"}, "K"};
    KernelInfo info;
    info.outputs["temperature"] = field;
    info.inputs["initial"] = field;
    info.inputs_open = false;
    info.metrics["global_mean_temperature"] = {"K", "area-weighted mean surface temperature, every metric_every steps"};
    using T = ParameterType;
    constexpr double kInt = std::numeric_limits<int>::max();  // nx, ny, metric_every are read as int
    info.parameters = {
        {"nx", {.type = T::integer, .min = 3, .max = kInt, .units = "cells",
                .description = "grid cells along a circle of latitude"}},
        {"ny", {.type = T::integer, .min = 1, .max = kInt, .units = "cells",
                .description = "grid rows from pole to pole"}},
        {"forcing", {.type = T::number, .default_value = "0.0", .units = "W m-2",
                     .description = "radiative forcing added everywhere (e.g. an SSP pathway's)"}},
        {"heat_capacity", {.type = T::number, .default_value = "2.0e8", .min = 0, .min_exclusive = true,
                           .units = "J m-2 K-1", .description = "of the surface layer: 2e8 is about 50 m of ocean"}},
        {"diffusivity", {.type = T::number, .default_value = "0.55", .min = 0, .units = "W m-2 K-1",
                         .description = "poleward heat transport by atmosphere and ocean, as diffusion"}},
        {"albedo", {.type = T::number, .default_value = "0.33", .min = 0, .max = 1, .units = "1",
                    .description = "mean albedo; brighter poles and a zonal pattern are added, then clamped to [0, 1]"}},
        {"wind", {.type = T::number, .default_value = "5.0", .units = "m s-1",
                  .description = "eastward wind at the equator, in solid-body rotation (negative: westward)"}},
        {"metric_every", {.type = T::integer, .default_value = "50", .min = 1, .max = kInt, .units = "steps",
                          .description = "steps between global_mean_temperature reports (and the last step)"}},
        {"dt", {.type = T::number, .default_value = "", .min = 0, .min_exclusive = true, .units = "s",
                .description = "time step; default 0.9 x the stability limit of the grid, which it may not exceed"}},
        {"pace", {.type = T::number, .default_value = "0", .min = 0, .units = "s",
                  .description = "least wall time a step takes (it sleeps the rest): a small grid standing in for "
                                 "a large one's timing in tests and demonstrations, without its CPU"}},
    };
    info.checkpoints = true;
    return info;
  }

 private:
  /// Reads parameters, splits the rows and precomputes every coefficient. Local: no messages.
  /// Defaults and ranges are info()'s: the runtime has applied them before this runs.
  void setup(const StageContext& ctx) {
    grid_.nx = ctx.parameter<int>("nx");
    grid_.ny = ctx.parameter<int>("ny");
    const double forcing = ctx.parameter<double>("forcing");
    const double heat_capacity = ctx.parameter<double>("heat_capacity");
    diffusivity_ = ctx.parameter<double>("diffusivity");
    const double albedo = ctx.parameter<double>("albedo");
    const double wind = ctx.parameter<double>("wind");
    metric_every_ = static_cast<std::uint64_t>(ctx.parameter<int>("metric_every"));
    pace_ = std::chrono::duration<double>(ctx.parameter<double>("pace"));

    nx_ = static_cast<std::size_t>(grid_.nx);
    const double dlat = LatLonGrid::radians(grid_.dlat_deg());
    const double dlon = LatLonGrid::radians(grid_.dlon_deg());
    auto meridional = [&](int g) {
      const double lat = LatLonGrid::radians(grid_.lat_deg(g));
      // No flux through the poles: those edges get a zero coefficient.
      return MeridionalCoefficients{g > 0 ? std::cos(lat - 0.5 * dlat) : 0.0,
                                    g + 1 < grid_.ny ? std::cos(lat + 0.5 * dlat) : 0.0,
                                    1.0 / (std::cos(lat) * dlat * dlat)};
    };

    // Forward Euler stays monotone while dt (B + D (cos_s + cos_n) / (cos dlat^2)) <= C.
    double stiffest = 0.0;
    for (int g = 0; g < grid_.ny; ++g) {
      const auto m = meridional(g);
      stiffest = std::max(stiffest, kOlrB + diffusivity_ * (m.cos_south + m.cos_north) * m.inv_area);
    }
    const double dt_limit = heat_capacity / stiffest;
    dt_ = ctx.parameter_or<double>("dt", 0.9 * dt_limit);
    if (!(dt_ > 0.0 && dt_ <= dt_limit)) {
      throw ParameterError(ctx.stage(), "dt", fmt::format(
          "is {} s; it must be positive and at most {:.6g} s for this grid and diffusivity", dt_, dt_limit));
    }
    dt_over_c_ = dt_ / heat_capacity;

    // Solid-body rotation: wind * cos(lat) m/s everywhere, i.e. the same angular speed on every
    // row, so the shift per step is one number of cells.
    const double shift = std::fmod(wind / kEarthRadius * dt_ / dlon, static_cast<double>(nx_));
    const double positive_shift = shift < 0 ? shift + static_cast<double>(nx_) : shift;
    shift_cells_ = static_cast<std::size_t>(std::floor(positive_shift)) % nx_;
    shift_fraction_ = positive_shift - std::floor(positive_shift);

    const auto& comm = ctx.comm();
    range_ = even_split(rows(), comm.size(), comm.rank());
    // Halos go between the nearest ranks that hold rows, so ranks left with none (more ranks
    // than latitudes) drop out of the exchange.
    south_ = north_ = -1;
    for (int p = comm.rank() - 1; p >= 0 && south_ < 0; --p) {
      if (even_split(rows(), comm.size(), p).count > 0) south_ = p;
    }
    for (int p = comm.rank() + 1; p < comm.size() && north_ < 0; ++p) {
      if (even_split(rows(), comm.size(), p).count > 0) north_ = p;
    }

    t_.assign((range_.count + 2) * nx_, 0.0);
    next_.assign(range_.count * nx_, 0.0);
    source_.resize(range_.count * nx_);
    meridional_.clear();
    zonal_.clear();
    for (std::size_t j = 0; j < range_.count; ++j) {
      const int g = global_row(j);
      const double lat = LatLonGrid::radians(grid_.lat_deg(g));
      const double sin_lat = std::sin(lat), cos_lat = std::cos(lat);
      const double insolation = 0.25 * kSolarConstant * (1.0 + kInsolationP2 * legendre_p2(sin_lat));
      for (std::size_t i = 0; i < nx_; ++i) {
        const double lon = LatLonGrid::radians(grid_.lon_deg(static_cast<int>(i)));
        const double a = albedo + kAlbedoP2 * legendre_p2(sin_lat) +
                         kAlbedoWave * cos_lat * cos_lat * std::cos(2.0 * lon);
        source_[j * nx_ + i] = insolation * (1.0 - std::clamp(a, 0.0, 1.0)) - kOlrA + forcing;
      }
      meridional_.push_back(meridional(g));
      zonal_.emplace_back(dt_ * diffusivity_ / (heat_capacity * cos_lat * cos_lat * dlon * dlon), nx_);
    }
    if (comm.rank() == 0) {
      ctx.log().info("heat2d '{}': {}x{} grid, dt {:.6g} s (limit {:.6g} s), forcing {} W/m2",
                     ctx.stage(), grid_.ny, grid_.nx, dt_, dt_limit, forcing);
    }
  }

  /// Fills the halo rows from the neighbours, or mirrors the polar row (zero gradient).
  void exchange_halos(const boost::mpi::communicator& comm) {
    if (range_.count == 0) return;
    const int n = grid_.nx;
    std::vector<boost::mpi::request> pending;
    if (south_ >= 0) {
      pending.push_back(comm.irecv(south_, kTagNorthward, row(0), n));
      pending.push_back(comm.isend(south_, kTagSouthward, row(1), n));
    } else {
      std::copy_n(row(1), nx_, row(0));
    }
    if (north_ >= 0) {
      pending.push_back(comm.irecv(north_, kTagSouthward, row(range_.count + 1), n));
      pending.push_back(comm.isend(north_, kTagNorthward, row(range_.count), n));
    } else {
      std::copy_n(row(range_.count), nx_, row(range_.count + 1));
    }
    boost::mpi::wait_all(pending.begin(), pending.end());
  }

  /// Area-weighted (cos lat) global mean, reported by group rank 0. Collective. Row sums are
  /// gathered and added in global row order, so the value does not depend on the split.
  void report_mean(const StageContext& ctx) const {
    // At least one element: Boost.MPI 1.74's gatherv reads *in_values for the MPI datatype even
    // when a rank sends nothing, so a rank without rows must not pass a null data() (UBSan).
    std::vector<double> sums(std::max<std::size_t>(range_.count, 1), 0.0);
    for (std::size_t j = 0; j < range_.count; ++j) {
      for (std::size_t i = 0; i < nx_; ++i) sums[j] += t_[(j + 1) * nx_ + i];
    }
    const auto& comm = ctx.comm();
    const int mine = static_cast<int>(range_.count);
    if (comm.rank() != 0) {
      boost::mpi::gatherv(comm, sums.data(), mine, 0);
      return;
    }
    std::vector<int> sizes;
    for (int p = 0; p < comm.size(); ++p) {
      sizes.push_back(static_cast<int>(even_split(rows(), comm.size(), p).count));
    }
    std::vector<double> all(rows());
    boost::mpi::gatherv(comm, sums.data(), mine, all.data(), sizes, 0);
    double weighted = 0.0, weights = 0.0;
    for (int g = 0; g < grid_.ny; ++g) {
      const double w = std::cos(LatLonGrid::radians(grid_.lat_deg(g)));
      weighted += w * all[static_cast<std::size_t>(g)];
      weights += w * grid_.nx;
    }
    ctx.report_metric("global_mean_temperature", weighted / weights);
  }

  std::uint64_t rows() const { return static_cast<std::uint64_t>(grid_.ny); }
  int global_row(std::size_t local) const { return static_cast<int>(range_.first + local); }
  /// Local row 0 is the south halo, rows 1..count are owned, count + 1 is the north halo.
  double* row(std::size_t local) { return t_.data() + local * nx_; }
  Hyperslab owned_slab() const { return row_block(rows(), nx_, range_.first, range_.count); }
  std::span<double> owned() { return {t_.data() + nx_, range_.count * nx_}; }

  LatLonGrid grid_;
  std::size_t nx_ = 0;
  BlockRange range_{0, 0};
  int south_ = -1, north_ = -1;  // nearest ranks holding rows; -1 beyond a pole
  double dt_ = 0.0, dt_over_c_ = 0.0, diffusivity_ = 0.0;
  std::uint64_t metric_every_ = 50;
  std::size_t shift_cells_ = 0;
  double shift_fraction_ = 0.0;
  std::chrono::duration<double> pace_{0.0};  // least wall time of a step
  std::vector<double> t_;       // (count + 2) x nx, with halos
  std::vector<double> next_;    // count x nx, after the explicit part
  std::vector<double> source_;  // count x nx: absorbed sunlight - A + forcing (W m-2)
  std::vector<MeridionalCoefficients> meridional_;
  std::vector<PeriodicDiffusionSolver> zonal_;
};

PERENNIAL_REGISTER_KERNEL(Heat2D, "heat2d");

}  // namespace
}  // namespace perennial::examples
