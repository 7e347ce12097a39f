"""File schemas of the bridge: what each stage writes and the next one reads.

Every variable of every file is declared once, as a :class:`Var` in a :class:`Group`
(:data:`UNITS_GROUPS`, :data:`CHARACTERIZATION_GROUPS`); root attributes as :class:`Attr`
(:data:`UNITS_ATTRS`, :data:`CHARACTERIZATION_ATTRS`). From these declarations come the
checkers (:func:`check_units`, :func:`check_characterization_group`), the ``units`` and
``long_name`` attributes the writers attach (:func:`apply_spec`), and the documentation
``docs/schema.md`` (:func:`schema_markdown`; regenerate with ``python -m bridge.schema``).

Conventions: xarray datasets stored as netCDF4 through h5netcdf, one netCDF group per
:class:`Group`; every variable has a ``units`` attribute; the root has ``schema`` and an
integer ``schema_version``. Transfer-family parameters mean what `bridge.transfer` says.
"""
from __future__ import annotations

import json
import math
import os
import sys
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from bridge.io import read_netcdf, write_netcdf_atomic
from bridge.transfer import FAMILIES, all_param_names, param_units_table
from dendritic_errors import InputError

# =====================================================================================
# Declarations
# =====================================================================================

_KINDS = {"f": ("f", "float"), "i": ("iu", "integer"), "n": ("iufb", "number"), "s": ("OUS", "string")}


@dataclass(frozen=True)
class Var:
    """One variable (or coordinate) of a group.

    `units`: the ``units`` attribute it must carry (None: set by the writer, any non-empty
    string). `kind`: "f" float, "i" integer, "n" any number, "s" string. `required=False`:
    optional (checked when present); `block`: optional variables that come all or none.
    """

    name: str
    dims: tuple[str, ...]
    units: str | None
    long_name: str
    kind: str = "n"
    required: bool = True
    coord: bool = False
    block: str = ""


@dataclass(frozen=True)
class Attr:
    """A root attribute; `group`: required only when that group is present."""

    name: str
    description: str
    required: bool = True
    group: str = ""


@dataclass(frozen=True)
class Group:
    """A netCDF group: its variables and coordinates. `required`: the file must have it."""

    name: str
    doc: str
    vars: tuple[Var, ...]
    required: bool = True

    def var(self, name: str) -> Var | None:
        return next((v for v in self.vars if v.name == name), None)


def _c(name, dims, units, long_name, kind="n", required=True):
    return Var(name, dims, units, long_name, kind, required, coord=True)


# =====================================================================================
# Units file (written by `bridge fit`, read by `bridge.nn`)
# =====================================================================================

UNITS_SCHEMA_NAME = "bridge.units"
UNITS_SCHEMA_VERSION = 4
"""4: optional temporal neuron models (netCDF groups ``temporal/<condition>/<model>``,
:data:`TEMPORAL_MODEL_ATTRS`); a file may hold only those. 3: netCDF groups
transfer/diagnostics/two_layer and parameter units. Versions 1 and 2 (one flat group, no
parameter units) and 3 are converted on reading (:func:`open_units`)."""

PARAMS_UNITS = "per family: see param_units"
COUNT_PARAMS_UNITS = "per family: see count_param_units"
_B, _T, _P, _F = ("branch",), ("branch_type",), ("param",), ("family_name",)
_BPC = ("branch", "placement", "condition")

_BRANCH_COORDS = (
    _c("branch", _B, "1", "branch id in the source cell", "i"),
    _c("branch_type_of_branch", _B, "1", "type of the branch (basal, apical, oblique, tuft ...)", "s"),
    _c("path_distance_um", _B, "um", "path distance of the branch's recording site from the soma"),
)
_PARAM_COORDS = (
    _c("param", _P, "1", "parameter names: the union over bridge.transfer.FAMILIES", "s"),
    _c("family_name", _F, "1", "the transfer families of bridge.transfer.FAMILIES, in order", "s"),
)
_TYPE_COORD = _c("branch_type", _T, "1", "branch type", "s")


def _fit_vars(prefix: str, what: str, params_units: str) -> tuple[Var, ...]:
    bpcc = (*_BPC, "candidate")
    return (
        Var(f"{prefix}_family", _BPC, "1", f"chosen family, {what} ('' = no fit, see flags)", "s"),
        Var(f"{prefix}_params", (*_BPC, "param"), params_units, f"parameters of the chosen family, {what}", "f"),
        Var(f"{prefix}_params_std", (*_BPC, "param"), params_units, "their standard errors", "f"),
        Var(f"{prefix}_r2", _BPC, "1", "coefficient of determination of the chosen fit", "f"),
        Var(f"{prefix}_rmse_mV", _BPC, "mV", "root-mean-square error of the chosen fit", "f"),
        Var(f"{prefix}_n_points", _BPC, "1", "points fitted (with the origin)", "i"),
        Var(f"{prefix}_flags", _BPC, "1", "comma-separated flags of the fit (see bridge.fit.curves)", "s"),
        Var(f"{prefix}_aic", bpcc, "1", "Akaike information criterion of every candidate (NaN: failed)", "f"),
        Var(f"{prefix}_bic", bpcc, "1", "Bayesian information criterion of every candidate", "f"),
        Var(f"{prefix}_candidate_r2", bpcc, "1", "R^2 of every candidate", "f"),
    )


