"""Fit transfer-function curves, many at once, with the families of `bridge.transfer`.

One call fits one family to B curves (rows of `x`, `y`; NaN marks a missing point) with
a batched Levenberg-Marquardt on analytic Jacobians (numpy only), so a whole cell is fitted
in a few vectorised passes instead of thousands of `scipy.optimize.curve_fit` calls.

Per family (formula, Jacobian, bounds, starting points, positivity and the reference sizes of
"poorly_constrained" are the `bridge.transfer.Family`'s; this module only optimises)
    linear       closed-form start, LM (one step)
    sigmoid      grid start over (threshold, slope) with amplitude/baseline solved
                 linearly; LM from the two best grid points; slope and amplitude > 0
    supralinear  grid start over `scale`, amplitude solved linearly; LM; both > 0
    saturating   as supralinear
    spline       monotone (non-decreasing) piecewise-linear fit through SPLINE_KNOTS knots at
                 fixed positions (quantiles of the curve's x), solved exactly as a
                 non-negative least-squares problem on the knot increments (isotonic
                 regression at fixed knots). Counted as SPLINE_KNOTS fitted parameters (the
                 knot values; positions follow a fixed rule and are reported with std 0).

Uncertainties: covariance ``s^2 (J^T J)^-1`` at the optimum with ``s^2 = RSS / (n - k)``
(for the spline: the unconstrained least-squares covariance of the knot values, which
ignores the monotonicity constraint). Information criteria with k fitted parameters plus
the noise variance: ``AIC = n ln(RSS/n) + 2 (k+1)``, ``BIC = n ln(RSS/n) + (k+1) ln n``.

Flags (a set per curve; "failed" fits are never selected)
    empty               fewer than `MIN_POINTS` finite points
    flat                the response does not change (range < `FLAT_MV` mV or < 1 % of the
                        input range)
    non_monotone        the response falls by more than max(`NON_MONOTONE_MV`, 10 % of its
                        range, 6 x a robust noise estimate) as the input grows
    failed              no finite optimum (or too few points for the family)
    not_converged       the optimiser hit its iteration limit
    singular_covariance J^T J not invertible: parameters not identifiable from the data
    poorly_constrained  a parameter's standard error exceeds its reference size (its own
                        magnitude for slopes, scales and amplitudes; the input range for a
                        threshold; the response range for an offset or baseline), or the
                        covariance is singular
    at_bound            a parameter ended on its bound (e.g. supralinear `scale` at its
                        upper bound: the curve is indistinguishable from a line)
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import nnls

from bridge.transfer import FAMILIES, SPLINE_KNOTS, CurveRanges

MIN_POINTS = 4
FLAT_MV = 0.05
NON_MONOTONE_MV = 0.5
MAX_ITER = 100
FTOL = 1e-8   # relative decrease of the cost below which an accepted step ends the fit

@dataclass
class CurveFits:
    """Fits of one family to B curves (natural parameters in the family's order)."""

    family: str
    params: np.ndarray        # (B, P)
    std: np.ndarray           # (B, P)
    rss: np.ndarray           # (B,)
    n: np.ndarray             # (B,) points used
    k: int                    # fitted parameters (without the noise variance)
    r2: np.ndarray
    rmse: np.ndarray
    aic: np.ndarray
    bic: np.ndarray
    flags: list = field(default_factory=list)   # list of sets

    @property
    def failed(self) -> np.ndarray:
        return np.array(["failed" in f for f in self.flags], dtype=bool)


# ------------------------------------------------------------------------------------
# data preparation and checks
# ------------------------------------------------------------------------------------

def prepare(x, y, add_origin: bool = True):
    """(x, y, w): float arrays (B, M[+1]) with NaN points zeroed and weight w = 0 there.

    With `add_origin` a point (0, 0) is prepended to every curve (no input, no response).
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    y = np.atleast_2d(np.asarray(y, dtype=float))
    if x.shape != y.shape:
        x = np.broadcast_to(x, y.shape)
    if add_origin:
        z = np.zeros((y.shape[0], 1))
        x = np.concatenate([z, x], axis=1)
        y = np.concatenate([z, y], axis=1)
    w = (np.isfinite(x) & np.isfinite(y)).astype(float)
    return np.where(w > 0, x, 0.0), np.where(w > 0, y, 0.0), w


def data_checks(x, y, w) -> list[tuple[set, str]]:
    """Per curve: (flags, reason) for 'empty', 'flat', 'non_monotone' ('' reason when clean).

    Vectorised over curves. The noise of a curve is estimated robustly from its second
    differences (MAD / 0.6745 / sqrt(6); 0 for a smooth, noise-free curve).
    """
    B, M = x.shape
    m = w > 0
    n = m.sum(1)
    order = np.argsort(np.where(m, x, np.inf), axis=1, kind="stable")
    xs = np.take_along_axis(np.where(m, x, np.nan), order, 1)
    ys = np.take_along_axis(np.where(m, y, np.nan), order, 1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        xr = np.nanmax(xs, 1) - np.nanmin(xs, 1)
        yr = np.nanmax(ys, 1) - np.nanmin(ys, 1)
        drop = np.nanmax(np.fmax.accumulate(np.where(np.isnan(ys), -np.inf, ys), axis=1) - ys, axis=1)
        d2 = np.diff(ys, 2, axis=1)
        med = np.nanmedian(d2, axis=1)
        noise = np.nanmedian(np.abs(d2 - med[:, None]), axis=1) / 0.6745 / np.sqrt(6)
    noise = np.where(np.isfinite(noise), noise, 0.0)
    out = []
    for i in range(B):
        if n[i] < MIN_POINTS:
            out.append(({"empty"}, f"only {int(n[i])} finite points (need {MIN_POINTS})"))
            continue
        if not xr[i] > 0:
            out.append(({"empty"}, "the input does not vary (all x equal)"))
            continue
        flags, why = set(), []
        if yr[i] < FLAT_MV or yr[i] < 0.01 * xr[i]:
            flags.add("flat")
            why.append(f"flat response (range {yr[i]:.3g} mV over an input range of {xr[i]:.3g})")
        if drop[i] > max(NON_MONOTONE_MV, 0.1 * yr[i], 6 * noise[i]):
            flags.add("non_monotone")
            why.append(f"non-monotone response (falls by {drop[i]:.3g} mV as the input grows)")
        out.append((flags, "; ".join(why)))
    return out


# ------------------------------------------------------------------------------------
# parametric families: bounded Levenberg-Marquardt on the `bridge.transfer.Family` objects
# (formula, Jacobian, bounds, starting points, positivity and reference sizes live there)
# ------------------------------------------------------------------------------------

def _to_int(nat, logmask):
    out = nat.copy()
    for i, lg in enumerate(logmask):
        if lg:
            out[:, i] = np.log(np.maximum(nat[:, i], 1e-300))
    return out


def _to_nat(th, logmask):
    out = th.copy()
    for i, lg in enumerate(logmask):
        if lg:
            out[:, i] = np.exp(th[:, i])
    return out


def _lm(fam, x, y, w, nat0, lo, hi, max_iter=MAX_ITER):
    """Batched, bounded (projected) Levenberg-Marquardt. Returns (nat, cost, converged)."""
    logm = np.array([p.positive for p in fam.params])   # positive parameters: fitted as logs
    lo_i, hi_i = _to_int(lo, logm), _to_int(hi, logm)
    th = np.clip(_to_int(nat0, logm), lo_i, hi_i)
    B, P = th.shape

    def evaluate(idx, th_sub):
        nat = _to_nat(th_sub, logm)
        with np.errstate(over="ignore", invalid="ignore"):
            f, J = fam.model(x[idx], nat)
        J = J * np.where(logm, nat, 1.0)[:, None, :]     # chain rule to internal parameters
        r = w[idx] * (f - y[idx])
        return r, J * w[idx][:, :, None]

    allidx = np.arange(B)
    r, J = evaluate(allidx, th)
    cost = (r ** 2).sum(1)
    cost = np.where(np.isfinite(cost), cost, np.inf)
    lam = np.full(B, 1e-3)
    active = np.isfinite(cost)
    converged = np.zeros(B, bool)
    eye = np.eye(P)
    for _ in range(max_iter):
        idx = np.nonzero(active)[0]
        if idx.size == 0:
            break
        Ji, ri = J[idx], r[idx]
        JiT = Ji.transpose(0, 2, 1)
        A = JiT @ Ji
        g = (JiT @ ri[..., None])[..., 0]
        d = np.maximum(np.einsum("bpp->bp", A), 1e-12)
        M = A + lam[idx, None, None] * d[:, :, None] * eye + 1e-12 * eye
        try:
            step = -np.linalg.solve(M, g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = -np.einsum("bpq,bq->bp", np.linalg.pinv(M), g)
        new = np.clip(th[idx] + step, lo_i[idx], hi_i[idx])
        r_new, J_new = evaluate(idx, new)
        c_new = (r_new ** 2).sum(1)
        ok = np.isfinite(c_new) & (c_new <= cost[idx])
        moved = np.abs(new - th[idx]).max(1)
        small = (cost[idx] - c_new <= FTOL * cost[idx] + 1e-20) | (moved < 1e-10)
        acc = idx[ok]
        th[acc], r[acc], J[acc] = new[ok], r_new[ok], J_new[ok]
        done_ok = ok & small
        cost[acc] = c_new[ok]
        lam[idx] = np.where(ok, lam[idx] / 3.0, lam[idx] * 4.0)
        stuck = ~ok & (lam[idx] > 1e10)
        converged[idx[done_ok | stuck]] = True
        active[idx[done_ok | stuck]] = False
    with np.errstate(invalid="ignore"):
        at_bound = ((np.isfinite(lo_i) & ((th - lo_i) <= 1e-6 * np.maximum(1, np.abs(lo_i))))
                    | (np.isfinite(hi_i) & ((hi_i - th) <= 1e-6 * np.maximum(1, np.abs(hi_i)))))
    return _to_nat(th, logm), cost, converged, at_bound.any(1)


def _stats(params, rss, x, y, w, J, k):
    """std, singular, r2, rmse, aic, bic from weighted Jacobian J (B, M, P) in natural params."""
    B, P = params.shape
    n = w.sum(1)
    dof = np.maximum(n - k, 1)
    s2 = rss / dof
    A = np.einsum("bmp,bmq->bpq", J, J)
    d = np.sqrt(np.maximum(np.einsum("bpp->bp", A), 1e-300))
    As = A / d[:, :, None] / d[:, None, :]
    std = np.full((B, P), np.nan)
    singular = np.ones(B, bool)
    fin = np.isfinite(As).all(axis=(1, 2))
    if fin.any():
        ev = np.full((B, P), np.nan)
        ev[fin] = np.linalg.eigvalsh(As[fin])
        cond_ok = fin & (ev.min(1) > 1e-10 * ev.max(1))
        if cond_ok.any():
            inv = np.linalg.inv(As[cond_ok]) / d[cond_ok][:, :, None] / d[cond_ok][:, None, :]
            var = np.einsum("bpp->bp", inv) * s2[cond_ok][:, None]
            std[cond_ok] = np.sqrt(np.maximum(var, 0))
            singular[cond_ok] = False
    r2, rmse, aic, bic = goodness(y, w, rss, n, k)
    return std, singular, r2, rmse, aic, bic


def goodness(y, w, rss, n, k):
    """R^2, RMSE, AIC and BIC of weighted curves (rows) with residual sums `rss`, `n`
    points and `k` parameters (+1 for the noise variance in the criteria)."""
    my = (w * y).sum(1) / np.maximum(n, 1)
    sst = (w * (y - my[:, None]) ** 2).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1 - rss / sst, np.nan)
        rmse = np.sqrt(rss / np.maximum(n, 1))
        rss_f = np.maximum(rss, 1e-24 * np.maximum(sst, 1e-12))
        ll = n * np.log(rss_f / np.maximum(n, 1))
    return r2, rmse, ll + 2 * (k + 1), ll + (k + 1) * np.log(np.maximum(n, 1))


def _poorly(family, params, std, x, y, w):
    r = CurveRanges.of(x, y, w)
    bad = np.zeros(params.shape[0], bool)
    for i, kind in enumerate(FAMILIES[family].references):
        ref = np.abs(params[:, i]) if kind == "self" else (r.xr if kind == "x" else r.yr)
        bad |= ~(std[:, i] <= ref)
    return bad


def fit_family(family: str, x, y, w) -> CurveFits:
    """Fit `family` to the B prepared curves (`prepare`); never raises on bad curves (flags them)."""
    if family == "spline":
        return _fit_spline(x, y, w)
    fam = FAMILIES[family]
    B = x.shape[0]
    P = len(fam.params)
    n = w.sum(1)
    lo, hi = fam.bounds(x, y, w)
    good = n >= P + 1
    params = np.full((B, P), np.nan)
    cost = np.full(B, np.nan)
    conv = np.zeros(B, bool)
    atb = np.zeros(B, bool)
    if good.any():
        gi = np.nonzero(good)[0]
        xs, ys, ws = x[gi], y[gi], w[gi]
        lo_g, hi_g = lo[gi], hi[gi]
        starts = fam.initial_guesses(xs, ys, ws, lo_g, hi_g)
        S = len(starts)
        nat0 = np.concatenate(starts)
        rep = lambda a: np.concatenate([a] * S)  # noqa: E731
        nat, c, cv, ab = _lm(fam, rep(xs), rep(ys), rep(ws), nat0, rep(lo_g), rep(hi_g))
        c = np.where(np.isfinite(c), c, np.inf).reshape(S, -1)
        best = np.argmin(c, axis=0)
        j = best * len(gi) + np.arange(len(gi))
        params[gi], cost[gi], conv[gi], atb[gi] = nat[j], c[best, np.arange(len(gi))], cv[j], ab[j]
    with np.errstate(over="ignore", invalid="ignore"):
        f, J = fam.model(x, np.where(np.isfinite(params), params, 1.0))
    J = J * w[:, :, None]
    rss = np.where(np.isfinite(cost), cost, np.nan)
    std, singular, r2, rmse, aic, bic = _stats(params, rss, x, y, w, J, P)
    poorly = _poorly(family, params, std, x, y, w)
    flags = []
    for i in range(B):
        fl = set()
        if not good[i] or not np.isfinite(rss[i]) or not np.all(np.isfinite(params[i])):
            fl.add("failed")
        else:
            if not conv[i]:
                fl.add("not_converged")
            if singular[i]:
                fl.add("singular_covariance")
            if poorly[i] or singular[i]:
                fl.add("poorly_constrained")
            if atb[i]:
                fl.add("at_bound")
        flags.append(fl)
    failed = np.array(["failed" in f for f in flags])
    for arr in (r2, rmse, aic, bic):
        arr[failed] = np.nan
    return CurveFits(family, params, std, rss, n, P, r2, rmse, aic, bic, flags)


# ------------------------------------------------------------------------------------
# monotone spline
# ------------------------------------------------------------------------------------

def spline_knots(xs: np.ndarray, k: int = SPLINE_KNOTS) -> np.ndarray | None:
    """Knot positions: quantiles of the (unique) x, or evenly spaced when those coincide."""
    xs = np.sort(xs)
    ux = xs[np.r_[True, np.diff(xs) > 0]]
    if ux.size < 2:
        return None
    kx = np.interp(np.linspace(0, ux.size - 1, k), np.arange(ux.size), ux)   # = np.quantile(ux, ...)
    if np.any(np.diff(kx) <= 1e-9 * max(1.0, abs(kx[-1]))):
        kx = np.linspace(ux[0], ux[-1], k)
    return kx


def _hat(xs, kx):
    """Design matrix of piecewise-linear interpolation: values at knots -> values at xs."""
    K = kx.size
    H = np.zeros((xs.size, K))
    j = np.clip(np.searchsorted(kx, xs, side="right") - 1, 0, K - 2)
    t = (xs - kx[j]) / (kx[j + 1] - kx[j])
    H[np.arange(xs.size), j] = 1 - t
    H[np.arange(xs.size), j + 1] = t
    return H


def _fit_spline(x, y, w) -> CurveFits:
    K = SPLINE_KNOTS
    B = x.shape[0]
    params = np.full((B, 2 * K), np.nan)
    std = np.full((B, 2 * K), np.nan)
    rss = np.full(B, np.nan)
    n = w.sum(1)
    flags = []
    tri = np.tril(np.ones((K, K)))           # knot values = cumulative sums of increments
    for i in range(B):
        m = w[i] > 0
        fl = set()
        xs, ys = x[i, m], y[i, m]
        kx = spline_knots(xs, K) if m.sum() >= K + 1 else None
        if kx is None:
            flags.append({"failed"})
            continue
        H = _hat(xs, kx)
        # y = H @ v, v = tri @ c with c1.. >= 0, c0 free (split into two non-negative columns)
        D = H @ tri
        Dn = np.column_stack([D[:, 0], -D[:, 0], D[:, 1:]])
        coef, _ = nnls(Dn, ys, maxiter=50 * K)
        c = np.concatenate([[coef[0] - coef[1]], coef[2:]])
        v = tri @ c
        res = H @ v - ys
        rss[i] = float(res @ res)
        params[i, :K], params[i, K:] = kx, v
        HtH = H.T @ H
        dof = max(m.sum() - K, 1)
        try:
            ev = np.linalg.eigvalsh(HtH)
            if ev.min() <= 1e-10 * ev.max():
                raise np.linalg.LinAlgError
            cov = np.linalg.inv(HtH) * rss[i] / dof
            std[i, :K] = 0.0
            std[i, K:] = np.sqrt(np.maximum(np.diag(cov), 0))
        except np.linalg.LinAlgError:
            fl |= {"singular_covariance", "poorly_constrained"}
        flags.append(fl)
    r2, rmse, aic, bic = goodness(y, w, rss, n, K)
    return CurveFits("spline", params, std, rss, n, K, r2, rmse, aic, bic, flags)


# ------------------------------------------------------------------------------------
# all families + selection
# ------------------------------------------------------------------------------------

CRITERIA = ("bic", "aic")
DELTA = 2.0
SPLINE_FALLBACK = 0.03
"""The spline competes only where the best parametric fit's RMSE exceeds this fraction of the
response range: simulated curves are noise-free, so an information criterion alone would
prefer the 8-knot spline for any tiny systematic deviation from a parametric shape."""
"""Criterion difference below which the simpler family is preferred ('positive evidence')."""


@dataclass
class Selection:
    """Fits of every candidate family and the chosen one per curve."""

    candidates: dict                 # family -> CurveFits
    chosen: list                     # family name per curve ("" when every family failed)
    data_flags: list                 # set per curve ('empty', 'flat', 'non_monotone')
    data_reasons: list               # str per curve

    def chosen_fit(self, i):
        f = self.chosen[i]
        return None if not f else self.candidates[f]

    def flags(self, i) -> set:
        fit = self.chosen_fit(i)
        fl = set(self.data_flags[i])
        if fit is None:
            fl.add("failed")
        else:
            fl |= fit.flags[i]
        return fl


def fit_curves(x, y, *, families=tuple(FAMILIES), criterion: str = "bic", force: str | None = None,
               add_origin: bool = True) -> Selection:
    """Fit every family in `families` to each curve (rows of x, y) and choose one per curve.

    Choice: among fits that neither failed nor are poorly constrained nor ended on a bound
    (if there are none: among those that did not fail), the simplest family (fewest
    parameters; ties in registry order, so `linear` is the null model) whose criterion is
    within `DELTA` (= 2) of the lowest. A more complex family must earn its parameters.
    The spline is a fallback: it is a candidate only where the best parametric family's
    RMSE exceeds `SPLINE_FALLBACK` (3 %) of the curve's response range. `force` names one family to use for every curve (still fitted and flagged).
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    xp, yp, wp = prepare(x, y, add_origin=add_origin)
    checks = data_checks(xp, yp, wp)
    fams = list(families)
    if force is not None and force not in fams:
        fams.append(force)
    cands = {f: fit_family(f, xp, yp, wp) for f in fams}
    order = {f: (cands[f].k, list(FAMILIES).index(f) if f in FAMILIES else 99) for f in fams}
    yrange = CurveRanges.of(xp, yp, wp).yr
    chosen = []
    for i in range(xp.shape[0]):
        if "empty" in checks[i][0]:
            chosen.append("")
            continue
        if force is not None:
            chosen.append(force if "failed" not in cands[force].flags[i] else "")
            continue
        ok = {f: getattr(cands[f], criterion)[i] for f in fams
              if "failed" not in cands[f].flags[i] and np.isfinite(getattr(cands[f], criterion)[i])}
        good = {f: v for f, v in ok.items() if not cands[f].flags[i] & {"poorly_constrained", "at_bound"}}
        pool = good or ok
        # the spline is the fallback: a candidate only where every parametric family misses
        # the data by more than SPLINE_FALLBACK of the response range (RMSE)
        para = [f for f in pool if f != "spline"]
        if "spline" in pool and para:
            best_para = min(para, key=pool.__getitem__)
            if cands[best_para].rmse[i] <= SPLINE_FALLBACK * yrange[i]:
                del pool["spline"]
        if not pool:
            chosen.append("")
            continue
        best = min(pool.values())
        chosen.append(min((f for f, v in pool.items() if v <= best + DELTA), key=order.__getitem__))
    return Selection(cands, chosen, [c[0] for c in checks], [c[1] for c in checks])
