"""Shared helpers of `bridge.plots`: figures without pyplot, colours, labels, saving."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# One colour per branch type, the same in every figure (matplotlib's tab10 entries).
TYPE_COLORS = {
    "soma": "#000000",
    "axon": "#7f7f7f",
    "basal": "#d62728",
    "trunk": "#1f77b4",
    "oblique": "#2ca02c",
    "tuft": "#9467bd",
    "apical": "#17becf",   # units files may pool trunk, oblique and tuft as "apical"
}
_FALLBACK = ("#ff7f0e", "#8c564b", "#e377c2", "#bcbd22")

MICRO = "\u00b5"          # µ
UM = f"{MICRO}m"


def type_color(branch_type: str) -> str:
    """Colour of a branch type (stable for unknown names too)."""
    name = str(branch_type)
    if name in TYPE_COLORS:
        return TYPE_COLORS[name]
    return _FALLBACK[sum(map(ord, name)) % len(_FALLBACK)]


def type_order(types) -> list[str]:
    """Distinct branch types, in the order of `cells.morphology.BRANCH_TYPES`, others after."""
    from cells.morphology.tree import BRANCH_TYPES

    known = [*BRANCH_TYPES, "apical"]
    seen = list(dict.fromkeys(str(t) for t in types))
    return sorted(seen, key=lambda t: (known.index(t) if t in known else len(known), seen.index(t)))


def new_figure(nrows: int = 1, ncols: int = 1, figsize=(6.0, 4.5), **subplot_kw):
    """A Figure and its axes, made without pyplot: no global backend state, safe under Agg
    and in any interactive session (Jupyter's inline backend displays returned Figures)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, axes


def figure_and_axes(ax, figsize=(6.0, 4.5)):
    """(fig, ax): the given Axes and its figure, or a new single-axes Figure."""
    if ax is not None:
        return ax.figure, ax
    fig, axes = new_figure(1, 1, figsize=figsize)
    return fig, axes[0, 0]


def distance_label() -> str:
    return f"path distance from soma ({UM})"


def identity_line(ax, lo: float, hi: float, label: str = "linear sum (identity)"):
    """Dashed grey y = x between lo and hi."""
    return ax.plot([lo, hi], [lo, hi], ls="--", color="0.5", lw=1.0, label=label, zorder=1)[0]


def finite_range(*arrays, pad: float = 0.0) -> tuple[float, float]:
    vals = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays]) if arrays else np.array([])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return 0.0, 1.0
    lo, hi = float(vals.min()), float(vals.max())
    span = hi - lo or 1.0
    return lo - pad * span, hi + pad * span


def save_figure(fig, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write `fig` (a Figure, or an Axes whose figure is written) to `path`: PNG unless the
    suffix names another format, `dpi` dots per inch, tight bounding box; creates missing
    folders. Returns the path written."""
    fig = getattr(fig, "figure", fig) if not hasattr(fig, "savefig") else fig
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
