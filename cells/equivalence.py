"""The same experiments in NEURON and Brian2, and how far apart the voltages are.

    rows, seconds = compare("l5pc")             # built-in morphology; or morphology="cell.swc"
    print(table(rows)); all(r.passed for r in rows)

Four protocols, each made of the shared experiments (`cells.experiments`, the ones
`bridge validate` and `bridge characterize` run), on a fresh cell per simulator and run,
with the cell type's stimuli (`cells.types`):
- `passive_epsp`: one small AMPA synapse (`synaptic.epsp`) at 50/150/300 um on the main
  apical path and on the basal branch nearest 100 um, one run each; site and soma.
- `step`: a somatic step of the cell type's largest f-I current for 50 ms (spikes); soma
  and 200 um on the apical path.
- `nmda_cluster`: 20 AMPA+NMDA synapses of the cell type's basal NMDA-spike cluster,
  together; cluster centre and soma.
- `bap`: the cell type's somatic pulse; soma and apical sites at 100/200/300 um and the
  cell type's bAP distances.

Per protocol and site: mean |dV| (outside a 2 ms window around every spike of either
simulator at that site), spike counts and the largest spike-time difference. Tolerances
(issue 3): passive mean |dV| <= 0.1 mV; active mean |dV| <= 0.5 mV, every spike matched,
spike times within 0.2 ms.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from cells.experiments import features as F
from cells.experiments import steps
from cells.experiments.bap import backpropagating_ap
from cells.experiments.sites import apical_sites, cluster_branch, clustered_sites
from cells.experiments.synaptic import SynapseSet, cumulative_sweep, epsp, record_local

PASSIVE_MV = 0.1
ACTIVE_MV = 0.5
SPIKE_MS = 0.2
SPIKE_WINDOW_MS = 2.0     # excluded around each spike (centred)
PROTOCOLS = ("passive_epsp", "step", "nmda_cluster", "bap")
EPSP_SITES_UM = (50.0, 150.0, 300.0)        # on the main apical path
BASAL_EPSP_UM = 100.0
STEP_MS = 50.0
STEP_RECORD_UM = 200.0
CLUSTER_SYNAPSES = 20
CLUSTER_SPAN_UM = 30.0
CLUSTER_WINDOW_MS = 75.0
BAP_SITES_UM = (100.0, 200.0, 300.0)


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


def _passive_epsp(make_cell, cell_type, morph) -> list[dict]:
    """One run per site; traces named by site ("apical50", "apical50_soma", ...)."""
    out = []
    sites = dict(zip((f"apical{d:g}" for d in EPSP_SITES_UM), apical_sites(morph, EPSP_SITES_UM)))
    sites[f"basal{BASAL_EPSP_UM:g}"] = (cluster_branch(morph, "basal", BASAL_EPSP_UM), 0.5)
    for name, site in sites.items():
        cell = make_cell()
        tr = epsp(cell, site)["traces"]
        cell.close()
        out.append({"t_ms": tr["t_ms"], name: tr["local"], f"{name}_soma": tr["soma"]})
    return out


def _step(make_cell, cell_type, morph) -> list[dict]:
    cell = make_cell()
    site = apical_sites(cell.morphology, [STEP_RECORD_UM])[0]
    r = steps.step_response(cell, max(cell_type.stimuli.fi_currents_nA), STEP_MS,
                            record_sites={f"apical{STEP_RECORD_UM:g}": site})
    cell.close()
    return [r["traces"]]


def _nmda_cluster(make_cell, cell_type, morph) -> list[dict]:
    cluster = cell_type.stimuli.nmda_basal
    cell = make_cell()
    morph = cell.morphology
    branch = cluster_branch(morph, cluster.branch_type, cluster.distance_um, prefer=cluster.prefer)
    sites, centre = clustered_sites(morph, branch, CLUSTER_SYNAPSES, CLUSTER_SPAN_UM, cluster.branch_x)
    synapses = SynapseSet(cell, sites)
    record_local(cell, (branch, centre))
    sweep = cumulative_sweep(cell, synapses, [CLUSTER_SYNAPSES], CLUSTER_WINDOW_MS, keep_traces=True)
    del synapses
    cell.close()
    return sweep["traces"]


def _bap(make_cell, cell_type, morph) -> list[dict]:
    distances = sorted(set(BAP_SITES_UM) | set(cell_type.stimuli.bap_distances_um))
    cell = make_cell()
    r = backpropagating_ap(cell, apical_sites(cell.morphology, distances), *cell_type.stimuli.bap_pulse)
    cell.close()
    tr = r["traces"]
    return [{"t_ms": tr["t_ms"], "soma": tr["soma"], **{f"apical{d:g}": tr[f"s{i}"] for i, d in enumerate(distances)}}]


EXPERIMENTS = {"passive_epsp": _passive_epsp, "step": _step, "nmda_cluster": _nmda_cluster, "bap": _bap}


def run_protocol(protocol: str, make_cell, cell_type, morphology) -> list[dict]:
    """The protocol's runs on fresh cells of `make_cell` (built on `morphology`): a list of
    traces dicts."""
    return EXPERIMENTS[protocol](make_cell, cell_type, morphology)


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


def protocols_for(cell_type) -> tuple[str, ...]:
    """The protocols a cell type declares the stimuli for (nmda_cluster needs `stimuli.nmda_basal`)."""
    return tuple(p for p in PROTOCOLS if p != "nmda_cluster" or cell_type.stimuli.nmda_basal is not None)


def compare(cell_name: str, morphology=None, protocols=None, progress=None) -> tuple[list[Row], dict]:
    """Run the protocols (default: all the cell type supports) in both simulators; returns
    rows and wall times per simulator (s)."""
    from cells import InputError, get_cell_type, load_morphology, make_cell_factory

    cell_type = get_cell_type(cell_name)
    supported = protocols_for(cell_type)
    protocols = supported if protocols is None else tuple(protocols)
    unsupported = [p for p in protocols if p not in supported]
    if unsupported:
        raise InputError(f"cell type {cell_name!r} does not support compare protocol(s) {', '.join(unsupported)} "
                         f"(supported: {', '.join(supported)})")
    morph = load_morphology(cell_name, morphology)
    rows, seconds = [], {"neuron": 0.0, "brian2": 0.0}
    for protocol in protocols:
        if progress:
            progress(protocol)
        traces = {}
        for simulator in ("neuron", "brian2"):
            start = time.perf_counter()
            traces[simulator] = run_protocol(protocol, make_cell_factory(cell_type.recipe, morph, simulator),
                                             cell_type, morph)
            seconds[simulator] += time.perf_counter() - start
        for a, b in zip(traces["neuron"], traces["brian2"]):
            rows += compare_traces(protocol, a, b)
    return rows, seconds


def table(rows: list[Row]) -> str:
    head = (f"{'protocol':13s} {'site':14s} {'mean|dV| mV':>11s} {'max|dV| mV':>10s} {'spikes N/B':>10s} "
            f"{'max|dt| ms':>10s} {'tol mV':>6s}  result")
    lines = [head, "-" * len(head)]
    for r in rows:
        dt = "-" if np.isnan(r.max_spike_dt_ms) else f"{r.max_spike_dt_ms:.1e}"
        lines.append(f"{r.protocol:13s} {r.site:14s} {r.mean_abs_dv_mV:11.2e} {r.max_abs_dv_mV:10.2e} "
                     f"{f'{r.spikes_neuron}/{r.spikes_brian2}':>10s} {dt:>10s} {r.tolerance_mV:6.2f}  "
                     f"{'pass' if r.passed else 'FAIL'}")
    n_fail = sum(not r.passed for r in rows)
    lines.append(f"{len(rows) - n_fail} passed, {n_fail} failed (spike times within {SPIKE_MS} ms, "
                 f"{SPIKE_WINDOW_MS:g} ms around spikes excluded from mean |dV|)")
    return "\n".join(lines)
