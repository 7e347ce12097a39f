"""Validation protocols: experiments (cells.experiments) composed into the measurements
the published targets are about, and the features computed from them.

Each protocol is `protocol(make_cell, cell_type, fast) -> dict`: it builds fresh cells with
`make_cell()` (NEURON or Brian2, the same code), takes its stimuli from the cell type
(`cells.types.Stimuli`), and returns feature name -> number (named as in the targets) plus
raw results for figures. `fast` shortens the costly protocols (shorter f-I steps, fewer
synapse counts); the features and targets stay the same.
"""
from __future__ import annotations

import numpy as np

from cells.experiments import bac as BAC
from cells.experiments import steps
from cells.experiments.bap import backpropagating_ap
from cells.experiments.common import STIMULUS_START_MS
from cells.experiments.sites import apical_sites, cluster_branch, cluster_positions, centre_out_order
from cells.experiments.synaptic import (SynapseSet, cumulative_sweep, epsp, record_local, unitary_responses)
from cells.validation.targets import NMDA_CHARGE_FRACTION

CLUSTER_MAX = 30               # synapses in a validation cluster (Schiller et al. 2000: 10-30 within ~20-40 um)
CLUSTER_SPAN_UM = 30.0
CLUSTER_WINDOW_MS = 250.0      # long enough for an NMDA spike's half-width (Schiller: 64 +- 20 ms)
FAST_COUNTS = tuple(range(1, 21)) + (22, 24, 26, 28, 30)   # --fast: every count to 20, then every second
# --fast: the basal NMDA sweep at 0.05 ms steps (the others stay at 0.025 ms). Measured on the
# built-in l5pc (2026-12-03): every feature equal to 3 significant digits (soma 5.084 against
# 5.086 mV, half-width 41.75 ms, charge 0.916, threshold 10 synapses, both) in half the time.
FAST_NMDA_DT_MS = 0.05
SPREAD_MS = 8.0                # inputs evenly spread over 8 ms; > ~6 ms abolishes the supralinearity (Losonczy & Magee 2006)
NA_SWEEP_WINDOW_MS = 100.0     # the somatic dV/dt peaks within a few ms of the input
# One synapse alone (the "expected" sum): its EPSP peaks within ~20 ms; the peaks are identical
# to those in CLUSTER_WINDOW_MS (measured: l5pc built-in basal cluster, all 30, to 0.0 mV).
UNITARY_WINDOW_MS = 60.0


def _once(make_cell, experiment, *args, **kwargs):
    """Run one experiment on a fresh cell and close it."""
    cell = make_cell()
    try:
        return experiment(cell, *args, **kwargs)
    finally:
        cell.close()


# ---------------------------------------------------------------------------- passive, f-I, bAP
def passive(make_cell, cell_type, fast: bool = False) -> dict:
    """A small hyperpolarising somatic step: rest, input resistance, tau, sag."""
    response = _once(make_cell, steps.step_response, steps.PASSIVE_STEP_NA, steps.PASSIVE_STEP_MS)
    return {**steps.passive_features(response), "traces": response["traces"]}


def fi(make_cell, cell_type, fast: bool = False) -> dict:
    """The cell type's somatic current steps (on its holding current): per step the mean
    frequency (eFEL's definition) and first-spike latency, the rheobase and whether the
    spike count rises with current."""
    s = cell_type.stimuli
    dur = s.fi_validation_fast_ms if (fast and s.fi_validation_fast_ms) else s.fi_validation_ms
    per_step, traces = [], []
    for amp in s.fi_validation_nA:
        response = _once(make_cell, steps.step_response, amp, dur, holding_nA=s.fi_holding_nA, tail_ms=50.0)
        per_step.append(steps.firing_features(response))
        traces.append(response["traces"])
    out = {"fi": {"steps_nA": np.asarray(s.fi_validation_nA), "traces": traces,
                  **{k: np.array([f[k] for f in per_step]) for k in per_step[0]}}}
    for i, f in enumerate(per_step):
        out[f"fi_step{i + 1}_hz"] = f["mean_frequency_hz"]
        out[f"first_spike_step{i + 1}_ms"] = f["first_spike_ms"]
    out.update(steps.fi_summary(s.fi_validation_nA, out["fi"]["n_spikes"]))
    return out


