#pragma once
// LatLonGrid: cell centres of a regular latitude-longitude grid, shared by the climate kernels.

#include <cmath>
#include <numbers>
#include <vector>

namespace perennial::examples {

struct LatLonGrid {
  int ny = 0;  ///< latitudes, south to north
  int nx = 0;  ///< longitudes, eastward from 0

  double dlat_deg() const { return 180.0 / ny; }
  double dlon_deg() const { return 360.0 / nx; }
  /// Centre of row j: from -90 + dlat/2 to 90 - dlat/2, so no cell sits on a pole.
  double lat_deg(int j) const { return -90.0 + (j + 0.5) * dlat_deg(); }
  double lon_deg(int i) const { return i * dlon_deg(); }

  static double radians(double degrees) { return degrees * (std::numbers::pi / 180.0); }

  std::vector<double> lats() const {
    std::vector<double> out(static_cast<std::size_t>(ny));
    for (int j = 0; j < ny; ++j) out[static_cast<std::size_t>(j)] = lat_deg(j);
    return out;
  }
  std::vector<double> lons() const {
    std::vector<double> out(static_cast<std::size_t>(nx));
    for (int i = 0; i < nx; ++i) out[static_cast<std::size_t>(i)] = lon_deg(i);
    return out;
  }
};

}  // namespace perennial::examples
