"""Simulation tasks: a small picklable description -> a pure function returning numpy arrays.

A :class:`Task` names a kind (``unitary``, ``cumulative``, ``timing``, ``passive_soma``,
``passive_site``, ``bap``, ``bac``, ``fi``, ``patterns``, ``drive``, ``invivo``) and carries every number the
simulation needs (sites, activation times, windows), all chosen by the planner in
`bridge.characterize.protocols`; nothing random happens here. Each kind runs one
experiment of `cells.experiments` (the experiments `bridge validate` and `bridge compare`
run too) on a cell built (or reused) through `cells.load_cell`, and returns a dict of
numpy arrays, so the same task gives the same numbers in any process, on any worker, in
any order.

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

from cells.experiments import steps
from cells.experiments.bac import bac_trial
from cells.experiments.bap import backpropagating_ap
from cells.experiments.synaptic import (SynapseSet, cumulative_sweep, driven_traces, epsp, pattern_responses,
                                        record_local, timing_sweep, train_response, unitary_responses)
from cells.recipe import REGIONS

DENDRITIC_TYPES = REGIONS["dendrites"]


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
    recipe_file: str | None = None  # an adapted recipe (cells.adapt, JSON) instead of the type's

    def as_dict(self) -> dict:
        d = asdict(self)
        d["morphology"] = "builtin" if self.morphology is None else os.path.basename(self.morphology)
        d["recipe_file"] = None if self.recipe_file is None else os.path.basename(self.recipe_file)
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
    from cells.adapt import read_adapted

    recipe = read_adapted(config.recipe_file).recipe if config.recipe_file else None
    cell = load_cell(config.cell, morphology=config.morphology, simulator=config.simulator, recipe=recipe)
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
    key = (config.cell, config.morphology, config.morphology_sha256, config.recipe_sha256, config.simulator, na_block)
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


# ------------------------------------------------------------------------------ task kinds
# Each kind is one experiment of `cells.experiments` (the same code `bridge validate` and
# `bridge compare` run), on the process's cell, returning numpy arrays.
def task_unitary(config: RunConfig, p: dict) -> dict:
    """Each synapse alone (at its own activation time): local and somatic peak."""
    with using_cell(config, na_block=p["condition"] == "na_block") as cell:
        synapses = _synapses(cell, p)
        out = unitary_responses(cell, synapses, p["times_ms"], p["window_ms"], dt_ms=config.dt_ms)
        del synapses
    return {"local": out["local_mV"], "soma": out["soma_mV"]}


def task_cumulative(config: RunConfig, p: dict) -> dict:
    """The first n synapses together, for each n in `n_values`."""
    with using_cell(config, na_block=p["condition"] == "na_block") as cell:
        synapses = _synapses(cell, p)
        sweep = cumulative_sweep(cell, synapses, list(p["n_values"]), p["window_ms"], times_ms=p["times_ms"],
                                 keep_traces=bool(p.get("traces")), dt_ms=config.dt_ms)
        del synapses
    out = {"local": sweep["local_mV"], "soma": sweep["soma_mV"], "spikes": sweep["soma_spikes"].astype(np.int64)}
    if p.get("traces"):
        out["trace_local"] = np.stack([tr["local"] for tr in sweep["traces"]]).astype(np.float32)
        out["trace_soma"] = np.stack([tr["soma"] for tr in sweep["traces"]]).astype(np.float32)
        out["t_ms"] = sweep["traces"][0]["t_ms"].astype(np.float64)
    return out


def task_timing(config: RunConfig, p: dict) -> dict:
    """All synapses, activated one after another at each interval in `intervals_ms`."""
    with using_cell(config) as cell:
        synapses = _synapses(cell, p)
        out = timing_sweep(cell, synapses, list(p["intervals_ms"]), p["window_ms"], dt_ms=config.dt_ms)
        del synapses
    return {"local": out["local_mV"], "soma": out["soma_mV"]}


def task_passive_soma(config: RunConfig, p: dict) -> dict:
    """Hyperpolarising somatic step: rest, input resistance, membrane time constant, sag."""
    with using_cell(config, dirty=True) as cell:
        response = steps.step_response(cell, p["amp_nA"], p["dur_ms"], dt_ms=config.dt_ms)
    return {k: np.float64(v) for k, v in steps.passive_features(response).items()}


def task_passive_site(config: RunConfig, p: dict) -> dict:
    """One small AMPA synapse at the site (EPSP there and at the soma); then a small current
    step at the site (steady-state voltage there and at the soma)."""
    site = (int(p["site_branch"]), float(p["site_x"]))
    with using_cell(config, dirty=True) as cell:
        e = epsp(cell, site, dt_ms=config.dt_ms)
        cell.clear_recordings()
        response = steps.step_response(cell, p["step_nA"], p["step_ms"], site=site, dt_ms=config.dt_ms)
    return {"epsp_local_mV": np.float64(e["local_mV"]), "epsp_soma_mV": np.float64(e["soma_mV"]),
            "ss_site_mV": np.float64(steps.deflection_mV(response, "site")),
            "ss_soma_mV": np.float64(steps.deflection_mV(response, "soma"))}


def task_bap(config: RunConfig, p: dict) -> dict:
    """Somatic current pulse; peak and time of peak of the backpropagating AP at each site."""
    with using_cell(config, dirty=True) as cell:
        r = backpropagating_ap(cell, p["sites"], p["amp_nA"], p["dur_ms"], dt_ms=config.dt_ms)
    return {"amplitude_mV": r["amplitude_mV"], "t_peak_ms": r["t_peak_ms"]}


def task_bac(config: RunConfig, p: dict) -> dict:
    """One BAC stimulus (cells.experiments.bac): somatic spikes, dendritic peak and plateau."""
    with using_cell(config, dirty=True) as cell:
        r = bac_trial(cell, p["stimulus"], (int(p["dend_branch"]), float(p["dend_x"])), p["soma_pulse"],
                      window_ms=p["window_ms"], dt_ms=config.dt_ms)
    return {"soma_spikes": np.int64(r["soma_spikes"]), "dend_peak_mV": np.float64(r["dend_peak_mV"]),
            "dend_above_plateau_ms": np.float64(r["dend_above_plateau_ms"])}


def task_fi(config: RunConfig, p: dict) -> dict:
    """One somatic current step: spikes during the step, rate and first-spike latency."""
    with using_cell(config, dirty=True) as cell:
        response = steps.step_response(cell, p["amp_nA"], p["dur_ms"], dt_ms=config.dt_ms)
    f = steps.firing_features(response)
    return {"n_spikes": np.int64(f["n_spikes"]), "rate_hz": np.float64(f["rate_hz"]),
            "first_spike_ms": np.float64(f["first_spike_ms"])}


def task_patterns(config: RunConfig, p: dict) -> dict:
    """A batch of random drive patterns: for each, the active synapses (indices into the
    site table) fire at their times; somatic peak, spike count and each branch's local peak."""
    with using_cell(config) as cell:
        return pattern_responses(cell, p["sites"], p["rec_sites"], p["active"], p["times_ms"], p["window_ms"],
                                 dt_ms=config.dt_ms)


