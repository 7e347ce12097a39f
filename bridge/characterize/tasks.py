"""Simulation tasks: a small picklable description -> a pure function returning numpy arrays.

A :class:`Task` names a kind (``unitary``, ``cumulative``, ``timing``, ``passive_soma``,
``passive_site``, ``bap``, ``bac``, ``fi``, ``patterns``) and carries every number the
simulation needs (sites, activation times, windows), all chosen by the planner in
`bridge.characterize.protocols`; nothing random happens here. :func:`run_task` builds (or
reuses) the cell through the project's public simulation interface (`cells.load_cell`:
add_synapses, activate, set_synapse_weights, scale_density, add_step_current,
add_current_waveform, record, run, close) and returns a dict of numpy arrays, so the same
task gives the same numbers in any process, on any worker, in any order.

One built cell is kept per process and reused by the next task (NEURON only: a synapse
group that is no longer referenced is deleted, so the cell returns to its bare state).
Tasks that inject current or block channels get a fresh cell, which is dropped afterwards
(current clamps cannot be removed through the public interface), or a cell cached per
"blocked" state. Only one cell exists at a time: NEURON integrates every cell in a process.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np

from cells.recipe import REGIONS

DENDRITIC_TYPES = REGIONS["dendrites"]
SOMA = (0, 0.5)
INACTIVE_MS = 1e9            # an event scheduled after the end of every run: a silent synapse


# ------------------------------------------------------------------------------ descriptions
@dataclass(frozen=True)
class RunConfig:
    """Everything about a run that is not a protocol parameter; part of every task key."""
    cell: str
    morphology: str | None          # SWC path, None for the built-in morphology
    morphology_sha256: str
    recipe_sha256: str
    simulator: str = "neuron"
    dt_ms: float = 0.025
    seed: int = 0
    mechanisms_key: str = ""        # cells.mechanisms.mechanism_key(): the .mod files' hash

    def as_dict(self) -> dict:
        d = asdict(self)
        d["morphology"] = "builtin" if self.morphology is None else os.path.basename(self.morphology)
        return d


@dataclass(frozen=True)
class Task:
    """One unit of work: `kind` selects the function, `params` (sorted name/value pairs of
    JSON-able values) is all it needs. `n_sims` and `sim_ms` (simulated time, summed) are
    for the progress bar and scheduling only."""
    protocol: str
    kind: str
    params: tuple
    n_sims: int = 1
    sim_ms: float = 0.0

    @staticmethod
    def make(protocol: str, kind: str, n_sims: int, sim_ms: float, **params) -> "Task":
        return Task(protocol, kind, tuple(sorted((k, _freeze(v)) for k, v in params.items())), n_sims, sim_ms)

    @property
    def p(self) -> dict:
        return dict(self.params)

    def key(self, config: RunConfig) -> str:
        """Hash of the task description and the run configuration (checkpoint name)."""
        text = json.dumps({"config": config.as_dict(), "protocol": self.protocol, "kind": self.kind,
                           "params": self.params}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def _freeze(value):
    """Lists and arrays -> nested tuples of Python numbers/strings (hashable, JSON-able)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


# ------------------------------------------------------------------------------ per-process cell
_LOCK = threading.Lock()       # one simulation at a time per process (Dask workers may be threaded)
_STATE: dict = {"key": None, "cell": None}
COUNTERS = {"tasks": 0, "builds": 0}


def _build(config: RunConfig, na_block: bool):
    from cells import load_cell

    cell = load_cell(config.cell, morphology=config.morphology, simulator=config.simulator)
    COUNTERS["builds"] += 1
    if cell.morphology.sha256 != config.morphology_sha256:
        cell.close()
        raise RuntimeError(f"morphology {config.morphology or 'builtin'} on this worker has sha256 "
                           f"{cell.morphology.sha256[:12]}, the run expects {config.morphology_sha256[:12]}")
    if cell.recipe.sha256() != config.recipe_sha256:
        cell.close()
        raise RuntimeError(f"recipe {config.cell} on this worker differs from the run's (sha256 "
                           f"{cell.recipe.sha256()[:12]} vs {config.recipe_sha256[:12]})")
    if na_block:
        from cells.mechanisms import block_sodium

        block_sodium(cell, DENDRITIC_TYPES)
    return cell


def _discard() -> None:
    cell = _STATE["cell"]
    _STATE["cell"], _STATE["key"] = None, None
    if cell is not None:
        cell.close()


