"""Figures of the abstract models: two-layer predictions of the somatic response, and the
accuracy-versus-parameters plot of the Fashion-MNIST sweep (benchmarks/fmnist_sweep.py)."""
from __future__ import annotations

import numpy as np

from bridge.plots._common import figure_and_axes, finite_range, identity_line

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
_RESPONSE = {"soma_peak_mV": ("somatic peak depolarisation", "mV"),
             "soma_rate_hz": ("somatic firing rate", "Hz"),
             "soma_spikes": ("somatic spikes", "count")}


def variance_explained(predicted, measured) -> float:
    """1 - sum((measured - predicted)^2) / sum((measured - mean)^2) (NaN pairs dropped);
    the fit's own measure (`bridge.fit.two_layer.variance_explained`) on flattened arrays."""
    from bridge.fit.two_layer import variance_explained as fit_variance_explained

    p = np.asarray(predicted, dtype=float).ravel()
    m = np.asarray(measured, dtype=float).ravel()
    if p.shape != m.shape:
        raise ValueError(f"predicted has {p.size} values, measured {m.size}")
    return fit_variance_explained(p, m)


def plot_two_layer(predicted, measured, variable: str = "soma_peak_mV", split: str | None = "test",
                   ax=None, title: str | None = None):
    """Predicted against measured somatic response on held-out patterns, one series per model,
    variance explained in the legend, and the identity line.

    predicted: {model name: values}, e.g. {"two-layer": ..., "point neuron": ...}.
    measured: the values, or the `patterns` group (then `variable` of the patterns whose
    `split` equals `split`; split=None takes all). Returns the Figure.
    """
    quantity, unit = _RESPONSE.get(variable, (variable, "mV"))
    if hasattr(measured, "data_vars"):
        ds = measured
        if split is not None:
            ds = ds.isel(pattern=np.flatnonzero(np.asarray(ds["split"].values).astype(str) == split))
        unit = ds[variable].attrs.get("units", unit)
        unit = "count" if unit == "1" else unit
        measured = ds[variable].values
    m = np.asarray(measured, dtype=float)
    if not predicted:
        raise ValueError("predicted must hold at least one model's predictions")
    fig, ax = figure_and_axes(ax, figsize=(5.0, 5.0))
    for n, (name, pred) in enumerate(predicted.items()):
        p = np.asarray(pred, dtype=float)
        ve = variance_explained(p, m)
        ax.plot(m, p, ls="", marker=_MARKERS[n % len(_MARKERS)], ms=4, alpha=0.7,
                color=_COLORS[n % len(_COLORS)], label=f"{name} (VE = {ve:.2f})")
    lo, hi = finite_range(m, *predicted.values(), pad=0.03)
    identity_line(ax, lo, hi, label="perfect prediction")
    ax.set_xlabel(f"measured {quantity} ({unit})")
    ax.set_ylabel(f"predicted {quantity} ({unit})")
    held = f"{split} patterns" if split else "all patterns"
    ax.set_title(title or f"Predicted vs detailed cell, {held} (n = {m.size})")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def accuracy_table(results_ds, accuracy: str = "final_test_accuracy"):
    """{(model, nonlinearity): (params, mean, std, n_seeds)} over the runs of a sweep dataset,
    averaged over seeds at each number of trainable parameters (arrays sorted by params)."""
    models = np.asarray(results_ds["model"].values).astype(str)
    nls = np.asarray(results_ds["nonlinearity"].values).astype(str)
    params = np.asarray(results_ds["n_trainable_parameters"].values).astype(np.int64)
    acc = np.asarray(results_ds[accuracy].values, dtype=float)
    out = {}
    for key in sorted(set(zip(models, nls))):
        sel = (models == key[0]) & (nls == key[1])
        ps = np.unique(params[sel])
        groups = [acc[sel & (params == p)] for p in ps]
        out[key] = (ps, np.array([g.mean() for g in groups]), np.array([g.std() for g in groups]),
                    np.array([g.size for g in groups]))
    return out


def plot_accuracy_vs_parameters(results_ds, accuracy: str = "final_test_accuracy", ax=None,
                                title: str = "Fashion-MNIST", percent: bool = True):
    """Test accuracy against trainable parameters (log axis): one colour per model, one
    marker per nonlinearity, mean over seeds with standard-deviation error bars.

    results_ds: the sweep results (dim `run`; model, nonlinearity, n_trainable_parameters,
    `accuracy`, seed ...). Returns the Figure."""
    fig, ax = figure_and_axes(ax, figsize=(6.5, 4.5))
    table = accuracy_table(results_ds, accuracy)
    model_names = list(dict.fromkeys(m for m, _ in table))
    nl_names = list(dict.fromkeys(n for _, n in table))
    scale = 100.0 if percent else 1.0
    for (model, nl), (ps, mean, std, _n) in table.items():
        ax.errorbar(ps, mean * scale, yerr=std * scale, ls="-", lw=0.6, capsize=2, ms=5,
                    marker=_MARKERS[nl_names.index(nl) % len(_MARKERS)],
                    color=_COLORS[model_names.index(model) % len(_COLORS)], label=f"{model} ({nl})")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (count, log scale)")
    what = accuracy.replace("_", " ").replace("accuracy", "").strip() or "test"
    ax.set_ylabel(f"{what} accuracy ({'%' if percent else 'fraction'})")
    seeds = int(results_ds["seed"].to_series().nunique()) if "seed" in results_ds else 1
    ax.set_title(f"{title}: mean \u00b1 SD over {seeds} seed{'s' if seeds != 1 else ''}")
    if table:
        ax.legend(title="model (nonlinearity)", loc="lower right", fontsize=8)
    return fig


def plot_learning_curves(runs, accuracy: str = "test_accuracy", ax=None, title: str = "Learning curves"):
    """Accuracy per epoch of training runs (`bridge train` outputs), one line per run.

    `runs`: mapping label -> run dataset (dim ``epoch``) or a path to one.
    """
    import xarray as xr

    fig, ax = figure_and_axes(ax)
    for k, (label, ds) in enumerate(runs.items()):
        if not isinstance(ds, xr.Dataset):
            from bridge.io import read_netcdf

            ds = read_netcdf(ds, "training run")
        params = ds.attrs.get("n_trainable_parameters")
        suffix = f" ({int(params):,} parameters)" if params is not None else ""
        ax.plot(ds["epoch"].values, 100 * ds[accuracy].values, marker=_MARKERS[k % len(_MARKERS)],
                color=_COLORS[k % len(_COLORS)], label=f"{label}{suffix}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{accuracy.replace('_', ' ')} (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig
