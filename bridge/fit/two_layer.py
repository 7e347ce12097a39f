"""Whole-cell two-layer model (Poirazi, Brannon & Mel 2003, Neuron 37:989) and its
point-neuron baseline, fitted on the `patterns` group of a characterization.

Each branch b is a subunit. In pattern p it receives ``n_active[p, b]`` synapses, i.e. an
expected (linear-sum) input ``x = n_active * mV_per_synapse[b]`` (mV; the branch's mean
unitary local peak). The soma sums the subunit outputs with fitted weights and applies an
output sigmoid::

    y_p = baseline + amplitude * sigmoid(sum_b w_b s_b(x_pb) - threshold)

The four models (one row each in the units file):

``two_layer``        ``s_b(x) = f_b(x) - f_b(0)``, the branch's transfer function fitted
                     on the `integration` group (fixed, not refitted).
``two_layer_refit``  ``s_b(x) = sigmoid((x - theta)/kappa) - sigmoid(-theta/kappa)``, one
                     subunit sigmoid shared by all branches, refitted on the patterns
                     (Poirazi et al.'s form).
``point_neuron``     the classic baseline the issue names: the linear sum of all inputs with
                     equal weights, i.e. the total number of active synapses times the mean
                     unitary size (``x_b = n_active * mean(mV_per_synapse)``, one weight
                     shared by all subunits), through one output sigmoid (4 parameters).
``linear_weighted``  ``s_b(x) = x``: a weighted linear sum of the branch inputs (one free
                     weight per branch) through the output sigmoid: a point neuron that
                     is allowed to learn which branch matters, as many weights as the
                     two-layer models.

Patterns whose input is concentrated on few branches and patterns whose same total is
dispersed over many (the `patterns` protocol) separate the models: a point neuron sees
only the total; a two-layer model sees that a concentrated input crosses a branch's
threshold (Poirazi, Brannon & Mel 2003: 91 % vs 37 % on their CA1 model).

Fitting: least squares on the `train` patterns only (response standardised, subunit outputs
scaled to unit variance, a ridge penalty `ridge` on the scaled weights), several starts;
the shared sigmoid of "two_layer_refit" is chosen on a grid (theta, kappa), then refined;
the reported figure is the variance explained on the held-out `test` patterns,
``1 - SSE / sum((y - mean(y))^2)``, printed whatever it is.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from bridge.transfer import get_family, logistic as _sig

MODELS = ("two_layer", "two_layer_refit", "point_neuron", "linear_weighted")
TARGETS = ("soma_peak_mV", "soma_rate_hz")
RIDGE = 1e-2


def n_parameters(model: str, n_subunits: int) -> int:
    """Parameters each model fits on the whole-cell data (the subunit functions of
    ``two_layer`` are fitted beforehand, on each branch's own curve, and not counted here):
    one weight per subunit (the point neuron: one shared weight), the output sigmoid's
    threshold, amplitude and baseline, and the refit's shared subunit sigmoid (theta, kappa)."""
    return {"two_layer": n_subunits + 3, "two_layer_refit": n_subunits + 5, "point_neuron": 4,
            "linear_weighted": n_subunits + 3}[model]


def variance_explained(pred, y) -> float:
    ok = np.isfinite(pred) & np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    sst = float(np.sum((y[ok] - y[ok].mean()) ** 2))
    return float("nan") if sst == 0 else 1.0 - float(np.sum((y[ok] - pred[ok]) ** 2)) / sst


@dataclass
class OutputFit:
    weights: np.ndarray          # (B,) on the unscaled subunit outputs
    threshold: float
    amplitude: float
    baseline: float
    train_loss: float
    extra: dict = field(default_factory=dict)

    def predict(self, S):
        return self.baseline + self.amplitude * _sig(S @ self.weights - self.threshold)


def _fit_output(S, y, ridge=RIDGE, starts=None, quick=False) -> OutputFit:
    """Fit weights + output sigmoid (slope fixed to 1) to features S (P, B) and targets y (P,)."""
    P, B = S.shape
    ym, ys = float(np.mean(y)), float(np.std(y))
    ys = ys if ys > 0 else 1.0
    yn = (y - ym) / ys
    sc = S.std(0)
    use = sc > 1e-12
    sc = np.where(use, sc, 1.0)
    Z = (S - S.mean(0)) / sc * use          # centred columns; centring goes into the threshold
    lam = np.sqrt(ridge)

    # linear ridge start
    wl = np.linalg.solve(Z.T @ Z + ridge * np.eye(B) + 1e-9 * np.eye(B), Z.T @ yn)
    z0 = Z @ wl
    sd = float(z0.std()) or 1.0

    def pack(w, thr, A, b):
        return np.concatenate([w, [thr, A, b]])

    inits = []
    for center, width in ((float(z0.mean()), 2 * sd), (float(np.percentile(z0, 80)), 0.5 * sd),
                          (float(np.median(z0)), 0.5 * sd)):
        A = 4 * width
        b = float(np.mean(yn - z0)) + center - 2 * width
        inits.append(pack(wl / width, center / width, A, b))
    for s in starts or ():
        inits.append(s)
    if quick:          # grid search: one start, few iterations
        inits = inits[:1]

    def resid(q):
        w, thr, A, b = q[:B], q[B], q[B + 1], q[B + 2]
        pred = b + A * _sig(Z @ w - thr)
        return np.concatenate([pred - yn, lam * w])

    def jac(q):
        w, thr, A = q[:B], q[B], q[B + 1]
        s = _sig(Z @ w - thr)
        ds = A * s * (1 - s)
        top = np.column_stack([ds[:, None] * Z, -ds, s, np.ones(P)])
        bottom = np.zeros((B, B + 3))
        bottom[:, :B] = lam * np.eye(B)
        return np.vstack([top, bottom])

    best = None
    for q0 in inits:
        try:
            res = least_squares(resid, q0, jac=jac, method="trf", max_nfev=40 if quick else 300, x_scale="jac")
        except (ValueError, np.linalg.LinAlgError):
            continue
        if np.all(np.isfinite(res.x)) and (best is None or res.cost < best.cost):
            best = res
    if best is None:
        raise RuntimeError("output fit failed from every start")
    q = best.x
    w, thr, A, b = q[:B], q[B], q[B + 1], q[B + 2]
    # back to unscaled, uncentred features and response units
    w_raw = w * use / sc
    thr_raw = thr + float(S.mean(0) @ w_raw)
    return OutputFit(w_raw, thr_raw, A * ys, ym + b * ys, float(best.cost), extra={"q": q})


def subunit_outputs(x_mV, families, params):
    """s_b(x) = f_b(x) - f_b(0) per branch (columns of x_mV)."""
    out = np.empty_like(x_mV, dtype=float)
    for j, (f, p) in enumerate(zip(families, params)):
        fam = get_family(f)
        with np.errstate(over="ignore", invalid="ignore"):
            out[:, j] = fam.fn_numpy(x_mV[:, j], *p) - fam.fn_numpy(0.0, *p)
    return out


def _refit_features(x, theta, kappa):
    return _sig((x - theta) / kappa) - _sig(-theta / kappa)


@dataclass
class TwoLayerResult:
    branch: np.ndarray
    models: tuple
    targets: tuple
    ve_test: np.ndarray        # (model, target)
    ve_train: np.ndarray
    weights: np.ndarray        # (model, target, subunit)
    output: np.ndarray         # (model, target, 3): threshold, amplitude, baseline (slope 1)
    refit_subunit: np.ndarray  # (target, 2): theta (mV), kappa (mV)
    predicted: np.ndarray      # (model, target, pattern)
    measured: np.ndarray       # (target, pattern)
    split: np.ndarray          # (pattern,) str
    flags: np.ndarray          # (model, target) str
    n_train: int
    n_test: int
    settings: dict


def fit_two_layer(n_active, split, targets: dict, mV_per_synapse, families, params, branch,
                  *, ridge: float = RIDGE, refit_grid: int = 6) -> TwoLayerResult:
    """Fit the four models of the module docstring for every target in `targets`.

    n_active (pattern, B); split (pattern,) "train"/"test"; targets {name: (pattern,)};
    mV_per_synapse (B,); families/params: the fixed subunit function of each branch.
    """
    N = np.asarray(n_active, float)
    split = np.asarray([str(s) for s in split])
    tr, te = split == "train", split == "test"
    mv = np.asarray(mV_per_synapse, float)
    X = N * mv[None, :]
    X = np.where(np.isfinite(X), X, 0.0)
    mv_ok = mv[np.isfinite(mv) & (mv > 0)]
    mv_mean = float(mv_ok.mean()) if mv_ok.size else 1.0
    total_mV = N.sum(1, keepdims=True) * mv_mean          # point neuron: equal weights, one input
    S2 = subunit_outputs(X, families, params)
    S2 = np.where(np.isfinite(S2), S2, 0.0)
    tnames = tuple(targets)
    nm, nt, P, B = len(MODELS), len(tnames), N.shape[0], N.shape[1]
    ve_test, ve_train = np.full((nm, nt), np.nan), np.full((nm, nt), np.nan)
    weights = np.full((nm, nt, B), np.nan)
    output = np.full((nm, nt, 3), np.nan)
    refit = np.full((nt, 2), np.nan)
    pred_all = np.full((nm, nt, P), np.nan)
    meas = np.full((nt, P), np.nan)
    flags = np.full((nm, nt), "", dtype=object)
    xpos = X[tr][X[tr] > 0]           # the refit grid's range from the train patterns only
    xmax = float(xpos.max()) if xpos.size else 1.0
    for j, t in enumerate(tnames):
        y = np.asarray(targets[t], float)
        meas[j] = y
        ok = np.isfinite(y)
        trj, tej = tr & ok, te & ok
        if trj.sum() < 3 or np.std(y[trj]) == 0:
            flags[:, j] = "constant_target" if trj.sum() >= 3 else "too_few_patterns"
            continue
        feats = {"two_layer": S2, "point_neuron": total_mV, "linear_weighted": X}
        fits = {}
        for m in ("two_layer", "point_neuron", "linear_weighted"):
            try:
                fits[m] = _fit_output(feats[m][trj], y[trj], ridge)
            except RuntimeError:
                flags[MODELS.index(m), j] = "failed"
        # refit: grid over the shared subunit sigmoid, then the best is kept
        best = None
        for theta in np.linspace(0.1, 1.0, refit_grid) * xmax:
            for kappa in (0.05 * xmax, 0.15 * xmax, 0.4 * xmax):
                F = _refit_features(X, theta, kappa)
                try:
                    fit = _fit_output(F[trj], y[trj], ridge, quick=True)
                except RuntimeError:
                    continue
                if best is None or fit.train_loss < best[0].train_loss:
                    best = (fit, theta, kappa)
        if best is not None:   # refine the best grid point from every start
            try:
                best = (_fit_output(_refit_features(X, best[1], best[2])[trj], y[trj], ridge), best[1], best[2])
            except RuntimeError:
                pass
            fits["two_layer_refit"] = best[0]
            refit[j] = best[1], best[2]
            feats["two_layer_refit"] = _refit_features(X, best[1], best[2])
        else:
            flags[MODELS.index("two_layer_refit"), j] = "failed"
        for i, m in enumerate(MODELS):
            if m not in fits:
                continue
            f = fits[m]
            pred = f.predict(feats[m])
            pred_all[i, j] = pred
            ve_train[i, j] = variance_explained(pred[trj], y[trj])
            ve_test[i, j] = variance_explained(pred[tej], y[tej]) if tej.sum() >= 2 else np.nan
            weights[i, j] = f.weights[0] if m == "point_neuron" else f.weights   # point neuron: one shared weight
            output[i, j] = f.threshold, f.amplitude, f.baseline
    return TwoLayerResult(np.asarray(branch, np.int64), MODELS, tnames, ve_test, ve_train, weights, output,
                          refit, pred_all, meas, split, flags, int(tr.sum()), int(te.sum()),
                          dict(ridge=ridge, refit_grid=refit_grid, point_neuron_mV_per_synapse=mv_mean))