@contextmanager
def using_cell(config: RunConfig, na_block: bool = False, dirty: bool = False):
    """The process's cell for `config` (built on first use). `dirty`: the task adds
    stimuli that cannot be removed, so the cell is dropped afterwards."""
    key = (config.cell, config.morphology, config.morphology_sha256, config.simulator, na_block)
    if _STATE["key"] != key:
        _discard()
        _STATE["cell"] = _build(config, na_block)
        _STATE["key"] = key
    cell = _STATE["cell"]
    ok = False
    try:
        yield cell
        ok = True
    finally:
        cell.clear_recordings()
        # Only NEURON deletes unreferenced synapses; other backends get a fresh cell per task.
        if dirty or not ok or config.simulator != "neuron":
            _discard()


class Synapses:
    """Synapses at arbitrary sites [(branch, x), ...], one group per branch, kept in site order."""

    def __init__(self, cell, sites, nmda_block: bool = False):
        self.cell = cell
        self.n = len(sites)
        by_branch: dict[int, list[int]] = {}
        for i, (b, _x) in enumerate(sites):
            by_branch.setdefault(int(b), []).append(i)
        self.groups = []
        for b, idx in by_branch.items():
            group = cell.add_synapses(b, [float(sites[i][1]) for i in idx])
            if nmda_block:
                cell.set_synapse_weights(group, "nmda", 0.0)
            self.groups.append((group, np.asarray(idx)))

    def activate(self, times_ms) -> None:
        times = np.asarray(times_ms, float)
        for group, idx in self.groups:
            self.cell.activate(group, times[idx])


# ------------------------------------------------------------------------------ measurements
def _peak(t, v, start, end):
    from cells.validation.features import peak_deflection
    return peak_deflection(t, v, start, end)


def _run_peaks(cell, config, t0, tstop):
    """Run to `tstop`; the traces and the local and somatic peak depolarisations after `t0`."""
    tr = cell.run(tstop, dt_ms=config.dt_ms)
    return tr, _peak(tr["t_ms"], tr["local"], t0, tstop), _peak(tr["t_ms"], tr["soma"], t0, tstop)


def _n_spikes(t, v, start=-np.inf, end=np.inf):
    from cells.validation.features import spike_times
    s = spike_times(t, v)
    return int(np.count_nonzero((s >= start) & (s <= end)))


# ------------------------------------------------------------------------------ task kinds
def _synaptic_setup(cell, p):
    cell.record("local", int(p["rec_branch"]), float(p["rec_x"]))
    cell.record("soma", *SOMA)
    return Synapses(cell, p["sites"], nmda_block=p["condition"] == "nmda_block")


def task_unitary(config: RunConfig, p: dict) -> dict:
    """Each synapse alone (at its own activation time): local and somatic peak."""
    t0, tstop = p["t0_ms"], p["t0_ms"] + p["window_ms"]
    with using_cell(config, na_block=p["condition"] == "na_block") as cell:
        syn = _synaptic_setup(cell, p)
        times = np.asarray(p["times_ms"], float)
        local, soma = np.empty(syn.n), np.empty(syn.n)
        for i in range(syn.n):
            syn.activate(np.where(np.arange(syn.n) == i, times, INACTIVE_MS))
            _, local[i], soma[i] = _run_peaks(cell, config, t0, tstop)
        del syn
    return {"local": local, "soma": soma}


def task_cumulative(config: RunConfig, p: dict) -> dict:
    """The first n synapses together, for each n in `n_values`."""
    t0, tstop = p["t0_ms"], p["t0_ms"] + p["window_ms"]
    n_values = list(p["n_values"])
    with using_cell(config, na_block=p["condition"] == "na_block") as cell:
        syn = _synaptic_setup(cell, p)
        times = np.asarray(p["times_ms"], float)
        local, soma = np.empty(len(n_values)), np.empty(len(n_values))
        spikes = np.zeros(len(n_values), np.int64)
        traces_local, traces_soma = [], []
        for k, n in enumerate(n_values):
            syn.activate(np.where(np.arange(syn.n) < n, times, INACTIVE_MS))
            tr, local[k], soma[k] = _run_peaks(cell, config, t0, tstop)
            spikes[k] = _n_spikes(tr["t_ms"], tr["soma"], t0, tstop)
            if p.get("traces"):
                traces_local.append(tr["local"].astype(np.float32))
                traces_soma.append(tr["soma"].astype(np.float32))
        del syn
    out = {"local": local, "soma": soma, "spikes": spikes}
    if p.get("traces"):
        out["trace_local"], out["trace_soma"] = np.stack(traces_local), np.stack(traces_soma)
        out["t_ms"] = tr["t_ms"].astype(np.float64)
    return out


