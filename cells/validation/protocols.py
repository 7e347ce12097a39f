"""Validation protocols: each builds fresh cells, runs one experiment and returns features.

Every function takes `make_cell` (a callable returning a new cell with the project's
simulation interface, so NEURON and Brian2 run the same protocol) and returns a dict of
feature name -> number, named as in cells.validation.targets, plus `traces` for figures.
Stimulus parameters carry their source.
"""
from __future__ import annotations

import numpy as np

from cells.validation import features as F
from cells.validation.sites import apical_path, cluster_branch, cluster_positions, site_at_distance
from cells.validation.targets import NMDA_CHARGE_FRACTION

SOMA = (0, 0.5)
T0_MS = 20.0         # stimuli start here; the cell is already at rest at t = 0 (see NeuronCell.run)


# ---------------------------------------------------------------------------- passive
def passive(make_cell, amp_nA: float = -0.05, dur_ms: float = 600.0) -> dict:
    """Small hyperpolarising somatic step: input resistance (steady state) and tau (charging)."""
    cell = make_cell()
    cell.add_step_current(*SOMA, amp_nA=amp_nA, delay_ms=T0_MS, dur_ms=dur_ms)
    cell.record("soma", *SOMA)
    tr = cell.run(T0_MS + dur_ms)
    t, v = tr["t_ms"], tr["soma"]
    v_rest = F.value_at(t, v, T0_MS - 0.1)
    dv = F.value_at(t, v, T0_MS + dur_ms - 1.0) - v_rest
    cell.close()
    return {
        "rest_mV": v_rest,
        "input_resistance_MOhm": dv / amp_nA,
        "membrane_tau_ms": F.membrane_time_constant_ms(t, v, T0_MS, T0_MS + dur_ms),
        "traces": tr,
    }


# ---------------------------------------------------------------------------- f-I
HAY_FI = {  # Hay et al. 2011 / BluePyOpt L5PC: 2 s steps on a -0.126 nA holding current
    "holding_nA": -0.126, "steps_nA": (0.458, 0.562, 0.95), "dur_ms": 2000.0,
}


def fi_steps(make_cell, steps_nA, dur_ms: float, holding_nA: float = 0.0, start_ms: float = 300.0) -> dict:
    """Somatic current steps: mean frequency and time to first spike per step."""
    freqs, firsts, counts, traces = [], [], [], []
    for amp in steps_nA:
        cell = make_cell()
        if holding_nA:
            cell.add_step_current(*SOMA, amp_nA=holding_nA, delay_ms=0.0, dur_ms=1e9)
        cell.add_step_current(*SOMA, amp_nA=amp, delay_ms=start_ms, dur_ms=dur_ms)
        cell.record("soma", *SOMA)
        tr = cell.run(start_ms + dur_ms + 50.0)
        cell.close()
        spikes = F.spike_times(tr["t_ms"], tr["soma"])
        spikes = spikes[(spikes >= start_ms) & (spikes <= start_ms + dur_ms)]
        freqs.append(F.mean_frequency_hz(spikes, start_ms))
        firsts.append(spikes[0] - start_ms if spikes.size else np.nan)
        counts.append(spikes.size)
        traces.append(tr)
    return {"steps_nA": np.asarray(steps_nA), "frequency_hz": np.asarray(freqs),
            "first_spike_ms": np.asarray(firsts), "spike_count": np.asarray(counts), "traces": traces}


def fi_l5pc(make_cell, dur_ms: float = HAY_FI["dur_ms"]) -> dict:
    r = fi_steps(make_cell, HAY_FI["steps_nA"], dur_ms, HAY_FI["holding_nA"])
    out = {"fi": r}
    for i in range(3):
        out[f"fi_step{i + 1}_hz"] = float(r["frequency_hz"][i])
        out[f"first_spike_step{i + 1}_ms"] = float(r["first_spike_ms"][i])
    return out


def fi_ca1(make_cell, steps_nA=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5), dur_ms: float = 500.0) -> dict:
    r = fi_steps(make_cell, steps_nA, dur_ms)
    firing = r["spike_count"] > 0
    rheobase = float(r["steps_nA"][firing][0]) if firing.any() else np.nan
    counts = r["spike_count"]
    monotonic = bool(np.all(np.diff(counts) >= 0) and counts[-1] > counts[firing.argmax()])
    return {"fi": r, "fi_rheobase_nA": rheobase, "fi_monotonic": float(monotonic)}


