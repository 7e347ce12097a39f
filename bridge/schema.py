"""File schemas of the bridge: what each stage writes and the next one reads.

Sections
--------
* Units (``schema = "bridge.units"``): the per-branch transfer functions that
  `bridge fit` writes and `bridge.nn` reads. Below.
* Characterization (``schema = "bridge.characterization"``): what `bridge characterize`
  writes and `bridge fit` reads; one netCDF group per protocol. Section at the end.

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


# =====================================================================================
# Characterization schema
# =====================================================================================
"""
Characterization file (``schema = "bridge.characterization"``, ``schema_version = 1``)
---------------------------------------------------------------------------------------
One netCDF file; the root group holds only attributes, each protocol is a group named
after it (``passive``, ``integration``, ``timing``, ``bap``, ``bac``, ``fi``,
``patterns``); a file holds the groups of the protocols that were run.

Root attributes (provenance; all required)
    ``schema``, ``schema_version``, ``project_version``, ``simulator`` ("neuron" or
    "brian2"), ``simulator_version``, ``cell``, ``morphology_source`` ("builtin" or the
    SWC path), ``morphology_sha256``, ``recipe_sha256``, ``seed``, ``dt_ms``,
    ``temperature_C``, ``created`` (ISO 8601 UTC), ``protocols`` (comma-separated).
Every group repeats ``protocol`` (its name) and holds its own parameters as attributes
(``param_<name>``). Every data variable has a ``units`` attribute ("mV", "ms", "MOhm",
"Hz", "1" for counts and ratios).

``passive``        dims: ``site``
    coords  site_branch (site) int, site_x (site), branch_type (site) str, path_distance_um (site)
    vars    input_resistance_MOhm (), membrane_tau_ms (), sag_ratio ()   [at the soma]
            ss_attenuation (site)   V_soma / V_site, steady state, current injected at site
            epsp_local_mV (site), epsp_soma_mV (site)   one synapse at site
            epsp_attenuation (site) epsp_soma_mV / epsp_local_mV
``integration``    dims: ``branch``, ``placement`` ("clustered", "distributed"),
                   ``condition`` ("control", "nmda_block", "na_block"), ``n_synapses``
                   (1..N), ``synapse`` (0..N-1)
    coords  branch (branch) int id, branch_type (branch) str, path_distance_um (branch)
            of the recording site on the branch; placement; condition; n_synapses; synapse
    vars    measured_local_mV, measured_soma_mV  (branch, placement, condition, n_synapses)
                peak depolarisation at the branch site / soma when the first n synapses
                fire together
            expected_local_mV, expected_soma_mV  (same dims)  arithmetic sum of the
                unitary peaks of the same n synapses (same condition)
            unitary_local_mV, unitary_soma_mV    (branch, placement, condition, synapse)
            soma_spikes                          (branch, placement, condition, n_synapses)
``timing``         dims: ``branch``, ``interval_ms``
    coords  branch, branch_type, path_distance_um (as in integration); interval_ms
    vars    measured_local_mV, measured_soma_mV (branch, interval_ms)
            expected_local_mV, expected_soma_mV (branch)   sum of unitary peaks
``bap``            dims: ``site``
    coords  site_branch, site_x, branch_type, path_distance_um (site)
    vars    bap_amplitude_mV (site), bap_delay_ms (site)
``bac``            dims: ``stimulus`` ("soma", "dendrite", "both")
    vars    soma_spikes (stimulus), dend_peak_mV (stimulus), dend_above_minus40_ms (stimulus)
``fi``             dims: ``current_nA``
    vars    rate_hz (current_nA), n_spikes (current_nA), first_spike_ms (current_nA)
``patterns``       dims: ``pattern``, ``branch``
    coords  branch (branch) int, branch_type (branch), path_distance_um (branch),
            split (pattern) "train" or "test"
    vars    n_active (pattern, branch)   active synapses on each branch in the pattern
            soma_peak_mV (pattern), soma_rate_hz (pattern), soma_spikes (pattern)