def task_timing(config: RunConfig, p: dict) -> dict:
    """All synapses, activated one after another at each interval in `intervals_ms`."""
    t0 = p["t0_ms"]
    intervals = list(p["intervals_ms"])
    with using_cell(config) as cell:
        syn = _synaptic_setup(cell, p)
        local, soma = np.empty(len(intervals)), np.empty(len(intervals))
        for k, dt in enumerate(intervals):
            times = t0 + dt * np.arange(syn.n)
            tstop = float(times[-1]) + p["window_ms"]
            syn.activate(times)
            _, local[k], soma[k] = _run_peaks(cell, config, t0, tstop)
        del syn
    return {"local": local, "soma": soma}


def task_passive_soma(config: RunConfig, p: dict) -> dict:
    """Hyperpolarising somatic step: input resistance, membrane time constant, sag."""
    from cells.validation import features as F

    t0, dur, amp = p["t0_ms"], p["dur_ms"], p["amp_nA"]
    with using_cell(config, dirty=True) as cell:
        cell.add_step_current(*SOMA, amp_nA=amp, delay_ms=t0, dur_ms=dur)
        cell.record("soma", *SOMA)
        tr = cell.run(t0 + dur + 20.0, dt_ms=config.dt_ms)
    t, v = tr["t_ms"], tr["soma"]
    v_rest = F.value_at(t, v, t0)
    v_ss = F.value_at(t, v, t0 + dur - 0.5)
    v_min = float(np.min(F.window(t, v, t0, t0 + dur)))
    sag = (v_ss - v_min) / (v_rest - v_min) if v_rest != v_min else 0.0
    return {"rest_mV": np.float64(v_rest), "input_resistance_MOhm": np.float64((v_ss - v_rest) / amp),
            "membrane_tau_ms": np.float64(F.membrane_time_constant_ms(t, v, t0, t0 + dur)),
            "sag_ratio": np.float64(sag)}


def task_passive_site(config: RunConfig, p: dict) -> dict:
    """One synapse at the site (EPSP there and at the soma); then a small current step
    at the site (steady-state voltage there and at the soma)."""
    from cells.validation import features as F

    b, x = int(p["site_branch"]), float(p["site_x"])
    t0, win = p["t0_ms"], p["window_ms"]
    with using_cell(config, dirty=True) as cell:
        cell.record("site", b, x)
        cell.record("soma", *SOMA)
        syn = Synapses(cell, [(b, x)])
        syn.activate([t0])
        tr = cell.run(t0 + win, dt_ms=config.dt_ms)
        epsp_local = _peak(tr["t_ms"], tr["site"], t0, t0 + win)
        epsp_soma = _peak(tr["t_ms"], tr["soma"], t0, t0 + win)
        del syn
        dur, amp = p["step_ms"], p["step_nA"]
        cell.add_step_current(b, x, amp_nA=amp, delay_ms=t0, dur_ms=dur)
        tr = cell.run(t0 + dur, dt_ms=config.dt_ms)
    t = tr["t_ms"]

    def ss(name):
        return F.value_at(t, tr[name], t0 + dur - 0.5) - F.value_at(t, tr[name], t0)

    return {"epsp_local_mV": np.float64(epsp_local), "epsp_soma_mV": np.float64(epsp_soma),
            "ss_site_mV": np.float64(ss("site")), "ss_soma_mV": np.float64(ss("soma"))}


def task_bap(config: RunConfig, p: dict) -> dict:
    """Somatic current pulse; peak and time of peak of the backpropagating AP at each site."""
    t0, win = p["t0_ms"], p["window_ms"]
    sites = p["sites"]
    with using_cell(config, dirty=True) as cell:
        cell.add_step_current(*SOMA, amp_nA=p["amp_nA"], delay_ms=t0, dur_ms=p["dur_ms"])
        for i, (b, x) in enumerate(sites):
            cell.record(f"s{i}", int(b), float(x))
        tr = cell.run(t0 + win, dt_ms=config.dt_ms)
    t = tr["t_ms"]
    mask = (t >= t0) & (t <= t0 + win)
    amp = np.array([_peak(t, tr[f"s{i}"], t0, t0 + win) for i in range(len(sites))])
    t_peak = np.array([t[mask][np.argmax(tr[f"s{i}"][mask])] for i in range(len(sites))])
    return {"amplitude_mV": amp, "t_peak_ms": t_peak}


