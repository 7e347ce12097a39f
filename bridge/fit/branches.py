"""Fit every branch of an `integration` (and `timing`) characterization group.

For each branch, placement and condition two curves are fitted with every family of
`bridge.transfer` (see `bridge.fit.curves`):

* ``expected``: measured local peak (mV) versus the expected linear sum of unitary
  peaks (mV) -- the transfer function the torch units use;
* ``count``: measured local peak (mV) versus the number of co-active synapses.

The origin (no synapse, no response) is added to every curve. One family is chosen per
curve (`bridge.fit.curves.fit_curves`). From a `timing` group, each branch's measured
peak versus the interval between successive synapse activations is fitted with
``baseline + amplitude * exp(-interval / tau)``: `tau` is the branch's integration window.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

from bridge.fit import curves
from bridge.transfer import FAMILIES, CurveRanges, Family, Param, all_param_names
from dendritic_errors import InputError


FATAL = ("empty", "flat", "non_monotone", "failed")
"""Flags of a branch's default curve that stop `bridge fit` (unless `skip_bad`)."""


@dataclass
class AxisFits:
    """Chosen fits on one input axis; arrays (branch, placement, condition[, ...])."""

    family: np.ndarray       # str ("" when no family could be fitted)
    params: np.ndarray       # (..., param) on all_param_names()
    params_std: np.ndarray
    r2: np.ndarray
    rmse: np.ndarray
    n_points: np.ndarray
    flags: np.ndarray        # str, comma-separated
    reasons: np.ndarray      # str: why the data were flagged
    aic: np.ndarray          # (..., candidate)
    bic: np.ndarray          # (..., candidate)
    candidate_r2: np.ndarray # (..., candidate)
    candidates: tuple


@dataclass
class IntegrationFits:
    branch: np.ndarray
    branch_type: np.ndarray
    path_distance_um: np.ndarray
    placement: tuple
    condition: tuple
    n_synapses: np.ndarray
    expected: AxisFits
    count: AxisFits
    input_mV_per_synapse: np.ndarray   # (branch, placement, condition) mean unitary local peak
    soma_mV_per_synapse: np.ndarray    # same, at the soma
    input_range: tuple                 # (min, max) of the expected inputs seen (mV)
    count_range: tuple
    settings: dict


def _flat(a, n_curves):
    return np.asarray(a, dtype=float).reshape(n_curves, -1)


def _axis_fits(sel: curves.Selection, shape) -> AxisFits:
    names = all_param_names()
    cands = tuple(sel.candidates)
    B = len(sel.chosen)
    params = np.full((B, len(names)), np.nan)
    std = np.full((B, len(names)), np.nan)
    r2, rmse, npts = np.full(B, np.nan), np.full(B, np.nan), np.zeros(B)
    flags = np.empty(B, dtype=object)
    aic = np.full((B, len(cands)), np.nan)
    bic = np.full((B, len(cands)), np.nan)
    cr2 = np.full((B, len(cands)), np.nan)
    for j, f in enumerate(cands):
        aic[:, j], bic[:, j], cr2[:, j] = sel.candidates[f].aic, sel.candidates[f].bic, sel.candidates[f].r2
    cols = {f: [names.index(p) for p in FAMILIES[f].param_names] for f in cands}
    for i in range(B):
        f = sel.chosen[i]
        flags[i] = ",".join(sorted(sel.flags(i)))
        fit = sel.chosen_fit(i)
        npts[i] = next(iter(sel.candidates.values())).n[i]
        if fit is None:
            continue
        params[i, cols[f]] = fit.params[i]
        std[i, cols[f]] = fit.std[i]
        r2[i], rmse[i] = fit.r2[i], fit.rmse[i]
    fam = np.array(sel.chosen, dtype=object)
    reasons = np.array(sel.data_reasons, dtype=object)
    rs = lambda a, *extra: a.reshape(*shape, *extra)  # noqa: E731
    return AxisFits(rs(fam), rs(params, len(names)), rs(std, len(names)), rs(r2), rs(rmse), rs(npts),
                    rs(flags), rs(reasons), rs(aic, len(cands)), rs(bic, len(cands)), rs(cr2, len(cands)),
                    cands)


