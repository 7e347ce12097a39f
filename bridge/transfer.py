"""Transfer-function families: one parameterisation shared by fitting and the torch units.

A branch's transfer function maps the *expected* input (the arithmetic sum of the
individual synaptic responses, in mV) to the *measured* response (mV). `bridge fit`
chooses a family per branch and stores its parameters in a units file
(`bridge.schema`); `bridge.nn.FittedTransfer` evaluates the same formulas in torch.
Both go through :data:`FAMILIES`, so a parameter means the same thing everywhere.

Each formula is written once, against a tiny operations namespace (`exp`, `sigmoid`,
`relu`), and evaluated with numpy here (:data:`NUMPY_OPS`) or with torch in
`bridge.nn.nonlinearities`. Parameters broadcast against `x` (numpy rules), so one
call can evaluate many branches at once.

Families (x and y in mV, all parameters are plain floats):

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


def _np_sigmoid(z):
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


NUMPY_OPS = SimpleNamespace(
    exp=np.exp,
    sigmoid=lambda z: _np_sigmoid(np.asarray(z, dtype=float)),
    relu=lambda z: np.maximum(z, 0.0),
)
"""The numpy operations the formulas use (a torch twin lives in `bridge.nn.nonlinearities`)."""


# --- formulas: (x, *params, ops) -> y -------------------------------------------------

def _linear(x, slope, offset, ops):
    return slope * x + offset


def _sigmoid(x, threshold, slope, amplitude, baseline, ops):
    return baseline + amplitude * ops.sigmoid((x - threshold) / slope)


def _supralinear(x, amplitude, scale, ops):
    return amplitude * (ops.exp(x / scale) - 1.0)


def _saturating(x, amplitude, scale, ops):
    return amplitude * (1.0 - ops.exp(-x / scale))


def _spline(x, *knots, ops):
    k = len(knots) // 2
    xs, ys = knots[:k], knots[k:]
    slopes = [(ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) for i in range(k - 1)]
    y = ys[0] + slopes[0] * (x - xs[0])
    for i in range(1, k - 1):
        y = y + (slopes[i] - slopes[i - 1]) * ops.relu(x - xs[i])
    return y


@dataclass(frozen=True)
class Family:
    """A transfer-function family.

    `formula(x, *params, ops=...)` is the backend-neutral formula; `fn_numpy(x, *params)`
    evaluates it with numpy. `param_names` fixes the order of the parameters everywhere
    (units files, `FittedTransfer`). `positive` names the parameters that must be > 0.
    """

    name: str
    param_names: tuple[str, ...]
    formula: Callable
    description: str
    positive: tuple[str, ...] = ()

    def fn_numpy(self, x, *params):
        if len(params) != len(self.param_names):
            raise TypeError(f"{self.name} takes {len(self.param_names)} parameters "
                            f"{self.param_names}, got {len(params)}")
        x = np.asarray(x, dtype=float)
        params = [np.asarray(p, dtype=float) for p in params]
        with np.errstate(over="ignore"):
            return self.formula(x, *params, ops=NUMPY_OPS)

    def __call__(self, x, *params):
        return self.fn_numpy(x, *params)

    def from_mapping(self, values) -> tuple[float, ...]:
        """The parameters in order, from a mapping name -> value (KeyError names a missing one)."""
        return tuple(float(values[n]) for n in self.param_names)


def _spline_names(k: int = SPLINE_KNOTS) -> tuple[str, ...]:
    return tuple(f"knot_x{i}" for i in range(k)) + tuple(f"knot_y{i}" for i in range(k))


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("linear", ("slope", "offset"), _linear, "slope * x + offset"),
        Family("sigmoid", ("threshold", "slope", "amplitude", "baseline"), _sigmoid,
               "baseline + amplitude / (1 + exp(-(x - threshold) / slope))", positive=("slope",)),
        Family("supralinear", ("amplitude", "scale"), _supralinear,
               "amplitude * (exp(x / scale) - 1)", positive=("scale",)),
        Family("saturating", ("amplitude", "scale"), _saturating,
               "amplitude * (1 - exp(-x / scale))", positive=("scale",)),
        Family("spline", _spline_names(), _spline,
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
