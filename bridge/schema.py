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

Units dataset, version 2 (written by `bridge fit`; readers accept versions 1 and 2)
--------------------------------------------------------------------------------------
Everything of version 1, with the same meaning: ``family``/``params`` (and the per-type
summaries the torch layers read) are the *default* fit -- measured local peak versus
expected linear sum, for placement ``default_placement`` and condition
``default_condition`` (normally "clustered", "control"). Added:

Dimensions: ``placement``, ``condition``, ``candidate`` (the families tried, in
`bridge.transfer.FAMILIES` order); optional ``model``, ``target``, ``subunit``, ``pattern``.

Per branch (required)
    ``flags`` (branch)  str, comma-separated flags of the default fit ("" = clean). Flags:
        empty, flat, non_monotone (data); failed, not_converged, singular_covariance,
        poorly_constrained (a standard error larger than the parameter's reference size),
        at_bound (see `bridge.fit.curves`)
    ``curve_family`` (branch, placement, condition)   chosen family ("" = no fit, see flags)
    ``curve_params``, ``curve_params_std`` (branch, placement, condition, param)
    ``curve_r2``, ``curve_rmse_mV``, ``curve_n_points``, ``curve_flags`` (branch, placement, condition)
    ``curve_aic``, ``curve_bic``, ``curve_candidate_r2`` (branch, placement, condition, candidate)
        every candidate family's criteria and R^2 (NaN where it failed)
    ``count_*``  the same eight variables for the measured local peak versus the *number*
        of co-active synapses (input unit: synapses; ``count_rmse_mV``)
    ``input_mV_per_synapse``, ``soma_mV_per_synapse`` (branch, placement, condition)
        mean unitary peak at the branch / soma: the input scale (expected mV = synapses x
        input_mV_per_synapse) and the soma's view of one synapse
Per branch type (required)
    ``type_n_branches`` (branch_type), ``type_r2_median`` (branch_type),
    ``type_family_count`` (branch_type, candidate)  branches per chosen family
    ``type_distance_slope`` (branch_type, param)   least-squares slope of each parameter
        of ``type_family`` against path distance, per 100 um (NaN with < 3 branches)
    ``type_distance_corr`` (branch_type, param)    Spearman rank correlation of the same
Timing (optional; all or none), per branch, from the `timing` group:
    ``timing_amplitude_mV``, ``timing_tau_ms``, ``timing_tau_ms_std``, ``timing_baseline_mV``,
    ``timing_r2``, ``timing_flags``: measured peak = baseline + amplitude exp(-interval / tau)
Two-layer model (optional; all or none), from the `patterns` group (`bridge.fit.two_layer`):
    coords ``model`` ("two_layer", "two_layer_refit", "point_neuron": total active synapses x
    the mean unitary size through the output sigmoid, "linear_weighted": one weight per
    branch input through it), ``target``
    ("soma_peak_mV", "soma_rate_hz", "soma_peak_subthreshold_mV": the peak of the patterns
    without a somatic spike, NaN for the others), ``subunit`` (int branch id), ``subunit_type``
    (subunit), ``pattern`` (int), ``pattern_split`` (pattern) "train"/"test"
    ``two_layer_variance_explained`` (model, target)        on the held-out (test) patterns
    ``two_layer_variance_explained_train`` (model, target)
    ``two_layer_weight`` (model, target, subunit)          somatic weight of each subunit
    ``two_layer_output_params`` (model, target, param)      output sigmoid (family
        `sigmoid`, slope 1) of the weighted sum: y = baseline + amplitude sigmoid(z - threshold)
    ``two_layer_refit_params`` (target, param)              the shared subunit sigmoid of
        "two_layer_refit" (threshold, slope in mV; amplitude 1, baseline -f(0))
    ``two_layer_subunit_family`` (subunit), ``two_layer_subunit_params`` (subunit, param),
    ``two_layer_subunit_mV_per_synapse`` (subunit), ``two_layer_subunit_source`` (subunit)
        the fixed subunit function of "two_layer" ("branch": the branch's own default fit;
        "type_median": the branch was not in the integration group)
    ``two_layer_predicted`` (model, target, pattern), ``two_layer_measured`` (target, pattern)
    ``two_layer_flags`` (model, target)                     str ("" = fitted)
    attribute ``two_layer_point_neuron_mV_per_synapse`` (extra): the point neuron's input per
        active synapse (its weight is the same for every subunit)
Attributes (required in version 2)
    ``default_placement``, ``default_condition``, ``selection_criterion`` ("bic" or "aic"),
    ``fit_family`` ("auto" or the forced family), ``count_input_units`` ("synapses"),
    ``fit_settings`` (JSON), ``source_file``; the characterization's provenance
    (``cell``, ``seed``, ``simulator`` ...; its ``schema_version`` and ``protocols`` as
    ``characterization_schema_version``, ``characterization_protocols``).
"""
from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from bridge.io import read_netcdf, write_netcdf_atomic

from dendritic_errors import InputError
from bridge.transfer import FAMILIES, all_param_names

# =====================================================================================
# Units schema
# =====================================================================================

UNITS_SCHEMA_NAME = "bridge.units"
UNITS_SCHEMA_VERSION = 2

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
"""Machine-readable description of the units schema, version 1 part (see the module docstring)."""

_UP = "family-specific (see bridge.transfer)"
_BPC = ("branch", "placement", "condition")


def _curve_vars(prefix: str, rmse_units: str = "mV") -> dict:
    return {
        f"{prefix}_family": (_BPC, "1"), f"{prefix}_params": ((*_BPC, "param"), _UP),
        f"{prefix}_params_std": ((*_BPC, "param"), _UP), f"{prefix}_r2": (_BPC, "1"),
        f"{prefix}_rmse_mV": (_BPC, rmse_units), f"{prefix}_n_points": (_BPC, "1"),
        f"{prefix}_flags": (_BPC, "1"), f"{prefix}_aic": ((*_BPC, "candidate"), "1"),
        f"{prefix}_bic": ((*_BPC, "candidate"), "1"), f"{prefix}_candidate_r2": ((*_BPC, "candidate"), "1"),
    }


UNITS_SCHEMA_V2: dict[str, dict] = {
    "coords": {"placement": ("placement",), "condition": ("condition",), "candidate": ("candidate",)},
    "data_vars": {
        "flags": (("branch",), "1"),
        **_curve_vars("curve"), **_curve_vars("count"),
        "input_mV_per_synapse": (_BPC, "mV"), "soma_mV_per_synapse": (_BPC, "mV"),
        "type_n_branches": (("branch_type",), "1"), "type_r2_median": (("branch_type",), "1"),
        "type_family_count": (("branch_type", "candidate"), "1"),
        "type_distance_slope": (("branch_type", "param"), "parameter unit per 100 um"),
        "type_distance_corr": (("branch_type", "param"), "1"),
    },
    "attrs": ("default_placement", "default_condition", "selection_criterion", "fit_family",
              "count_input_units", "fit_settings", "source_file"),
    # optional blocks: all variables of a block or none
    "optional": {
        "timing": {"coords": {}, "data_vars": {
            "timing_amplitude_mV": (("branch",), "mV"), "timing_tau_ms": (("branch",), "ms"),
            "timing_tau_ms_std": (("branch",), "ms"), "timing_baseline_mV": (("branch",), "mV"),
            "timing_r2": (("branch",), "1"), "timing_flags": (("branch",), "1")}},
        "two_layer": {
            "coords": {"model": ("model",), "target": ("target",), "subunit": ("subunit",),
                       "subunit_type": ("subunit",), "pattern": ("pattern",), "pattern_split": ("pattern",)},
            "data_vars": {
                "two_layer_variance_explained": (("model", "target"), "1"),
                "two_layer_variance_explained_train": (("model", "target"), "1"),
                "two_layer_weight": (("model", "target", "subunit"), None),
                "two_layer_output_params": (("model", "target", "param"), None),
                "two_layer_refit_params": (("target", "param"), None),
                "two_layer_subunit_family": (("subunit",), "1"),
                "two_layer_subunit_params": (("subunit", "param"), _UP),
                "two_layer_subunit_mV_per_synapse": (("subunit",), "mV"),
                "two_layer_subunit_source": (("subunit",), "1"),
                "two_layer_predicted": (("model", "target", "pattern"), None),
                "two_layer_measured": (("target", "pattern"), None),
                "two_layer_flags": (("model", "target"), "1")}},
    },
}
"""What version 2 adds (required unless under "optional"; units None: any, but present)."""


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
            "schema_version": 1,   # the version-1 content; `bridge.fit.export` adds version 2
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
    _check_block(ds, UNITS_SCHEMA["coords"], UNITS_SCHEMA["data_vars"], fail)
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
    if version >= 2:
        _check_units_v2(ds, fail)
    return ds


def _check_block(ds, coords, data_vars, fail):
    for name, dims in coords.items():
        if name not in ds.variables:
            fail(f"missing coordinate {name!r}")
        if tuple(ds[name].dims) != dims:
            fail(f"coordinate {name!r} has dims {tuple(ds[name].dims)}, expected {dims}")
    for name, (dims, _units) in data_vars.items():
        if name not in ds.data_vars:
            fail(f"missing variable {name!r}")
        if tuple(ds[name].dims) != dims:
            fail(f"variable {name!r} has dims {tuple(ds[name].dims)}, expected {dims}")
        if "units" not in ds[name].attrs:
            fail(f"variable {name!r} has no 'units' attribute")


def _check_units_v2(ds: xr.Dataset, fail) -> None:
    spec = UNITS_SCHEMA_V2
    for name in spec["attrs"]:
        if name not in ds.attrs:
            fail(f"missing attribute {name!r} (schema_version 2)")
    _check_block(ds, spec["coords"], spec["data_vars"], fail)
    for c in ds["candidate"].values:
        if str(c) not in FAMILIES:
            fail(f"candidate contains unknown transfer family {str(c)!r}")
    for var in ("curve_family", "count_family"):
        bad = {str(f) for f in np.asarray(ds[var].values).ravel()} - set(FAMILIES) - {""}
        if bad:
            fail(f"{var} contains unknown transfer family {sorted(bad)[0]!r}")
    for what, key in (("placement", "default_placement"), ("condition", "default_condition")):
        if str(ds.attrs[key]) not in [str(v) for v in ds[what].values]:
            fail(f"attribute {key}={ds.attrs[key]!r} is not on the {what} axis")
    for block, bspec in spec["optional"].items():
        present = [n for n in bspec["data_vars"] if n in ds.data_vars]
        if present:
            _check_block(ds, bspec["coords"], bspec["data_vars"], fail)


def open_units(path: str | os.PathLike) -> xr.Dataset:
    """Read and check a units file; unreadable, truncated or wrong files raise `InputError`."""
    path = os.fspath(path)
    return check_units(read_netcdf(path, "units"), source=path)


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
    ``temperature_C``, ``created`` (ISO 8601 UTC), ``protocols`` (comma-separated);
    ``mechanisms_key`` (hash of the NMODL files, NEURON version and machine)  (extra).
Every group repeats ``protocol`` (its name) and a copy of the root provenance (so a group
read alone still says where it came from), and holds its own parameters as attributes
(``param_<name>``) with plain-language descriptions of its conditions/placements. Every
data variable has a ``units`` attribute ("mV", "ms", "MOhm", "Hz", "um", "1" for counts and
ratios). Peaks ("..._mV" of a response) are depolarisations above the voltage at stimulus
onset, taken within the protocol's window (``param_window_ms``). Variables marked
"(extra)" below are always written but not required by the checker; a reader must not
rely on any other variable. Write with :func:`write_characterization`, read with
:func:`open_characterization` (checks everything listed here except "(extra)").

``passive``        dims: ``site``
    coords  site_branch (site) int, site_x (site), branch_type (site) str, path_distance_um (site)
    vars    input_resistance_MOhm (), membrane_tau_ms (), sag_ratio ()   [at the soma]
                sag_ratio = (V_ss - V_min) / (V_rest - V_min) of a hyperpolarising step
            rest_mV ()  (extra)
            ss_attenuation (site)   V_soma / V_site, steady state, current injected at site
            epsp_local_mV (site), epsp_soma_mV (site)   one synapse at site
            epsp_attenuation (site) epsp_soma_mV / epsp_local_mV
``integration``    dims: ``branch``, ``placement`` ("clustered", "distributed"),
                   ``condition`` ("control", "nmda_block", "na_block"), ``n_synapses``
                   (1..N), ``synapse`` (0..N-1)
    coords  branch (branch) int id, branch_type (branch) str, path_distance_um (branch)
            of the recording site on the branch; placement; condition; n_synapses; synapse;
            site_x (branch) the recording site (the cluster centre)  (extra)
    vars    measured_local_mV, measured_soma_mV  (branch, placement, condition, n_synapses)
                peak depolarisation at the branch site / soma when the first n synapses
                fire together
            expected_local_mV, expected_soma_mV  (same dims)  arithmetic sum of the
                unitary peaks of the same n synapses (same condition)
            unitary_local_mV, unitary_soma_mV    (branch, placement, condition, synapse)
            soma_spikes                          (branch, placement, condition, n_synapses)
            synapse_branch, synapse_x, synapse_path_distance_um, synapse_time_ms
                                                 (branch, placement, synapse)  (extra)
            trace_local_mV, trace_soma_mV (branch, placement, condition, n_synapses,
                time_ms), coord time_ms: only with `bridge characterize --traces` (extra)
``timing``         dims: ``branch``, ``interval_ms``
    coords  branch, branch_type, path_distance_um (as in integration); interval_ms
    vars    measured_local_mV, measured_soma_mV (branch, interval_ms)
            expected_local_mV, expected_soma_mV (branch)   sum of unitary peaks
``bap``            dims: ``site``
    coords  site_branch, site_x, branch_type, path_distance_um (site)
    vars    bap_amplitude_mV (site), bap_delay_ms (site)
``bac``            dims: ``stimulus`` ("soma", "dendrite", "both")
    vars    soma_spikes (stimulus), dend_peak_mV (stimulus) peak dendritic membrane
            potential (absolute), dend_above_plateau_ms (stimulus)
``fi``             dims: ``current_nA``
    vars    rate_hz (current_nA), n_spikes (current_nA), first_spike_ms (current_nA)
``patterns``       dims: ``pattern``, ``branch``
    coords  branch (branch) int, branch_type (branch), path_distance_um (branch),
            split (pattern) "train" or "test"
    vars    n_active (pattern, branch)   active synapses on each branch in the pattern
            soma_peak_mV (pattern), soma_rate_hz (pattern), soma_spikes (pattern)
            local_peak_mV (pattern, branch) at each branch's cluster centre,
            total_active (pattern) T, n_target_branches (pattern) k, n_branches_active
            (pattern), coord pattern (pattern) int, site_x (branch)  (extra)
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
                      "dend_above_plateau_ms": (("stimulus",), "ms")},
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


def _netcdf_attr(value):
    """A value netCDF can store as an attribute (numbers, strings, numeric arrays)."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, float, str, np.integer, np.floating)):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        return value
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                          for v in value):
        return np.asarray(value)
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def write_characterization(groups: Mapping[str, xr.Dataset], attrs: Mapping, path: str | os.PathLike) -> None:
    """Check and write a characterization file atomically (temporary file, then rename).

    `attrs` are the root provenance attributes (:data:`PROVENANCE_ATTRS`; ``schema``,
    ``schema_version`` and ``protocols`` are filled in); each group gets ``protocol`` and
    a copy of the provenance, so a group read on its own still says where it came from.
    """
    root = {k: _netcdf_attr(v) for k, v in attrs.items()}
    root.update(schema=CHARACTERIZATION_SCHEMA_NAME, schema_version=CHARACTERIZATION_SCHEMA_VERSION,
                protocols=",".join(groups))
    check_characterization_attrs(root, source="dataset to write")
    nodes = {"/": xr.Dataset(attrs=root)}
    for name, ds in groups.items():
        ds = ds.copy()
        ds.attrs = {**{k: v for k, v in root.items() if k != "protocols"},
                    **{k: _netcdf_attr(v) for k, v in ds.attrs.items()}, "protocol": name}
        check_characterization_group(ds, name, source="dataset to write")
        nodes[f"/{name}"] = ds
    write_netcdf_atomic(xr.DataTree.from_dict(nodes), path)


def open_characterization(path: str | os.PathLike) -> dict[str, xr.Dataset]:
    """Read and check a characterization file; returns protocol name -> Dataset (loaded).

    The root attributes (provenance) are also on every group. A missing, truncated or
    unreadable file, a newer schema version, a missing group, variable, coordinate or
    ``units`` attribute, or a wrong dimension raises `InputError` naming the problem.
    """
    path = os.fspath(path)
    tree = read_netcdf(path, "characterization", tree=True)
    root = dict(tree.attrs)
    check_characterization_attrs(root, source=path)
    listed = [p for p in str(root["protocols"]).split(",") if p]
    out = {}
    for name in listed:
        if name not in tree.children:
            raise InputError(f"{path}: group {name!r} listed in attribute 'protocols' is missing")
        ds = tree[name].to_dataset()
        if ds.attrs.get("protocol") != name:
            raise InputError(f"{path} [{name}]: attribute protocol={ds.attrs.get('protocol')!r}, expected {name!r}")
        out[name] = check_characterization_group(ds, name, source=path)
    return out