def bap(make_cell, cell_type, fast: bool = False) -> dict:
    """The cell type's somatic pulse; the bAP amplitude at its distances on the main apical
    path, the amplitude ratio (dendrite / soma) there, the somatic AP's height and count."""
    s = cell_type.stimuli
    cell = make_cell()
    try:
        r = backpropagating_ap(cell, apical_sites(cell.morphology, s.bap_distances_um), *s.bap_pulse)
    finally:
        cell.close()
    out = {"bap": r, "bap_soma_ap_height_mV": r["soma_peak_mV"], "bap_soma_spike_count": r["soma_spike_count"]}
    for d, amp in zip(s.bap_distances_um, r["amplitude_mV"]):
        out[f"bap_amplitude_{d:g}um_mV"] = float(amp)
        out[f"bap_ratio_{d:g}um"] = float(amp / r["soma_amplitude_mV"])
    return out


def bac(make_cell, cell_type, fast: bool = False) -> dict:
    """BAC firing (cells.experiments.bac) at the cell type's dendritic site."""
    s = cell_type.stimuli
    trials = {}
    for stimulus in BAC.STIMULI:
        cell = make_cell()
        try:
            site = apical_sites(cell.morphology, [s.bac_site_um])[0]
            trials[stimulus] = BAC.bac_trial(cell, stimulus, site, s.bap_pulse)
        finally:
            cell.close()
    return {"bac": trials, **BAC.bac_features(trials)}


def attenuation(make_cell, cell_type, fast: bool = False) -> dict:
    """Steady-state attenuation of a long somatic step along the trunk (Golding et al. 2005)
    and EPSP attenuation from the trunk to the soma (Magee & Cook 2000), one small AMPA
    synapse at a time."""
    distances = cell_type.stimuli.attenuation_distances_um
    cell = make_cell()
    try:
        sites = apical_sites(cell.morphology, distances)
        names = {f"d{d:g}": site for d, site in zip(distances, sites)}
        response = steps.step_response(cell, steps.ATTENUATION_STEP_NA, steps.ATTENUATION_STEP_MS, record_sites=names)
    finally:
        cell.close()
    soma = steps.deflection_mV(response)
    out = {f"ss_attenuation_{d:g}um": steps.deflection_mV(response, f"d{d:g}") / soma for d in distances}
    for d, site in zip(distances, sites):
        out[f"epsp_attenuation_{d:g}um"] = _once(make_cell, epsp, site)["attenuation"]
    return out