UNITS_GROUPS: dict[str, Group] = {g.name: g for g in (
    Group("transfer", "Per-branch transfer functions (the default fit: measured local peak versus "
          "expected linear sum, for placement default_placement and condition default_condition) and "
          "the per-type summaries the torch layers read. Input and output in mV.", (
              *_BRANCH_COORDS, *_PARAM_COORDS, _TYPE_COORD,
              Var("family", _B, "1", "transfer family of the branch (bridge.transfer.FAMILIES)", "s"),
              Var("params", (*_B, "param"), PARAMS_UNITS,
                  "fitted parameters; NaN where the branch's family has no such parameter", "f"),
              Var("params_std", (*_B, "param"), PARAMS_UNITS, "standard errors of the parameters (NaN: unknown)", "f"),
              Var("r2", _B, "1", "coefficient of determination of the fit", "f"),
              Var("rmse_mV", _B, "mV", "root-mean-square error of the fit", "f"),
              Var("param_units", (*_F, "param"), "1",
                  "units of each family's parameters, input and output in mV ('' = not a parameter of the family)",
                  "s"),
              Var("type_family", _T, "1", "most common family among the type's branches", "s"),
              Var("type_params_median", (*_T, "param"), PARAMS_UNITS,
                  "median parameters over the type's branches fitted with type_family", "f"),
              Var("type_params_iqr", (*_T, "param"), PARAMS_UNITS, "interquartile range, same branches", "f"),
          )),
    Group("diagnostics", "How the fits came about: every placement, condition and candidate family, "
          "the fits against the number of synapses (count_*), per-type statistics and (optional) the "
          "integration window from the timing protocol.", (
              *_BRANCH_COORDS, *_PARAM_COORDS, _TYPE_COORD,
              _c("placement", ("placement",), "1", "synapse placement (clustered, distributed)", "s"),
              _c("condition", ("condition",), "1", "pharmacological condition (control, nmda_block, na_block)", "s"),
              _c("candidate", ("candidate",), "1", "the families tried, in bridge.transfer.FAMILIES order", "s"),
              Var("flags", _B, "1", "comma-separated flags of the default fit ('' = clean)", "s"),
              *_fit_vars("curve", "measured local peak versus expected linear sum (mV)", PARAMS_UNITS),
              *_fit_vars("count", "measured local peak versus number of co-active synapses", COUNT_PARAMS_UNITS),
              Var("count_param_units", (*_F, "param"), "1",
                  "units of the count_* parameters (input: synapses, output: mV)", "s"),
              Var("input_mV_per_synapse", _BPC, "mV", "mean unitary local peak: expected mV = synapses x this", "f"),
              Var("soma_mV_per_synapse", _BPC, "mV", "mean unitary somatic peak", "f"),
              Var("type_n_branches", _T, "1", "branches of the type"),
              Var("type_r2_median", _T, "1", "median R^2 of the type's default fits", "f"),
              Var("type_family_count", (*_T, "candidate"), "1", "branches of the type per chosen family"),
              Var("type_distance_slope", (*_T, "param"), "parameter unit per 100 um",
                  "least-squares slope of each type_family parameter against path distance (NaN: < 3 branches)",
                  "f"),
              Var("type_distance_corr", (*_T, "param"), "1", "Spearman rank correlation of the same", "f"),
              *(Var(n, _B, u, d, k, required=False, block="timing") for n, u, d, k in (
                  ("timing_amplitude_mV", "mV", "timing fit: peak = baseline + amplitude exp(-interval / tau)", "f"),
                  ("timing_tau_ms", "ms", "integration window tau of the timing fit", "f"),
                  ("timing_tau_ms_std", "ms", "standard error of tau", "f"),
                  ("timing_baseline_mV", "mV", "baseline of the timing fit", "f"),
                  ("timing_r2", "1", "R^2 of the timing fit", "f"),
                  ("timing_flags", "1", "flags of the timing fit ('not_measured': no timing data)", "s"))),
          ), required=False),
    Group("two_layer", "The whole-cell two-layer model and its baselines (bridge.fit.two_layer), "
          "fitted on the patterns protocol.", (
              _c("model", ("model",), "1", "two_layer, two_layer_refit, point_neuron, linear_weighted", "s"),
              _c("target", ("target",), "1", "soma_peak_mV, soma_rate_hz, soma_peak_subthreshold_mV", "s"),
              _c("subunit", ("subunit",), "1", "branch id of each subunit", "i"),
              _c("subunit_type", ("subunit",), "1", "branch type of each subunit", "s"),
              _c("pattern", ("pattern",), "1", "pattern index", "i"),
              _c("pattern_split", ("pattern",), "1", "train or test", "s"),
              _PARAM_COORDS[0],
              Var("two_layer_variance_explained", ("model", "target"), "1",
                  "variance explained, held-out (test) patterns", "f"),
              Var("two_layer_variance_explained_train", ("model", "target"), "1",
                  "variance explained, train patterns", "f"),
              Var("two_layer_weight", ("model", "target", "subunit"),
                  "per unit of subunit output (mV; 1 for two_layer_refit)", "somatic weight of each subunit", "f"),
              Var("two_layer_output_params", ("model", "target", "param"),
                  "amplitude, baseline: units of the target; threshold, slope: 1",
                  "output sigmoid of the weighted sum: baseline + amplitude sigmoid(z - threshold), slope 1", "f"),
              Var("two_layer_refit_params", ("target", "param"), "threshold, slope: mV; amplitude, baseline: 1",
                  "the shared subunit sigmoid of two_layer_refit (amplitude 1, baseline -f(0))", "f"),
              Var("two_layer_subunit_family", ("subunit",), "1", "family of the fixed subunit function", "s"),
              Var("two_layer_subunit_params", ("subunit", "param"), PARAMS_UNITS,
                  "parameters of the fixed subunit function of two_layer", "f"),
              Var("two_layer_subunit_mV_per_synapse", ("subunit",), "mV", "input per active synapse", "f"),
              Var("two_layer_subunit_source", ("subunit",), "1",
                  "branch: the branch's own default fit; type_median: the type's median; identity", "s"),
              Var("two_layer_predicted", ("model", "target", "pattern"), None, "model prediction per pattern", "f"),
              Var("two_layer_measured", ("target", "pattern"), None, "measured target per pattern", "f"),
              Var("two_layer_flags", ("model", "target"), "1", "'' = fitted", "s"),
          ), required=False),
)}
"""The groups of a units file, in order."""

UNITS_ATTRS: tuple[Attr, ...] = (
    Attr("schema", f'"{UNITS_SCHEMA_NAME}"'),
    Attr("schema_version", f"{UNITS_SCHEMA_VERSION}"),
    Attr("input_units", 'input of the transfer functions, e.g. "mV (expected linear sum)"', group="transfer"),
    Attr("output_units", 'output of the transfer functions ("mV ...")', group="transfer"),
    Attr("input_range_min", "smallest expected input the fits saw (mV)", group="transfer"),
    Attr("input_range_max", "largest expected input the fits saw (mV)", group="transfer"),
    *(Attr(n, d, group="diagnostics") for n, d in (
        ("default_placement", "placement of the default fit"),
        ("default_condition", "condition of the default fit"),
        ("selection_criterion", '"bic" or "aic"'),
        ("fit_family", '"auto" or the forced family'),
        ("count_input_units", '"synapses"'),
        ("fit_settings", "JSON of the fit settings"),
        ("source_file", "the characterization file"))),
    *(Attr(n, d, group="two_layer") for n, d in (
        ("two_layer_n_train", "train patterns"), ("two_layer_n_test", "test patterns"),
        ("two_layer_point_neuron_mV_per_synapse", "the point neuron's input per active synapse (mV)"))),
)
"""Root attributes; the characterization's provenance (cell, seed, simulator ..., its
``schema_version`` and ``protocols`` as ``characterization_schema_version`` and
``characterization_protocols``) is copied alongside."""

