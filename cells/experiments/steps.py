"""Current steps: the passive response, firing, and how a step's voltage spreads.

One simulation (`step_response`) and the measures taken from it. The amplitudes and
durations below are the single definition used by validation and characterization.
"""
from __future__ import annotations

import numpy as np

from cells.experiments import features as F
from cells.experiments.common import HOLDING_SETTLE_MS, SOMA, STIMULUS_START_MS

# Passive somatic step: small and hyperpolarising, so no channel is driven far from rest,
# long enough (600 ms) for the Ih sag and the steady state (input resistance, tau, sag).
PASSIVE_STEP_NA = -0.05
PASSIVE_STEP_MS = 600.0

# Steady-state attenuation along the trunk (Golding et al. 2005, J Physiol 568:69: long
# hyperpolarising somatic steps, voltage recorded in the dendrite).
ATTENUATION_STEP_NA = -0.1
ATTENUATION_STEP_MS = 800.0

TAIL_MS = 20.0     # recorded after a step ends


def step_response(cell, amp_nA: float, dur_ms: float, site=SOMA, record_sites=None, holding_nA: float = 0.0,
                  tail_ms: float = TAIL_MS, dt_ms: float = 0.025) -> dict:
    """A current step of `amp_nA` for `dur_ms` at `site` (default: the soma), on top of an
    optional holding current that is on from t = 0. Records the soma, the injection site
    ("site") and every named site of `record_sites` {name: (branch, x)}.

    Returns the traces and the step's timing (`start_ms`, `dur_ms`)."""
    start = STIMULUS_START_MS + (HOLDING_SETTLE_MS if holding_nA else 0.0)
    if holding_nA:
        cell.add_step_current(*SOMA, amp_nA=holding_nA, delay_ms=0.0, dur_ms=1e9)
    if amp_nA:
        cell.add_step_current(*site, amp_nA=amp_nA, delay_ms=start, dur_ms=dur_ms)
    cell.record("soma", *SOMA)
    if tuple(site) != tuple(SOMA):
        cell.record("site", *site)
    for name, (b, x) in (record_sites or {}).items():
        cell.record(name, b, x)
    traces = cell.run(start + dur_ms + tail_ms, dt_ms=dt_ms)
    return {"traces": traces, "start_ms": start, "dur_ms": dur_ms, "amp_nA": amp_nA}


def deflection_mV(response: dict, name: str = "soma") -> float:
    """Steady-state voltage change at a recorded site: its value 0.5 ms before the step ends
    minus its value at onset."""
    t, v = response["traces"]["t_ms"], response["traces"][name]
    start, dur = response["start_ms"], response["dur_ms"]
    return F.value_at(t, v, start + dur - 0.5) - F.value_at(t, v, start)


def passive_features(response: dict) -> dict:
    """Resting potential, input resistance (steady state / current), membrane time constant
    (charging curve) and sag ((V_ss - V_min) / (V_rest - V_min)) of a somatic step."""
    t, v = response["traces"]["t_ms"], response["traces"]["soma"]
    start, dur, amp = response["start_ms"], response["dur_ms"], response["amp_nA"]
    v_rest = F.value_at(t, v, start)
    v_ss = v_rest + deflection_mV(response)
    v_min = float(np.min(F.window(t, v, start, start + dur)))
    return {
        "rest_mV": v_rest,
        "input_resistance_MOhm": (v_ss - v_rest) / amp,
        "membrane_tau_ms": F.membrane_time_constant_ms(t, v, start, start + dur),
        "sag_ratio": (v_ss - v_min) / (v_rest - v_min) if v_rest != v_min else 0.0,
    }


def firing_features(response: dict) -> dict:
    """Somatic spikes during the step, by eFEL (`spike_count_stimint`, `mean_frequency`: count
    over onset-to-last-spike, `time_to_first_spike`: onset to the first peak), and the count
    over the step's duration (`rate_hz`). No spike: 0 Hz and a NaN latency."""
    t, v = response["traces"]["t_ms"], response["traces"]["soma"]
    start, dur = response["start_ms"], response["dur_ms"]
    fe = F.efel_features(t, v, start, start + dur, ["spike_count_stimint", "mean_frequency", "time_to_first_spike"])
    n = int(fe["spike_count_stimint"][0]) if fe["spike_count_stimint"] is not None else 0
    return {
        "n_spikes": n,
        "rate_hz": 1000.0 * n / dur,
        "mean_frequency_hz": float(fe["mean_frequency"][0]) if n and fe["mean_frequency"] is not None else 0.0,
        "first_spike_ms": float(fe["time_to_first_spike"][0]) if n and fe["time_to_first_spike"] is not None
        else float("nan"),
    }


def fi_summary(currents_nA, n_spikes) -> dict:
    """Rheobase (the smallest current that fires) and whether the spike count rises with
    current (never falls, and the largest current fires more than the rheobase)."""
    currents, counts = np.asarray(currents_nA, float), np.asarray(n_spikes)
    firing = counts > 0
    return {
        "fi_rheobase_nA": float(currents[firing][0]) if firing.any() else float("nan"),
        "fi_monotonic": float(bool(firing.any() and np.all(np.diff(counts) >= 0)
                                   and counts[-1] > counts[firing.argmax()])),
    }
