"""File schemas of the bridge: what each stage writes and the next one reads.

Sections
--------
* Units (``schema = "bridge.units"``): the per-branch transfer functions that
  `bridge fit` writes and `bridge.nn` reads. Below.
* Characterization: to be added (its own section, same conventions).

Conventions: xarray datasets stored as netCDF4 through h5netcdf; every data variable has
a ``units`` attribute; the dataset has ``schema`` and integer ``schema_version``
attributes. Readers accept older or equal versions and reject newer ones.

Units dataset (``schema = "bridge.units"``, ``schema_version = 1``)
-------------------------------------------------------------------
Dimensions: ``branch``, ``param``, ``branch_type``.

Coordinates
    ``branch`` (branch)                 int, branch id in the source cell
    ``branch_type_of_branch`` (branch)  str, e.g. "basal", "apical", "oblique", "tuft"
    ``path_distance_um`` (branch)       float, path distance from the soma (um)
    ``param`` (param)                   str, union of the parameter names of all
                                        families in `bridge.transfer.FAMILIES`
    ``branch_type`` (branch_type)       str

Data variables
    ``family`` (branch)                          str, a name in `bridge.transfer.FAMILIES`
    ``params`` (branch, param)                   fitted parameters; NaN where the branch's
                                                 family does not use the parameter
    ``params_std`` (branch, param)               their standard errors (NaN where unknown)
    ``r2`` (branch)                              coefficient of determination of the fit
    ``rmse_mV`` (branch)                         root-mean-square error of the fit (mV)
    ``type_family`` (branch_type)                most common family among the type's branches
    ``type_params_median`` (branch_type, param)  median over the type's branches that have
                                                 ``type_family``
    ``type_params_iqr`` (branch_type, param)     interquartile range, same branches

Attributes
    ``schema`` = "bridge.units", ``schema_version`` = 1,
    ``input_units`` (e.g. "mV (expected linear sum)"), ``output_units`` ("mV"),
    ``input_range_min``, ``input_range_max`` (the range of expected inputs the fits saw),
    plus free-form provenance copied from the characterization (cell, seed, versions ...).

Parameter meanings are those of `bridge.transfer` (one source of truth).
"""
from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from bridge.io import write_netcdf_atomic

from cells.errors import InputError
from bridge.transfer import FAMILIES, all_param_names

# =====================================================================================
# Units schema
# =====================================================================================

UNITS_SCHEMA_NAME = "bridge.units"
UNITS_SCHEMA_VERSION = 1

# name -> (dims, expected units attr or None for "any")
UNITS_SCHEMA: dict[str, dict] = {
    "name": UNITS_SCHEMA_NAME,
    "version": UNITS_SCHEMA_VERSION,
    "dims": ("branch", "param", "branch_type"),
    "coords": {
        "branch": ("branch",),
        "branch_type_of_branch": ("branch",),
        "path_distance_um": ("branch",),
        "param": ("param",),
        "branch_type": ("branch_type",),
    },
    "data_vars": {
        "family": (("branch",), "1"),
        "params": (("branch", "param"), "family-specific (see bridge.transfer)"),
        "params_std": (("branch", "param"), "family-specific (see bridge.transfer)"),
        "r2": (("branch",), "1"),
        "rmse_mV": (("branch",), "mV"),
        "type_family": (("branch_type",), "1"),
        "type_params_median": (("branch_type", "param"), "family-specific (see bridge.transfer)"),
        "type_params_iqr": (("branch_type", "param"), "family-specific (see bridge.transfer)"),
    },
    "attrs": ("schema", "schema_version", "input_units", "output_units",
              "input_range_min", "input_range_max"),
}
"""Machine-readable description of the units schema (see the module docstring)."""


