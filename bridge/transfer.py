"""Transfer-function families: one parameterisation shared by fitting and the torch units.

A branch's transfer function maps the *expected* input (the arithmetic sum of the
individual synaptic responses, in mV) to the *measured* response (mV). `bridge fit`
chooses a family per branch and stores its parameters in a units file
(`bridge.schema`); `bridge.nn.FittedTransfer` evaluates the same formulas in torch.
Both go through :data:`FAMILIES`, so a parameter means the same thing everywhere.

Each formula is written once, against a tiny operations namespace (`exp`, `expm1`,
`sigmoid`, `relu`), and evaluated with numpy here (:data:`NUMPY_OPS`) or with torch in
`bridge.nn.nonlinearities`. Parameters broadcast against `x` (numpy rules), so one
call can evaluate many branches at once. A :class:`Family` also owns what fitting needs
(`bridge.fit.curves`): each parameter's units, bounds, starting points, positivity, the
analytic Jacobian and the reference size of the "poorly_constrained" flag.

Families (x and y in mV, all parameters are plain floats; parameter units: :meth:`Family.param_units`):

``linear(x; slope, offset)``
    ``slope * x + offset``. Passive, linear summation has slope 1, offset 0.

``sigmoid(x; threshold, slope, amplitude, baseline)``
    ``baseline + amplitude / (1 + exp(-(x - threshold) / slope))``.
    `threshold` is the input at half amplitude, `slope` the width (mV, > 0).
    This curve does **not** pass through (0, 0) in general:
    ``f(0) = baseline + amplitude / (1 + exp(threshold / slope))``, which is close to
    `baseline` only when ``threshold >> slope``. A fit of a branch that responds
    with ~0 mV to no input therefore has ``baseline ~ -amplitude / (1 + exp(threshold/slope))``.
    `FittedTransfer` subtracts f(0) by default (``center=True``) so a unit is 0 at rest.

``supralinear(x; amplitude, scale)``
    ``amplitude * (exp(x / scale) - 1)``; f(0) = 0, f'(0) = amplitude / scale, convex
    for amplitude, scale > 0 (the initial, regenerative part of an NMDA/Na spike).

``saturating(x; amplitude, scale)``
    ``amplitude * (1 - exp(-x / scale))``; f(0) = 0, f'(0) = amplitude / scale,
    concave, tends to `amplitude` (sublinear summation: driving-force saturation).

``spline(x; knot_x0..knot_x{K-1}, knot_y0..knot_y{K-1})``  (K = :data:`SPLINE_KNOTS`)
    Piecewise-linear interpolation through K knots with strictly increasing
    ``knot_x``, extended linearly beyond the end knots with the end segments' slopes.
    Monotone exactly when the knot values are monotone (the fitting layer enforces it).
    Written as ``y0 + s0 (x - x0) + sum_k (s_k - s_{k-1}) relu(x - x_k)`` so it is
    vectorised and differentiable everywhere except at knots.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np

SPLINE_KNOTS = 8
"""Number of knots of the `spline` family (fixed, so the units file has a fixed `param` axis)."""


def logistic(z):
    """1 / (1 + exp(-z)) in numpy, as 0.5 (1 + tanh(z / 2)): never overflows, no branches
    (the only numpy logistic of the project; torch uses torch.sigmoid)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))


NUMPY_OPS = SimpleNamespace(exp=np.exp, expm1=np.expm1, sigmoid=logistic,
                            relu=lambda z: np.maximum(z, 0.0))
"""The numpy operations the formulas use (a torch twin lives in `bridge.nn.nonlinearities`)."""


# --- formulas: (x, *params, ops) -> y; Jacobians: (x, *params, ops) -> [dy/dp, ...] ------

def _linear(x, slope, offset, ops):
    return slope * x + offset


def _linear_jac(x, slope, offset, ops):
    return [x, 0.0 * x + 1.0]


def _sigmoid(x, threshold, slope, amplitude, baseline, ops):
    return baseline + amplitude * ops.sigmoid((x - threshold) / slope)


