"""characterization file -> units dataset: the steps of `bridge fit`, without the command line."""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from bridge.fit.branches import FATAL, fit_integration, fit_timing, own_curve_fits
from bridge.fit.data import read_characterization
from bridge.fit.export import build_units
from bridge.fit.two_layer import TARGETS, fit_two_layer
from bridge.transfer import FAMILIES, all_param_names
from dendritic_errors import InputError


@dataclass
class FitResult:
    units: object                      # xr.Dataset (units schema v2)
    groups: dict                       # the characterization groups read
    skipped: list = field(default_factory=list)   # (branch id, reason)
    warnings: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    subunit_source: list = field(default_factory=list)   # per patterns branch: where its subunit came from
    two_layer: object = None           # bridge.fit.two_layer.TwoLayerResult on the patterns group
    dispersion: object = None          # bridge.fit.dispersion.DispersionFit, when the file has that group


def _default(axis, wanted, what, path):
    if wanted is not None:
        if wanted not in axis:
            raise InputError(f"{path}: {what} {wanted!r} is not in the integration group (has: {', '.join(axis)})")
        return wanted
    return "clustered" if what == "placement" and "clustered" in axis else \
        "control" if what == "condition" and "control" in axis else axis[0]


def _subunits(units, pat, ip, ic, *, criterion: str, source: str):
    """Fixed subunit function and input scale of every patterns branch, each from that
    branch's own measurements: the patterns group's own curves (each branch's cluster
    alone), or, in files written before those existed, the branch's fit in the integration
    group. A branch with neither stops the fit, named."""
    names = all_param_names()
    branch = [int(b) for b in pat["branch"].values]
    if "curve_measured_local_mV" in pat:
        meas = pat["curve_measured_local_mV"].transpose("branch", "curve_n").values
        expd = pat["curve_expected_local_mV"].transpose("branch", "curve_n").values
        fams, plists, _ = own_curve_fits(expd, meas, branch, criterion=criterion, source=source)
        unit = pat["curve_unitary_local_mV"].transpose("branch", "curve_n").values
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mv = np.nanmean(unit, axis=1)
        params = np.full((len(branch), len(names)), np.nan)
        for i, (f, p) in enumerate(zip(fams, plists)):
            params[i, [names.index(n) for n in FAMILIES[f].param_names]] = p
        src = ["patterns_curve"] * len(branch)
    else:
        ids = [int(b) for b in units["branch"].values]
        missing = [b for b in branch if b not in ids]
        if missing:
            raise InputError(f"{source}: branch(es) {', '.join(map(str, missing))} have no fit of their own (the "
                             "file predates the patterns protocol's own subunit curves and they are not in the "
                             "integration group); characterize again with this version")
        k = [ids.index(b) for b in branch]
        fams = [str(units["family"].values[j]) for j in k]
        params = np.asarray(units["params"].values[k], float)
        mv = units["input_mV_per_synapse"].values[:, ip, ic][k]
        plists = [params[i, [names.index(n) for n in FAMILIES[f].param_names]] for i, f in enumerate(fams)]
        src = ["integration"] * len(branch)
    return {"families": fams, "params": params, "mV_per_synapse": np.asarray(mv, float), "source": src,
            "types": [str(t) for t in pat["branch_type"].values], "param_lists": plists}