def _type_summary(families, types, params, param_names):
    """type_family, median and IQR per branch type (over branches with the type's family)."""
    type_names = list(dict.fromkeys(types))  # stable order of appearance
    n_t, n_p = len(type_names), len(param_names)
    fam_out = []
    med = np.full((n_t, n_p), np.nan)
    iqr = np.full((n_t, n_p), np.nan)
    for i, t in enumerate(type_names):
        sel = [j for j, tt in enumerate(types) if tt == t]
        counts = Counter(families[j] for j in sel)
        # most common; ties broken by family registry order, deterministic
        order = list(FAMILIES)
        best = max(counts, key=lambda f: (counts[f], -order.index(f) if f in order else -999))
        fam_out.append(best)
        rows = params[[j for j in sel if families[j] == best]]
        with warnings.catch_warnings():  # all-NaN columns (parameters of other families)
            warnings.simplefilter("ignore", RuntimeWarning)
            med[i] = np.nanmedian(rows, axis=0)
            q75, q25 = np.nanpercentile(rows, [75, 25], axis=0)
        iqr[i] = q75 - q25
    return type_names, fam_out, med, iqr


def make_units_dataset(
    branch: Sequence[int],
    branch_type: Sequence[str],
    family: Sequence[str],
    params: Sequence[Mapping[str, float]] | np.ndarray,
    *,
    path_distance_um: Sequence[float] | None = None,
    params_std: Sequence[Mapping[str, float]] | np.ndarray | None = None,
    r2: Sequence[float] | None = None,
    rmse_mV: Sequence[float] | None = None,
    input_range: tuple[float, float] = (0.0, 40.0),
    input_units: str = "mV (expected linear sum)",
    output_units: str = "mV",
    provenance: Mapping[str, object] | None = None,
) -> xr.Dataset:
    """Build a units dataset that passes :func:`check_units`.

    `params` (and `params_std`) is either one mapping name -> value per branch (names
    of that branch's family; others become NaN) or an array (n_branch, n_param) on the
    axis :func:`bridge.transfer.all_param_names`. The per-type summaries are computed
    here. `provenance` entries become attributes (values converted to str unless they
    are numbers).
    """
    names = all_param_names()
    n = len(branch)
    if not (len(branch_type) == len(family) == n):
        raise ValueError("branch, branch_type and family must have the same length")
    for f in family:
        if f not in FAMILIES:
            raise ValueError(f"unknown transfer family {f!r}; known: {', '.join(FAMILIES)}")

    def to_array(values):
        if values is None:
            return np.full((n, len(names)), np.nan)
        if isinstance(values, np.ndarray):
            arr = np.asarray(values, dtype=float)
            if arr.shape != (n, len(names)):
                raise ValueError(f"params array must have shape {(n, len(names))}, got {arr.shape}")
            return arr.copy()
        arr = np.full((n, len(names)), np.nan)
        for i, row in enumerate(values):
            for k, v in row.items():
                if k not in names:
                    raise ValueError(f"unknown parameter {k!r}")
                arr[i, names.index(k)] = float(v)
        return arr

    p = to_array(params)
    p_std = to_array(params_std)
    types_list = [str(t) for t in branch_type]
    fam_list = [str(f) for f in family]
    t_names, t_fam, t_med, t_iqr = _type_summary(fam_list, types_list, p, names)
    pdist = np.full(n, np.nan) if path_distance_um is None else np.asarray(path_distance_um, float)
    r2_arr = np.full(n, np.nan) if r2 is None else np.asarray(r2, float)
    rmse = np.full(n, np.nan) if rmse_mV is None else np.asarray(rmse_mV, float)
    punit = "family-specific (see bridge.transfer)"
    ds = xr.Dataset(
        data_vars={
            "family": ("branch", np.array(fam_list, dtype=object), {"units": "1"}),
            "params": (("branch", "param"), p, {"units": punit}),
            "params_std": (("branch", "param"), p_std, {"units": punit}),
            "r2": ("branch", r2_arr, {"units": "1"}),
            "rmse_mV": ("branch", rmse, {"units": "mV"}),
            "type_family": ("branch_type", np.array(t_fam, dtype=object), {"units": "1"}),
            "type_params_median": (("branch_type", "param"), t_med, {"units": punit}),
            "type_params_iqr": (("branch_type", "param"), t_iqr, {"units": punit}),
        },
        coords={
            "branch": ("branch", np.asarray(branch, dtype=np.int64)),
            "branch_type_of_branch": ("branch", np.array(types_list, dtype=object)),
            "path_distance_um": ("branch", pdist, {"units": "um"}),
            "param": ("param", np.array(names, dtype=object)),
            "branch_type": ("branch_type", np.array(t_names, dtype=object)),
        },
        attrs={
            "schema": UNITS_SCHEMA_NAME,
            "schema_version": UNITS_SCHEMA_VERSION,
            "input_units": input_units,
            "output_units": output_units,
            "input_range_min": float(input_range[0]),
            "input_range_max": float(input_range[1]),
        },
    )
    for k, v in (provenance or {}).items():
        if k in ds.attrs:
            continue
        ds.attrs[k] = v if isinstance(v, (int, float, np.integer, np.floating)) else str(v)
    return ds


