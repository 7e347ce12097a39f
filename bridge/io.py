"""Writing datasets so that a reader never sees a half-written file."""
from __future__ import annotations

import os

import xarray as xr


def write_netcdf_atomic(ds: xr.Dataset, path: str | os.PathLike) -> None:
    """Write netCDF (h5netcdf) to a temporary file in the target's folder, then `os.replace`."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        ds.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
