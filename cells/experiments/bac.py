"""BAC firing (Larkum, Zhu & Sakmann 1999, Nature 398:338; as modelled by Hay et al. 2011):
a somatic pulse, an EPSP-shaped current near the Ca hot zone, or both.

Criteria (../shared/reference/TARGETS.md, after Larkum et al. 1999): the dendritic input
alone fires no somatic spike; the somatic AP alone fires no Ca spike; together, within
~5 ms, a dendritic Ca spike (a plateau above -20 mV for > 10 ms) and a somatic burst
(>= 2 spikes). The site's distance belongs to the cell type (`cells.types`).
"""
from __future__ import annotations

import numpy as np

from cells.experiments import features as F
from cells.experiments.common import SOMA, STIMULUS_START_MS

EPSC = {"amp_nA": 0.5, "tau_rise_ms": 0.5, "tau_decay_ms": 5.0}   # EPSP-shaped current, Hay et al. 2011
DEND_DELAY_MS = 5.0          # dendritic current after the somatic pulse (Larkum et al. 1999: within ~5 ms)
CA_PLATEAU_MV = -20.0        # a Ca spike is a plateau above this level ...
CA_PLATEAU_MIN_MS = 10.0     # ... for longer than this (TARGETS.md, Larkum et al. 1999)
BURST_SPIKES = 2             # a somatic burst: at least this many spikes
WINDOW_MS = 150.0
STIMULI = ("soma", "dendrite", "both")


def epsc_waveform(start_ms: float, amp_nA: float, tau_rise_ms: float, tau_decay_ms: float, dt_ms: float = 0.1):
    """A double-exponential current of peak `amp_nA` starting at `start_ms`: (t_ms, nA)."""
    t = np.arange(0.0, 10 * tau_decay_ms, dt_ms)
    shape = np.exp(-t / tau_decay_ms) - np.exp(-t / tau_rise_ms)
    return (np.concatenate([[0.0], start_ms + t, [start_ms + t[-1] + dt_ms]]),
            np.concatenate([[0.0], amp_nA * shape / shape.max(), [0.0]]))


def bac_trial(cell, stimulus: str, dend_site, soma_pulse, window_ms: float = WINDOW_MS,
              dt_ms: float = 0.025) -> dict:
    """One of the three BAC stimuli ("soma", "dendrite", "both"): somatic spikes, the peak
    dendritic voltage and the time the dendrite spends above the Ca-plateau level.
    `soma_pulse` is (amp_nA, dur_ms): the cell type's bAP pulse."""
    if stimulus not in STIMULI:
        raise ValueError(f"unknown BAC stimulus {stimulus!r}: choose from {', '.join(STIMULI)}")
    start = STIMULUS_START_MS
    b, x = dend_site
    if stimulus in ("soma", "both"):
        cell.add_step_current(*SOMA, amp_nA=soma_pulse[0], delay_ms=start, dur_ms=soma_pulse[1])
    if stimulus in ("dendrite", "both"):
        cell.add_current_waveform(b, x, *epsc_waveform(start + DEND_DELAY_MS, **EPSC))
    cell.record("soma", *SOMA)
    cell.record("dend", b, x)
    tr = cell.run(start + window_ms, dt_ms=dt_ms)
    t, end = tr["t_ms"], start + window_ms
    return {
        "soma_spikes": F.spike_count(t, tr["soma"]),
        "dend_peak_mV": float(np.max(F.window(t, tr["dend"], start, end))),
        "dend_above_plateau_ms": F.time_above(t, tr["dend"], CA_PLATEAU_MV, start, end),
        "traces": tr,
    }


def bac_features(trials: dict) -> dict:
    """The three BAC criteria from the trials {"soma": ..., "dendrite": ..., "both": ...}."""
    ca_spike = {k: r["dend_above_plateau_ms"] >= CA_PLATEAU_MIN_MS for k, r in trials.items()}
    return {
        "bac_dendritic_input_alone_no_spike": float(trials["dendrite"]["soma_spikes"] == 0),
        "bac_somatic_ap_alone_no_ca_spike": float(not ca_spike["soma"]),
        "bac_together_ca_spike_and_burst": float(ca_spike["both"] and trials["both"]["soma_spikes"] >= BURST_SPIKES),
    }
