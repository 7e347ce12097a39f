"""Build the units dataset (`bridge.schema.UNITS_GROUPS`) from the fits.

Units and long names come from the schema (`bridge.schema.apply_spec`), not from here."""
from __future__ import annotations

import json
import warnings

import numpy as np
import xarray as xr
from scipy.stats import spearmanr

from bridge.fit.branches import IntegrationFits, TimingFits
from bridge.fit.two_layer import TwoLayerResult
from bridge.schema import UNITS_GROUPS, apply_spec, make_units_dataset
from bridge.transfer import FAMILIES, all_param_names, logistic, param_units_table

PROVENANCE_RENAME = {"schema": None, "schema_version": "characterization_schema_version",
                     "protocols": "characterization_protocols"}


def _type_extras(ds: xr.Dataset, candidates) -> dict:
    """type_n_branches, type_r2_median, type_family_count, type_distance_slope/corr."""
    types = [str(t) for t in ds["branch_type"].values]
    of = np.asarray(ds["branch_type_of_branch"].values).astype(str)
    fam = np.asarray(ds["family"].values).astype(str)
    dist = np.asarray(ds["path_distance_um"].values, float)
    params = ds["params"].values
    names = [str(p) for p in ds["param"].values]
    nt, npar = len(types), len(names)
    n = np.zeros(nt)
    r2m = np.full(nt, np.nan)
    counts = np.zeros((nt, len(candidates)))
    slope = np.full((nt, npar), np.nan)
    corr = np.full((nt, npar), np.nan)
    r2 = np.asarray(ds["r2"].values, float)
    for i, t in enumerate(types):
        sel = of == t
        n[i] = sel.sum()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r2m[i] = np.nanmedian(r2[sel]) if sel.any() else np.nan
        for j, c in enumerate(candidates):
            counts[i, j] = np.sum(fam[sel] == c)
        tf = str(ds["type_family"].values[i])
        rows = np.nonzero(sel & (fam == tf))[0]
        if rows.size < 3 or np.ptp(dist[rows]) == 0:
            continue
        for pn in FAMILIES[tf].param_names:
            k = names.index(pn)
            v = params[rows, k]
            ok = np.isfinite(v) & np.isfinite(dist[rows])
            if ok.sum() < 3 or np.ptp(v[ok]) == 0:
                continue
            slope[i, k] = np.polyfit(dist[rows][ok] / 100.0, v[ok], 1)[0]
            corr[i, k] = spearmanr(dist[rows][ok], v[ok]).statistic
    return {
        "type_n_branches": ("branch_type", n),
        "type_r2_median": ("branch_type", r2m),
        "type_family_count": (("branch_type", "candidate"), counts),
        "type_distance_slope": (("branch_type", "param"), slope),
        "type_distance_corr": (("branch_type", "param"), corr),
    }


def _axis_vars(prefix, ax, keep):
    bpc = ("branch", "placement", "condition")
    s = lambda a: a[keep]  # noqa: E731
    return {
        f"{prefix}_family": (bpc, s(ax.family).astype(object)),
        f"{prefix}_params": ((*bpc, "param"), s(ax.params)),
        f"{prefix}_params_std": ((*bpc, "param"), s(ax.params_std)),
        f"{prefix}_r2": (bpc, s(ax.r2)),
        f"{prefix}_rmse_mV": (bpc, s(ax.rmse)),
        f"{prefix}_n_points": (bpc, s(ax.n_points).astype(np.int64)),
        f"{prefix}_flags": (bpc, s(ax.flags).astype(object)),
        f"{prefix}_aic": ((*bpc, "candidate"), s(ax.aic)),
        f"{prefix}_bic": ((*bpc, "candidate"), s(ax.bic)),
        f"{prefix}_candidate_r2": ((*bpc, "candidate"), s(ax.candidate_r2)),
    }