TEMPORAL_GROUP = "temporal"
TEMPORAL_MODEL_ATTRS: tuple[Attr, ...] = (
    Attr("model", "the model's name in `bridge fit --temporal --models` (hln, ln, branch_elm, elm, tcn)"),
    Attr("condition", "the invivo condition it was fitted to (control, ampa_only)"),
    Attr("class_name", "its bridge.nn class (HierarchicalLN, PointLN, BranchELMNeuron, ELMNeuron, TCNNeuron)"),
    Attr("constructor_json", "JSON of the constructor's other arguments; each array argument NAME is the "
                             "variable `init.NAME`"),
    Attr("input_units", '"spike counts per dt_ms bin, (batch, time, synapse)"'),
    Attr("n_synapses", "input synapses (the last axis of the input)"),
    Attr("n_parameters", "trainable parameters"),
    *(Attr(n, d, required=False) for n, d in (
        ("spike_auc", "held-out spike-prediction ROC AUC at 1 ms (bridge.nn.temporal_metrics)"),
        ("spike_tpr_at_fpr", "held-out true-positive rate at `fpr` false positives"),
        ("fpr", "false-positive rate of spike_tpr_at_fpr"),
        ("v_variance_explained", "held-out somatic voltage variance explained (clipped at -55 mV)"),
        ("v_variance_explained_rescaled", "the same, prediction rescaled to the target's mean and SD"),
        ("v_rmse_mV", "held-out voltage RMSE (mV)"),
        ("v_rmse_rescaled_mV", "the same, rescaled (mV)"),
        ("n_train", "training simulations"), ("n_val", "validation simulations"),
        ("n_test", "held-out test simulations"), ("epochs", "epochs run (early stopping)"),
        ("train_seconds", "training wall time (s)"),
        ("training", "how it was trained: whole simulations or windows, burn-in, gradient clipping"),
        ("subunit_rule", "hLN/branch-ELM subunits: branch, two_layer or type"),
        ("seed", "split and initialisation seed"), ("device", "training device"))),
)
"""Attributes of one temporal model group ``temporal/<condition>/<model>``. Its variables:
``state.KEY`` for each entry KEY of the module's ``state_dict`` (parameters and buffers,
dims ``KEY_dim0``...) and ``init.NAME`` for each array argument of its constructor;
:func:`bridge.nn.temporal_units.temporal_model` rebuilds the module from them."""

# =====================================================================================
# Characterization file (written by `bridge characterize`, read by `bridge fit`)
# =====================================================================================

CHARACTERIZATION_SCHEMA_NAME = "bridge.characterization"
CHARACTERIZATION_SCHEMA_VERSION = 2
"""2: bac ``dend_above_minus40_ms`` became ``dend_above_plateau_ms``. Version-1 files are
read unless they hold a bac group (refused: regenerate it)."""

_INTEG = ("branch", "placement", "condition", "n_synapses")
_SITE = ("site",)
_SITE_COORDS = (
    _c("site_branch", _SITE, "1", "branch id of the site"),
    _c("site_x", _SITE, "1", "position of the site on its branch (0..1)"),
    _c("branch_type", _SITE, "1", "branch type of the site", "s"),
    _c("path_distance_um", _SITE, "um", "path distance of the site from the soma"),
)
_CHAR_BRANCH_COORDS = (
    _c("branch", _B, "1", "branch id"),
    _c("branch_type", _B, "1", "branch type", "s"),
    _c("path_distance_um", _B, "um", "path distance of the recording site from the soma"),
)

