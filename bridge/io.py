"""Writing datasets so that a reader never sees a half-written file, and reading them so that a
corrupted one is refused (Fletcher-32 checksums) instead of read silently."""
from __future__ import annotations

import os
from contextlib import contextmanager

import xarray as xr


def _checksummed(var: xr.Variable) -> bool:
    """Whether HDF5 can store `var` with a Fletcher-32 checksum: filters need chunked storage,
    which scalars do not have, and HDF5 refuses filters on variable-length strings."""
    dtype = var.encoding.get("dtype", var.dtype)
    return var.ndim > 0 and var.dtype.kind in "biufcmM" and dtype is not str and \
        getattr(dtype, "kind", "O") in "biufcmMS"


def with_checksums(ds: xr.Dataset) -> xr.Dataset:
    """A shallow copy of `ds` whose variables are written with HDF5 Fletcher-32 checksums
    (h5py then chunks them automatically), so corruption is detected when they are read.

    Set in each variable's own encoding (merged), not through `to_netcdf(encoding=...)`,
    which would replace the variable's encoding (time units, fill values) altogether."""
    ds = ds.copy(deep=False)
    for var in ds.variables.values():
        if _checksummed(var):
            enc = {k: v for k, v in var.encoding.items() if k != "contiguous"}
            var.encoding = {**enc, "fletcher32": True}
    return ds


@contextmanager
def atomic_path(path: str | os.PathLike):
    """A temporary path in the target's folder to write to; on success it replaces `path`
    (`os.replace`, atomic), on failure it is removed: a reader never sees a half file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_netcdf_atomic(ds: xr.Dataset | xr.DataTree, path: str | os.PathLike) -> None:
    """Write netCDF (h5netcdf) to a temporary file in the target's folder, then `os.replace`.

    `ds` is a Dataset or a DataTree (one netCDF group per node). Every variable that HDF5
    allows (arrays of numbers, booleans, times) carries a Fletcher-32 checksum; `read_netcdf`
    refuses a file whose data fail it."""
    if isinstance(ds, xr.DataTree):
        ds = xr.DataTree.from_dict({node.path: with_checksums(node.to_dataset(inherit=False))
                                    for node in ds.subtree})
    else:
        ds = with_checksums(ds)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")


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
        # load() reads every variable now, inside this try: h5py checks the Fletcher-32
        # checksums only when data are read, so a lazy reader would fail (or not) later.
        with opener(path, engine="h5netcdf") as opened:
            return opened.load()
    except Exception as err:  # h5py/h5netcdf raise OSError, ValueError, KeyError ...
        text = str(err).splitlines()[0] if str(err) else "unreadable"
        # HDF5 reports a Fletcher-32 mismatch as "filter returned failure during read"
        if any(w in text.lower() for w in ("filter returned failure", "fletcher32", "checksum")):
            raise InputError(f"{path}: corrupted {what} file: its data fail their checksum "
                             f"({type(err).__name__}: {text}); recreate it") from None
        raise InputError(f"{path}: cannot read as netCDF ({type(err).__name__}: {text})") from None
