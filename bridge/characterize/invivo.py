"""In-vivo-like drive of a whole dendritic tree, after Beniaguev, Segev & London 2021
(Neuron 109:2727): the input generator of the `invivo` protocol and the reader that turns
its stored events back into dense tensors for training.

Synapses (`synapse_table`): one excitatory (AMPA + NMDA) and one inhibitory (GABA-A)
synapse at the centre of every compartment (NEURON segment, d_lambda rule) of every
dendritic branch, so the synapse density follows the compartment density (about 780 of
each on the built-in l5pc).

Rates (`draw_rates`), per simulation, from its own generator:
- population profiles R_exc(t), R_inh(t): piecewise constant over stretches of uniform
  random length (`segment_ms`, 25-450 ms in BSL) with values uniform in `exc_rate_hz` /
  `inh_rate_hz`, then smoothed with a Gaussian (`smooth_ms`);
- spatially clustered modulation: every branch has its own gain g_b(t), piecewise constant
  over stretches drawn the same way, `burst_factor` in a fraction `burst_fraction` of the
  stretches and a baseline elsewhere (mean gain 1), smoothed alike, so the synapses of one
  branch receive correlated bursts;
- excitatory synapse i on branch b fires at R_exc(t) g_b(t), inhibitory ones at R_inh(t).
Spikes (`draw_events`): Bernoulli per 1 ms bin with p = rate x 1 ms, at the bin's start
(at most one event per synapse and ms). Stored as sparse event lists (synapse index,
time), never as dense synapse x time arrays; `dense_inputs` rebuilds (sim, time, synapse)
counts per 1 ms bin. Runs of the same settings with different seeds pool into one group
(`pool_groups`), for more data than one run gives.
"""
from __future__ import annotations

import numpy as np

BIN_MS = 1.0
EXC, INH = 0, 1
SYNAPSE_CLASSES = ("exc", "inh")
DENDRITIC = ("basal", "trunk", "oblique", "tuft")


def synapse_table(morphology, recipe) -> dict:
    """Sites and classes of the protocol's synapses (module docstring): arrays over synapses,
    the excitatory ones first, then the inhibitory ones at the same sites."""
    from cells.compartments import section_layouts

    branch, x = [], []
    for lay in section_layouts(recipe, morphology):
        kind, i = lay.key
        if kind != "branch" or morphology.branches[i].type not in DENDRITIC:
            continue
        branch += [i] * lay.nseg
        x += [(k + 0.5) / lay.nseg for k in range(lay.nseg)]
    branch = np.asarray(branch * 2, np.int64)
    x = np.round(np.asarray(x * 2, float), 6)
    cls = np.repeat(np.array([EXC, INH], np.int8), branch.size // 2)
    return {"branch": branch, "x": x, "cls": cls}


def _piecewise(r: np.random.Generator, n_bins: int, segment_ms, values) -> np.ndarray:
    """A profile over `n_bins` 1 ms bins, constant over stretches of U(segment_ms) ms, each
    stretch's value from values(n) (n: the number of stretches)."""
    lo, hi = segment_ms
    lengths = []
    while sum(lengths) < n_bins:
        lengths.append(max(1, int(round(r.uniform(lo, hi) / BIN_MS))))
    return np.repeat(values(len(lengths)), lengths)[:n_bins]


def _smooth(profile: np.ndarray, sigma_ms: float) -> np.ndarray:
    if sigma_ms <= 0:
        return profile
    half = int(np.ceil(4 * sigma_ms / BIN_MS))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) * BIN_MS / sigma_ms) ** 2)
    k /= k.sum()
    padded = np.pad(profile, (half, half), mode="edge")
    return np.convolve(padded, k, mode="valid")


def draw_rates(r: np.random.Generator, n_bins: int, n_branches: int, *, exc_rate_hz, inh_rate_hz, segment_ms,
               smooth_ms: float, burst_fraction: float, burst_factor: float):
    """(R_exc (bins,), R_inh (bins,), gain (branches, bins)) in Hz / 1 (module docstring)."""
    exc = _smooth(_piecewise(r, n_bins, segment_ms, lambda n: r.uniform(*exc_rate_hz, n)), smooth_ms)
    inh = _smooth(_piecewise(r, n_bins, segment_ms, lambda n: r.uniform(*inh_rate_hz, n)), smooth_ms)
    base = 1.0 / (1.0 - burst_fraction + burst_fraction * burst_factor)   # mean gain 1
    gain = np.stack([_smooth(_piecewise(r, n_bins, segment_ms,
                                        lambda n: np.where(r.random(n) < burst_fraction, burst_factor, 1.0) * base),
                             smooth_ms) for _ in range(n_branches)])
    return exc, inh, gain