CHARACTERIZATION_GROUPS: dict[str, Group] = {g.name: g for g in (
    Group("passive", "Passive properties at the soma and per site.", (
        *_SITE_COORDS,
        Var("input_resistance_MOhm", (), "MOhm", "somatic input resistance"),
        Var("membrane_tau_ms", (), "ms", "somatic membrane time constant"),
        Var("sag_ratio", (), "1", "(V_ss - V_min) / (V_rest - V_min) of a hyperpolarising step"),
        Var("rest_mV", (), "mV", "resting potential", required=False),
        Var("ss_attenuation", _SITE, "1", "steady-state V_soma / V_site, current step at the site"),
        Var("epsp_local_mV", _SITE, "mV", "EPSP of one small AMPA synapse (param_epsp_synapse) at the site"),
        Var("epsp_soma_mV", _SITE, "mV", "somatic peak of the same EPSP"),
        Var("epsp_attenuation", _SITE, "1", "epsp_soma_mV / epsp_local_mV"),
    )),
    Group("integration", "Measured versus expected (linear sum) peaks as synapses are added. Peaks are "
          "depolarisations above the voltage at stimulus onset, within param_window_ms.", (
              *_CHAR_BRANCH_COORDS,
              _c("placement", ("placement",), "1", "clustered, distributed", "s"),
              _c("condition", ("condition",), "1", "control, nmda_block, na_block", "s"),
              _c("n_synapses", ("n_synapses",), "1", "synapses firing together (1..N)"),
              _c("synapse", ("synapse",), "1", "synapse index (0..N-1)"),
              _c("site_x", _B, "1", "the recording site (cluster centre) on the branch", required=False),
              _c("time_ms", ("time_ms",), "ms", "time of the traces (with --traces)", required=False),
              Var("measured_local_mV", _INTEG, "mV", "peak depolarisation at the branch site, first n synapses together"),
              Var("measured_soma_mV", _INTEG, "mV", "peak somatic depolarisation, first n synapses together"),
              Var("expected_local_mV", _INTEG, "mV", "arithmetic sum of the unitary local peaks of the first n synapses"),
              Var("expected_soma_mV", _INTEG, "mV", "arithmetic sum of the unitary somatic peaks of the first n synapses"),
              Var("unitary_local_mV", ("branch", "placement", "condition", "synapse"), "mV",
                  "local peak of each synapse alone"),
              Var("unitary_soma_mV", ("branch", "placement", "condition", "synapse"), "mV",
                  "somatic peak of each synapse alone"),
              Var("soma_spikes", _INTEG, "1", "somatic action potentials (upward crossings of -20 mV)"),
              *(Var(n, ("branch", "placement", "synapse"), u, d, required=False) for n, u, d in (
                  ("synapse_branch", "1", "branch id of each synapse"),
                  ("synapse_x", "1", "position of each synapse on its branch"),
                  ("synapse_path_distance_um", "um", "path distance of each synapse from the soma"),
                  ("synapse_time_ms", "ms", "activation time of each synapse"))),
              Var("trace_local_mV", (*_INTEG, "time_ms"), "mV", "voltage at the branch site (with --traces)",
                  required=False, block="traces"),
              Var("trace_soma_mV", (*_INTEG, "time_ms"), "mV", "somatic voltage (with --traces)",
                  required=False, block="traces"),
          )),
    Group("timing", "Peaks of synapses activated one after the other at increasing intervals.", (
        *_CHAR_BRANCH_COORDS,
        _c("interval_ms", ("interval_ms",), "ms", "interval between successive synapse activations"),
        Var("measured_local_mV", ("branch", "interval_ms"), "mV", "peak depolarisation at the branch site"),
        Var("measured_soma_mV", ("branch", "interval_ms"), "mV", "peak somatic depolarisation"),
        Var("expected_local_mV", _B, "mV", "sum of the unitary local peaks"),
        Var("expected_soma_mV", _B, "mV", "sum of the unitary somatic peaks"),
    )),
    Group("bap", "Back-propagating action potential per site.", (
        *_SITE_COORDS,
        Var("bap_amplitude_mV", _SITE, "mV", "peak above the pre-pulse voltage"),
        Var("bap_delay_ms", _SITE, "ms", "time of peak minus that at the soma"),
    )),
    Group("bac", "Back-propagation-activated Ca spike (Larkum et al. 1999): soma, dendrite or both stimulated.", (
        _c("stimulus", ("stimulus",), "1", "soma, dendrite, both", "s"),
        Var("soma_spikes", ("stimulus",), "1", "somatic action potentials"),
        Var("dend_peak_mV", ("stimulus",), "mV", "peak dendritic membrane potential (absolute)"),
        Var("dend_above_plateau_ms", ("stimulus",), "ms",
            "time the dendritic voltage spends above the Ca-plateau level (param_plateau_level_mV, "
            "-20 mV after Larkum et al. 1999 / TARGETS)"),
    )),
    Group("fi", "Firing rate against somatic current steps.", (
        _c("current_nA", ("current_nA",), "nA", "step amplitude"),
        Var("rate_hz", ("current_nA",), "Hz", "spikes during the step / step duration"),
        Var("n_spikes", ("current_nA",), "1", "spikes during the step"),
        Var("first_spike_ms", ("current_nA",), "ms", "latency of the first spike from step onset (NaN: none)"),
    )),
    Group("patterns", "Somatic responses to patterns of active synapses concentrated on few or dispersed "
          "over many branches.", (
              *_CHAR_BRANCH_COORDS,
              _c("split", ("pattern",), "1", "train or test", "s"),
              _c("pattern", ("pattern",), "1", "pattern index", required=False),
              _c("site_x", _B, "1", "the branch's cluster centre", required=False),
              Var("n_active", ("pattern", "branch"), "1", "active synapses on the branch"),
              Var("soma_peak_mV", ("pattern",), "mV", "peak somatic depolarisation"),
              Var("soma_rate_hz", ("pattern",), "Hz", "somatic spikes / window"),
              Var("soma_spikes", ("pattern",), "1", "somatic spikes"),
              Var("local_peak_mV", ("pattern", "branch"), "mV", "peak depolarisation at the branch's cluster centre",
                  required=False),
              Var("total_active", ("pattern",), "1", "total active synapses T of the pattern", required=False),
              Var("n_target_branches", ("pattern",), "1", "number of branches T was spread over (k)",
                  required=False),
              Var("n_branches_active", ("pattern",), "1", "branches with at least one active synapse",
                  required=False),
              _c("curve_n", ("curve_n",), "1", "synapses of the branch's cluster together (subunit curve)",
                 required=False),
              Var("curve_unitary_local_mV", ("branch", "curve_n"), "mV",
                  "the branch alone: local peak of its n-th synapse by itself", required=False, block="curves"),
              Var("curve_expected_local_mV", ("branch", "curve_n"), "mV",
                  "the branch alone: sum of the unitary local peaks of its first n synapses", required=False,
                  block="curves"),
              Var("curve_measured_local_mV", ("branch", "curve_n"), "mV",
                  "the branch alone: local peak of its first n synapses together", required=False, block="curves"),
          )),
    Group("cluster_dispersion", "Poirazi, Brannon & Mel 2003: a fixed total of clustered synapses, dispersed one "
          "cluster at a time, driven asynchronously; somatic firing rate per run, and each input branch's own "
          "response to n clustered synapses (its subunit curve). Means are time-averaged depolarisations above "
          "the voltage at stimulus onset over the drive.", (
              *_CHAR_BRANCH_COORDS,
              _c("site_x", _B, "1", "the branch's cluster centre (recording site)", required=False),
              _c("run", ("run",), "1", "run index", required=False),
              _c("split", ("run",), "1", "train or test", "s"),
              _c("curve_n", ("curve_n",), "1", "clustered synapses of the branch (subunit curve)"),
              Var("n_active", ("run", "branch"), "1", "driven excitatory synapses on the branch"),
              Var("soma_rate_hz", ("run",), "Hz", "somatic spikes / drive duration", "f"),
              Var("soma_spikes", ("run",), "1", "somatic spikes during the drive", "i"),
              Var("soma_mean_mV", ("run",), "mV", "mean somatic depolarisation", "f"),
              Var("local_mean_mV", ("run", "branch"), "mV", "mean depolarisation at the branch's cluster centre", "f"),
              Var("cluster_size", ("run",), "1", "synapses per cluster of the configuration", "i"),
              Var("n_clusters", ("run",), "1", "clusters of the configuration", "i"),
              Var("placement_index", ("run",), "1", "random placement of the configuration", "i"),
              Var("n_dispersed", ("run",), "1", "clusters dispersed (0: all clustered)", "i"),
              Var("total_synapses", ("run",), "1", "driven excitatory synapses in all", "i"),
              Var("curve_local_mean_mV", ("branch", "curve_n"), "mV",
                  "the branch's n synapses with the curve context (param_dispersion_curve_context synapses on "
                  "other branches; 0 or absent: the branch alone): mean depolarisation at its cluster centre", "f"),
              Var("curve_soma_mean_mV", ("branch", "curve_n"), "mV",
                  "the branch's n synapses with the curve context: mean somatic depolarisation", "f"),
              Var("curve_soma_rate_hz", ("branch", "curve_n"), "Hz",
                  "the branch's n synapses with the curve context: somatic firing rate", "f"),
              Var("curve_context_local_mean_mV", ("branch",), "mV",
                  "the curve context alone (n = 0): mean depolarisation at the branch's cluster centre", "f",
                  required=False),
              Var("curve_context_soma_mean_mV", ("branch",), "mV",
                  "the curve context alone: mean somatic depolarisation", "f", required=False),
              Var("curve_context_soma_rate_hz", ("branch",), "Hz",
                  "the curve context alone: somatic firing rate", "f", required=False),
          )),
    Group("invivo", "In-vivo-like drive of the whole tree (Beniaguev, Segev & London 2021): inputs as sparse event "
          "lists, somatic voltage every 1 ms and spike times, per condition and simulation. "
          "bridge.characterize.invivo.dense_inputs rebuilds (sim, time, synapse) input counts.", (
              _c("condition", ("condition",), "1", "control, ampa_only", "s"),
              _c("sim", ("sim",), "1", "simulation index"),
              _c("time_ms", ("time_ms",), "ms", "start of each 1 ms bin"),
              _c("synapse", ("synapse",), "1", "synapse index", required=False),
              Var("soma_mV", ("condition", "sim", "time_ms"), "mV", "somatic membrane potential at the bin start", "f"),
              Var("nexus_mV", ("condition", "sim", "time_ms"), "mV", "membrane potential at the main bifurcation",
                  "f", required=False),
              Var("soma_spike_count", ("condition", "sim"), "1", "somatic spikes of the simulation", "i"),
              Var("spike_condition", ("spike",), "1", "condition index of each somatic spike", "i"),
              Var("spike_sim", ("spike",), "1", "simulation of each somatic spike", "i"),
              Var("spike_time_ms", ("spike",), "ms", "time of each somatic spike (upward -20 mV crossing)", "f"),
              Var("synapse_branch", ("synapse",), "1", "branch id of each synapse", "i"),
              Var("synapse_x", ("synapse",), "1", "position of each synapse on its branch", "f"),
              Var("synapse_class", ("synapse",), "1", "0 excitatory (AMPA + NMDA), 1 inhibitory (GABA-A)", "i"),
              Var("synapse_branch_type", ("synapse",), "1", "branch type of each synapse", "s"),
              Var("synapse_path_distance_um", ("synapse",), "um", "path distance of each synapse from the soma", "f"),
              Var("event_synapse", ("event",), "1", "synapse of each input event", "i"),
              Var("event_time_ms", ("event",), "ms", "time of each input event", "f"),
              Var("sim_event_start", ("sim",), "1", "index of the simulation's first event", "i"),
              Var("sim_event_count", ("sim",), "1", "input events of the simulation", "i"),
              Var("exc_rate_hz", ("sim", "time_ms"), "Hz", "excitatory population rate before the branch gains", "f"),
              Var("inh_rate_hz", ("sim", "time_ms"), "Hz", "inhibitory rate", "f"),
              _c("branch", ("branch",), "1", "dendritic branches that carry synapses", required=False),
              Var("branch_parent", ("branch",), "1", "parent branch id (0: the soma)", "i", required=False),
              Var("branch_type", ("branch",), "1", "branch type", "s", required=False),
          )),
)}
"""One group per protocol; a file holds the groups of the protocols that were run."""

