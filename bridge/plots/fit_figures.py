"""The figures of a fit (`bridge fit --plots`, `bridge demo`), written as PNG files."""
from __future__ import annotations

import os

import numpy as np

from bridge.plots._common import new_figure, save_figure
from bridge.plots.integration import plot_fit_parameters, plot_integration, plot_integration_by_type
from bridge.plots.networks import plot_two_layer
from bridge.transfer import FAMILIES


def write_fit_figures(result, folder) -> list[str]:
    """PNG figures: fits per branch type (measured points, fitted curve, linear line),
    fitted parameters against distance, two-layer predictions. Returns the paths."""
    units, integ = result.units, result.groups["integration"]
    dpl, dco = units.attrs["default_placement"], units.attrs["default_condition"]
    os.makedirs(folder, exist_ok=True)
    out = []

    out.append(save_figure(plot_integration_by_type(integ, units, placement=dpl, condition=dco),
                           os.path.join(folder, "integration_by_type.png")))
    of = np.asarray(units["branch_type_of_branch"].values).astype(str)
    dist = np.asarray(units["path_distance_um"].values, float)
    for t in dict.fromkeys(of):
        rows = np.flatnonzero(of == t)
        rows = rows[np.argsort(dist[rows])]
        if rows.size > 12:
            rows = rows[np.linspace(0, rows.size - 1, 12).round().astype(int)]
        ncols = min(4, rows.size)
        nrows = -(-rows.size // ncols)
        fig, axes = new_figure(nrows, ncols, figsize=(4.0 * ncols, 3.4 * nrows))
        for k, r in enumerate(rows):
            plot_integration(integ, int(units["branch"].values[r]), units=units, placement=dpl,
                             conditions=dco, ax=axes[k // ncols, k % ncols])
        for k in range(rows.size, nrows * ncols):
            axes[k // ncols, k % ncols].set_visible(False)
        fig.suptitle(f"{t}: measured vs expected ({dpl}, {dco}), fitted curve, linear line")
        out.append(save_figure(fig, os.path.join(folder, f"fits_{t}.png")))
    for fam in dict.fromkeys(np.asarray(units["type_family"].values).astype(str)):
        if fam in ("spline",):
            continue
        for pn in FAMILIES[fam].param_names:
            out.append(save_figure(plot_fit_parameters(units, param=pn, family=fam),
                                   os.path.join(folder, f"params_{fam}_{pn}.png")))
    if "two_layer_predicted" in units:
        test = np.asarray(units["pattern_split"].values).astype(str) == "test"
        for t in units["target"].values:
            pred = {str(m): units["two_layer_predicted"].sel(model=m, target=t).values[test]
                    for m in units["model"].values}
            meas = units["two_layer_measured"].sel(target=t).values[test]
            if not np.any(np.isfinite(meas)) or not any(np.any(np.isfinite(p)) for p in pred.values()):
                continue
            out.append(save_figure(plot_two_layer(pred, meas, variable=str(t), split="test"),
                                   os.path.join(folder, f"two_layer_{t}.png")))
    return [str(p) for p in out]
