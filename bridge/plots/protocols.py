"""Figures of single-cell protocols: voltage traces and the characterization groups
`passive`, `bap` and `fi` (bridge/schema.py, characterization section)."""
from __future__ import annotations

import numpy as np

from bridge.plots._common import distance_label, figure_and_axes, type_color, type_order

_PASSIVE_LABELS = {
    "ss_attenuation": "steady-state attenuation V_soma / V_site (ratio)",
    "epsp_attenuation": "EPSP attenuation soma / local peak (ratio)",
    "epsp_local_mV": "local EPSP peak (mV)",
    "epsp_soma_mV": "somatic EPSP peak (mV)",
}
_BAP_LABELS = {"bap_amplitude_mV": "bAP amplitude (mV)", "bap_delay_ms": "bAP delay from somatic peak (ms)"}


def plot_traces(traces, names=None, ax=None, title: str = "Membrane potential",
                ylabel: str = "membrane potential (mV)"):
    """Voltage (mV) against time (ms), one line per recording.

    traces: {"t_ms": times, name: values, ...} as returned by `NeuronCell.run`; names: which
    recordings to draw (default: all but "t_ms"). Returns the Figure.
    """
    if "t_ms" not in traces:
        raise ValueError("traces need a 't_ms' entry (time in ms)")
    t = np.asarray(traces["t_ms"], dtype=float)
    names = [k for k in traces if k != "t_ms"] if names is None else list(names)
    fig, ax = figure_and_axes(ax, figsize=(7.0, 4.0))
    for name in names:
        if name not in traces:
            raise KeyError(f"no trace {name!r}; have: {', '.join(k for k in traces if k != 't_ms')}")
        v = np.asarray(traces[name], dtype=float)
        if v.shape != t.shape:
            raise ValueError(f"trace {name!r} has {v.shape} samples, t_ms has {t.shape}")
        ax.plot(t, v, lw=1.2, label=str(name))
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if names:
        ax.legend(loc="best", fontsize=8)
    return fig


def _by_type_scatter(ax, ds, y, connect_sorted=False):
    """Scatter variable `y` against path distance, one colour per branch type."""
    types = np.asarray(ds["branch_type"].values).astype(str)
    dist = np.asarray(ds["path_distance_um"].values, dtype=float)
    vals = np.asarray(ds[y].values, dtype=float)
    for t in type_order(types):
        sel = types == t
        order = np.argsort(dist[sel])
        ax.plot(dist[sel][order], vals[sel][order], marker="o", ms=4, ls="-" if connect_sorted else "",
                lw=0.8, color=type_color(t), label=f"{t} ({int(sel.sum())})")
    ax.set_xlabel(distance_label())
    ax.legend(title="branch type (n sites)", loc="best", fontsize=8)


def _cell_suffix(ds) -> str:
    cell = ds.attrs.get("cell")
    return f" ({cell})" if cell else ""


def plot_bap(bap_ds, variable: str = "bap_amplitude_mV", ax=None, title: str | None = None):
    """Back-propagating AP: amplitude (mV, or delay in ms with variable="bap_delay_ms")
    against path distance (um), one colour per branch type. `bap_ds` is the `bap` group."""
    if variable not in _BAP_LABELS:
        raise ValueError(f"variable must be one of {', '.join(_BAP_LABELS)}")
    fig, ax = figure_and_axes(ax)
    _by_type_scatter(ax, bap_ds, variable)
    ax.set_ylabel(_BAP_LABELS[variable])
    ax.set_title(title or ("bAP amplitude" if variable == "bap_amplitude_mV" else "bAP delay")
                 + " along the dendrites" + _cell_suffix(bap_ds))
    return fig


def plot_fi(fi_ds, ax=None, title: str | None = None, label: str | None = None):
    """f-I curve: firing rate (Hz) against step current (nA) from the `fi` group."""
    fig, ax = figure_and_axes(ax, figsize=(5.0, 4.0))
    i = np.asarray(fi_ds["current_nA"].values, dtype=float)
    r = np.asarray(fi_ds["rate_hz"].values, dtype=float)
    order = np.argsort(i)
    ax.plot(i[order], r[order], marker="o", color="k", label=label or f"soma{_cell_suffix(fi_ds)}")
    ax.set_xlabel("step current (nA)")
    ax.set_ylabel("firing rate (Hz)")
    ax.set_title(title or "f-I curve" + _cell_suffix(fi_ds))
    ax.legend(loc="upper left", fontsize=8)
    return fig


