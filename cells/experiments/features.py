"""Features of voltage traces (numpy in, numbers out). Times in ms, voltages in mV.

Spike features that eFEL defines (count, mean frequency, first-spike latency; the Blue
Brain feature library, in which Hay et al. 2011's and BluePyOpt's L5PC targets are
written) come from eFEL itself (`efel_features`); the rest (dendritic deflections, charge,
dV/dt, time constants) are ours. `spike_times` (threshold crossings) times the spike
trains of the characterization datasets.
"""
from __future__ import annotations

import numpy as np

SPIKE_THRESHOLD_MV = -20.0  # upward crossing counts as a spike (eFEL's default threshold)


def efel_features(t_ms: np.ndarray, v_mV: np.ndarray, start_ms: float, end_ms: float, names) -> dict:
    """eFEL's features `names` of one trace with the stimulus over [start_ms, end_ms], spikes
    at SPIKE_THRESHOLD_MV; a feature eFEL cannot compute (e.g. a latency without spikes) is
    None."""
    import efel

    efel.set_setting("Threshold", SPIKE_THRESHOLD_MV)
    trace = {"T": np.asarray(t_ms, float), "V": np.asarray(v_mV, float), "stim_start": [float(start_ms)],
             "stim_end": [float(end_ms)]}
    values = efel.get_feature_values([trace], list(names), raise_warnings=False)[0]
    return {k: (None if x is None or len(x) == 0 else np.asarray(x)) for k, x in values.items()}


def spike_times(t_ms: np.ndarray, v_mV: np.ndarray, threshold_mV: float = SPIKE_THRESHOLD_MV) -> np.ndarray:
    above = v_mV >= threshold_mV
    idx = np.flatnonzero(~above[:-1] & above[1:]) + 1
    # interpolate the crossing time between the two samples
    t0, t1, v0, v1 = t_ms[idx - 1], t_ms[idx], v_mV[idx - 1], v_mV[idx]
    return t0 + (threshold_mV - v0) * (t1 - t0) / (v1 - v0)


def spike_count(t_ms: np.ndarray, v_mV: np.ndarray) -> int:
    """eFEL's `spike_count` of the whole trace."""
    count = efel_features(t_ms, v_mV, t_ms[0], t_ms[-1], ["spike_count"])["spike_count"]
    return 0 if count is None else int(count[0])


def value_at(t_ms: np.ndarray, v_mV: np.ndarray, at_ms: float) -> float:
    return float(np.interp(at_ms, t_ms, v_mV))


def window(t_ms: np.ndarray, v_mV: np.ndarray, start_ms: float, end_ms: float) -> np.ndarray:
    return v_mV[(t_ms >= start_ms) & (t_ms <= end_ms)]


def peak_deflection(t_ms, v_mV, start_ms: float, end_ms: float, base_mV: float | None = None) -> float:
    """Largest depolarisation above the voltage just before start (mV)."""
    base = value_at(t_ms, v_mV, start_ms) if base_mV is None else base_mV
    return float(np.max(window(t_ms, v_mV, start_ms, end_ms)) - base)


def max_rise_rate_V_per_s(t_ms, v_mV, start_ms: float, end_ms: float) -> float:
    """Largest dV/dt inside the window (mV/ms, which is V/s)."""
    mask = (t_ms >= start_ms) & (t_ms <= end_ms)
    return float(np.max(np.diff(v_mV[mask]) / np.diff(t_ms[mask])))


def half_width(t_ms, v_mV, start_ms: float, end_ms: float) -> float:
    """Width at half the peak deflection above the pre-start base (ms)."""
    base = value_at(t_ms, v_mV, start_ms)
    mask = (t_ms >= start_ms) & (t_ms <= end_ms)
    tt, vv = t_ms[mask], v_mV[mask] - base
    half = vv.max() / 2.0
    above = np.flatnonzero(vv >= half)
    return float(tt[above[-1]] - tt[above[0]]) if above.size else 0.0


def integral_mV_ms(t_ms, v_mV, start_ms: float, end_ms: float) -> float:
    """Time integral of the depolarisation above the voltage just before start (mV ms): the
    somatic charge measure of Schiller et al. 2000."""
    mask = (t_ms >= start_ms) & (t_ms <= end_ms)
    return float(np.trapezoid(v_mV[mask] - value_at(t_ms, v_mV, start_ms), t_ms[mask]))


def mean_deflection(t_ms, v_mV, start_ms: float, end_ms: float) -> float:
    """Time-averaged depolarisation over the window above the voltage at start (mV)."""
    return integral_mV_ms(t_ms, v_mV, start_ms, end_ms) / (end_ms - start_ms)


def time_above(t_ms, v_mV, level_mV: float, start_ms: float, end_ms: float) -> float:
    """Total time (ms) the voltage spends above `level_mV` inside the window."""
    mask = (t_ms >= start_ms) & (t_ms <= end_ms)
    dt = np.diff(t_ms[mask], append=t_ms[mask][-1])
    return float(np.sum(dt[v_mV[mask] > level_mV]))


def membrane_time_constant_ms(t_ms, v_mV, start_ms: float, end_ms: float) -> float:
    """Time constant of a small step response: fit log|V - V_peak| over 10-70 % of the charging."""
    mask = (t_ms >= start_ms) & (t_ms <= end_ms)
    tt, vv = t_ms[mask] - start_ms, v_mV[mask] - v_mV[mask][0]
    k_peak = int(np.argmax(np.abs(vv)))
    tt, vv = tt[: k_peak + 1], vv[: k_peak + 1]
    final = vv[-1]
    frac = vv / final
    sel = (frac > 0.1) & (frac < 0.7)
    if sel.sum() < 3:
        return float("nan")
    slope = np.polyfit(tt[sel], np.log(1.0 - frac[sel]), 1)[0]
    return float(-1.0 / slope)