def own_curve_fits(expected, measured, branch, *, criterion: str, source: str):
    """Each branch's own transfer function, fitted to its own curve (rows of `expected`,
    `measured`, mV); an `InputError` names every branch that has no usable fit (no
    stand-ins: Poirazi, Brannon & Mel 2003 take each subunit from its own branch)."""
    sel = curves.fit_curves(np.asarray(expected, float), np.asarray(measured, float), criterion=criterion)
    fams, params, r2, bad = [], [], [], []
    for i, b in enumerate(branch):
        flags = sel.flags(i)
        if flags & set(FATAL) or not sel.chosen[i]:
            bad.append(f"{int(b)} ({', '.join(sorted(flags & set(FATAL))) or 'no family fits'})")
            continue
        fams.append(sel.chosen[i])
        params.append(np.asarray(sel.chosen_fit(i).params[i], float))
        r2.append(float(sel.chosen_fit(i).r2[i]))
    if bad:
        raise InputError(f"{source}: no transfer function of its own for branch(es) {'; '.join(bad)}; the "
                         "two-layer model needs one per branch")
    return fams, params, np.asarray(r2)


def fit_integration(integ: xr.Dataset, *, families=tuple(FAMILIES), criterion: str = "bic",
                    force: str | None = None, add_origin: bool = True) -> IntegrationFits:
    """Fit all branches, placements and conditions of a checked `integration` group."""
    meas = np.asarray(integ["measured_local_mV"].transpose("branch", "placement", "condition", "n_synapses").values, float)
    expd = np.asarray(integ["expected_local_mV"].transpose("branch", "placement", "condition", "n_synapses").values, float)
    nb, npl, nc, nn = meas.shape
    shape = (nb, npl, nc)
    B = nb * npl * nc
    nsyn = np.asarray(integ["n_synapses"].values, float)
    y = _flat(meas, B)
    sel_e = curves.fit_curves(_flat(expd, B), y, families=families, criterion=criterion, force=force,
                              add_origin=add_origin)
    sel_c = curves.fit_curves(np.broadcast_to(nsyn, (B, nn)), y, families=families, criterion=criterion,
                              force=force, add_origin=add_origin)
    dims = ("branch", "placement", "condition", "synapse")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        u_loc = np.nanmean(np.asarray(integ["unitary_local_mV"].transpose(*dims).values, float), axis=-1)
        u_som = np.nanmean(np.asarray(integ["unitary_soma_mV"].transpose(*dims).values, float), axis=-1)
    fin = expd[np.isfinite(expd)]
    in_range = (min(0.0, float(fin.min())) if fin.size else 0.0, float(fin.max()) if fin.size else 1.0)
    return IntegrationFits(
        branch=np.asarray(integ["branch"].values, dtype=np.int64),
        branch_type=np.asarray([str(t) for t in integ["branch_type"].values], dtype=object),
        path_distance_um=np.asarray(integ["path_distance_um"].values, float),
        placement=tuple(str(p) for p in integ["placement"].values),
        condition=tuple(str(c) for c in integ["condition"].values),
        n_synapses=nsyn,
        expected=_axis_fits(sel_e, shape),
        count=_axis_fits(sel_c, shape),
        input_mV_per_synapse=u_loc, soma_mV_per_synapse=u_som,
        input_range=in_range, count_range=(0.0, float(np.nanmax(nsyn)) if nsyn.size else 1.0),
        settings=dict(criterion=criterion, family=force or "auto", families=",".join(families),
                      add_origin=bool(add_origin), delta=curves.DELTA),
    )


# ------------------------------------------------------------------------------------
# timing: integration window
# ------------------------------------------------------------------------------------