# ---------------------------------------------------------------------------- bAP
def bap(make_cell, distances_um, amp_nA: float = 1.9, dur_ms: float = 5.0) -> dict:
    """Somatic pulse (Hay et al. 2011: 1.9 nA, 5 ms) and the backpropagating AP along the
    main apical path: amplitude above the pre-pulse voltage at each distance."""
    cell = make_cell()
    morph = cell.morphology
    path = apical_path(morph)
    cell.add_step_current(*SOMA, amp_nA=amp_nA, delay_ms=T0_MS, dur_ms=dur_ms)
    cell.record("soma", *SOMA)
    for d in distances_um:
        cell.record(f"d{d:g}", *site_at_distance(morph, path, d))
    tr = cell.run(T0_MS + 60.0)
    cell.close()
    t = tr["t_ms"]
    amps = np.array([F.peak_deflection(t, tr[f"d{d:g}"], T0_MS, T0_MS + 60.0) for d in distances_um])
    return {
        "distances_um": np.asarray(distances_um, float),
        "amplitude_mV": amps,
        "soma_amplitude_mV": F.peak_deflection(t, tr["soma"], T0_MS, T0_MS + 60.0),
        "soma_peak_mV": float(np.max(tr["soma"])),
        "soma_spike_count": int(F.spike_times(t, tr["soma"]).size),
        "traces": tr,
    }


def bap_l5pc(make_cell) -> dict:
    r = bap(make_cell, (660.0, 800.0))
    return {"bap": r, "bap_amplitude_660um_mV": float(r["amplitude_mV"][0]),
            "bap_amplitude_800um_mV": float(r["amplitude_mV"][1]),
            "bap_soma_ap_height_mV": r["soma_peak_mV"], "bap_soma_spike_count": r["soma_spike_count"]}


def bap_ca1(make_cell) -> dict:
    r = bap(make_cell, (100.0, 200.0, 300.0), amp_nA=2.0, dur_ms=2.0)
    return {"bap": r, "bap_ratio_300um": float(r["amplitude_mV"][2] / r["soma_amplitude_mV"])}


# ---------------------------------------------------------------------------- BAC firing
BAC_DEND_UM = 700.0    # inside Hay's hot zone (685-885 um); TARGETS: ~620-800 um
BAC_EPSC = {"amp_nA": 0.5, "tau_rise_ms": 0.5, "tau_decay_ms": 5.0}  # EPSP-shaped current, Hay et al. 2011
BAC_DELAY_MS = 5.0     # dendritic current after the somatic pulse (Larkum et al. 1999: within ~5 ms)
CA_SPIKE_LEVEL_MV, CA_SPIKE_MIN_MS = -20.0, 10.0   # plateau criterion of TARGETS.md


def epsc_waveform(start_ms: float, amp_nA: float, tau_rise_ms: float, tau_decay_ms: float, dt_ms: float = 0.1):
    t = np.arange(0.0, 10 * tau_decay_ms, dt_ms)
    shape = np.exp(-t / tau_decay_ms) - np.exp(-t / tau_rise_ms)
    return np.concatenate([[0.0], start_ms + t, [start_ms + t[-1] + dt_ms]]), \
        np.concatenate([[0.0], amp_nA * shape / shape.max(), [0.0]])


def bac_firing(make_cell) -> dict:
    out, traces = {}, {}
    for name, soma_on, dend_on in (("soma", True, False), ("dend", False, True), ("both", True, True)):
        cell = make_cell()
        site = site_at_distance(cell.morphology, apical_path(cell.morphology), BAC_DEND_UM)
        if soma_on:
            cell.add_step_current(*SOMA, amp_nA=1.9, delay_ms=T0_MS, dur_ms=5.0)
        if dend_on:
            cell.add_current_waveform(*site, *epsc_waveform(T0_MS + BAC_DELAY_MS, **BAC_EPSC))
        cell.record("soma", *SOMA)
        cell.record("dend", *site)
        tr = cell.run(T0_MS + 150.0)
        cell.close()
        t = tr["t_ms"]
        traces[name] = tr
        out[name] = {
            "soma_spikes": int(F.spike_times(t, tr["soma"]).size),
            "ca_plateau_ms": F.time_above(t, tr["dend"], CA_SPIKE_LEVEL_MV, T0_MS, T0_MS + 150.0),
        }
    return {
        "bac": out, "traces": traces,
        "bac_dendritic_input_alone_no_spike": float(out["dend"]["soma_spikes"] == 0),
        "bac_somatic_ap_alone_no_ca_spike": float(out["soma"]["ca_plateau_ms"] < CA_SPIKE_MIN_MS),
        "bac_together_ca_spike_and_burst": float(out["both"]["ca_plateau_ms"] >= CA_SPIKE_MIN_MS
                                                 and out["both"]["soma_spikes"] >= 2),
    }


