"""Morphology figures: the cell drawn as line segments, coloured by type, distance or a
channel density of a recipe."""
from __future__ import annotations

import numpy as np

from bridge.plots._common import UM, distance_label, figure_and_axes, type_color, type_order

PROJECTIONS = {"xy": (0, 1), "xz": (0, 2), "yz": (1, 2), "zy": (2, 1), "yx": (1, 0), "zx": (2, 0)}


def _segments(morphology, projection):
    """Per segment: branch type, endpoints (2, 2), mean diameter (um), midpoint path distance (um)."""
    i, j = PROJECTIONS[projection]
    types, segs, diams, dists = [], [], [], []
    for b in morphology.branches:
        p = b.xyzr_um
        seg_len = np.sqrt(np.sum(np.diff(p[:, :3], axis=0) ** 2, axis=1))
        start = np.concatenate([[0.0], np.cumsum(seg_len)[:-1]])
        for k in range(len(p) - 1):
            types.append(b.type)
            segs.append([[p[k, i], p[k, j]], [p[k + 1, i], p[k + 1, j]]])
            diams.append(p[k, 3] + p[k + 1, 3])
            dists.append(b.path_distance_um + start[k] + 0.5 * seg_len[k])
    return (np.array(types, dtype=object), np.array(segs, dtype=float).reshape(-1, 2, 2),
            np.array(diams), np.array(dists))


def channel_density(morphology, recipe, mechanism: str, branch_types, distances_um) -> np.ndarray:
    """gbar (S/cm2) of `mechanism` at each (branch type, path distance); NaN where the recipe
    does not insert it. Uses `recipe.channels_for` and the distributions, no simulator."""
    from cells.distributions import morphology_context

    if mechanism not in recipe.mechanisms:
        raise ValueError(f"recipe {recipe.name!r} has no mechanism {mechanism!r}; "
                         f"known: {', '.join(recipe.mechanisms)}")
    if all(c.gbar is None for c in recipe.channels if c.mechanism == mechanism):
        raise ValueError(f"mechanism {mechanism!r} has no density (gbar) in recipe {recipe.name!r}")
    context = morphology_context(morphology)
    by_type = {t: [c for c in recipe.channels_for(t) if c.mechanism == mechanism and c.gbar is not None]
               for t in set(branch_types)}
    out = np.full(len(distances_um), np.nan)
    for n, (t, d) in enumerate(zip(branch_types, distances_um)):
        chans = by_type[t]
        if chans:  # later entries override earlier ones, as in the backends
            out[n] = float(chans[-1].gbar(float(d), context))
    return out


def plot_morphology(morphology, color_by: str = "type", recipe=None, ax=None, projection: str = "xy",
                    cmap: str = "viridis", width_scale: float = 1.0, title: str | None = None):
    """Draw `morphology` (a `cells.morphology.Morphology`) as line segments, width ~ diameter.

    color_by: "type" (legend of branch types), "distance" (path distance from the soma,
    colour bar in um) or a mechanism name of `recipe` (its gbar in S/cm2, colour bar from
    the smallest to the largest density; grey where the mechanism is absent).
    projection: two of x, y, z ("xy", "xz", "yz"). Returns the Figure.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    if projection not in PROJECTIONS:
        raise ValueError(f"projection must be one of {', '.join(PROJECTIONS)}, got {projection!r}")
    fig, ax = figure_and_axes(ax, figsize=(5.0, 7.0))
    types, segs, diams, dists = _segments(morphology, projection)
    widths = np.clip(diams * 0.6 * width_scale, 0.3, 6.0)

    if color_by == "type":
        handles = []
        for t in type_order(types):
            sel = types == t
            ax.add_collection(LineCollection(segs[sel], linewidths=widths[sel], colors=type_color(t),
                                             capstyle="round", label=t))
            n_branches = sum(b.type == t for b in morphology.branches)
            handles.append(Line2D([], [], color=type_color(t), lw=2.5, label=f"{t} ({n_branches})"))
        ax.legend(handles=handles, title="branch type (n branches)", loc="best", fontsize=8)
        what = "branch types"
    else:
        if color_by == "distance":
            values, label, what = dists, distance_label(), "path distance"
        else:
            if recipe is None:
                raise ValueError(f"color_by={color_by!r}: pass the recipe that defines the mechanism "
                                 "(or use 'type' or 'distance')")
            values = channel_density(morphology, recipe, color_by, types, dists)
            label = f"{color_by} gbar (S/cm\u00b2)"
            what = f"{color_by} density" + (f" ({recipe.name} recipe)" if recipe.name != morphology.name else "")
        has = np.isfinite(values)
        if not has.any():
            raise ValueError(f"{color_by!r} is not present on any branch of {morphology.name}")
        if (~has).any():
            ax.add_collection(LineCollection(segs[~has], linewidths=widths[~has], colors="0.8",
                                             capstyle="round", label="absent"))
        norm = Normalize(vmin=float(values[has].min()), vmax=float(values[has].max()))
        lc = LineCollection(segs[has], linewidths=widths[has], cmap=cmap, norm=norm, capstyle="round")
        lc.set_array(values[has])
        ax.add_collection(lc)
        cbar = fig.colorbar(lc, ax=ax, shrink=0.8)
        cbar.set_label(label)
        if (~has).any():
            ax.legend(handles=[Line2D([], [], color="0.8", lw=2.5, label=f"no {color_by}")],
                      loc="best", fontsize=8)

    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(f"{projection[0]} ({UM})")
    ax.set_ylabel(f"{projection[1]} ({UM})")
    ax.set_title(title or f"{morphology.name}: {what}")
    return fig
