"""characterization file -> units dataset: the steps of `bridge fit`, without the command line."""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from bridge.fit.branches import fit_integration, fit_timing
from bridge.fit.data import read_characterization
from bridge.fit.export import build_units
from bridge.fit.two_layer import TARGETS, fit_two_layer
from bridge.transfer import FAMILIES, all_param_names
from dendritic_errors import InputError

FATAL = ("empty", "flat", "non_monotone", "failed")
"""Flags of a branch's default curve that stop `bridge fit` (unless `skip_bad`)."""


@dataclass
class FitResult:
    units: object                      # xr.Dataset (units schema v2)
    groups: dict                       # the characterization groups read
    skipped: list = field(default_factory=list)   # (branch id, reason)
    warnings: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)


def _default(axis, wanted, what, path):
    if wanted is not None:
        if wanted not in axis:
            raise InputError(f"{path}: {what} {wanted!r} is not in the integration group (has: {', '.join(axis)})")
        return wanted
    return "clustered" if what == "placement" and "clustered" in axis else \
        "control" if what == "condition" and "control" in axis else axis[0]


def _subunits(units, pat, ip, ic):
    """Fixed subunit function and input scale per patterns branch (own fit or type median)."""
    names = all_param_names()
    ids = [int(b) for b in units["branch"].values]
    types_u = [str(t) for t in units["branch_type"].values]
    mv_all = units["input_mV_per_synapse"].values[:, ip, ic]
    of = np.asarray(units["branch_type_of_branch"].values).astype(str)
    fams, params, mv, src, types = [], [], [], [], []
    for b, t in zip(pat["branch"].values, pat["branch_type"].values):
        b, t = int(b), str(t)
        types.append(t)
        if b in ids:
            k = ids.index(b)
            f = str(units["family"].values[k])
            fams.append(f)
            params.append(units["params"].values[k])
            mv.append(float(mv_all[k]))
            src.append("branch")
            continue
        if t in types_u:
            k = types_u.index(t)
            fams.append(str(units["type_family"].values[k]))
            params.append(units["type_params_median"].values[k])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mv.append(float(np.nanmedian(mv_all[of == t])))
            src.append("type_median")
        else:
            row = np.full(len(names), np.nan)
            row[names.index("slope")], row[names.index("offset")] = 1.0, 0.0
            fams.append("linear")
            params.append(row)
            mv.append(float(np.nanmedian(mv_all)))
            src.append("identity")
    params = np.array(params, float)
    cols = [[names.index(n) for n in FAMILIES[f].param_names] for f in fams]
    return {"families": fams, "params": params, "mV_per_synapse": np.array(mv), "source": src,
            "types": types, "param_lists": [params[i, c] for i, c in enumerate(cols)]}


def fit_characterization(path, *, family: str = "auto", criterion: str = "bic", skip_bad: bool = False,
                         two_layer: bool = True, placement: str | None = None,
                         condition: str | None = None, ridge: float = 1e-2) -> FitResult:
    """Read, fit and build the units dataset; raises `InputError` on bad input (nothing written)."""
    t0 = time.perf_counter()
    if family != "auto" and family not in FAMILIES:
        raise InputError(f"--family {family!r}: choose auto or one of {', '.join(FAMILIES)}")
    required = ("integration", "patterns") if two_layer else ("integration",)
    try:
        prov, groups = read_characterization(path, required=required, optional=("timing",))
    except InputError as err:
        if two_layer and "'patterns' protocol group" in str(err):
            raise InputError(f"{err}, or pass --no-two-layer to fit the branches only") from None
        raise
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
    timing = fit_timing(groups["timing"]) if "timing" in groups else None
    settings = dict(fits.settings, default_placement=dpl, default_condition=dco, skip_bad=bool(skip_bad),
                    two_layer=bool(two_layer), ridge=ridge,
                    skipped_branches=",".join(str(b) for b, _ in bad) if skip_bad else "")
    units = build_units(fits, keep=keep, default_placement=dpl, default_condition=dco, provenance=prov,
                        source_file=str(path), settings=settings, timing=timing)
    t3 = time.perf_counter()
    result = FitResult(units, groups, skipped=bad if skip_bad else [])
    if two_layer:
        pat = groups["patterns"]
        split = np.asarray(pat["split"].values).astype(str)
        if not (split == "test").any() or not (split == "train").any():
            raise InputError(f"{path} [patterns]: split has {int((split == 'train').sum())} train and "
                             f"{int((split == 'test').sum())} test patterns; both are needed")
        su = _subunits(units, pat, ip, ic)
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
        n_fallback = sum(s != "branch" for s in su["source"])
        if n_fallback:
            result.warnings.append(f"two-layer model: {n_fallback} of {len(su['source'])} pattern branches were not "
                                   "in the integration group; their subunit is the type's median fit")
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