# ---------------------------------------------------------------------------- clustered input
def cluster_sweep(make_cell, branch_type: str, target_distance_um: float, n_max: int,
                  span_um: float = 30.0, n_values=None, window_ms: float = 250.0,
                  prefer: str = "closest", spread_ms: float = 0.0, block_na: bool = False,
                  with_nmda_block: bool = True, with_expected: bool = True, branch_x: float = 0.6) -> dict:
    """Activate 1..n_max synapses clustered on one terminal branch, centred at `branch_x`
    of it (0 at the end nearer the soma).

    Measures the local (cluster centre) and somatic peak depolarisation, the somatic
    depolarisation integral (mV ms), half-width, maximal dV/dt and action potentials, with
    `with_expected` the 'expected' local response (arithmetic sum of each synapse's unitary
    local peak; Polsky et al. 2004, Poirazi et al. 2003) and, with
    `with_nmda_block`, the same with NMDA blocked. The n active synapses fire together, or
    evenly spread over `spread_ms`; `block_na` removes every dendritic Na channel (a TTX block
    of the dendrites).
    Positions are fixed for n_max synapses; n synapses are the first n of an interleaved
    order, so a cluster stays centred as it grows.
    """
    from cells.mechanisms import block_sodium

    n_values = np.arange(1, n_max + 1) if n_values is None else np.asarray(n_values)
    cell = make_cell()
    if block_na:
        block_sodium(cell)
    morph = cell.morphology
    branch_id = cluster_branch(morph, branch_type, target_distance_um, prefer=prefer)
    positions = cluster_positions(morph, branch_id, n_max, span_um, branch_x)
    order = _centre_out_order(n_max)
    group = cell.add_synapses(branch_id, positions[order])
    centre_x = float(np.median(positions))
    cell.record("local", branch_id, centre_x)
    cell.record("soma", *SOMA)

    def run(active: np.ndarray):
        times = np.full(n_max, 1e9)                 # inactive synapses fire after the end
        times[active] = T0_MS + np.linspace(0.0, spread_ms, int(active.sum()))
        cell.activate(group, times)
        return cell.run(T0_MS + window_ms)

    def measure(tr):
        t, end = tr["t_ms"], T0_MS + window_ms
        return (F.peak_deflection(t, tr["local"], T0_MS, end), F.peak_deflection(t, tr["soma"], T0_MS, end),
                F.integral_mV_ms(t, tr["soma"], T0_MS, end),
                F.half_width(t, tr["soma"], T0_MS, end), F.max_rise_rate_V_per_s(t, tr["soma"], T0_MS, end),
                F.spike_times(t, tr["soma"]).size)

    rows, traces = [], {}
    for n in n_values:
        tr = run(np.arange(n_max) < n)
        rows.append(measure(tr))
        traces[int(n)] = tr
    local, soma, integral, width, dvdt, spikes = (np.array(col) for col in zip(*rows))
    out = {
        "branch_id": branch_id, "path_distance_um": morph.branches[branch_id].path_distance_at(centre_x),
        "target_distance_um": target_distance_um, "branch_x": branch_x, "n_max": n_max, "n_synapses": n_values,
        "local_mV": local, "soma_mV": soma, "soma_integral_mV_ms": integral, "soma_half_width_ms": width,
        "soma_dvdt_V_per_s": dvdt, "soma_spikes": spikes,
        "spread_ms": spread_ms, "na_block": block_na, "traces": traces,
    }
    if with_expected:
        unitary = np.array([measure(run(np.arange(n_max) == i))[0] for i in range(n_max)])
        out["unitary_mV"], out["expected_mV"] = unitary, np.cumsum(unitary)[n_values - 1]
    if with_nmda_block:
        saved = cell.get_synapse_weights(group, "nmda")
        cell.set_synapse_weights(group, "nmda", 0.0)
        blocked = np.array([measure(run(np.arange(n_max) < n))[:3] for n in n_values])
        cell.set_synapse_weights(group, "nmda", saved)
        out["local_nmda_block_mV"], out["soma_nmda_block_mV"] = blocked[:, 0], blocked[:, 1]
        out["soma_integral_nmda_block_mV_ms"] = blocked[:, 2]
    cell.close()
    return out


def _centre_out_order(n: int) -> np.ndarray:
    """0..n-1 reordered so that every prefix is spread over the whole cluster."""
    idx = np.arange(n)
    key = np.array([int(f"{i:016b}"[::-1], 2) for i in idx])  # bit-reversal permutation
    return idx[np.argsort(key, kind="stable")]