def plot_passive(passive_ds, variable: str = "ss_attenuation", ax=None, title: str | None = None):
    """Passive attenuation against path distance (um), one colour per branch type; the title
    gives the somatic input resistance (MOhm) and membrane time constant (ms).

    variable: "ss_attenuation" (V_soma / V_site for a current step at the site),
    "epsp_attenuation", "epsp_local_mV" or "epsp_soma_mV"."""
    if variable not in _PASSIVE_LABELS:
        raise ValueError(f"variable must be one of {', '.join(_PASSIVE_LABELS)}")
    fig, ax = figure_and_axes(ax)
    _by_type_scatter(ax, passive_ds, variable)
    ax.set_ylabel(_PASSIVE_LABELS[variable])
    if variable.endswith("attenuation"):
        ax.set_ylim(bottom=0)
    rin = float(passive_ds["input_resistance_MOhm"])
    tau = float(passive_ds["membrane_tau_ms"])
    ax.set_title(title or f"Passive{_cell_suffix(passive_ds)}: R_in = {rin:.1f} M\u03a9, "
                 f"\u03c4_m = {tau:.1f} ms")
    return fig


def plot_invivo(invivo_ds, sim: int = 0, max_synapses: int = 300):
    """One simulation of the `invivo` group: input raster (every k-th synapse, sorted by
    path distance; excitatory red, inhibitory blue), population rates, and the somatic
    (and nexus) voltage in each condition."""
    from matplotlib.figure import Figure

    from bridge.characterize.invivo import dense_inputs

    g = invivo_ds
    t = np.asarray(g["time_ms"].values, float)
    x = dense_inputs(g, sims=[sim])[0]
    cls = np.asarray(g["synapse_class"].values)
    dist = np.asarray(g["synapse_path_distance_um"].values, float)
    order = np.lexsort((dist, cls))
    step = max(1, order.size // max_synapses)
    shown = order[::step]
    fig = Figure(figsize=(9.0, 7.5), layout="constrained")
    axes = fig.subplots(4 if "nexus_mV" in g else 3, 1, sharex=True,
                        height_ratios=[3, 1, 2, 2] if "nexus_mV" in g else [3, 1, 2])
    ti, si = np.nonzero(x[:, shown])
    axes[0].scatter(t[ti], si, s=1, c=np.where(cls[shown][si] == 0, "#d62728", "#1f77b4"), linewidths=0)
    axes[0].set_ylabel(f"synapse (every {step}th,\nby class and distance)")
    axes[1].plot(t, g["exc_rate_hz"].values[sim], color="#d62728", lw=1, label="exc")
    axes[1].plot(t, g["inh_rate_hz"].values[sim], color="#1f77b4", lw=1, label="inh")
    axes[1].set_ylabel("rate (Hz)")
    axes[1].legend(loc="upper right", fontsize=7, ncol=2)
    for k, var in enumerate(["soma_mV"] + (["nexus_mV"] if "nexus_mV" in g else [])):
        ax = axes[2 + k]
        for c, color in zip(g["condition"].values, ("k", "#ff7f0e", "#2ca02c")):
            ax.plot(t, g[var].sel(condition=c).values[sim], color=color, lw=0.8, label=str(c))
        ax.set_ylabel(f"{var.split('_')[0]} (mV)")
        ax.legend(loc="upper right", fontsize=7, ncol=3)
    axes[-1].set_xlabel("time (ms)")
    counts = g["soma_spike_count"].values[:, sim]
    fig.suptitle(f"in-vivo-like drive, {g.attrs.get('cell', '')} simulation {sim}: "
                 f"{g.sizes['synapse']} synapses, {int(g['sim_event_count'].values[sim])} input events, "
                 f"somatic spikes " + ", ".join(f"{c} {n}" for c, n in zip(g['condition'].values, counts)),
                 fontsize=9)
    return fig
