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
counts per 1 ms bin.
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