CHARACTERIZATION_ATTRS: tuple[Attr, ...] = (
    Attr("schema", f'"{CHARACTERIZATION_SCHEMA_NAME}"'),
    Attr("schema_version", f"{CHARACTERIZATION_SCHEMA_VERSION}"),
    Attr("project_version", "version of this project"),
    Attr("simulator", '"neuron" or "brian2"'),
    Attr("simulator_version", "its version"),
    Attr("cell", "cell model (l5pc, ca1)"),
    Attr("morphology_source", '"builtin" or the SWC path'),
    Attr("morphology_sha256", "hash of the morphology"),
    Attr("recipe_sha256", "hash of the cell recipe"),
    Attr("seed", "random seed"),
    Attr("dt_ms", "integration time step (ms)"),
    Attr("temperature_C", "temperature (degC)"),
    Attr("created", "ISO 8601 UTC"),
    Attr("protocols", "comma-separated names of the groups"),
    Attr("mechanisms_key", "hash of the NMODL files, NEURON version and machine", required=False),
    Attr("recipe_file", "the adapted recipe run (bridge adapt, JSON), empty for the cell's own", required=False),
)
"""Root attributes (provenance). Every group repeats them, plus ``protocol`` (its name) and
its own parameters (``param_<name>``)."""

PROVENANCE_ATTRS = tuple(a.name for a in CHARACTERIZATION_ATTRS if a.required)

# =====================================================================================
# Checking and filling attributes from the declarations
# =====================================================================================


def _fail(source):
    def fail(msg):
        raise InputError(f"{source}: {msg}")
    return fail


def check_group(ds: xr.Dataset, group: Group, fail) -> None:
    """Every declared variable of `group` in `ds`: present if required (blocks: all or
    none), declared dims, dtype kind and ``units`` (coordinates: units checked if set)."""
    for block in dict.fromkeys(v.block for v in group.vars if v.block):
        names = [v.name for v in group.vars if v.block == block]
        have = [n for n in names if n in ds.variables]
        if have and len(have) < len(names):
            lacks = next(n for n in names if n not in ds.variables)
            fail(f"has {have[0]!r} but lacks {lacks!r} (variables {', '.join(names)} come together)")
    for v in group.vars:
        what = "coordinate" if v.coord else "variable"
        if v.name not in ds.variables:
            if v.required:
                fail(f"missing {what} {v.name!r}")
            continue
        var = ds[v.name]
        if tuple(var.dims) != v.dims:
            fail(f"{what} {v.name!r} has dims {tuple(var.dims)}, expected {v.dims}")
        kinds, kind_name = _KINDS[v.kind]
        if var.dtype.kind not in kinds and var.size:   # empty string arrays come back as float
            fail(f"{what} {v.name!r} has dtype {var.dtype}, expected a {kind_name}")
        units = var.attrs.get("units")
        if units is None:
            if not v.coord:
                fail(f"{what} {v.name!r} has no 'units' attribute")
        elif not str(units):
            fail(f"{what} {v.name!r} has an empty 'units' attribute")
        elif v.units is not None and units != v.units:
            fail(f"{what} {v.name!r} has units {units!r}, expected {v.units!r}")