def _sigmoid_jac(x, threshold, slope, amplitude, baseline, ops):
    z = (x - threshold) / slope
    s = ops.sigmoid(z)
    ds = s * (1 - s)
    return [-amplitude * ds / slope, -amplitude * ds * z / slope, s, 0.0 * x + 1.0]


# expm1: exact near x = 0, where exp(x) - 1 loses its digits
def _supralinear(x, amplitude, scale, ops):
    return amplitude * ops.expm1(x / scale)


def _supralinear_jac(x, amplitude, scale, ops):
    return [ops.expm1(x / scale), -amplitude * ops.exp(x / scale) * x / scale ** 2]


def _saturating(x, amplitude, scale, ops):
    return -amplitude * ops.expm1(-x / scale)


def _saturating_jac(x, amplitude, scale, ops):
    return [-ops.expm1(-x / scale), -amplitude * ops.exp(-x / scale) * x / scale ** 2]


def _spline(x, *knots, ops):
    k = len(knots) // 2
    xs, ys = knots[:k], knots[k:]
    slopes = [(ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) for i in range(k - 1)]
    y = ys[0] + slopes[0] * (x - xs[0])
    for i in range(1, k - 1):
        y = y + (slopes[i] - slopes[i - 1]) * ops.relu(x - xs[i])
    return y


# --- what fitting needs: data ranges, bounds and starting points per family ----------------

@dataclass(frozen=True)
class CurveRanges:
    """Ranges of B prepared curves (`bridge.fit.curves.prepare`), arrays of shape (B,)."""

    xmin: np.ndarray
    xmax: np.ndarray
    xr: np.ndarray     # input range (> 0)
    ymin: np.ndarray
    ymax: np.ndarray
    yr: np.ndarray     # response range (> 0)

    @classmethod
    def of(cls, x, y, w) -> "CurveRanges":
        xmin, xmax = np.where(w > 0, x, np.inf).min(1), np.where(w > 0, x, -np.inf).max(1)
        ymin, ymax = np.where(w > 0, y, np.inf).min(1), np.where(w > 0, y, -np.inf).max(1)
        return cls(xmin, xmax, np.maximum(xmax - xmin, 1e-9), ymin, ymax, np.maximum(ymax - ymin, 1e-9))

    @property
    def xabs(self) -> np.ndarray:
        """Largest |x| (> 0): the exponential families' scale is relative to it."""
        return np.maximum(np.maximum(np.abs(self.xmin), np.abs(self.xmax)), 1e-9)


def _linear_bounds(r):
    inf = np.full_like(r.xr, np.inf)
    return [-inf, -inf], [inf, inf]


def _sigmoid_bounds(r):
    return ([r.xmin - r.xr, 1e-3 * r.xr, 1e-6 * r.yr, r.ymin - 10 * r.yr],
            [r.xmax + 2 * r.xr, 10 * r.xr, 100 * r.yr, r.ymax + 10 * r.yr])


def _supralinear_bounds(r):
    # scale >= xabs/40 keeps exp(x/scale) finite; a scale of 100 xabs is a line
    return [1e-9 * r.yr, r.xabs / 40.0], [1e6 * r.yr, 100.0 * r.xabs]


def _saturating_bounds(r):
    return [1e-6 * r.yr, 1e-3 * r.xabs], [1e4 * r.yr, 100.0 * r.xabs]


def _linear_starts(fam, x, y, w, lo, hi):
    """Closed form: the weighted least-squares line."""
    sw = w.sum(1)
    mx = (w * x).sum(1) / sw
    my = (w * y).sum(1) / sw
    sxx = (w * (x - mx[:, None]) ** 2).sum(1)
    sxy = (w * (x - mx[:, None]) * (y - my[:, None])).sum(1)
    a = np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1), 0.0)
    return [np.stack([a, my - a * mx], axis=1)]