def _decay(x, amplitude, tau, baseline, ops):
    return baseline + amplitude * ops.exp(-x / tau)


def _decay_jac(x, amplitude, tau, baseline, ops):
    e = ops.exp(-x / tau)
    return [e, amplitude * e * x / tau ** 2, 0.0 * x + 1.0]


def _decay_bounds(r):
    return ([-100 * r.yr, 1e-2 * np.maximum(r.xr, 1e-3), r.ymin - 10 * r.yr],
            [100 * r.yr, 100 * np.maximum(r.xmax, 1e-3), r.ymax + 10 * r.yr])


def _decay_starts(fam, x, y, w, lo, hi):
    r = CurveRanges.of(x, y, w)
    sw = w.sum(1)
    first = (w * y)[:, 0] if x.shape[1] else r.ymax
    last_idx = (w * np.arange(x.shape[1])).argmax(1)
    last = y[np.arange(x.shape[0]), last_idx]
    return [np.stack([first - last, np.maximum(r.xr / 3, lo[:, 1]), last], 1),
            np.stack([(w * y).sum(1) / sw - last, np.maximum(r.xr, lo[:, 1]), last], 1)]


# the timing curve (peak versus interval) is not a transfer function, but it is fitted by the
# same machinery, so it is a `Family` too (x: interval in ms, y: peak in mV); not in FAMILIES
DECAY = Family("decay", (Param("amplitude", "y"), Param("tau", "x", positive=True), Param("baseline", "y", "y")),
               _decay, "baseline + amplitude * exp(-x / tau)", _decay_jac, _decay_bounds, _decay_starts)


@dataclass
class TimingFits:
    branch: np.ndarray
    params: np.ndarray    # (branch, 3): amplitude (mV), tau (ms), baseline (mV)
    std: np.ndarray
    r2: np.ndarray
    flags: np.ndarray     # str


def fit_timing(timing: xr.Dataset) -> TimingFits:
    """Integration window per branch from a checked `timing` group."""
    t = np.asarray(timing["interval_ms"].values, float)
    y = np.asarray(timing["measured_local_mV"].transpose("branch", "interval_ms").values, float)
    B = y.shape[0]
    order = np.argsort(t)
    xp, yp, wp = curves.prepare(np.broadcast_to(t[order], y.shape), y[:, order], add_origin=False)
    fam = DECAY
    params = np.full((B, 3), np.nan)
    cost = np.full(B, np.nan)
    good = wp.sum(1) >= 4
    if good.any():
        g = np.nonzero(good)[0]
        lo, hi = fam.bounds(xp[g], yp[g], wp[g])
        starts = fam.initial_guesses(xp[g], yp[g], wp[g], lo, hi)
        S = len(starts)
        rep = lambda a: np.concatenate([a] * S)  # noqa: E731
        nat, c, _, _ = curves._lm(fam, rep(xp[g]), rep(yp[g]), rep(wp[g]), np.concatenate(starts), rep(lo), rep(hi))
        c = np.where(np.isfinite(c), c, np.inf).reshape(S, -1)
        best = np.argmin(c, axis=0)
        j = best * len(g) + np.arange(len(g))
        params[g], cost[g] = nat[j], c[best, np.arange(len(g))]
    with np.errstate(over="ignore", invalid="ignore"):
        _, J = fam.model(xp, np.where(np.isfinite(params), params, 1.0))
    std, singular, r2, _, _, _ = curves._stats(params, cost, xp, yp, wp, J * wp[:, :, None], 3)
    flags = np.empty(B, dtype=object)
    for i in range(B):
        fl = []
        if not good[i] or not np.isfinite(cost[i]):
            fl.append("failed")
        elif singular[i] or not (std[i, 1] <= abs(params[i, 1])):
            fl.append("poorly_constrained")
        flags[i] = ",".join(fl)
    return TimingFits(np.asarray(timing["branch"].values, np.int64), params, std, r2, flags)