def apply_spec(ds: xr.Dataset, groups: Sequence[Group] | Mapping[str, Group], *,
               overwrite_units: bool = False) -> xr.Dataset:
    """A copy of `ds` with ``units`` and ``long_name`` of every declared variable set from
    `groups`; other attributes are kept. A variable whose ``units`` differ from the
    declaration raises ValueError (a writer bug), unless `overwrite_units` (old files)."""
    groups = list(groups.values()) if isinstance(groups, Mapping) else list(groups)
    ds = ds.copy()
    for g in groups:
        for v in g.vars:
            if v.name not in ds.variables:
                continue
            attrs = dict(ds[v.name].attrs)
            given = attrs.get("units")
            if v.units is not None:
                if given is not None and given != v.units and not overwrite_units:
                    raise ValueError(f"[{g.name}] {v.name!r}: the writer gives units {given!r}, "
                                     f"the schema declares {v.units!r}")
                attrs["units"] = v.units
            attrs["long_name"] = v.long_name
            ds[v.name].attrs = attrs
    return ds


def _check_version(attrs, source, name, version_max):
    fail = _fail(source)
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
    return version


def _check_attrs(attrs, specs: Sequence[Attr], groups_present, fail) -> None:
    for a in specs:
        if a.required and (not a.group or a.group in groups_present) and a.name not in attrs:
            fail(f"missing attribute {a.name!r}" + (f" (group {a.group})" if a.group else ""))