def _sigmoid_starts(fam, x, y, w, lo, hi):
    """Grid over (threshold, slope) relative to the input range, amplitude and baseline
    solved linearly; the two best grid points (a sigmoid's cost has local minima)."""
    r = CurveRanges.of(x, y, w)
    B = x.shape[0]
    cands, costs = [], []
    sw = w.sum(1)
    for a in (0.1, 0.3, 0.5, 0.7, 0.9, 1.2):
        for c in (0.02, 0.08, 0.25, 0.8):
            t = r.xmin + a * r.xr
            k = c * r.xr
            s = logistic((x - t[:, None]) / k[:, None])
            ms = (w * s).sum(1) / sw
            my = (w * y).sum(1) / sw
            vss = (w * (s - ms[:, None]) ** 2).sum(1)
            cov = (w * (s - ms[:, None]) * (y - my[:, None])).sum(1)
            A = np.clip(np.where(vss > 1e-12, cov / np.maximum(vss, 1e-12), r.yr), 1e-3 * r.yr, 100 * r.yr)
            b = my - A * ms
            res = w * (b[:, None] + A[:, None] * s - y)
            cands.append(np.stack([t, k, A, b], 1))
            costs.append((res ** 2).sum(1))
    cands = np.stack(cands)          # (G, B, 4)
    order = np.argsort(np.stack(costs), axis=0)
    idx = np.arange(B)
    return [cands[order[0], idx], cands[order[1], idx]]


def _scale_grid_starts(fam, x, y, w, lo, hi):
    """Grid over `scale` (log-spaced between its bounds), amplitude solved linearly."""
    B = x.shape[0]
    grid = np.exp(np.linspace(0, 1, 16)[:, None] * (np.log(hi[:, 1]) - np.log(lo[:, 1]))[None, :]
                  + np.log(lo[:, 1])[None, :])       # (G, B)
    best_cost = np.full(B, np.inf)
    best = np.zeros((B, 2))
    for c in grid:
        phi = fam.fn_numpy(x, 1.0, c[:, None])
        den = (w * phi * phi).sum(1)
        A = np.where(den > 0, (w * phi * y).sum(1) / np.where(den > 0, den, 1), 0.0)
        A = np.clip(A, lo[:, 0], hi[:, 0])
        cost = (w * (A[:, None] * phi - y) ** 2).sum(1)
        better = cost < best_cost
        best_cost = np.where(better, cost, best_cost)
        best[better] = np.stack([A, c], 1)[better]
    return [best]


