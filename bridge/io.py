"""Writing datasets so that a reader never sees a half-written file."""
from __future__ import annotations

import os

import xarray as xr


def write_netcdf_atomic(ds: xr.Dataset | xr.DataTree, path: str | os.PathLike) -> None:
    """Write netCDF (h5netcdf) to a temporary file in the target's folder, then `os.replace`.

    `ds` is a Dataset or a DataTree (one netCDF group per node)."""
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


def check_output(path: str | os.PathLike, overwrite: bool, option: str = "-o") -> None:
    """Refuse, before any work, an output that must not or cannot be written (InputError, one line).

    An existing file is replaced only with `overwrite` (the writer then replaces it atomically,
    so the old file stays intact until the new one is complete)."""
    from dendritic_errors import InputError

    path = os.fspath(path)
    if os.path.isdir(path):
        raise InputError(f"{option} {path}: is a folder")
    if os.path.exists(path) and not overwrite:
        raise InputError(f"{path} already exists; pass --overwrite to replace it or choose another {option}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"output directory {folder} does not exist")


def read_netcdf(path: str | os.PathLike, what: str, tree: bool = False):
    """Load a netCDF file (a Dataset, or a DataTree with `tree`) fully into memory.

    A missing, truncated or unreadable file raises `InputError` naming the file and `what`
    it should have been."""
    from dendritic_errors import InputError

    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such {what} file")
    opener = xr.open_datatree if tree else xr.open_dataset
    try:
        with opener(path, engine="h5netcdf") as opened:
            return opened.load()
    except Exception as err:  # h5py/h5netcdf raise OSError, ValueError, KeyError ...
        raise InputError(f"{path}: cannot read as netCDF ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else 'unreadable'})") from None
