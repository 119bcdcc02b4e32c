"""Stacks scenario outputs with xarray.open_mfdataset along their for_each value, read from
the files' attributes (no file names parsed). Exit 77 (skipped) when xarray or dask is
missing. Usage: stack_scenarios.py ATTRIBUTE FILE..."""
import sys

try:
    import xarray as xr
    import dask  # noqa: F401  (open_mfdataset needs it)
except ImportError as e:
    print(f"SKIPPED: {e}")
    sys.exit(77)

key, files = sys.argv[1], sys.argv[2:]
ds = xr.open_mfdataset(files, combine="nested", concat_dim=key,
                       preprocess=lambda d: d.expand_dims({key: [d.attrs[key]]}))
ds = ds.sortby(key)
print(ds)
values = [float(v) for v in ds[key].values]
assert ds["temperature"].dims == (key, "lat", "lon"), ds["temperature"].dims
assert ds["temperature"].attrs["standard_name"] == "surface_temperature"
assert ds.attrs["Conventions"].startswith("CF-")
assert ds["time"].size == 1 and "calendar" in ds["time"].encoding, ds["time"].encoding
print("stacked", key, values, "time", ds["time"].values[0])