# ---------------------------------------------------------------------------- clustered input
def cluster_sweep(make_cell, cluster, n_values=None, window_ms: float = CLUSTER_WINDOW_MS,
                  spread_ms: float = 0.0, block_na: bool = False, with_nmda_block: bool = True,
                  with_expected: bool = True, dt_ms: float = 0.025) -> dict:
    """1..CLUSTER_MAX synapses clustered over CLUSTER_SPAN_UM on the branch `cluster`
    (cells.types.Cluster) chooses; the first n fire together (or evenly over `spread_ms`).

    Per count: local (cluster centre) and somatic peaks, somatic integral, half-width,
    dV/dt and APs; with `with_expected` the expected local response (sum of the unitary
    peaks); with `with_nmda_block` the same sweep with NMDA blocked; `block_na` removes
    every dendritic Na channel (a dendritic TTX block)."""
    from cells.mechanisms import block_sodium

    n_values = np.arange(1, CLUSTER_MAX + 1) if n_values is None else np.asarray(n_values)
    cell = make_cell()
    try:
        if block_na:
            block_sodium(cell)
        morph = cell.morphology
        branch_id = cluster_branch(morph, cluster.branch_type, cluster.distance_um, prefer=cluster.prefer)
        positions = cluster_positions(morph, branch_id, CLUSTER_MAX, CLUSTER_SPAN_UM, cluster.branch_x)
        centre_x = float(np.median(positions))
        synapses = SynapseSet(cell, [(branch_id, x) for x in positions[centre_out_order(CLUSTER_MAX)]])
        record_local(cell, (branch_id, centre_x))
        sweep = cumulative_sweep(cell, synapses, n_values, window_ms, spread_ms=spread_ms, keep_traces=True,
                                 dt_ms=dt_ms)
        out = {"branch_id": branch_id, "path_distance_um": morph.branches[branch_id].path_distance_at(centre_x),
               "cluster": cluster, "spread_ms": spread_ms, "na_block": block_na, **sweep}
        if with_expected:
            unitary = unitary_responses(cell, synapses, np.full(CLUSTER_MAX, STIMULUS_START_MS),
                                        min(window_ms, UNITARY_WINDOW_MS), dt_ms)["local_mV"]
            out["unitary_mV"], out["expected_mV"] = unitary, np.cumsum(unitary)[n_values - 1]
        if with_nmda_block:
            synapses.set_weight("nmda", 0.0)
            blocked = cumulative_sweep(cell, synapses, n_values, window_ms, spread_ms=spread_ms, dt_ms=dt_ms)
            out["local_nmda_block_mV"], out["soma_nmda_block_mV"] = blocked["local_mV"], blocked["soma_mV"]
            out["soma_integral_nmda_block_mV_ms"] = blocked["soma_integral_mV_ms"]
        del synapses
    finally:
        cell.close()
    return out


def nmda_basal(make_cell, cell_type, fast: bool = False) -> dict:
    """Schiller et al. 2000's basal NMDA spike (and, where the cell type asks for it, the
    sigmoid of the local response, Polsky et al. 2004)."""
    cluster = cell_type.stimuli.nmda_basal
    sweep = cluster_sweep(make_cell, cluster, n_values=FAST_COUNTS if fast else None,
                          dt_ms=FAST_NMDA_DT_MS if fast else 0.025)
    out = {"sweep": sweep, **nmda_spike_features(sweep)}
    if cluster.sigmoid:
        out.update(sigmoid_features(sweep))
    return out


def oblique(make_cell, cell_type, fast: bool = False) -> dict:
    """Poirazi et al. 2003's sigmoid of the local response, then Losonczy & Magee 2006's
    dendritic Na spike on the same cluster: with the dendritic Na channels blocked (all
    counts), and with the threshold count and the next one spread evenly over SPREAD_MS."""
    cluster = cell_type.stimuli.oblique
    n_values = FAST_COUNTS if fast else None
    control = cluster_sweep(make_cell, cluster, n_values=n_values)
    kw = dict(window_ms=NA_SWEEP_WINDOW_MS, with_nmda_block=False, with_expected=False)
    thr = _threshold_index(control)
    na_block = cluster_sweep(make_cell, cluster, n_values=n_values, block_na=True, **kw)
    spread = cluster_sweep(make_cell, cluster, n_values=control["n_synapses"][thr:thr + 2], spread_ms=SPREAD_MS, **kw)
    out = {"oblique_sweep": control, "na_block_sweep": na_block, "spread_sweep": spread}
    if cluster.sigmoid:
        out.update(sigmoid_features(control))
    out.update(dendritic_na_spike_features(control, na_block, spread))
    return out


PROTOCOLS = {"passive": passive, "fi": fi, "bap": bap, "bac": bac, "attenuation": attenuation,
             "nmda_basal": nmda_basal, "oblique": oblique}


# ---------------------------------------------------------------------------- features of sweeps
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