def task_drive(config: RunConfig, p: dict) -> dict:
    """A batch of runs with synapses driven by spike trains (cluster_dispersion): per run,
    somatic spikes, rate and mean depolarisation, and the mean depolarisation at each
    recording site."""
    rows = []
    with using_cell(config) as cell:
        for drives in p["runs"]:
            rows.append(train_response(cell, drives, p["rec_sites"], p["start_ms"], p["end_ms"], dt_ms=config.dt_ms))
            cell.clear_recordings()
    return {"soma_spikes": np.array([r["soma_spikes"] for r in rows], np.int64),
            "soma_rate_hz": np.array([r["soma_rate_hz"] for r in rows]),
            "soma_mean_mV": np.array([r["soma_mean_mV"] for r in rows]),
            "local_mean_mV": np.stack([r["local_mean_mV"] for r in rows])}


def task_invivo(config: RunConfig, p: dict) -> dict:
    """One in-vivo-like simulation: somatic spike times, somatic (and recorded sites')
    voltage every `sample_ms`."""
    with using_cell(config) as cell:
        r = driven_traces(cell, p["drives"], p["rec_sites"], p["tstop_ms"], p["sample_ms"], dt_ms=config.dt_ms,
                          weight_factors=dict(p["weight_factors"]))
    return {"spike_times_ms": r["spike_times_ms"], "soma_mV": r["soma_mV"].astype(np.float32),
            "sites_mV": r["sites_mV"].astype(np.float32)}


def _synapses(cell, p) -> SynapseSet:
    """The task's synapses (NMDA weight 0 under the NMDA-block condition) and its recordings."""
    record_local(cell, (int(p["rec_branch"]), float(p["rec_x"])))
    synapses = SynapseSet(cell, p["sites"])
    if p["condition"] == "nmda_block":
        synapses.set_weight("nmda", 0.0)
    return synapses


KINDS = {
    "unitary": task_unitary, "cumulative": task_cumulative, "timing": task_timing,
    "passive_soma": task_passive_soma, "passive_site": task_passive_site, "bap": task_bap,
    "bac": task_bac, "fi": task_fi, "patterns": task_patterns, "drive": task_drive,
    "invivo": task_invivo,
}


def run_task(config: RunConfig, task: Task) -> dict:
    """Run one task in this process (thread-safe: one simulation at a time)."""
    with _LOCK:
        out = KINDS[task.kind](config, task.p)
        COUNTERS["tasks"] += 1
    return {k: np.asarray(v) for k, v in out.items()}