def build_units(fits: IntegrationFits, *, keep, default_placement: str, default_condition: str,
                provenance: dict, source_file: str, settings: dict,
                timing: TimingFits | None = None, two_layer: TwoLayerResult | None = None,
                two_layer_subunits: dict | None = None) -> xr.Dataset:
    """The units dataset of the branches `keep` (boolean mask over fits.branch)."""
    ip = fits.placement.index(default_placement)
    ic = fits.condition.index(default_condition)
    e = fits.expected
    keep = np.asarray(keep, bool)
    fam = [str(f) for f in e.family[keep, ip, ic]]
    prov = {}
    for k, v in provenance.items():
        k2 = PROVENANCE_RENAME.get(k, k)
        if k2 is not None:
            prov[k2] = v
    ds = make_units_dataset(
        fits.branch[keep], fits.branch_type[keep], fam, e.params[keep, ip, ic],
        path_distance_um=fits.path_distance_um[keep], params_std=e.params_std[keep, ip, ic],
        r2=e.r2[keep, ip, ic], rmse_mV=e.rmse[keep, ip, ic], input_range=fits.input_range,
        input_units="mV (expected: arithmetic sum of the unitary local peaks)",
        output_units="mV (measured local peak depolarisation)", provenance=prov)
    cands = list(e.candidates)
    ds = ds.assign_coords(placement=("placement", np.array(fits.placement, dtype=object)),
                          condition=("condition", np.array(fits.condition, dtype=object)),
                          candidate=("candidate", np.array(cands, dtype=object)))
    bpc = ("branch", "placement", "condition")
    new = {
        "flags": ("branch", e.flags[keep, ip, ic].astype(object)),
        **_axis_vars("curve", e, keep),
        **_axis_vars("count", fits.count, keep),
        "count_param_units": (("family_name", "param"), param_units_table("synapses", "mV")),
        "input_mV_per_synapse": (bpc, fits.input_mV_per_synapse[keep]),
        "soma_mV_per_synapse": (bpc, fits.soma_mV_per_synapse[keep]),
    }
    ds = ds.assign(new)
    ds = ds.assign(_type_extras(ds, cands))
    if timing is not None:
        idx = {int(b): i for i, b in enumerate(timing.branch)}
        rows = [idx.get(int(b), -1) for b in ds["branch"].values]

        def pick(a, fill=np.nan):
            return np.array([a[r] if r >= 0 else fill for r in rows])
        ds = ds.assign({
            "timing_amplitude_mV": ("branch", pick(timing.params[:, 0])),
            "timing_tau_ms": ("branch", pick(timing.params[:, 1])),
            "timing_tau_ms_std": ("branch", pick(timing.std[:, 1])),
            "timing_baseline_mV": ("branch", pick(timing.params[:, 2])),
            "timing_r2": ("branch", pick(timing.r2)),
            "timing_flags": ("branch", pick(timing.flags, "not_measured").astype(object)),
        })
    if two_layer is not None:
        tl, su = two_layer, two_layer_subunits
        names = all_param_names()
        out = np.full((len(tl.models), len(tl.targets), len(names)), np.nan)
        for col, k in (("threshold", 0), ("amplitude", 1), ("baseline", 2)):
            out[..., names.index(col)] = tl.output[..., k]
        out[..., names.index("slope")] = np.where(np.isfinite(tl.output[..., 0]), 1.0, np.nan)
        refit = np.full((len(tl.targets), len(names)), np.nan)
        th, ka = tl.refit_subunit[:, 0], tl.refit_subunit[:, 1]
        refit[:, names.index("threshold")] = th
        refit[:, names.index("slope")] = ka
        refit[:, names.index("amplitude")] = np.where(np.isfinite(th), 1.0, np.nan)
        with np.errstate(over="ignore"):
            refit[:, names.index("baseline")] = -logistic(-th / ka)
        tunits = {"soma_peak_mV": "mV", "soma_rate_hz": "Hz", "soma_peak_subthreshold_mV": "mV"}
        ds = ds.assign_coords(model=("model", np.array(tl.models, dtype=object)),
                              target=("target", np.array(tl.targets, dtype=object)),
                              subunit=("subunit", tl.branch),
                              subunit_type=("subunit", np.array(su["types"], dtype=object)),
                              pattern=("pattern", np.arange(tl.split.size, dtype=np.int64)),
                              pattern_split=("pattern", tl.split.astype(object)))
        ds = ds.assign({
            "two_layer_variance_explained": (("model", "target"), tl.ve_test),
            "two_layer_variance_explained_train": (("model", "target"), tl.ve_train),
            "two_layer_weight": (("model", "target", "subunit"), tl.weights,
                                 {"inputs": "two_layer: f_b(x) - f_b(0), x = n_active * mV_per_synapse; two_layer_refit: "
                                            "shared sigmoid of x; point_neuron: n_active * "
                                            "two_layer_point_neuron_mV_per_synapse (one weight, equal for every "
                                            "subunit); linear_weighted: x"}),
            "two_layer_output_params": (("model", "target", "param"), out, {"family": "sigmoid"}),
            "two_layer_refit_params": (("target", "param"), refit, {"family": "sigmoid"}),
            "two_layer_subunit_family": ("subunit", np.array(su["families"], dtype=object)),
            "two_layer_subunit_params": (("subunit", "param"), su["params"]),
            "two_layer_subunit_mV_per_synapse": ("subunit", su["mV_per_synapse"]),
            "two_layer_subunit_source": ("subunit", np.array(su["source"], dtype=object)),
            # the only units the schema cannot know: they follow the targets fitted
            "two_layer_predicted": (("model", "target", "pattern"), tl.predicted,
                                    {"units": ", ".join(f"{t}: {tunits.get(t, '?')}" for t in tl.targets)}),
            "two_layer_measured": (("target", "pattern"), tl.measured,
                                   {"units": ", ".join(f"{t}: {tunits.get(t, '?')}" for t in tl.targets)}),
            "two_layer_flags": (("model", "target"), tl.flags.astype(object)),
        })
        ds.attrs["two_layer_n_train"] = int(tl.n_train)
        ds.attrs["two_layer_n_test"] = int(tl.n_test)
        ds.attrs["two_layer_point_neuron_mV_per_synapse"] = float(tl.settings.get("point_neuron_mV_per_synapse", np.nan))
    ds.attrs.update({
        "default_placement": default_placement,
        "default_condition": default_condition,
        "selection_criterion": settings.get("criterion", "bic"),
        "fit_family": settings.get("family", "auto"),
        "count_input_units": "synapses",
        "fit_settings": json.dumps(settings, sort_keys=True, default=str),
        "source_file": str(source_file),
    })
    return apply_spec(ds, UNITS_GROUPS)