"""

CHARACTERIZATION_SCHEMA_NAME = "bridge.characterization"
CHARACTERIZATION_SCHEMA_VERSION = 1
PROVENANCE_ATTRS = ("schema", "schema_version", "project_version", "simulator", "simulator_version",
                    "cell", "morphology_source", "morphology_sha256", "recipe_sha256", "seed",
                    "dt_ms", "temperature_C", "created", "protocols")

_INTEG = ("branch", "placement", "condition", "n_synapses")
_SITE_COORDS = {"site_branch": ("site",), "site_x": ("site",), "branch_type": ("site",),
                "path_distance_um": ("site",)}
_BRANCH_COORDS = {"branch": ("branch",), "branch_type": ("branch",), "path_distance_um": ("branch",)}

CHARACTERIZATION_GROUPS: dict[str, dict] = {
    "passive": {
        "coords": _SITE_COORDS,
        "data_vars": {"input_resistance_MOhm": ((), "MOhm"), "membrane_tau_ms": ((), "ms"),
                      "sag_ratio": ((), "1"), "ss_attenuation": (("site",), "1"),
                      "epsp_local_mV": (("site",), "mV"), "epsp_soma_mV": (("site",), "mV"),
                      "epsp_attenuation": (("site",), "1")},
    },
    "integration": {
        "coords": {**_BRANCH_COORDS, "placement": ("placement",), "condition": ("condition",),
                   "n_synapses": ("n_synapses",), "synapse": ("synapse",)},
        "data_vars": {"measured_local_mV": (_INTEG, "mV"), "measured_soma_mV": (_INTEG, "mV"),
                      "expected_local_mV": (_INTEG, "mV"), "expected_soma_mV": (_INTEG, "mV"),
                      "unitary_local_mV": (("branch", "placement", "condition", "synapse"), "mV"),
                      "unitary_soma_mV": (("branch", "placement", "condition", "synapse"), "mV"),
                      "soma_spikes": (_INTEG, "1")},
    },
    "timing": {
        "coords": {**_BRANCH_COORDS, "interval_ms": ("interval_ms",)},
        "data_vars": {"measured_local_mV": (("branch", "interval_ms"), "mV"),
                      "measured_soma_mV": (("branch", "interval_ms"), "mV"),
                      "expected_local_mV": (("branch",), "mV"),
                      "expected_soma_mV": (("branch",), "mV")},
    },
    "bap": {
        "coords": _SITE_COORDS,
        "data_vars": {"bap_amplitude_mV": (("site",), "mV"), "bap_delay_ms": (("site",), "ms")},
    },
    "bac": {
        "coords": {"stimulus": ("stimulus",)},
        "data_vars": {"soma_spikes": (("stimulus",), "1"), "dend_peak_mV": (("stimulus",), "mV"),
                      "dend_above_minus40_ms": (("stimulus",), "ms")},
    },
    "fi": {
        "coords": {"current_nA": ("current_nA",)},
        "data_vars": {"rate_hz": (("current_nA",), "Hz"), "n_spikes": (("current_nA",), "1"),
                      "first_spike_ms": (("current_nA",), "ms")},
    },
    "patterns": {
        "coords": {**_BRANCH_COORDS, "split": ("pattern",)},
        "data_vars": {"n_active": (("pattern", "branch"), "1"), "soma_peak_mV": (("pattern",), "mV"),
                      "soma_rate_hz": (("pattern",), "Hz"), "soma_spikes": (("pattern",), "1")},
    },
}
"""Per protocol group: required coordinates (name -> dims) and variables (name -> (dims, units))."""


def _check_version(attrs, source, name, version_max):
    def fail(msg):
        raise InputError(f"{source}: {msg}")
    if attrs.get("schema") != name:
        fail(f"not a {name.split('.')[-1]} file (attribute schema={attrs.get('schema')!r}, expected {name!r})")
    try:
        version = int(attrs.get("schema_version"))
    except (TypeError, ValueError):
        fail(f"attribute schema_version={attrs.get('schema_version')!r} is not an integer")
    if version > version_max:
        fail(f"schema_version {version} is newer than this bridge reads ({version_max}); upgrade the bridge")
    if version < 1:
        fail(f"invalid schema_version {version}")


def check_characterization_group(ds: xr.Dataset, protocol: str, source: str = "characterization") -> xr.Dataset:
    """Check one protocol group against :data:`CHARACTERIZATION_GROUPS`; raise `InputError`."""
    where = f"{source} [{protocol}]"
    if protocol not in CHARACTERIZATION_GROUPS:
        raise InputError(f"{where}: unknown protocol (known: {', '.join(CHARACTERIZATION_GROUPS)})")
    spec = CHARACTERIZATION_GROUPS[protocol]
    for name, dims in spec["coords"].items():
        if name not in ds.variables:
            raise InputError(f"{where}: missing coordinate {name!r}")
        if tuple(ds[name].dims) != dims:
            raise InputError(f"{where}: coordinate {name!r} has dims {tuple(ds[name].dims)}, expected {dims}")
    for name, (dims, units) in spec["data_vars"].items():
        if name not in ds.data_vars:
            raise InputError(f"{where}: missing variable {name!r}")
        if tuple(ds[name].dims) != dims:
            raise InputError(f"{where}: variable {name!r} has dims {tuple(ds[name].dims)}, expected {dims}")
        if ds[name].attrs.get("units") != units:
            raise InputError(f"{where}: variable {name!r} has units {ds[name].attrs.get('units')!r}, "
                             f"expected {units!r}")
    return ds


def check_characterization_attrs(attrs: Mapping, source: str = "characterization") -> None:
    """Check the root (provenance) attributes of a characterization file."""
    _check_version(attrs, source, CHARACTERIZATION_SCHEMA_NAME, CHARACTERIZATION_SCHEMA_VERSION)
    for name in PROVENANCE_ATTRS:
        if name not in attrs:
            raise InputError(f"{source}: missing provenance attribute {name!r}")
