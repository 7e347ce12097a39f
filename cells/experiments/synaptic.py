"""Synapses at sites: unitary responses, cumulative sweeps, timing, drive patterns, EPSPs.

Every synaptic experiment records the membrane potential at one "local" site (e.g. a
cluster's centre) and at the soma, activates a `SynapseSet`, and measures each run with
`response_features`. "Expected" responses are the arithmetic sums of unitary (single
synapse) responses (Polsky, Mel & Schiller 2004; Poirazi, Brannon & Mel 2003); the
callers form them from `unitary_responses`.
"""
from __future__ import annotations

import numpy as np

from cells.experiments import features as F
from cells.experiments.common import INACTIVE_MS, SOMA, STIMULUS_START_MS

# One AMPA synapse of 2 nS for passive EPSPs: small enough to stay linear, as in the EPSP
# attenuation measurements of Magee & Cook 2000 (Nat Neurosci 3:895).
EPSP_WEIGHT_US = 0.002
EPSP_WINDOW_MS = 60.0


class SynapseSet:
    """Synapses at arbitrary sites [(branch, x), ...] (one of each kind per site), kept in
    site order; one group per branch underneath (the cell's `add_synapses`). The synapses
    exist as long as this object does (NEURON deletes unreferenced point processes)."""

    def __init__(self, cell, sites, kinds=("ampa", "nmda"), weight_uS: dict | None = None,
                 weight_scale: float = 1.0):
        self.cell = cell
        self.n = len(sites)
        by_branch: dict[int, list[int]] = {}
        for i, (b, _x) in enumerate(sites):
            by_branch.setdefault(int(b), []).append(i)
        self.groups = []
        for b, idx in by_branch.items():
            group = cell.add_synapses(b, [float(sites[i][1]) for i in idx], kinds=tuple(kinds),
                                      weight_scale=weight_scale)
            self.groups.append((group, np.asarray(idx)))
        for kind, value in (weight_uS or {}).items():
            self.set_weight(kind, value)

    def __len__(self) -> int:
        return self.n

    def set_weight(self, kind: str, weight_uS) -> None:
        """One peak conductance for every synapse of `kind` (0 blocks it: NMDA block by APV)."""
        for group, _ in self.groups:
            self.cell.set_synapse_weights(group, kind, weight_uS)

    def weights(self, kind: str) -> np.ndarray:
        out = np.empty(self.n)
        for group, idx in self.groups:
            out[idx] = self.cell.get_synapse_weights(group, kind)
        return out

    def set_weights(self, kind: str, weights_uS) -> None:
        weights_uS = np.asarray(weights_uS, float)
        for group, idx in self.groups:
            self.cell.set_synapse_weights(group, kind, weights_uS[idx])

    def activate(self, times_ms) -> None:
        """One event per synapse at its time (INACTIVE_MS keeps it silent)."""
        times = np.asarray(times_ms, float)
        for group, idx in self.groups:
            self.cell.activate(group, times[idx])

    def activate_trains(self, trains_ms) -> None:
        """A spike train per synapse (a sequence of times each): round k schedules every
        synapse's k-th event (`Cell.activate` takes one event per location and call)."""
        if len(trains_ms) != self.n:
            raise ValueError(f"{len(trains_ms)} trains for {self.n} synapses")
        rounds = max((len(t) for t in trains_ms), default=0)
        for k in range(rounds):
            self.activate([float(t[k]) if k < len(t) else INACTIVE_MS for t in trains_ms])


def record_local(cell, local_site) -> None:
    cell.record("local", *local_site)
    cell.record("soma", *SOMA)


def response_features(traces: dict, start_ms: float, end_ms: float) -> dict:
    """Peak depolarisation above the voltage at `start_ms` at the local site and at the soma,
    and at the soma: the depolarisation integral (Schiller et al. 2000's charge measure),
    half-width, largest dV/dt and action potentials, all within [start, end]."""
    t, local, soma = traces["t_ms"], traces["local"], traces["soma"]
    spikes = F.spike_times(t, soma)
    return {
        "local_mV": F.peak_deflection(t, local, start_ms, end_ms),
        "soma_mV": F.peak_deflection(t, soma, start_ms, end_ms),
        "soma_integral_mV_ms": F.integral_mV_ms(t, soma, start_ms, end_ms),
        "soma_half_width_ms": F.half_width(t, soma, start_ms, end_ms),
        "soma_dvdt_V_per_s": F.max_rise_rate_V_per_s(t, soma, start_ms, end_ms),
        "soma_spikes": int(np.count_nonzero((spikes >= start_ms) & (spikes <= end_ms))),
    }