def check_units(ds: xr.Dataset, source: str = "units dataset") -> xr.Dataset:
    """Check `ds` against the units schema; raise `InputError` naming the first problem.

    Returns `ds` unchanged, so ``ds = check_units(ds)`` reads well.
    """
    def fail(msg):
        raise InputError(f"{source}: {msg}")

    schema = ds.attrs.get("schema")
    if schema != UNITS_SCHEMA_NAME:
        fail(f"not a units file (attribute schema={schema!r}, expected {UNITS_SCHEMA_NAME!r})")
    try:
        version = int(ds.attrs.get("schema_version"))
    except (TypeError, ValueError):
        fail(f"attribute schema_version={ds.attrs.get('schema_version')!r} is not an integer")
    if version > UNITS_SCHEMA_VERSION:
        fail(f"schema_version {version} is newer than this bridge reads ({UNITS_SCHEMA_VERSION}); "
             "upgrade the bridge")
    if version < 1:
        fail(f"invalid schema_version {version}")
    for name in UNITS_SCHEMA["attrs"]:
        if name not in ds.attrs:
            fail(f"missing attribute {name!r}")
    try:
        lo, hi = float(ds.attrs["input_range_min"]), float(ds.attrs["input_range_max"])
    except (TypeError, ValueError):
        fail("input_range_min/input_range_max are not numbers")
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        fail(f"input range [{lo}, {hi}] is not a finite, increasing interval")
    for name, dims in UNITS_SCHEMA["coords"].items():
        if name not in ds.coords and name not in ds.variables:
            fail(f"missing coordinate {name!r}")
        if tuple(ds[name].dims) != dims:
            fail(f"coordinate {name!r} has dims {tuple(ds[name].dims)}, expected {dims}")
    for name, (dims, _units) in UNITS_SCHEMA["data_vars"].items():
        if name not in ds.data_vars:
            fail(f"missing variable {name!r}")
        if tuple(ds[name].dims) != dims:
            fail(f"variable {name!r} has dims {tuple(ds[name].dims)}, expected {dims}")
        if "units" not in ds[name].attrs:
            fail(f"variable {name!r} has no 'units' attribute")
    params = [str(p) for p in ds["param"].values]
    for var in ("family", "type_family"):
        for f in ds[var].values:
            if str(f) not in FAMILIES:
                fail(f"{var} contains unknown transfer family {str(f)!r} "
                     f"(known: {', '.join(FAMILIES)})")
    # each branch has all parameters of its family
    pv = ds["params"].values
    for i, f in enumerate(ds["family"].values):
        for pname in FAMILIES[str(f)].param_names:
            if pname not in params:
                fail(f"param axis lacks {pname!r} needed by family {str(f)!r}")
            if not np.isfinite(pv[i, params.index(pname)]):
                fail(f"branch {ds['branch'].values[i]} ({f}) has no value for parameter {pname!r}")
    return ds


def open_units(path: str | os.PathLike) -> xr.Dataset:
    """Read and check a units file; unreadable, truncated or wrong files raise `InputError`."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such units file")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ds = ds.load()
    except Exception as err:  # h5py/h5netcdf raise OSError, ValueError, KeyError ...
        raise InputError(f"{path}: cannot read as netCDF ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else 'unreadable'})") from None
    return check_units(ds, source=path)


def write_units(ds: xr.Dataset, path: str | os.PathLike) -> None:
    """Check and write a units dataset atomically (temporary file, then rename)."""
    check_units(ds, source="dataset to write")
    write_netcdf_atomic(ds, path)