def fit_characterization(path, *, family: str = "auto", criterion: str = "bic", skip_bad: bool = False,
                         two_layer: bool = True, placement: str | None = None,
                         condition: str | None = None, ridge: float = 1e-2, need_units: bool = True) -> FitResult:
    """Read, fit and build the units dataset; raises `InputError` on bad input (nothing written).

    `need_units=False` (a report only): the integration group is optional, and the whole-cell
    models are fitted on whichever of `patterns` and `cluster_dispersion` the file holds.
    The `cluster_dispersion` group, when present, is always fitted (`result.dispersion`)."""
    t0 = time.perf_counter()
    if family != "auto" and family not in FAMILIES:
        raise InputError(f"--family {family!r}: choose auto or one of {', '.join(FAMILIES)}")
    if need_units:
        required = ("integration", "patterns") if two_layer else ("integration",)
    else:
        required = ()
    try:
        prov, groups = read_characterization(path, required=required,
                                             optional=("integration", "timing", "patterns", "cluster_dispersion"))
    except InputError as err:
        if two_layer and "'patterns' protocol group" in str(err):
            raise InputError(f"{err}, or pass --no-two-layer to fit the branches only") from None
        raise
    if not need_units and not {"integration", "cluster_dispersion"} & set(groups):
        raise InputError(f"{path}: nothing to fit: no 'integration' or 'cluster_dispersion' protocol group "
                         f"(protocols present: {', '.join(groups) or 'none'})")
    dispersion = None
    if "cluster_dispersion" in groups:
        from bridge.fit.dispersion import fit_dispersion

        dispersion = fit_dispersion(groups["cluster_dispersion"], criterion=criterion, ridge=ridge,
                                    source=f"{path} [cluster_dispersion]")
    if "integration" not in groups:
        return FitResult(None, groups, dispersion=dispersion, seconds={"total": time.perf_counter() - t0})
    two_layer = two_layer and "patterns" in groups
    integ = groups["integration"]
    if integ.sizes.get("branch", 0) == 0 or integ.sizes.get("n_synapses", 0) == 0:
        raise InputError(f"{path} [integration]: no branches or no synapse counts (empty curves)")
    pl_axis = [str(p) for p in integ["placement"].values]
    co_axis = [str(c) for c in integ["condition"].values]
    dpl = _default(pl_axis, placement, "placement", path)
    dco = _default(co_axis, condition, "condition", path)
    ip, ic = pl_axis.index(dpl), co_axis.index(dco)
    t1 = time.perf_counter()
    fits = fit_integration(integ, criterion=criterion, force=None if family == "auto" else family)
    t2 = time.perf_counter()

    # bad default curves: stop (or skip the branch)
    e = fits.expected
    bad = []
    for i, b in enumerate(fits.branch):
        fl = set(filter(None, str(e.flags[i, ip, ic]).split(",")))
        if fl & set(FATAL) or not e.family[i, ip, ic]:
            why = str(e.reasons[i, ip, ic]) or (f"the {family} fit failed" if family != "auto" else "every family failed to fit")
            bad.append((int(b), f"branch {int(b)} ({fits.branch_type[i]}, {dpl}, {dco}): measured_local_mV: {why}"))
    keep = np.ones(len(fits.branch), bool)
    if bad:
        if not skip_bad:
            shown = "; ".join(m for _, m in bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise InputError(f"{path} [integration]: {len(bad)} of {len(fits.branch)} branches cannot be fitted: "
                             f"{shown} (--skip-bad drops them)")
        keep[[list(fits.branch).index(b) for b, _ in bad]] = False
        if not keep.any():
            raise InputError(f"{path} [integration]: no branch can be fitted: {bad[0][1]}")
    early_warnings = []
    if two_layer and "curve_measured_local_mV" not in groups["patterns"] and bad:
        dropped = sorted(set(int(b) for b in groups["patterns"]["branch"].values) & {b for b, _ in bad})
        if dropped:   # --skip-bad dropped a pattern branch: no own fit left for its subunit
            early_warnings.append(f"two-layer model not fitted: pattern branch(es) {', '.join(map(str, dropped))} "
                                   "were dropped by --skip-bad and have no other fit of their own")
            two_layer = False
    timing = fit_timing(groups["timing"]) if "timing" in groups else None
    settings = dict(fits.settings, default_placement=dpl, default_condition=dco, skip_bad=bool(skip_bad),
                    two_layer=bool(two_layer), ridge=ridge,
                    skipped_branches=",".join(str(b) for b, _ in bad) if skip_bad else "")
    units = build_units(fits, keep=keep, default_placement=dpl, default_condition=dco, provenance=prov,
                        source_file=str(path), settings=settings, timing=timing)
    t3 = time.perf_counter()
    result = FitResult(units, groups, skipped=bad if skip_bad else [], dispersion=dispersion, warnings=early_warnings)
    if two_layer:
        pat = groups["patterns"]
        split = np.asarray(pat["split"].values).astype(str)
        if not (split == "test").any() or not (split == "train").any():
            raise InputError(f"{path} [patterns]: split has {int((split == 'train').sum())} train and "
                             f"{int((split == 'test').sum())} test patterns; both are needed")
        su = _subunits(units, pat, ip, ic, criterion=criterion, source=f"{path} [patterns]")
        targets = {t: np.asarray(pat[t].values, float) for t in TARGETS if t in pat}
        # the somatic peak is bimodal (spike or not): its variance is mostly spike/no spike;
        # the subthreshold peaks alone test the subunits' summation
        targets["soma_peak_subthreshold_mV"] = np.where(np.asarray(pat["soma_spikes"].values) == 0,
                                                        targets["soma_peak_mV"], np.nan)
        tl = fit_two_layer(pat["n_active"].transpose("pattern", "branch").values, split, targets,
                           su["mV_per_synapse"], su["families"], su["param_lists"], pat["branch"].values,
                           ridge=ridge)
        units = build_units(fits, keep=keep, default_placement=dpl, default_condition=dco, provenance=prov,
                            source_file=str(path), settings=settings, timing=timing, two_layer=tl,
                            two_layer_subunits=su)
        result.units = units
        result.two_layer = tl
        result.subunit_source = su["source"]
    t4 = time.perf_counter()
    result.seconds = {"read": t1 - t0, "branches": t2 - t1, "export": t3 - t2, "two_layer": t4 - t3,
                      "total": t4 - t0, "n_branches": int(len(fits.branch))}
    for i in np.nonzero(keep)[0]:
        for jp, pl in enumerate(fits.placement):
            for jc, co in enumerate(fits.condition):
                if (jp, jc) != (ip, ic) and "failed" in str(e.flags[i, jp, jc]):
                    result.warnings.append(f"branch {int(fits.branch[i])} ({pl}, {co}): no family could be fitted "
                                           f"({e.reasons[i, jp, jc] or 'all fits failed'})")
    return result