def _run(cell, synapses: SynapseSet, times, window_ms: float, dt_ms: float, end_ms: float | None = None):
    synapses.activate(times)
    start = STIMULUS_START_MS
    end = start + window_ms if end_ms is None else end_ms
    tr = cell.run(end, dt_ms=dt_ms)
    return tr, response_features(tr, start, end)


def unitary_responses(cell, synapses: SynapseSet, times_ms, window_ms: float, dt_ms: float = 0.025) -> dict:
    """Each synapse alone at its own time: local and somatic peaks, arrays over synapses.
    `record_local` must have been called."""
    times = np.asarray(times_ms, float)
    local, soma = np.empty(len(synapses)), np.empty(len(synapses))
    for i in range(len(synapses)):
        _, f = _run(cell, synapses, np.where(np.arange(len(synapses)) == i, times, INACTIVE_MS), window_ms, dt_ms)
        local[i], soma[i] = f["local_mV"], f["soma_mV"]
    return {"local_mV": local, "soma_mV": soma}


def sweep_times(n_synapses: int, n_active: int, times_ms=None, spread_ms: float = 0.0) -> np.ndarray:
    """Activation times for the first `n_active` synapses: their own `times_ms`, or evenly
    spread over `spread_ms` from the stimulus onset (0: together); the others silent."""
    out = np.full(n_synapses, INACTIVE_MS)
    if times_ms is not None:
        out[:n_active] = np.asarray(times_ms, float)[:n_active]
    else:
        out[:n_active] = STIMULUS_START_MS + np.linspace(0.0, spread_ms, n_active)
    return out


def cumulative_sweep(cell, synapses: SynapseSet, n_values, window_ms: float, times_ms=None,
                     spread_ms: float = 0.0, keep_traces: bool = False, dt_ms: float = 0.025) -> dict:
    """The first n synapses together, for each n in `n_values` (see `sweep_times`): every
    `response_features` measure as an array over n (and the traces with `keep_traces`).
    `record_local` must have been called."""
    rows, traces = [], []
    for n in n_values:
        tr, f = _run(cell, synapses, sweep_times(len(synapses), int(n), times_ms, spread_ms), window_ms, dt_ms)
        rows.append(f)
        if keep_traces:
            traces.append(tr)
    out = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    out["n_synapses"] = np.asarray(n_values)
    if keep_traces:
        out["traces"] = traces
    return out


def timing_sweep(cell, synapses: SynapseSet, intervals_ms, window_ms: float, dt_ms: float = 0.025) -> dict:
    """All synapses, one after another (synapse i at onset + i x interval), per interval:
    local and somatic peaks, measured until `window_ms` after the last synapse."""
    local, soma = np.empty(len(intervals_ms)), np.empty(len(intervals_ms))
    for k, interval in enumerate(intervals_ms):
        times = STIMULUS_START_MS + interval * np.arange(len(synapses))
        _, f = _run(cell, synapses, times, window_ms, dt_ms, end_ms=float(times[-1]) + window_ms)
        local[k], soma[k] = f["local_mV"], f["soma_mV"]
    return {"local_mV": local, "soma_mV": soma}


def pattern_responses(cell, sites, record_sites, active, times_ms, window_ms: float, dt_ms: float = 0.025) -> dict:
    """Drive patterns: for pattern k, the synapses at sites[active[k]] fire at times_ms[k].
    Somatic peak and spikes, and the peak at each of `record_sites`, per pattern."""
    start, end = STIMULUS_START_MS, STIMULUS_START_MS + window_ms
    cell.record("soma", *SOMA)
    for j, (b, x) in enumerate(record_sites):
        cell.record(f"b{j}", int(b), float(x))
    soma, spikes = np.empty(len(active)), np.zeros(len(active), np.int64)
    local = np.empty((len(active), len(record_sites)))
    for k, (act, times) in enumerate(zip(active, times_ms)):
        synapses = SynapseSet(cell, [sites[i] for i in act]) if len(act) else None
        if synapses is not None:
            synapses.activate(times)
        tr = cell.run(end, dt_ms=dt_ms)
        del synapses
        t = tr["t_ms"]
        soma[k] = F.peak_deflection(t, tr["soma"], start, end)
        s = F.spike_times(t, tr["soma"])
        spikes[k] = np.count_nonzero((s >= start) & (s <= end))
        local[k] = [F.peak_deflection(t, tr[f"b{j}"], start, end) for j in range(len(record_sites))]
    return {"soma_peak_mV": soma, "soma_spikes": spikes, "local_peak_mV": local}