def nmda_spike_features(sweep: dict) -> dict:
    """All-or-none NMDA spike (Schiller et al. 2000, recorded at the soma), judged over the
    counts that stay below a somatic action potential (Schiller's spikes were measured as
    subthreshold somatic potentials): the somatic response per added synapse jumps at a
    threshold count (the largest per-synapse increment >= 3x the median increment and
    >= 0.5 mV per synapse); somatic amplitude and half-width at the first count above
    threshold. Abolished by NMDA block: over the same counts the blocked sweep has no such
    jump, and NMDA carries >= 80 % of the somatic charge (time integral of the depolarisation)
    at the threshold count, as Schiller et al. measured."""
    sub = _before_first_somatic_ap(sweep)
    n, soma = sweep["n_synapses"][sub].astype(float), sweep["soma_mV"][sub]
    jump, k = _all_or_none_jump(n, soma)
    blocked_jump, _ = _all_or_none_jump(n, sweep["soma_nmda_block_mV"][sub])
    above = k + 1
    charge, blocked_charge = sweep["soma_integral_mV_ms"][above], sweep["soma_integral_nmda_block_mV_ms"][above]
    nmda_fraction = 1.0 - blocked_charge / charge
    return {
        "nmda_spike_all_or_none": float(jump),
        "nmda_threshold_synapses": int(n[above]),
        "nmda_spike_soma_amplitude_mV": float(soma[above]),
        "nmda_spike_soma_half_width_ms": float(sweep["soma_half_width_ms"][above]),
        "nmda_spike_nmda_charge_fraction": float(nmda_fraction),
        "nmda_spike_abolished_by_nmda_block": float(not blocked_jump and nmda_fraction >= NMDA_CHARGE_FRACTION),
    }


def _before_first_somatic_ap(sweep: dict) -> slice:
    """The leading counts of a sweep whose control response stays below a somatic AP."""
    fired = np.flatnonzero(sweep["soma_spikes"] > 0)
    end = int(fired[0]) if fired.size else len(sweep["n_synapses"])
    if end < 3:
        raise ValueError(f"the soma fires from {sweep['n_synapses'][end]} synapses on: too few subthreshold counts")
    return slice(0, end)


def _all_or_none_jump(n: np.ndarray, response: np.ndarray, min_step: float = 0.5) -> tuple[bool, int]:
    """Whether the response per added synapse jumps (largest increment >= 3x the median
    increment and >= `min_step` per synapse: mV, or V/s for dV/dt), and the index of that
    increment."""
    per_synapse = np.diff(response) / np.diff(n)
    k = int(np.argmax(per_synapse))
    jump = bool(per_synapse[k] >= 3 * max(np.median(per_synapse), 1e-6) and per_synapse[k] >= min_step)
    return jump, k


