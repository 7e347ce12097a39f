"""A somatic current pulse and the action potential backpropagating into the dendrites.

The pulse (amplitude, duration) belongs to the cell type (`cells.types`, e.g. Hay et al.
2011's 1.9 nA x 5 ms for the layer 5 cell); the sites are the caller's: validation records
on the main apical path at given distances, characterization at every branch midpoint.
"""
from __future__ import annotations

import numpy as np

from cells.experiments import features as F
from cells.experiments.common import SOMA, STIMULUS_START_MS

WINDOW_MS = 60.0     # after the pulse onset: the bAP has passed every site of a pyramidal cell


def backpropagating_ap(cell, sites, amp_nA: float, dur_ms: float, window_ms: float = WINDOW_MS,
                       dt_ms: float = 0.025) -> dict:
    """Somatic pulse at STIMULUS_START_MS; at each site (branch, x) the peak depolarisation
    above the pre-pulse voltage and the time of the peak; the same at the soma, its peak
    voltage and somatic spike count."""
    start = STIMULUS_START_MS
    cell.add_step_current(*SOMA, amp_nA=amp_nA, delay_ms=start, dur_ms=dur_ms)
    cell.record("soma", *SOMA)
    for i, (b, x) in enumerate(sites):
        cell.record(f"s{i}", int(b), float(x))
    tr = cell.run(start + window_ms, dt_ms=dt_ms)
    t, end = tr["t_ms"], start + window_ms
    mask = (t >= start) & (t <= end)
    names = [f"s{i}" for i in range(len(sites))]
    return {
        "amplitude_mV": np.array([F.peak_deflection(t, tr[n], start, end) for n in names]),
        "t_peak_ms": np.array([t[mask][np.argmax(tr[n][mask])] for n in names]),
        "soma_amplitude_mV": F.peak_deflection(t, tr["soma"], start, end),
        "soma_t_peak_ms": float(t[mask][np.argmax(tr["soma"][mask])]),
        "soma_peak_mV": float(np.max(tr["soma"])),
        "soma_spike_count": F.spike_count(t, tr["soma"]),
        "traces": tr,
    }