def draw_events(r: np.random.Generator, rates_hz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bernoulli spikes per 1 ms bin from rates (synapses, bins) in Hz: (synapse index,
    time in ms) of every event, sorted by time then synapse."""
    p = np.clip(rates_hz * BIN_MS / 1000.0, 0.0, 1.0)
    hit = r.random(p.shape) < p
    t_bin, syn = np.nonzero(hit.T)
    return syn.astype(np.int32), (t_bin * BIN_MS).astype(np.float32)


def trains_of(n_synapses: int, syn: np.ndarray, t_ms: np.ndarray, offset_ms: float) -> list[list[float]]:
    """Per-synapse spike trains (ms, shifted by `offset_ms`) from an event list."""
    order = np.lexsort((t_ms, syn))
    syn, t_ms = syn[order], t_ms[order]
    bounds = np.searchsorted(syn, np.arange(n_synapses + 1))
    return [[float(offset_ms + v) for v in t_ms[bounds[i]: bounds[i + 1]]] for i in range(n_synapses)]


def dense_inputs(group, sims=None, dtype=np.float32) -> np.ndarray:
    """Input spike counts per 1 ms bin, (sim, time, synapse), from an `invivo` group's event
    lists (`sims`: indices of the simulations to build; default all)."""
    n_syn = group.sizes["synapse"]
    n_t = group.sizes["time_ms"]
    start = np.asarray(group["sim_event_start"].values, np.int64)
    count = np.asarray(group["sim_event_count"].values, np.int64)
    syn = np.asarray(group["event_synapse"].values, np.int64)
    t = np.asarray(group["event_time_ms"].values, float)
    sims = np.arange(start.size) if sims is None else np.asarray(sims, np.int64)
    out = np.zeros((sims.size, n_t, n_syn), dtype)
    for k, s in enumerate(sims):
        sl = slice(start[s], start[s] + count[s])
        np.add.at(out[k], (np.round(t[sl] / BIN_MS).astype(np.int64), syn[sl]), 1)
    return out


# Attributes that may differ between pooled runs (everything else must match).
_POOL_MAY_DIFFER = ("seed", "created", "param_invivo_simulations")


def pool_groups(groups) -> "xr.Dataset":
    """One `invivo` group of the simulations of several runs of the same cell, synapses and
    drive settings, e.g. the same command with different seeds (each simulation has its own
    generator, so different seeds give independent simulations): simulations renumbered in
    order, event and spike lists re-indexed (one group comes back as it is). Attributes
    `seed` (the seeds, in order) and `param_invivo_simulations` describe the pool. Raises ValueError naming what differs, or
    when two runs share a seed (the same simulations twice)."""
    import xarray as xr

    groups = list(groups)
    if len(groups) == 1:
        return groups[0]
    first = groups[0]
    seeds = [int(g.attrs.get("seed", -1)) for g in groups]
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"seeds {seeds}: runs of the same seed hold the same simulations (pooled, they would "
                         "leak between training and test)")
    for k, g in enumerate(groups[1:], start=1):
        for name in sorted(set(first.attrs) | set(g.attrs)):
            if name not in _POOL_MAY_DIFFER and not np.array_equal(np.asarray(first.attrs.get(name)),
                                                                    np.asarray(g.attrs.get(name))):
                raise ValueError(f"invivo group {k}: attribute {name} differs ({g.attrs.get(name)!r} vs "
                                 f"{first.attrs.get(name)!r}); only runs of the same settings can be pooled")
        for name in ("condition", "time_ms", "synapse", "branch"):
            if not np.array_equal(first[name].values, g[name].values):
                raise ValueError(f"invivo group {k}: coordinate {name} differs; only runs of the same settings can be pooled")
        for name, var in first.data_vars.items():
            if var.dims[0] in ("synapse", "branch") and not np.array_equal(var.values, g[name].values):
                raise ValueError(f"invivo group {k}: {name} differs; only runs on the same synapses can be pooled")
    sim_offset = np.cumsum([0] + [g.sizes["sim"] for g in groups[:-1]])
    event_offset = np.cumsum([0] + [g.sizes["event"] for g in groups[:-1]])
    shifted = []
    for g, ds, de in zip(groups, sim_offset, event_offset):
        g = g.drop_vars("sim").assign(spike_sim=g["spike_sim"] + int(ds), sim_event_start=g["sim_event_start"] + int(de))
        shifted.append(g)
    per_sim = [n for n, v in first.data_vars.items() if "sim" in v.dims]
    lists = {dim: [n for n, v in first.data_vars.items() if v.dims == (dim,)] for dim in ("spike", "event")}
    data = {n: xr.concat([g[n] for g in shifted], dim="sim") for n in per_sim}
    for dim, names in lists.items():
        data.update({n: xr.concat([g[n] for g in shifted], dim=dim) for n in names})
    fixed = [n for n in first.data_vars if n not in data]
    out = xr.Dataset({**data, **{n: first[n] for n in fixed}}, attrs=dict(first.attrs))
    out = out.assign_coords(sim=np.arange(out.sizes["sim"]))
    out.attrs["seed"] = np.array(seeds)
    out.attrs["param_invivo_simulations"] = np.int64(out.sizes["sim"])
    return out