def task_bac(config: RunConfig, p: dict) -> dict:
    """Larkum et al. 1999 / Hay et al. 2011: somatic pulse, dendritic EPSP-shaped current, or both."""
    from cells.validation import features as F
    from cells.validation.protocols import epsc_waveform

    t0, win = p["t0_ms"], p["window_ms"]
    b, x = int(p["dend_branch"]), float(p["dend_x"])
    with using_cell(config, dirty=True) as cell:
        if p["soma_on"]:
            cell.add_step_current(*SOMA, amp_nA=p["soma_nA"], delay_ms=t0, dur_ms=p["soma_ms"])
        if p["dend_on"]:
            cell.add_current_waveform(b, x, *epsc_waveform(t0 + p["dend_delay_ms"], p["dend_nA"],
                                                           p["dend_rise_ms"], p["dend_decay_ms"]))
        cell.record("soma", *SOMA)
        cell.record("dend", b, x)
        tr = cell.run(t0 + win, dt_ms=config.dt_ms)
    t = tr["t_ms"]
    return {"soma_spikes": np.int64(_n_spikes(t, tr["soma"])),
            "dend_peak_mV": np.float64(np.max(F.window(t, tr["dend"], t0, t0 + win))),
            "dend_above_minus40_ms": np.float64(F.time_above(t, tr["dend"], -40.0, t0, t0 + win))}


def task_fi(config: RunConfig, p: dict) -> dict:
    """One somatic current step: spikes during the step, rate and first-spike latency."""
    from cells.validation import features as F

    t0, dur = p["t0_ms"], p["dur_ms"]
    with using_cell(config, dirty=True) as cell:
        if p["amp_nA"] != 0.0:
            cell.add_step_current(*SOMA, amp_nA=p["amp_nA"], delay_ms=t0, dur_ms=dur)
        cell.record("soma", *SOMA)
        tr = cell.run(t0 + dur + 20.0, dt_ms=config.dt_ms)
    s = F.spike_times(tr["t_ms"], tr["soma"])
    s = s[(s >= t0) & (s <= t0 + dur)]
    return {"n_spikes": np.int64(s.size), "rate_hz": np.float64(1000.0 * s.size / dur),
            "first_spike_ms": np.float64(s[0] - t0 if s.size else np.nan)}


def task_patterns(config: RunConfig, p: dict) -> dict:
    """A batch of random drive patterns: for each, the active synapses (indices into the
    site table) fire at their times; somatic peak, spike count and each branch's local peak."""
    t0, win = p["t0_ms"], p["window_ms"]
    tstop = t0 + win
    sites = p["sites"]
    rec = p["rec_sites"]
    n_pat = len(p["active"])
    soma, spikes = np.empty(n_pat), np.zeros(n_pat, np.int64)
    local = np.empty((n_pat, len(rec)))
    with using_cell(config) as cell:
        cell.record("soma", *SOMA)
        for j, (b, x) in enumerate(rec):
            cell.record(f"b{j}", int(b), float(x))
        for k, (active, times) in enumerate(zip(p["active"], p["times_ms"])):
            syn = Synapses(cell, [sites[i] for i in active]) if len(active) else None
            if syn is not None:
                syn.activate(times)
            tr = cell.run(tstop, dt_ms=config.dt_ms)
            del syn
            t = tr["t_ms"]
            soma[k] = _peak(t, tr["soma"], t0, tstop)
            spikes[k] = _n_spikes(t, tr["soma"], t0, tstop)
            local[k] = [_peak(t, tr[f"b{j}"], t0, tstop) for j in range(len(rec))]
    return {"soma_peak_mV": soma, "soma_spikes": spikes, "local_peak_mV": local}


KINDS = {
    "unitary": task_unitary, "cumulative": task_cumulative, "timing": task_timing,
    "passive_soma": task_passive_soma, "passive_site": task_passive_site, "bap": task_bap,
    "bac": task_bac, "fi": task_fi, "patterns": task_patterns,
}


def run_task(config: RunConfig, task: Task) -> dict:
    """Run one task in this process (thread-safe: one simulation at a time)."""
    with _LOCK:
        out = KINDS[task.kind](config, task.p)
        COUNTERS["tasks"] += 1
    return {k: np.asarray(v) for k, v in out.items()}