def sigmoid_features(sweep: dict) -> dict:
    """Sigmoidal expected-vs-actual local curve (Poirazi et al. 2003; Polsky et al. 2004):
    near-linear or sublinear at small inputs (actual/expected 0.5-1.3 for the first point),
    a supralinear jump (largest slope d actual / d expected >= 2), then saturation (slope over
    the last quarter of the curve <= 0.5)."""
    x, y = sweep["expected_mV"], sweep["local_mV"]
    slopes = np.diff(y) / np.maximum(np.diff(x), 1e-9)
    k = int(np.argmax(slopes))
    q = max(len(x) * 3 // 4, k + 1)
    tail = np.polyfit(x[q:], y[q:], 1)[0] if len(x) - q >= 2 else np.inf
    start_ratio = y[0] / x[0]
    sigmoidal = bool(0.5 <= start_ratio <= 1.3 and slopes[k] >= 2.0 and tail <= 0.5)
    return {
        "clustered_integration_sigmoidal": float(sigmoidal),
        "clustered_jump_expected_mV": float(0.5 * (x[k] + x[k + 1])),
        "clustered_saturation_mV": float(np.max(y)),
        "clustered_max_slope": float(slopes[k]),
        "clustered_tail_slope": float(tail),
    }


# ---------------------------------------------------------------------------- dendritic Na spike
SPREAD_MS = 8.0   # inputs evenly spread over 8 ms; > ~6 ms abolishes the supralinearity (Losonczy & Magee 2006)
NA_SWEEP_WINDOW_MS = 100.0   # the somatic dV/dt peaks within a few ms of the input


def oblique_na_spike(make_cell, control: dict, n_values=None) -> dict:
    """Dendritic Na spike in an oblique (Losonczy & Magee 2006): `control` is the oblique
    cluster sweep (synchronous input). The same cluster is run again with the dendritic Na
    channels blocked (all counts), and with the threshold count and the next one spread
    evenly over SPREAD_MS, as Losonczy & Magee desynchronised a just-suprathreshold input."""
    kw = dict(window_ms=NA_SWEEP_WINDOW_MS, with_nmda_block=False, with_expected=False,
              branch_x=control["branch_x"])
    where = (control["target_distance_um"], control["n_max"])
    thr = _threshold_index(control)
    na_block = cluster_sweep(make_cell, "oblique", *where, n_values=n_values, block_na=True, **kw)
    spread = cluster_sweep(make_cell, "oblique", *where, n_values=control["n_synapses"][thr:thr + 2],
                           spread_ms=SPREAD_MS, **kw)
    return {"na_block_sweep": na_block, "spread_sweep": spread,
            **dendritic_na_spike_features(control, na_block, spread)}


def _threshold_index(sweep: dict) -> int:
    """Index of the first count above the jump of the local response."""
    return _all_or_none_jump(sweep["n_synapses"].astype(float), sweep["local_mV"])[1] + 1


def dendritic_na_spike_features(control: dict, na_block: dict, spread: dict) -> dict:
    """Somatic dV/dt aligned to the threshold count, the count at the jump of the local
    response (Losonczy & Magee 2006, dV/dt vs inputs relative to threshold): the mean over
    the two counts below threshold, and over the threshold count and the two above; whether
    dV/dt jumps (the all-or-none criterion on dV/dt, >= 0.5 V/s per synapse). Abolished by Na
    block: the blocked sweep's dV/dt does not jump at any count. Abolished by spreading: the
    spread threshold and next counts stay below half the synchronous dV/dt from threshold on."""
    n = control["n_synapses"].astype(float)
    thr = _threshold_index(control)
    dvdt = control["soma_dvdt_V_per_s"]
    above = float(dvdt[thr:thr + 3].mean())
    return {
        "na_spike_threshold_synapses": int(n[thr]),
        "na_spike_dvdt_below_V_per_s": float(dvdt[max(thr - 2, 0):thr].mean()),
        "na_spike_dvdt_above_V_per_s": above,
        "na_spike_dvdt_jump": float(_all_or_none_jump(n, dvdt, min_step=0.5)[0]),
        "na_spike_abolished_by_na_block": float(not _all_or_none_jump(n, na_block["soma_dvdt_V_per_s"], 0.5)[0]),
        "na_spike_abolished_by_spread": float(np.all(spread["soma_dvdt_V_per_s"] < 0.5 * above)),
    }


# ---------------------------------------------------------------------------- CA1 attenuation
def trunk_attenuation(make_cell, distances_um=(100.0, 200.0, 300.0), amp_nA: float = -0.1,
                      epsp_weight_uS: float = 0.002) -> dict:
    """Steady-state attenuation of a somatic step along the trunk (Golding et al. 2005) and
    EPSP attenuation from trunk to soma (Magee & Cook 2000), one AMPA synapse at a time."""
    cell = make_cell()
    morph = cell.morphology
    path = apical_path(morph)
    sites = [site_at_distance(morph, path, d) for d in distances_um]
    cell.add_step_current(*SOMA, amp_nA=amp_nA, delay_ms=T0_MS, dur_ms=800.0)
    cell.record("soma", *SOMA)
    for d, s in zip(distances_um, sites):
        cell.record(f"d{d:g}", *s)
    tr = cell.run(T0_MS + 800.0)
    cell.close()
    t = tr["t_ms"]

    def ss(name):
        return F.value_at(t, tr[name], T0_MS + 799.0) - F.value_at(t, tr[name], T0_MS - 0.1)

    out = {f"ss_attenuation_{d:g}um": ss(f"d{d:g}") / ss("soma") for d in distances_um}
    for d, s in zip(distances_um, sites):
        cell = make_cell()
        g = cell.add_synapses(s[0], [s[1]], kinds=("ampa",))
        cell.set_synapse_weights(g, "ampa", epsp_weight_uS)
        cell.activate(g, [T0_MS])
        cell.record("soma", *SOMA)
        cell.record("dend", *s)
        tr = cell.run(T0_MS + 60.0)
        cell.close()
        t = tr["t_ms"]
        out[f"epsp_attenuation_{d:g}um"] = (F.peak_deflection(t, tr["soma"], T0_MS, T0_MS + 60)
                                           / F.peak_deflection(t, tr["dend"], T0_MS, T0_MS + 60))
    return out