# --- the family object ---------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """One parameter of a family.

    `dim`: its units in terms of the curve's input x and output y: "x", "y", "y/x" or "1"
    (so the same family serves x in mV and x in synapses). `reference`: the size its
    standard error is compared with for the "poorly_constrained" flag: "self" (|value|),
    "x" (input range), "y" (response range), "" (not flagged). `positive`: must be > 0
    (fitted on a log scale).
    """

    name: str
    dim: str
    reference: str = "self"
    positive: bool = False


def _unit(dim: str, x_units: str, y_units: str) -> str:
    return {"x": x_units, "y": y_units, "y/x": f"{y_units}/{x_units}", "1": "1"}[dim]


@dataclass(frozen=True)
class Family:
    """A transfer-function family: the one place that knows its formula and parameters.

    `formula(x, *params, ops=...)` is the backend-neutral formula; `fn_numpy(x, *params)`
    evaluates it with numpy (`bridge.nn` with torch). `params` fixes the order of the
    parameters everywhere (units files, fits, `FittedTransfer`). Parametric families also
    carry the analytic Jacobian, the bounds and the starting points of the fit; the
    spline has none (`bridge.fit.curves` fits it by non-negative least squares).
    """

    name: str
    params: tuple[Param, ...]
    formula: Callable
    description: str
    jacobian: Callable | None = None
    bounds_fn: Callable | None = None
    starts_fn: Callable | None = None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def positive(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.positive)

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(p.reference for p in self.params)

    def param_units(self, x_units: str = "mV", y_units: str = "mV") -> tuple[str, ...]:
        """Units of the parameters, in order, for a curve from `x_units` to `y_units`."""
        return tuple(_unit(p.dim, x_units, y_units) for p in self.params)

    def fn_numpy(self, x, *params):
        if len(params) != len(self.params):
            raise TypeError(f"{self.name} takes {len(self.params)} parameters "
                            f"{self.param_names}, got {len(params)}")
        x = np.asarray(x, dtype=float)
        params = [np.asarray(p, dtype=float) for p in params]
        with np.errstate(over="ignore"):
            return self.formula(x, *params, ops=NUMPY_OPS)

    def __call__(self, x, *params):
        return self.fn_numpy(x, *params)

    # fitting (numpy, batched: x (B, M), parameters (B, P))
    def model(self, x, nat):
        """(f, J): values (B, M) and Jacobian (B, M, P) at parameters `nat` (B, P)."""
        cols = [nat[:, i:i + 1] for i in range(nat.shape[1])]
        f = self.formula(x, *cols, ops=NUMPY_OPS)
        J = np.stack([np.broadcast_to(d, x.shape) for d in self.jacobian(x, *cols, ops=NUMPY_OPS)], axis=-1)
        return f, J

    def bounds(self, x, y, w):
        """(lower, upper), each (B, P), from the ranges of the prepared curves."""
        lo, hi = self.bounds_fn(CurveRanges.of(x, y, w))
        return np.stack(lo, 1), np.stack(hi, 1)

    def initial_guesses(self, x, y, w, lo, hi) -> list[np.ndarray]:
        """Starting points of the fit: a list of (B, P) arrays (the best fit over them wins)."""
        return self.starts_fn(self, x, y, w, lo, hi)


def _spline_params(k: int = SPLINE_KNOTS) -> tuple[Param, ...]:
    return (tuple(Param(f"knot_x{i}", "x", "") for i in range(k))
            + tuple(Param(f"knot_y{i}", "y", "") for i in range(k)))


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("linear", (Param("slope", "y/x"), Param("offset", "y", "y")), _linear,
               "slope * x + offset", _linear_jac, _linear_bounds, _linear_starts),
        Family("sigmoid", (Param("threshold", "x", "x"), Param("slope", "x", positive=True),
                           Param("amplitude", "y", positive=True), Param("baseline", "y", "y")),
               _sigmoid, "baseline + amplitude / (1 + exp(-(x - threshold) / slope))",
               _sigmoid_jac, _sigmoid_bounds, _sigmoid_starts),
        Family("supralinear", (Param("amplitude", "y", positive=True), Param("scale", "x", positive=True)),
               _supralinear, "amplitude * (exp(x / scale) - 1)", _supralinear_jac, _supralinear_bounds,
               _scale_grid_starts),
        Family("saturating", (Param("amplitude", "y", positive=True), Param("scale", "x", positive=True)),
               _saturating, "amplitude * (1 - exp(-x / scale))", _saturating_jac, _saturating_bounds,
               _scale_grid_starts),
        Family("spline", _spline_params(), _spline,
               f"piecewise linear through {SPLINE_KNOTS} knots, linear beyond the ends"),
    )
}
"""Registry of families by name."""


def all_param_names() -> tuple[str, ...]:
    """Union of the families' parameter names, in a stable order (the units file `param` axis)."""
    names: list[str] = []
    for fam in FAMILIES.values():
        for n in fam.param_names:
            if n not in names:
                names.append(n)
    return tuple(names)


def param_units_table(x_units: str = "mV", y_units: str = "mV") -> np.ndarray:
    """(family, param) table of units on (FAMILIES, all_param_names()); "" where unused."""
    names = all_param_names()
    out = np.full((len(FAMILIES), len(names)), "", dtype=object)
    for i, fam in enumerate(FAMILIES.values()):
        for n, u in zip(fam.param_names, fam.param_units(x_units, y_units)):
            out[i, names.index(n)] = u
    return out


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown transfer family {name!r}; known: {', '.join(FAMILIES)}") from None


def evaluate(family: str, x, params) -> np.ndarray:
    """Evaluate family `family` at `x` with `params` (sequence in order, or mapping by name)."""
    fam = get_family(family)
    if hasattr(params, "keys"):
        params = [params[n] for n in fam.param_names]
    return fam.fn_numpy(x, *params)