def _drive(cell, drives) -> list:
    """SynapseSets for (sites, kinds, trains, weight_scale) drives, their trains scheduled;
    keep the list until the run has returned."""
    keep = []
    for sites, kinds, trains, weight_scale in drives:
        if len(sites):
            synapses = SynapseSet(cell, sites, kinds=tuple(kinds), weight_scale=weight_scale)
            synapses.activate_trains(trains)
            keep.append(synapses)
    return keep


def driven_traces(cell, drives, record_sites, tstop_ms: float, sample_ms: float = 1.0, dt_ms: float = 0.025,
                  weight_factors: dict | None = None) -> dict:
    """Synapses driven by spike trains (`drives` as in `train_response`) for [0, tstop]:
    somatic spike times, and the voltage at the soma and at each of `record_sites` sampled
    every `sample_ms` (mV, at t = 0, sample_ms, ...). `weight_factors`: {kind: factor} multiplies
    the peak conductances of that kind after placement (e.g. {"nmda": 0} for AMPA only)."""
    cell.record("soma", *SOMA)
    for j, (b, x) in enumerate(record_sites):
        cell.record(f"r{j}", int(b), float(x))
    keep = _drive(cell, drives)
    for kind, factor in (weight_factors or {}).items():
        for synapses in keep:
            if kind in synapses.groups[0][0].kinds:
                synapses.set_weights(kind, synapses.weights(kind) * factor)
    tr = cell.run(tstop_ms, dt_ms=dt_ms)
    del keep
    t = tr["t_ms"]
    grid = np.arange(0.0, tstop_ms, sample_ms)
    return {"spike_times_ms": F.spike_times(t, tr["soma"]), "soma_mV": np.interp(grid, t, tr["soma"]),
            "sites_mV": np.array([np.interp(grid, t, tr[f"r{j}"]) for j in range(len(record_sites))])}


def train_response(cell, drives, record_sites, start_ms: float, end_ms: float, dt_ms: float = 0.025) -> dict:
    """Synapses driven by spike trains (asynchronous drive, Poirazi, Brannon & Mel 2003):
    `drives` is a list of (sites, kinds, trains, weight_scale) with one train (times, ms) per
    site and the recipe's peak conductances times weight_scale.
    Returns somatic spikes in [start, end], the somatic rate (Hz), and the time-averaged
    depolarisation over [start, end] above the voltage at `start_ms` at the soma and at each
    of `record_sites` (mV)."""
    cell.record("soma", *SOMA)
    for j, (b, x) in enumerate(record_sites):
        cell.record(f"r{j}", int(b), float(x))
    keep = _drive(cell, drives)
    tr = cell.run(end_ms, dt_ms=dt_ms)
    del keep
    t = tr["t_ms"]
    spikes = F.spike_times(t, tr["soma"])
    n = int(np.count_nonzero((spikes >= start_ms) & (spikes <= end_ms)))
    return {"soma_spikes": n, "soma_rate_hz": n / ((end_ms - start_ms) / 1000.0),
            "soma_mean_mV": F.mean_deflection(t, tr["soma"], start_ms, end_ms),
            "local_mean_mV": np.array([F.mean_deflection(t, tr[f"r{j}"], start_ms, end_ms)
                                       for j in range(len(record_sites))])}


def epsp(cell, site, weight_uS: float = EPSP_WEIGHT_US, window_ms: float = EPSP_WINDOW_MS,
         dt_ms: float = 0.025) -> dict:
    """One AMPA synapse of `weight_uS` at `site`: the EPSP there and at the soma, and their
    ratio (EPSP attenuation soma / site)."""
    record_local(cell, site)
    synapses = SynapseSet(cell, [site], kinds=("ampa",), weight_uS={"ampa": weight_uS})
    tr, f = _run(cell, synapses, [STIMULUS_START_MS], window_ms, dt_ms)
    del synapses
    return {"local_mV": f["local_mV"], "soma_mV": f["soma_mV"], "attenuation": f["soma_mV"] / f["local_mV"],
            "traces": tr}
