"""The same protocols in NEURON and Brian2, and how far apart the voltages are.

    rows = compare("l5pc")                      # built-in morphology; or morphology="cell.swc"
    print(table(rows)); all(r.passed for r in rows)

Four protocols, each on a fresh cell per simulator, short enough for the test suite:
- `passive_epsp`: one AMPA synapse (5 x the recipe's weight) at 50/150/300 um on the main
  apical path and 100 um on a basal branch, activated 25 ms apart; soma + each synapse site.
- `step`: somatic current step with spikes; soma and 200 um on the apical path.
- `nmda_cluster`: 20 AMPA+NMDA synapses clustered over 30 um of a basal branch (the branch
  the validation uses), activated together; cluster centre and soma.
- `bap`: brief somatic pulse (as in the bAP validation protocol); soma and apical sites.

Per protocol and site: mean |dV| (outside a 2 ms window around every spike of either
simulator at that site), spike counts and the largest spike-time difference. Tolerances
(issue 3): passive mean |dV| <= 0.1 mV; active mean |dV| <= 0.5 mV, every spike matched,
spike times within 0.2 ms.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from cells.validation import features as F
from cells.validation.sites import apical_path, cluster_branch, cluster_positions, site_at_distance

PASSIVE_MV = 0.1
ACTIVE_MV = 0.5
SPIKE_MS = 0.2
SPIKE_WINDOW_MS = 2.0     # excluded around each spike (centred)
PROTOCOLS = ("passive_epsp", "step", "nmda_cluster", "bap")

SETTINGS = {   # cell-specific stimulus amplitudes and sites
    "l5pc": {"step_nA": 1.0, "bap": (1.9, 5.0), "bap_um": (100.0, 300.0, 600.0), "basal_um": 120.0,
             "basal_prefer": "thickest"},
    "ca1": {"step_nA": 0.8, "bap": (2.0, 5.0), "bap_um": (100.0, 200.0, 300.0), "basal_um": 100.0,
            "basal_prefer": "closest"},
}


@dataclass
class Row:
    protocol: str
    site: str
    mean_abs_dv_mV: float
    max_abs_dv_mV: float
    spikes_neuron: int
    spikes_brian2: int
    max_spike_dt_ms: float       # NaN without spikes
    tolerance_mV: float

    @property
    def spikes_matched(self) -> bool:
        return self.spikes_neuron == self.spikes_brian2

    @property
    def passed(self) -> bool:
        timing = self.spikes_neuron == 0 or self.max_spike_dt_ms <= SPIKE_MS
        return self.mean_abs_dv_mV <= self.tolerance_mV and self.spikes_matched and timing


def _passive_epsp(cell, s):
    morph = cell.morphology
    path = apical_path(morph)
    sites = {f"apical{d:g}": site_at_distance(morph, path, d) for d in (50.0, 150.0, 300.0)}
    basal = cluster_branch(morph, "basal", 100.0)
    sites["basal100"] = (basal, 0.5)
    groups = []
    for k, (name, site) in enumerate(sites.items()):
        groups.append(cell.add_synapses(site[0], [site[1]], kinds=("ampa",), weight_scale=5.0))
        cell.activate(groups[-1], [5.0 + 25.0 * k])
        cell.record(name, *site)
    cell.record("soma", 0, 0.5)
    return 5.0 + 25.0 * len(sites) + 20.0, groups


def _step(cell, s):
    cell.add_step_current(0, 0.5, amp_nA=s["step_nA"], delay_ms=5.0, dur_ms=50.0)
    cell.record("soma", 0, 0.5)
    cell.record("apical200", *site_at_distance(cell.morphology, apical_path(cell.morphology), 200.0))
    return 60.0, []


def _nmda_cluster(cell, s):
    morph = cell.morphology
    branch = cluster_branch(morph, "basal", s["basal_um"], prefer=s["basal_prefer"])
    positions = cluster_positions(morph, branch, 20, 30.0)
    group = cell.add_synapses(branch, positions)
    cell.activate(group, np.full(len(positions), 5.0))
    cell.record("local", branch, float(np.median(positions)))
    cell.record("soma", 0, 0.5)
    return 80.0, [group]


def _bap(cell, s):
    amp, dur = s["bap"]
    cell.add_step_current(0, 0.5, amp_nA=amp, delay_ms=5.0, dur_ms=dur)
    cell.record("soma", 0, 0.5)
    path = apical_path(cell.morphology)
    for d in s["bap_um"]:
        cell.record(f"apical{d:g}", *site_at_distance(cell.morphology, path, d))
    return 40.0, []


SETUP = {"passive_epsp": _passive_epsp, "step": _step, "nmda_cluster": _nmda_cluster, "bap": _bap}


def run_protocol(protocol: str, make_cell, settings: dict) -> dict:
    cell = make_cell()
    tstop, synapses = SETUP[protocol](cell, settings)   # synapse groups must outlive the run (NEURON)
    traces = cell.run(tstop)
    cell.close()
    del synapses
    return traces


def compare_traces(protocol: str, a: dict, b: dict) -> list[Row]:
    """Rows for every recorded site of one protocol: NEURON traces `a`, Brian2 traces `b`."""
    if len(a["t_ms"]) != len(b["t_ms"]) or not np.allclose(a["t_ms"], b["t_ms"], atol=1e-6):
        raise ValueError(f"{protocol}: NEURON and Brian2 sampled different times")
    t = a["t_ms"]
    rows = []
    tolerance = PASSIVE_MV if protocol == "passive_epsp" else ACTIVE_MV
    for site in a:
        if site == "t_ms":
            continue
        sa, sb = F.spike_times(t, a[site]), F.spike_times(t, b[site])
        keep = np.ones(t.size, bool)
        for ts in np.concatenate([sa, sb]):
            keep &= np.abs(t - ts) > SPIKE_WINDOW_MS / 2
        dv = np.abs(a[site] - b[site])
        dt = np.nan
        if sa.size and sa.size == sb.size:
            dt = float(np.max(np.abs(sa - sb)))
        elif sa.size or sb.size:
            dt = np.inf
        rows.append(Row(protocol, site, float(dv[keep].mean()), float(dv.max()), int(sa.size), int(sb.size), dt,
                        tolerance))
    return rows


def compare(cell_name: str, morphology=None, protocols=PROTOCOLS, progress=None) -> tuple[list[Row], dict]:
    """Run the protocols in both simulators; returns rows and wall times per simulator (s)."""
    from cells import get_recipe, load_morphology
    from cells.brian2_cell import Brian2Cell
    from cells.neuron_cell import NeuronCell

    recipe = get_recipe(cell_name)
    morph = load_morphology(cell_name, morphology)
    settings = SETTINGS[cell_name]
    rows, seconds = [], {"neuron": 0.0, "brian2": 0.0}
    for protocol in protocols:
        if progress:
            progress(protocol)
        traces = {}
        for name, cls in (("neuron", NeuronCell), ("brian2", Brian2Cell)):
            start = time.perf_counter()
            traces[name] = run_protocol(protocol, lambda: cls(recipe, morph), settings)
            seconds[name] += time.perf_counter() - start
        rows += compare_traces(protocol, traces["neuron"], traces["brian2"])
    return rows, seconds


def table(rows: list[Row]) -> str:
    head = (f"{'protocol':13s} {'site':10s} {'mean|dV| mV':>11s} {'max|dV| mV':>10s} {'spikes N/B':>10s} "
            f"{'max|dt| ms':>10s} {'tol mV':>6s}  result")
    lines = [head, "-" * len(head)]
    for r in rows:
        dt = "-" if np.isnan(r.max_spike_dt_ms) else f"{r.max_spike_dt_ms:.1e}"
        lines.append(f"{r.protocol:13s} {r.site:10s} {r.mean_abs_dv_mV:11.2e} {r.max_abs_dv_mV:10.2e} "
                     f"{f'{r.spikes_neuron}/{r.spikes_brian2}':>10s} {dt:>10s} {r.tolerance_mV:6.2f}  "
                     f"{'pass' if r.passed else 'FAIL'}")
    n_fail = sum(not r.passed for r in rows)
    lines.append(f"{len(rows) - n_fail} passed, {n_fail} failed (spike times within {SPIKE_MS} ms, "
                 f"{SPIKE_WINDOW_MS:g} ms around spikes excluded from mean |dV|)")
    return "\n".join(lines)