# =====================================================================================
# Units: build, check, read, write
# =====================================================================================

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
    """A units dataset with the `transfer` group only, that passes :func:`check_units`.

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
    types_list = [str(t) for t in branch_type]
    fam_list = [str(f) for f in family]
    t_names, t_fam, t_med, t_iqr = _type_summary(fam_list, types_list, p, names)
    nan = np.full(n, np.nan)
    ds = xr.Dataset(
        data_vars={
            "family": ("branch", np.array(fam_list, dtype=object)),
            "params": (("branch", "param"), p),
            "params_std": (("branch", "param"), to_array(params_std)),
            "r2": ("branch", nan if r2 is None else np.asarray(r2, float)),
            "rmse_mV": ("branch", nan if rmse_mV is None else np.asarray(rmse_mV, float)),
            "param_units": (("family_name", "param"), param_units_table("mV", "mV")),
            "type_family": ("branch_type", np.array(t_fam, dtype=object)),
            "type_params_median": (("branch_type", "param"), t_med),
            "type_params_iqr": (("branch_type", "param"), t_iqr),
        },
        coords={
            "branch": ("branch", np.asarray(branch, dtype=np.int64)),
            "branch_type_of_branch": ("branch", np.array(types_list, dtype=object)),
            "path_distance_um": ("branch", nan if path_distance_um is None else np.asarray(path_distance_um, float)),
            "param": ("param", np.array(names, dtype=object)),
            "family_name": ("family_name", np.array(list(FAMILIES), dtype=object)),
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
    return apply_spec(ds, UNITS_GROUPS)


def units_groups_present(ds: xr.Dataset) -> list[str]:
    """The groups of :data:`UNITS_GROUPS` that have at least one data variable in `ds`."""
    return [g.name for g in UNITS_GROUPS.values()
            if any(v.name in ds.data_vars for v in g.vars if not v.coord)]


def check_units(ds: xr.Dataset, source: str = "units dataset") -> xr.Dataset:
    """Check an in-memory units dataset (all groups merged, version 3) against
    :data:`UNITS_GROUPS`; raise `InputError` naming the first problem. Returns `ds`."""
    fail = _fail(source)
    version = _check_version(ds.attrs, source, UNITS_SCHEMA_NAME, UNITS_SCHEMA_VERSION)
    if version < UNITS_SCHEMA_VERSION:
        fail(f"schema_version {version} in memory; read old files with bridge.schema.open_units "
             "(converts them) or regenerate them with `bridge fit CHAR.nc -o units.nc`")
    if "family" not in ds.data_vars:
        fail("no transfer group (a file of temporal models only is read with bridge.nn.temporal_neuron)")
    present = units_groups_present(ds)
    _check_attrs(ds.attrs, UNITS_ATTRS, present, fail)
    try:
        lo, hi = float(ds.attrs["input_range_min"]), float(ds.attrs["input_range_max"])
    except (TypeError, ValueError):
        fail("input_range_min/input_range_max are not numbers")
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        fail(f"input range [{lo}, {hi}] is not a finite, increasing interval")
    for g in UNITS_GROUPS.values():
        if g.required or g.name in present:
            check_group(ds, g, fail)
    params = [str(p) for p in ds["param"].values]
    if params != list(all_param_names()) or [str(f) for f in ds["family_name"].values] != list(FAMILIES):
        fail("param/family_name axes differ from bridge.transfer (regenerate with `bridge fit`)")
    for var in ("family", "type_family"):
        for f in ds[var].values:
            if str(f) not in FAMILIES:
                fail(f"{var} contains unknown transfer family {str(f)!r} "
                     f"(known: {', '.join(FAMILIES)})")
    # each branch has all parameters of its family
    pv = ds["params"].values
    for i, f in enumerate(ds["family"].values):
        for pname in FAMILIES[str(f)].param_names:
            if not np.isfinite(pv[i, params.index(pname)]):
                fail(f"branch {ds['branch'].values[i]} ({f}) has no value for parameter {pname!r}")
    if "diagnostics" in present:
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
    return ds


def _group_dataset(ds: xr.Dataset, group: Group) -> xr.Dataset:
    names = [v.name for v in group.vars if not v.coord and v.name in ds.data_vars]
    coords = [v.name for v in group.vars if v.coord and v.name in ds.variables]
    return ds[names].assign_coords({c: ds[c] for c in coords}).assign_attrs(group=group.name)


def check_temporal_model(ds: xr.Dataset, source: str) -> xr.Dataset:
    """Check one temporal model group against :data:`TEMPORAL_MODEL_ATTRS`; raise `InputError`."""
    fail = _fail(source)
    _check_attrs(ds.attrs, TEMPORAL_MODEL_ATTRS, (), fail)
    try:
        json.loads(str(ds.attrs["constructor_json"]))
    except ValueError:
        fail("constructor_json is not JSON")
    if not any(str(k).startswith("state.") for k in ds.data_vars):
        fail("no state.* variables (the module's state_dict)")
    for k, v in ds.data_vars.items():
        if not str(k).startswith(("state.", "init.")):
            fail(f"unexpected variable {k!r} (only state.* and init.*)")
        if "units" not in v.attrs:
            fail(f"variable {k!r} has no 'units' attribute")
    return ds


def write_units(ds: xr.Dataset | None, path: str | os.PathLike,
                temporal: Mapping[str, xr.Dataset] | None = None, attrs: Mapping | None = None) -> None:
    """Check and write a units file atomically: one netCDF group per :data:`UNITS_GROUPS`
    present in `ds`, and one per temporal model (`temporal`: {"condition/model": group},
    see :data:`TEMPORAL_MODEL_ATTRS`). `ds` may be None when there are temporal models;
    the root attributes are then `attrs` (schema and version set here)."""
    if ds is None and not temporal:
        raise ValueError("write_units needs a units dataset, temporal models, or both")
    if ds is not None:
        check_units(ds, source="dataset to write")
        root = dict(ds.attrs)
    else:
        root = {k: v for k, v in (attrs or {}).items() if k not in ("schema", "schema_version")}
        root.update(schema=UNITS_SCHEMA_NAME, schema_version=UNITS_SCHEMA_VERSION)
    nodes = {"/": xr.Dataset(attrs=root)}
    if ds is not None:
        for name in units_groups_present(ds):
            nodes[f"/{name}"] = _group_dataset(ds, UNITS_GROUPS[name])
    for key, g in (temporal or {}).items():
        if key.count("/") != 1:
            raise ValueError(f"temporal model key {key!r} must be 'condition/model'")
        nodes[f"/{TEMPORAL_GROUP}/{key}"] = check_temporal_model(g, source=f"temporal model {key} to write")
    write_netcdf_atomic(xr.DataTree.from_dict(nodes), path)


def open_temporal_models(path: str | os.PathLike) -> dict[str, xr.Dataset]:
    """The temporal models of a units file, {"condition/model": group} (checked; empty for
    files without any). Unreadable, truncated or wrong files raise `InputError`."""
    path = os.fspath(path)
    tree = read_netcdf(path, "units", tree=True)
    _check_version(dict(tree.attrs), path, UNITS_SCHEMA_NAME, UNITS_SCHEMA_VERSION)
    out = {}
    if TEMPORAL_GROUP in tree.children:
        for cond, node in tree[TEMPORAL_GROUP].children.items():
            for model, leaf in node.children.items():
                key = f"{cond}/{model}"
                out[key] = check_temporal_model(leaf.to_dataset(), source=f"{path} [temporal/{key}]")
    return out


def _convert_flat_units(ds: xr.Dataset, version: int) -> xr.Dataset:
    """A version 1 or 2 units dataset (one flat group) as version 3: same variables, plus
    the family_name axis and parameter units; units attributes as declared now."""
    ds = ds.assign_coords(family_name=("family_name", np.array(list(FAMILIES), dtype=object)))
    ds["param_units"] = (("family_name", "param"), param_units_table("mV", "mV"))
    if "count_params" in ds:
        ds["count_param_units"] = (("family_name", "param"), param_units_table("synapses", "mV"))
    ds = apply_spec(ds, UNITS_GROUPS, overwrite_units=True)
    return ds.assign_attrs(schema_version=UNITS_SCHEMA_VERSION, converted_from_schema_version=version)


def open_units(path: str | os.PathLike) -> xr.Dataset:
    """Read and check a units file into one dataset (the groups merged).

    Versions 1 and 2 (flat files) are converted in memory. Unreadable, truncated or wrong
    files raise `InputError`."""
    path = os.fspath(path)
    tree = read_netcdf(path, "units", tree=True)
    attrs = dict(tree.attrs)
    version = _check_version(attrs, path, UNITS_SCHEMA_NAME, UNITS_SCHEMA_VERSION)
    if version < 3:
        return check_units(_convert_flat_units(tree.to_dataset(), version), source=path)
    if "transfer" not in tree.children and TEMPORAL_GROUP in tree.children:
        raise InputError(f"{path}: holds temporal models only (no transfer group); read them with "
                         "bridge.nn.temporal_neuron(path)")
    parts = []
    for name, g in UNITS_GROUPS.items():
        if name in tree.children:
            parts.append(tree[name].to_dataset().drop_attrs(deep=False))
        elif g.required:
            raise InputError(f"{path}: missing group {name!r}")
    ds = xr.merge(parts, join="exact", compat="equals", combine_attrs="override")
    ds.attrs = attrs
    if version < UNITS_SCHEMA_VERSION:   # 3 -> 4 added only the optional temporal groups
        ds.attrs.update(schema_version=UNITS_SCHEMA_VERSION, converted_from_schema_version=version)
    return check_units(ds, source=path)


# =====================================================================================
# Characterization: check, read, write
# =====================================================================================

def check_characterization_group(ds: xr.Dataset, protocol: str, source: str = "characterization") -> xr.Dataset:
    """Check one protocol group against :data:`CHARACTERIZATION_GROUPS`; raise `InputError`."""
    where = f"{source} [{protocol}]"
    if protocol not in CHARACTERIZATION_GROUPS:
        raise InputError(f"{where}: unknown protocol (known: {', '.join(CHARACTERIZATION_GROUPS)})")
    check_group(ds, CHARACTERIZATION_GROUPS[protocol], _fail(where))
    return ds


def check_characterization_attrs(attrs: Mapping, source: str = "characterization") -> int:
    """Check the root (provenance) attributes of a characterization file; returns its version."""
    version = _check_version(attrs, source, CHARACTERIZATION_SCHEMA_NAME, CHARACTERIZATION_SCHEMA_VERSION)
    _check_attrs(attrs, CHARACTERIZATION_ATTRS, (), _fail(source))
    return version


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

    `attrs` are the root provenance attributes (:data:`CHARACTERIZATION_ATTRS`; ``schema``,
    ``schema_version`` and ``protocols`` are filled in); each group gets ``protocol`` and
    a copy of the provenance, so a group read on its own still says where it came from.
    ``units`` and ``long_name`` of every declared variable come from
    :data:`CHARACTERIZATION_GROUPS` (units the assembler gave must agree: ValueError).
    """
    root = {k: _netcdf_attr(v) for k, v in attrs.items()}
    root.update(schema=CHARACTERIZATION_SCHEMA_NAME, schema_version=CHARACTERIZATION_SCHEMA_VERSION,
                protocols=",".join(groups))
    check_characterization_attrs(root, source="dataset to write")
    nodes = {"/": xr.Dataset(attrs=root)}
    for name, ds in groups.items():
        if name in CHARACTERIZATION_GROUPS:
            ds = apply_spec(ds, [CHARACTERIZATION_GROUPS[name]])
        ds = ds.copy()
        ds.attrs = {**{k: v for k, v in root.items() if k != "protocols"},
                    **{k: _netcdf_attr(v) for k, v in ds.attrs.items()}, "protocol": name}
        check_characterization_group(ds, name, source="dataset to write")
        nodes[f"/{name}"] = ds
    write_netcdf_atomic(xr.DataTree.from_dict(nodes), path)


def open_characterization(path: str | os.PathLike) -> dict[str, xr.Dataset]:
    """Read and check a characterization file; returns protocol name -> Dataset (loaded).

    The root attributes (provenance) are also on every group. A missing, truncated or
    unreadable file, a newer schema version, a version-1 file with a bac group, a missing
    group, variable, coordinate or ``units`` attribute, or a wrong dimension raises
    `InputError` naming the problem.
    """
    path = os.fspath(path)
    tree = read_netcdf(path, "characterization", tree=True)
    root = dict(tree.attrs)
    version = check_characterization_attrs(root, source=path)
    listed = [p for p in str(root["protocols"]).split(",") if p]
    if version < 2 and "bac" in listed:
        # v1 measured the time above -40 mV, not above the plateau level: not convertible
        raise InputError(f"{path}: a bridge.characterization v1 file, its bac group predates "
                         f"dend_above_plateau_ms; regenerate it with `bridge characterize "
                         f"{root.get('cell', 'CELL')} --protocols {','.join(listed)} -o {os.path.basename(path)}`")
    out = {}
    for name in listed:
        if name not in tree.children:
            raise InputError(f"{path}: group {name!r} listed in attribute 'protocols' is missing")
        ds = tree[name].to_dataset()
        if ds.attrs.get("protocol") != name:
            raise InputError(f"{path} [{name}]: attribute protocol={ds.attrs.get('protocol')!r}, expected {name!r}")
        out[name] = check_characterization_group(ds, name, source=path)
    return out


# =====================================================================================
# Documentation
# =====================================================================================

def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def _md_group(g: Group) -> list[str]:
    lines = [f"### Group `{g.name}`" + ("" if g.required else " (optional)"), "", g.doc, "",
             "| variable | dims | units | kind | required | description |", "|---|---|---|---|---|---|"]
    for v in g.vars:
        req = "yes" if v.required else (f"all or none: {v.block}" if v.block else "no")
        name = f"`{v.name}`" + (" (coord)" if v.coord else "")
        units = "set by the writer" if v.units is None else f"`{v.units}`"
        lines.append(f"| {name} | ({', '.join(v.dims)}) | {_md_escape(units)} | {_KINDS[v.kind][1]} | {req} "
                     f"| {_md_escape(v.long_name)} |")
    return lines + [""]


def _md_attrs(attrs: Sequence[Attr]) -> list[str]:
    lines = ["| attribute | required | description |", "|---|---|---|"]
    for a in attrs:
        req = (f"with group {a.group}" if a.group else "yes") if a.required else "no"
        lines.append(f"| `{a.name}` | {req} | {_md_escape(a.description)} |")
    return lines + [""]


def schema_markdown() -> str:
    """The file schemas as Markdown (the content of docs/schema.md)."""
    out = ["# File schemas", "",
           "Generated from `bridge/schema.py` by `python -m bridge.schema`; do not edit by hand.",
           "netCDF4 (h5netcdf), one netCDF group per table below; every variable has a `units` attribute.", "",
           f"## Units file (`schema = \"{UNITS_SCHEMA_NAME}\"`, `schema_version = {UNITS_SCHEMA_VERSION}`)", "",
           "Written by `bridge fit`, read by `bridge.nn` (`bridge.schema.open_units` returns the groups "
           "merged into one dataset). Versions 1 and 2 (one flat group) are converted on reading.", "",
           "Root attributes:", "", *_md_attrs(UNITS_ATTRS)]
    for g in UNITS_GROUPS.values():
        out += _md_group(g)
    out += [f"### Groups `{TEMPORAL_GROUP}/<condition>/<model>` (optional)", "",
            "One group per fitted temporal neuron model (`bridge fit CHAR.nc --temporal -o UNITS.nc`), read back "
            "as a module by `bridge.nn.temporal_neuron(path, model=..., condition=...)`. Variables: `state.KEY` for "
            "each entry of the module's `state_dict` (dims `KEY_dim0`, ...), `init.NAME` for each array argument of "
            "its constructor. A units file may hold these groups only (no `transfer`).", "",
            "Attributes of each group:", "", *_md_attrs(TEMPORAL_MODEL_ATTRS)]
    out += ["### Transfer families and parameter units", "",
            "Units of `params` for input and output in mV (`param_units`); for the count fits the "
            "input is synapses (`count_param_units`).", "",
            "| family | formula | parameters (units) |", "|---|---|---|"]
    for f in FAMILIES.values():
        ps = ", ".join(f"`{n}` ({u})" for n, u in zip(f.param_names, f.param_units()))
        out.append(f"| `{f.name}` | {_md_escape(f.description)} | {ps} |")
    out += ["", f"## Characterization file (`schema = \"{CHARACTERIZATION_SCHEMA_NAME}\"`, "
            f"`schema_version = {CHARACTERIZATION_SCHEMA_VERSION}`)", "",
            "Written by `bridge characterize`, read by `bridge fit`. The root holds only attributes; each "
            "protocol is a group named after it. Version-1 files are read unless they hold a `bac` group.", "",
            "Root attributes:", "", *_md_attrs(CHARACTERIZATION_ATTRS)]
    for g in CHARACTERIZATION_GROUPS.values():
        out += _md_group(g)
    return "\n".join(out).rstrip() + "\n"


def write_schema_docs(path: str | os.PathLike = "docs/schema.md") -> None:
    """Write :func:`schema_markdown` to `path`."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(schema_markdown())


if __name__ == "__main__":
    write_schema_docs(sys.argv[1] if len(sys.argv) > 1 else "docs/schema.md")
