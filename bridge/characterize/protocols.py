"""Characterization protocols: plan tasks from the morphology, assemble results into datasets.

Each protocol has a ``plan_<name>(ctx)`` that returns the list of :class:`Task` it needs
and an ``assemble_<name>(ctx, results)`` that turns their results (task -> dict of arrays)
into the protocol's xarray group of the ``bridge.characterization`` schema
(`bridge.schema`). Planning needs only the morphology and the recipe (no simulator); every
random choice comes from ``rng(seed, protocol, ...)``, so the plan, and therefore the data,
does not depend on the number of workers or the order in which tasks finish.

Protocols
    passive      somatic step (input resistance, tau, sag); per site: EPSP of one synapse
                 locally and at the soma, steady-state transfer of a current step to the soma
    integration  per branch, N synapses clustered (within `cluster_span_um`) or distributed
                 over the dendritic tree; n = 1..N fire near-synchronously (within
                 `jitter_ms`); unitary responses of the same synapses give the expected sum;
                 conditions control, NMDA block (NMDA weight 0, APV) and dendritic Na block
                 (Na channel densities 0 in basal, trunk, oblique and tuft branches, TTX)
    timing       the N clustered synapses fire in sequence at growing intervals
    bap          somatic pulse, backpropagating AP at the midpoint of every dendritic branch
    bac          BAC firing (Larkum et al. 1999): somatic pulse, dendritic EPSP-shaped
                 current in the Ca hot zone, both
    fi           somatic current steps
    patterns     random drive patterns over a set of basal/oblique branches (Poirazi, Brannon
                 & Mel 2003): a total T of active synapses spread over k branches, from
                 concentrated (k = 1) to dispersed (k = all); see `_patterns_layout`
    cluster_dispersion
                 Poirazi, Brannon & Mel 2003's experiment: a fixed total of synapses in
                 clusters on terminal branches, dispersed one cluster at a time, driven
                 asynchronously at 50 Hz for 600 ms; the output is the somatic firing rate;
                 plus each branch's own response to n clustered synapses (its subunit
                 function); see `_dispersion_layout`
    invivo       in-vivo-like drive of the whole tree (Beniaguev, Segev & London 2021):
                 Poisson inputs with piecewise-constant, branch-clustered rates on one
                 excitatory and one inhibitory synapse per compartment; somatic voltage at
                 1 ms and spike times; control and AMPA-only; see `bridge.characterize.invivo`
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from bridge.characterize.tasks import DENDRITIC_TYPES, RunConfig, Task
from cells.experiments import bac as BAC
from cells.experiments import steps
from cells.experiments.common import STIMULUS_START_MS
from cells.types import ALL_PROTOCOLS
from cells.experiments.bap import WINDOW_MS as BAP_WINDOW_MS
from cells.experiments.sites import apical_path, clustered_sites, site_at_distance
from cells.experiments.synaptic import EPSP_WEIGHT_US, EPSP_WINDOW_MS
from dendritic_errors import InputError
from cells.mechanisms import sodium_mechanisms

PROTOCOLS = ALL_PROTOCOLS        # every protocol; a cell type lists those it supports (cells.types)
LONG_PROTOCOLS = ("cluster_dispersion", "invivo")   # whole-cell drives of tens of minutes: only when named or "all"
CONDITIONS = ("control", "nmda_block", "na_block")
PLACEMENTS = ("clustered", "distributed")
DEFAULT_BRANCHES = 3
T0_MS = STIMULUS_START_MS    # one stimulus onset for every experiment (cells.experiments.common)


@dataclass
class Settings:
    """Protocol parameters (defaults are those of `bridge characterize`)."""
    seed: int = 0
    branches: object = DEFAULT_BRANCHES     # int N (seeded, stratified sample), "all", or tuple of ids
    # integration / timing
    n_synapses: int = 30
    cluster_span_um: float = 30.0
    jitter_ms: float = 1.0
    window_ms: float = 40.0
    conditions: tuple = CONDITIONS
    placements: tuple = PLACEMENTS
    traces: bool = False
    intervals_ms: tuple = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
    # passive
    passive_step_nA: float = steps.PASSIVE_STEP_NA
    passive_step_ms: float = steps.PASSIVE_STEP_MS
    site_step_nA: float = -0.05
    site_step_ms: float = 200.0
    passive_path_spacing_um: float = 200.0
    passive_sites_per_type: int = 2
    # fi
    fi_currents_nA: tuple | None = None     # None: the cell type's (cells.types.Stimuli)
    fi_step_ms: float = 500.0
    # bac
    bac_window_ms: float = BAC.WINDOW_MS
    # patterns
    n_patterns: int = 1000
    pattern_branches: int = 12
    pattern_synapses: int = 20              # maximum active synapses per branch
    pattern_total_max: int = 80             # total active synapses T ~ uniform 1..pattern_total_max
    pattern_jitter_ms: float = 2.0
    pattern_window_ms: float = 30.0
    pattern_max_distance_um: float = 300.0
    pattern_batch: int = 20
    test_fraction: float = 0.2
    # cluster_dispersion (Poirazi, Brannon & Mel 2003): (cluster size, number of clusters)
    dispersion_configs: tuple = ((8, 4), (4, 8), (5, 7), (7, 5), (6, 6), (8, 5), (4, 10))
    dispersion_placements: int = 10         # random placements per configuration (P03: 10)
    dispersion_branches: int = 16           # terminal basal/oblique branches that receive input
    dispersion_rate_hz: float = 50.0        # asynchronous (Poisson) drive of every synapse
    dispersion_duration_ms: float = 600.0
    dispersion_weight_scale: float = 0.5    # x the recipe's peak conductances (see _dispersion_layout)
    dispersion_inhibitory: int = 8          # GABA-A synapses over the dendritic tree, at the same rate
    dispersion_background_hz: float = 0.0   # optional background (P03's 5 Hz) ...
    dispersion_background_synapses: int = 100   # ... on this many excitatory synapses over the tree
    dispersion_curve_counts: tuple = (1, 2, 4, 6, 8, 10, 12)   # n per branch for the subunit curves
    dispersion_curve_context: int | None = None   # synapses driven elsewhere while a curve is measured;
                                                  # None: the smallest configuration total; 0: the branch alone
    dispersion_batch: int = 8
    # invivo (Beniaguev, Segev & London 2021; bridge.characterize.invivo)
    invivo_simulations: int = 32
    invivo_duration_ms: float = 2000.0
    invivo_conditions: tuple = ("control", "ampa_only")
    invivo_exc_rate_hz: tuple = (0.5, 3.0)     # per excitatory synapse, before the branch gain
    invivo_inh_rate_hz: tuple = (1.0, 6.0)     # per inhibitory synapse
    invivo_segment_ms: tuple = (25.0, 450.0)   # stretches of constant rate (BSL)
    invivo_smooth_ms: float = 20.0             # Gaussian smoothing of the profiles
    invivo_burst_fraction: float = 0.1         # stretches in which a branch bursts ...
    invivo_burst_factor: float = 4.0           # ... at this gain
    invivo_ampa_only_factor: float = 10.0      # AMPA-only: NMDA 0, AMPA x this (calibrated, see _invivo_layout)


def rng(seed: int, *names) -> np.random.Generator:
    """A generator seeded by (seed, names...): independent streams per protocol and item."""
    words = [int(seed)]
    for n in names:
        words.append(int.from_bytes(hashlib.sha256(str(n).encode()).digest()[:4], "little"))
    return np.random.default_rng(np.random.SeedSequence(words))


@dataclass
class Context:
    config: RunConfig
    morphology: object
    recipe: object
    settings: Settings
    protocols: tuple
    cell_type: object = None          # cells.types.CellType: stimulus defaults
    cache: dict = field(default_factory=dict)

    def distance(self, branch_id: int, x: float) -> float:
        return float(self.morphology.branches[branch_id].path_distance_at(float(x)))

    def btype(self, branch_id: int) -> str:
        return self.morphology.branches[branch_id].type


# =============================================================================== sites
def dendritic_branches(morph) -> list:
    return [b for b in morph.branches if b.type in DENDRITIC_TYPES]


def select_branches(morph, spec, seed: int) -> list[int]:
    """Branch ids for integration/timing: "all" dendritic branches, explicit ids, or N
    chosen round-robin over basal, oblique, tuft (then trunk), seeded, preferring terminal
    branches long enough for a cluster (>= 20 um; thin terminal branches are where
    Polsky et al. 2004 and Losonczy & Magee 2006 recorded), then other long ones."""
    dend = dendritic_branches(morph)
    if spec == "all":
        return [b.id for b in dend]
    if isinstance(spec, (tuple, list)):
        ids = [int(i) for i in spec]
        ok = {b.id for b in dend}
        bad = [i for i in ids if i not in ok]
        if bad:
            raise InputError(f"--branches: {', '.join(map(str, bad))} not dendritic branch id(s) of "
                             f"{morph.name} (dendritic ids {min(ok)}..{max(ok)})")
        return list(dict.fromkeys(ids))
    n = int(spec)
    if n < 1:
        raise InputError(f"--branches must be >= 1, 'all' or a list of ids, got {n}")
    if n > len(dend):
        raise InputError(f"--branches {n}: {morph.name} has only {len(dend)} dendritic branches")
    pools = []
    for t in ("basal", "oblique", "tuft", "trunk"):
        bs = [b for b in dend if b.type == t]
        terminal = [b.id for b in bs if b.length_um >= 20.0 and not morph.children(b.id)]
        inner = [b.id for b in bs if b.length_um >= 20.0 and morph.children(b.id)]
        short = [b.id for b in bs if b.length_um < 20.0]
        r = rng(seed, "branches", t)
        pools.append(list(r.permutation(terminal)) + list(r.permutation(inner)) + list(r.permutation(short)))
    chosen = []
    main, trunk = pools[:3], pools[3]
    while len(chosen) < n and any(main):
        for pool in main:
            if pool and len(chosen) < n:
                chosen.append(int(pool.pop(0)))
    while len(chosen) < n and trunk:
        chosen.append(int(trunk.pop(0)))
    return chosen


def distributed_sites(morph, n: int, r: np.random.Generator):
    """n sites drawn uniformly by length over the dendritic tree."""
    dend = dendritic_branches(morph)
    lengths = np.array([b.length_um for b in dend])
    idx = r.choice(len(dend), size=n, p=lengths / lengths.sum())
    xs = r.uniform(0.05, 0.95, size=n)
    return [(int(dend[i].id), float(round(x, 6))) for i, x in zip(idx, xs)]


# =============================================================================== integration
def _integration_layout(ctx: Context) -> dict:
    if "integration" in ctx.cache:
        return ctx.cache["integration"]
    s, morph = ctx.settings, ctx.morphology
    branches = select_branches(morph, s.branches, s.seed)
    layout = {"branches": branches, "rec_x": {}, "sites": {}, "times": {}}
    for b in branches:
        csites, centre = clustered_sites(morph, b, s.n_synapses, s.cluster_span_um)
        layout["rec_x"][b] = centre
        layout["sites"][(b, "clustered")] = csites
        layout["sites"][(b, "distributed")] = distributed_sites(
            morph, s.n_synapses, rng(s.seed, "integration", "distributed", b))
        for placement in PLACEMENTS:
            jit = rng(s.seed, "integration", "jitter", b, placement).uniform(0.0, s.jitter_ms, s.n_synapses)
            layout["times"][(b, placement)] = [float(round(T0_MS + j, 6)) for j in jit]
    ctx.cache["integration"] = layout
    return layout


def _syn_task(ctx, kind, b, placement, condition) -> Task:
    s, lay = ctx.settings, _integration_layout(ctx)
    n = s.n_synapses
    common = dict(rec_branch=b, rec_x=lay["rec_x"][b], sites=lay["sites"][(b, placement)],
                  times_ms=lay["times"][(b, placement)], condition=condition,
                  window_ms=s.window_ms)
    if kind == "unitary":
        return Task.make("integration", "unitary", n, n * (T0_MS + s.window_ms), **common)
    extra = {"traces": True} if s.traces else {}
    return Task.make("integration", "cumulative", n, n * (T0_MS + s.window_ms),
                     n_values=list(range(1, n + 1)), **common, **extra)


def plan_integration(ctx: Context) -> list[Task]:
    s = ctx.settings
    tasks = []
    for b in _integration_layout(ctx)["branches"]:
        for placement in s.placements:
            for condition in s.conditions:
                tasks.append(_syn_task(ctx, "unitary", b, placement, condition))
                tasks.append(_syn_task(ctx, "cumulative", b, placement, condition))
    return tasks


def _branch_coords(ctx, branches, rec_x):
    return {
        "branch": ("branch", np.asarray(branches, np.int64)),
        "branch_type": ("branch", np.array([ctx.btype(b) for b in branches], dtype=object)),
        "path_distance_um": ("branch", np.array([ctx.distance(b, rec_x[b]) for b in branches])),
        "site_x": ("branch", np.array([rec_x[b] for b in branches])),
    }


def assemble_integration(ctx: Context, results) -> xr.Dataset:
    s, lay = ctx.settings, _integration_layout(ctx)
    B, P, C, N = lay["branches"], list(s.placements), list(s.conditions), s.n_synapses
    shape = (len(B), len(P), len(C), N)
    meas_l, meas_s, exp_l, exp_s = (np.empty(shape) for _ in range(4))
    uni_l, uni_s = np.empty(shape), np.empty(shape)
    spikes = np.zeros(shape, np.int64)
    syn_b = np.zeros((len(B), len(P), N), np.int64)
    syn_x, syn_d, syn_t = (np.empty((len(B), len(P), N)) for _ in range(3))
    traces = None
    for i, b in enumerate(B):
        for j, pl in enumerate(P):
            sites = lay["sites"][(b, pl)]
            syn_b[i, j] = [sb for sb, _ in sites]
            syn_x[i, j] = [sx for _, sx in sites]
            syn_d[i, j] = [ctx.distance(sb, sx) for sb, sx in sites]
            syn_t[i, j] = lay["times"][(b, pl)]
            for k, c in enumerate(C):
                u = results[_syn_task(ctx, "unitary", b, pl, c)]
                m = results[_syn_task(ctx, "cumulative", b, pl, c)]
                uni_l[i, j, k], uni_s[i, j, k] = u["local"], u["soma"]
                exp_l[i, j, k], exp_s[i, j, k] = np.cumsum(u["local"]), np.cumsum(u["soma"])
                meas_l[i, j, k], meas_s[i, j, k], spikes[i, j, k] = m["local"], m["soma"], m["spikes"]
                if s.traces:
                    if traces is None:
                        nt = m["trace_local"].shape[1]
                        traces = (np.empty(shape + (nt,), np.float32), np.empty(shape + (nt,), np.float32),
                                  m["t_ms"])
                    traces[0][i, j, k], traces[1][i, j, k] = m["trace_local"], m["trace_soma"]
    dims = ("branch", "placement", "condition", "n_synapses")
    udims = ("branch", "placement", "condition", "synapse")
    sdims = ("branch", "placement", "synapse")
    data = {
        "measured_local_mV": (dims, meas_l),
        "measured_soma_mV": (dims, meas_s),
        "expected_local_mV": (dims, exp_l),
        "expected_soma_mV": (dims, exp_s),
        "unitary_local_mV": (udims, uni_l),
        "unitary_soma_mV": (udims, uni_s),
        "soma_spikes": (dims, spikes),
        "synapse_branch": (sdims, syn_b),
        "synapse_x": (sdims, syn_x),
        "synapse_path_distance_um": (sdims, syn_d),
        "synapse_time_ms": (sdims, syn_t),
    }
    coords = {**_branch_coords(ctx, B, lay["rec_x"]),
              "placement": ("placement", np.array(P, dtype=object)),
              "condition": ("condition", np.array(C, dtype=object)),
              "n_synapses": ("n_synapses", np.arange(1, N + 1, dtype=np.int64)),
              "synapse": ("synapse", np.arange(N, dtype=np.int64))}
    if traces is not None:
        data["trace_local_mV"] = (dims + ("time_ms",), traces[0])
        data["trace_soma_mV"] = (dims + ("time_ms",), traces[1])
        coords["time_ms"] = ("time_ms", traces[2])
    na = sodium_mechanisms(ctx.recipe)
    attrs = _params(s, "n_synapses", "cluster_span_um", "jitter_ms", "window_ms", "branches")
    attrs.update({
        "param_t0_ms": T0_MS,
        "condition_control": "all synapses AMPA + NMDA at the recipe's weights",
        "condition_nmda_block": "NMDA weight 0 at every activated synapse (APV)",
        "condition_na_block": (f"gbar of {', '.join(na) or 'no Na channel'} set to 0 in "
                               f"{', '.join(DENDRITIC_TYPES)} branches (dendritic TTX)"),
        "placement_clustered": f"N positions evenly within {s.cluster_span_um:g} um around x=0.6 of the branch, "
                               "activated centre-out (every prefix spans the cluster)",
        "placement_distributed": "N sites drawn uniformly by length over all dendritic branches (seeded); "
                                 "voltage still recorded at the branch site",
        "measure": "peak depolarisation above the voltage at stimulus onset, within the window",
    })
    return xr.Dataset(data, coords=coords, attrs=attrs)


# =============================================================================== timing
def _timing_task(ctx, b) -> Task:
    s, lay = ctx.settings, _integration_layout(ctx)
    n = s.n_synapses
    sim_ms = sum(T0_MS + (n - 1) * iv + s.window_ms for iv in s.intervals_ms)
    return Task.make("timing", "timing", len(s.intervals_ms), sim_ms, rec_branch=b, rec_x=lay["rec_x"][b],
                     sites=lay["sites"][(b, "clustered")], condition="control",
                     intervals_ms=list(s.intervals_ms), window_ms=s.window_ms)


def plan_timing(ctx: Context) -> list[Task]:
    tasks = []
    for b in _integration_layout(ctx)["branches"]:
        tasks.append(_timing_task(ctx, b))
        # the expected sum uses the clustered control unitary peaks: the very same task
        # as integration's, so a run with both computes it once
        tasks.append(_syn_task(ctx, "unitary", b, "clustered", "control"))
    return tasks


def assemble_timing(ctx: Context, results) -> xr.Dataset:
    s, lay = ctx.settings, _integration_layout(ctx)
    B = lay["branches"]
    ml = np.array([results[_timing_task(ctx, b)]["local"] for b in B])
    ms = np.array([results[_timing_task(ctx, b)]["soma"] for b in B])
    uni = [results[_syn_task(ctx, "unitary", b, "clustered", "control")] for b in B]
    data = {
        "measured_local_mV": (("branch", "interval_ms"), ml),
        "measured_soma_mV": (("branch", "interval_ms"), ms),
        "expected_local_mV": (("branch",), np.array([u["local"].sum() for u in uni])),
        "expected_soma_mV": (("branch",), np.array([u["soma"].sum() for u in uni])),
    }
    coords = {**_branch_coords(ctx, B, lay["rec_x"]),
              "interval_ms": ("interval_ms", np.asarray(s.intervals_ms, float))}
    attrs = _params(s, "n_synapses", "cluster_span_um", "window_ms", "intervals_ms", "branches")
    attrs.update({"param_t0_ms": T0_MS, "param_placement": "clustered", "param_condition": "control",
                  "description": "synapse i (integration's clustered order) fires at t0 + i * interval; "
                                 "expected = sum of the N unitary peaks (integration, clustered, control)"})
    return xr.Dataset(data, coords=coords, attrs=attrs)


# =============================================================================== passive
def _passive_sites(ctx) -> list[tuple[int, float]]:
    if "passive" in ctx.cache:
        return ctx.cache["passive"]
    s, morph = ctx.settings, ctx.morphology
    sites = []
    path = apical_path(morph)
    if path:
        reach = morph.branches[path[-1]].path_distance_at(1.0)
        for d in np.arange(s.passive_path_spacing_um / 2, reach, s.passive_path_spacing_um):
            b, x = site_at_distance(morph, path, float(d))
            sites.append((int(b), float(round(x, 6))))
    for t in ("basal", "oblique", "tuft"):
        bs = [b.id for b in morph.of_type(t) if not morph.children(b.id)]
        r = rng(s.seed, "passive", t)
        for b in sorted(r.permutation(bs)[: s.passive_sites_per_type].tolist()):
            sites.append((int(b), 0.5))
    sites = sorted(dict.fromkeys(sites), key=lambda bx: (ctx.distance(*bx), bx[0]))
    ctx.cache["passive"] = sites
    return sites


def _passive_tasks(ctx):
    s = ctx.settings
    soma = Task.make("passive", "passive_soma", 1, T0_MS + s.passive_step_ms + steps.TAIL_MS,
                     amp_nA=s.passive_step_nA, dur_ms=s.passive_step_ms)
    sites = [Task.make("passive", "passive_site", 2, 2 * T0_MS + EPSP_WINDOW_MS + s.site_step_ms + steps.TAIL_MS,
                       site_branch=b, site_x=x, step_nA=s.site_step_nA, step_ms=s.site_step_ms)
             for b, x in _passive_sites(ctx)]
    return soma, sites


def plan_passive(ctx: Context) -> list[Task]:
    soma, sites = _passive_tasks(ctx)
    return [soma] + sites


def _site_coords(ctx, sites):
    return {
        "site_branch": ("site", np.array([b for b, _ in sites], np.int64)),
        "site_x": ("site", np.array([x for _, x in sites])),
        "branch_type": ("site", np.array([ctx.btype(b) for b, _ in sites], dtype=object)),
        "path_distance_um": ("site", np.array([ctx.distance(b, x) for b, x in sites])),
    }


def assemble_passive(ctx: Context, results) -> xr.Dataset:
    s = ctx.settings
    soma_task, site_tasks = _passive_tasks(ctx)
    r0 = results[soma_task]
    rs = [results[t] for t in site_tasks]
    el = np.array([float(r["epsp_local_mV"]) for r in rs])
    es = np.array([float(r["epsp_soma_mV"]) for r in rs])
    ss = np.array([float(r["ss_soma_mV"]) / float(r["ss_site_mV"]) for r in rs])
    data = {
        "rest_mV": ((), float(r0["rest_mV"])),
        "input_resistance_MOhm": ((), float(r0["input_resistance_MOhm"])),
        "membrane_tau_ms": ((), float(r0["membrane_tau_ms"])),
        "sag_ratio": ((), float(r0["sag_ratio"])),
        "ss_attenuation": (("site",), ss),
        "epsp_local_mV": (("site",), el),
        "epsp_soma_mV": (("site",), es),
        "epsp_attenuation": (("site",), es / el),
    }
    attrs = _params(s, "passive_step_nA", "passive_step_ms", "site_step_nA", "site_step_ms",
                    "passive_path_spacing_um", "passive_sites_per_type")
    attrs.update({"param_t0_ms": T0_MS, "param_epsp_synapse": f"one AMPA synapse of {EPSP_WEIGHT_US * 1e3:g} nS",
                  "param_epsp_window_ms": EPSP_WINDOW_MS,
                  "sites": "main apical path every spacing um, plus terminal basal/oblique/tuft branch midpoints"})
    return xr.Dataset(data, coords=_site_coords(ctx, _passive_sites(ctx)), attrs=attrs)


# =============================================================================== bAP
def _apical_path(ctx, protocol: str) -> list[int]:
    path = apical_path(ctx.morphology)
    if not path:
        where = ctx.config.morphology or f"the built-in {ctx.config.cell} morphology"
        raise InputError(f"--protocols {protocol}: {where} has no apical dendrite (no trunk or tuft branch); "
                         f"leave {protocol} out of --protocols")
    return path


def _bap_sites(ctx):
    return [(0, 0.5)] + [(b.id, 0.5) for b in dendritic_branches(ctx.morphology)]


def _bap_task(ctx) -> Task:
    amp, dur = ctx.cell_type.stimuli.bap_pulse
    return Task.make("bap", "bap", 1, T0_MS + BAP_WINDOW_MS, sites=_bap_sites(ctx), amp_nA=amp, dur_ms=dur)


def plan_bap(ctx: Context) -> list[Task]:
    return [_bap_task(ctx)]


def assemble_bap(ctx: Context, results) -> xr.Dataset:
    task = _bap_task(ctx)
    r = results[task]
    delay = r["t_peak_ms"] - r["t_peak_ms"][0]
    data = {"bap_amplitude_mV": (("site",), r["amplitude_mV"]),
            "bap_delay_ms": (("site",), delay)}
    p = task.p
    attrs = {"param_amp_nA": p["amp_nA"], "param_dur_ms": p["dur_ms"], "param_t0_ms": T0_MS,
             "param_window_ms": BAP_WINDOW_MS, "sites": "soma, then the midpoint of every dendritic branch"}
    return xr.Dataset(data, coords=_site_coords(ctx, _bap_sites(ctx)), attrs=attrs)


# =============================================================================== BAC
BAC_STIMULI = BAC.STIMULI


def _bac_tasks(ctx):
    s = ctx.cell_type.stimuli
    b, x = site_at_distance(ctx.morphology, _apical_path(ctx, "bac"), s.bac_site_um)
    w = ctx.settings.bac_window_ms
    return [Task.make("bac", "bac", 1, T0_MS + w, stimulus=name, dend_branch=int(b), dend_x=float(round(x, 6)),
                      soma_pulse=list(s.bap_pulse), window_ms=w)
            for name in BAC_STIMULI]


def plan_bac(ctx: Context) -> list[Task]:
    return _bac_tasks(ctx)


def assemble_bac(ctx: Context, results) -> xr.Dataset:
    tasks = _bac_tasks(ctx)
    rs = [results[t] for t in tasks]
    p = tasks[0].p
    data = {"soma_spikes": (("stimulus",), np.array([int(r["soma_spikes"]) for r in rs], np.int64)),
            "dend_peak_mV": (("stimulus",), np.array([float(r["dend_peak_mV"]) for r in rs])),
            "dend_above_plateau_ms": (("stimulus",), np.array([float(r["dend_above_plateau_ms"]) for r in rs]))}
    soma_nA, soma_ms = p["soma_pulse"]
    attrs = {"param_soma_nA": soma_nA, "param_soma_ms": soma_ms, "param_dend_nA": BAC.EPSC["amp_nA"],
             "param_dend_rise_ms": BAC.EPSC["tau_rise_ms"], "param_dend_decay_ms": BAC.EPSC["tau_decay_ms"],
             "param_dend_delay_ms": BAC.DEND_DELAY_MS, "param_dend_branch": p["dend_branch"],
             "param_dend_x": p["dend_x"], "param_dend_path_distance_um": ctx.distance(p["dend_branch"], p["dend_x"]),
             "param_plateau_level_mV": BAC.CA_PLATEAU_MV, "param_t0_ms": T0_MS, "param_window_ms": p["window_ms"],
             "description": "Larkum et al. 1999 / Hay et al. 2011: somatic pulse (soma_nA, soma_ms), EPSP-shaped "
                            "dendritic current (dend_nA) dend_delay_ms later at the dendritic site, or both"}
    return xr.Dataset(data, coords={"stimulus": ("stimulus", np.array(BAC_STIMULI, dtype=object))}, attrs=attrs)


# =============================================================================== f-I
def _fi_currents(ctx):
    s = ctx.settings
    return tuple(s.fi_currents_nA) if s.fi_currents_nA is not None else ctx.cell_type.stimuli.fi_currents_nA


def _fi_tasks(ctx):
    s = ctx.settings
    return [Task.make("fi", "fi", 1, T0_MS + s.fi_step_ms + steps.TAIL_MS, amp_nA=float(a), dur_ms=s.fi_step_ms)
            for a in _fi_currents(ctx)]


def plan_fi(ctx: Context) -> list[Task]:
    return _fi_tasks(ctx)


def assemble_fi(ctx: Context, results) -> xr.Dataset:
    rs = [results[t] for t in _fi_tasks(ctx)]
    data = {"rate_hz": (("current_nA",), np.array([float(r["rate_hz"]) for r in rs])),
            "n_spikes": (("current_nA",), np.array([int(r["n_spikes"]) for r in rs], np.int64)),
            "first_spike_ms": (("current_nA",), np.array([float(r["first_spike_ms"]) for r in rs]))}
    coords = {"current_nA": ("current_nA", np.asarray(_fi_currents(ctx), float))}
    return xr.Dataset(data, coords=coords, attrs={"param_fi_step_ms": ctx.settings.fi_step_ms, "param_t0_ms": T0_MS})


# =============================================================================== patterns
def draw_pattern(r: np.random.Generator, n_branches: int, cap: int, total_max: int):
    """One pattern's synapse counts per branch: (counts (n_branches,), T, k).

    T ~ uniform 1..total_max active synapses in all; k target branches, log-uniform on
    1..n_branches (P(k) proportional to log((k+1)/k), so concentrated patterns are common),
    raised to ceil(T / cap) when T does not fit on k branches of at most `cap` synapses;
    the k branches are drawn without replacement and T is distributed over them by a
    multinomial with equal probabilities; counts above `cap` are moved, one synapse at a
    time, to a random target branch that still has room (the total stays T, every count
    stays <= cap; a target branch may end with 0 synapses)."""
    total_max = int(min(total_max, n_branches * cap))
    T = int(r.integers(1, total_max + 1))
    k = int(np.floor(np.exp(r.uniform(0.0, np.log(n_branches + 1)))))
    k = int(min(n_branches, max(1, k, -(-T // cap))))
    targets = r.choice(n_branches, size=k, replace=False)
    c = r.multinomial(T, np.full(k, 1.0 / k))
    while c.max() > cap:
        over = np.flatnonzero(c > cap)
        excess = int(np.sum(c[over] - cap))
        c[over] = cap
        for _ in range(excess):
            room = np.flatnonzero(c < cap)
            c[room[r.integers(len(room))]] += 1
    counts = np.zeros(n_branches, np.int64)
    counts[targets] = c
    return counts, T, k


def _patterns_layout(ctx) -> dict:
    """The `patterns` drive (Poirazi, Brannon & Mel 2003, Neuron 37:989, who probed a CA1
    model with patterns differing in how the same amount of input is spread over the
    branches: concentrated on few or dispersed over many, where a point neuron fails and a
    two-layer model does not).

    `pattern_branches` terminal basal/oblique branches within `pattern_max_distance_um`
    (seeded choice) each carry a cluster of `pattern_synapses` synapses. Pattern i, from its
    own generator rng(seed, "patterns", "pattern", i) (so the data do not depend on the
    worker count or batching), draws a total T and a number of target branches k and
    distributes T over k branches (`draw_pattern`); on each branch the first n_active
    synapses of its cluster (centre-out) fire once at t0 + U(0, pattern_jitter_ms).
    Patterns with the same T thus differ only in their concentration. The range of T
    (1..80 by default) spans sub- and suprathreshold somatic responses of the l5pc
    (dispersed input crossed the somatic spike threshold near T = 35-40 there).
    Split: a seeded permutation, `test_fraction` of the patterns held out."""
    if "patterns" in ctx.cache:
        return ctx.cache["patterns"]
    s, morph = ctx.settings, ctx.morphology
    cands = _input_branches(ctx, s.pattern_max_distance_um, s.pattern_branches)
    k = min(s.pattern_branches, len(cands))
    branches = sorted(int(b) for b in rng(s.seed, "patterns", "branches").choice(cands, size=k, replace=False))
    sites, rec, table = [], [], {}
    for b in branches:
        bs, centre = clustered_sites(morph, b, s.pattern_synapses, s.cluster_span_um)
        table[b] = list(range(len(sites), len(sites) + len(bs)))
        sites += bs
        rec.append((b, centre))
    cap = min(s.pattern_synapses, min(len(v) for v in table.values()))
    n_active = np.zeros((s.n_patterns, k), np.int64)
    total = np.zeros(s.n_patterns, np.int64)
    targets = np.zeros(s.n_patterns, np.int64)
    active, times = [], []
    for i in range(s.n_patterns):
        r = rng(s.seed, "patterns", "pattern", i)
        n_active[i], total[i], targets[i] = draw_pattern(r, k, cap, s.pattern_total_max)
        act = [table[b][j] for bi, b in enumerate(branches) for j in range(n_active[i, bi])]
        active.append(act)
        times.append([float(round(T0_MS + t, 6)) for t in r.uniform(0.0, s.pattern_jitter_ms, len(act))])
    perm = rng(s.seed, "patterns", "split").permutation(s.n_patterns)
    split = np.full(s.n_patterns, "train", dtype=object)
    split[perm[: int(round(s.test_fraction * s.n_patterns))]] = "test"
    lay = {"branches": branches, "sites": sites, "rec": rec, "n_active": n_active, "total": total,
           "targets": targets, "active": active, "times": times, "split": split, "table": table}
    ctx.cache["patterns"] = lay
    return lay


def _pattern_tasks(ctx):
    s, lay = ctx.settings, _patterns_layout(ctx)
    tasks = []
    for start in range(0, s.n_patterns, s.pattern_batch):
        sl = slice(start, min(start + s.pattern_batch, s.n_patterns))
        n = sl.stop - sl.start
        tasks.append(Task.make("patterns", "patterns", n, n * (T0_MS + s.pattern_window_ms),
                               first=start, sites=lay["sites"], rec_sites=lay["rec"], active=lay["active"][sl],
                               times_ms=lay["times"][sl], window_ms=s.pattern_window_ms))
    return tasks


def _pattern_curve_tasks(ctx, b: int) -> tuple[Task, Task]:
    """Branch b's own subunit curve: its cluster's synapses alone (unitary), then the first
    n together for n = 1..N (cumulative), at the patterns' jitter and window; control."""
    s, lay = ctx.settings, _patterns_layout(ctx)
    sites = [lay["sites"][i] for i in lay["table"][b]]
    n = len(sites)
    jit = rng(s.seed, "patterns", "curve", b).uniform(0.0, s.pattern_jitter_ms, n)
    common = dict(rec_branch=b, rec_x=dict(lay["rec"])[b], sites=sites, condition="control",
                  times_ms=[float(round(T0_MS + j, 6)) for j in jit], window_ms=s.pattern_window_ms)
    return (Task.make("patterns", "unitary", n, n * (T0_MS + s.pattern_window_ms), **common),
            Task.make("patterns", "cumulative", n, n * (T0_MS + s.pattern_window_ms),
                      n_values=list(range(1, n + 1)), **common))


def plan_patterns(ctx: Context) -> list[Task]:
    curves = [t for b in _patterns_layout(ctx)["branches"] for t in _pattern_curve_tasks(ctx, b)]
    return _pattern_tasks(ctx) + curves


def assemble_patterns(ctx: Context, results) -> xr.Dataset:
    s, lay = ctx.settings, _patterns_layout(ctx)
    rs = [results[t] for t in _pattern_tasks(ctx)]
    soma = np.concatenate([r["soma_peak_mV"] for r in rs])
    spikes = np.concatenate([r["soma_spikes"] for r in rs]).astype(np.int64)
    local = np.concatenate([r["local_peak_mV"] for r in rs])
    B = lay["branches"]
    rec_x = dict(lay["rec"])
    data = {
        "n_active": (("pattern", "branch"), lay["n_active"]),
        "soma_peak_mV": (("pattern",), soma),
        "soma_rate_hz": (("pattern",), spikes / (s.pattern_window_ms / 1000.0)),
        "soma_spikes": (("pattern",), spikes),
        "local_peak_mV": (("pattern", "branch"), local),
        "total_active": (("pattern",), lay["total"]),
        "n_target_branches": (("pattern",), lay["targets"]),
        "n_branches_active": (("pattern",), (lay["n_active"] > 0).sum(1).astype(np.int64)),
    }
    # each branch's own subunit curve (its cluster alone), padded with NaN to the longest
    n_max = max(len(lay["table"][b]) for b in B)
    unit, meas = np.full((len(B), n_max), np.nan), np.full((len(B), n_max), np.nan)
    for i, b in enumerate(B):
        u_task, c_task = _pattern_curve_tasks(ctx, b)
        u, c = results[u_task]["local"], results[c_task]["local"]
        unit[i, : u.size], meas[i, : c.size] = u, c
    data["curve_unitary_local_mV"] = (("branch", "curve_n"), unit)
    data["curve_expected_local_mV"] = (("branch", "curve_n"), np.cumsum(unit, axis=1))
    data["curve_measured_local_mV"] = (("branch", "curve_n"), meas)
    coords = {**_branch_coords(ctx, B, rec_x), "pattern": ("pattern", np.arange(s.n_patterns, dtype=np.int64)),
              "split": ("pattern", lay["split"]), "curve_n": ("curve_n", np.arange(1, n_max + 1, dtype=np.int64))}
    attrs = _params(s, "n_patterns", "pattern_branches", "pattern_synapses", "pattern_total_max", "pattern_jitter_ms",
                    "pattern_window_ms", "pattern_max_distance_um", "test_fraction", "cluster_span_um")
    attrs.update({"param_t0_ms": T0_MS,
                  "description": "Poirazi, Brannon & Mel 2003: each pattern draws a total T ~ uniform 1..pattern_total_max "
                                 "of active synapses and a number of target branches k, log-uniform on 1..branch count "
                                 "(at least ceil(T / pattern_synapses)); T is spread over k randomly chosen branches "
                                 "(multinomial, capped at pattern_synapses per branch, the excess moved to target "
                                 "branches with room); the first n_active synapses of each branch's cluster "
                                 "(centre-out order) fire once at t0 + U(0, jitter); split: seeded permutation, "
                                 "test_fraction test. Subunit curves: each branch's cluster alone, every synapse "
                                 "by itself (unitary) and the first n together (measured), control"})
    return xr.Dataset(data, coords=coords, attrs=attrs)


# =============================================================================== cluster dispersion
DEAD_TIME_MS = 1.0    # minimum interval of a synapse's train (refractoriness; one event per step)


def poisson_train(r: np.random.Generator, rate_hz: float, start_ms: float, dur_ms: float) -> list[float]:
    """A Poisson train with a dead time (intervals DEAD_TIME_MS + exponential), mean rate
    `rate_hz`, in [start, start + dur); the first spike at a random phase."""
    if rate_hz <= 0:
        return []
    mean_isi = 1000.0 / rate_hz
    n = int(dur_ms / mean_isi * 2 + 10)
    isi = DEAD_TIME_MS + r.exponential(max(mean_isi - DEAD_TIME_MS, 1e-9), n)
    t = start_ms + r.uniform(0.0, mean_isi) + np.concatenate([[0.0], np.cumsum(isi[1:])])
    return [float(round(v, 4)) for v in t[t < start_ms + dur_ms]]


def _input_branches(ctx, max_distance_um: float, need: int) -> list[int]:
    """Candidate input branches of `patterns` and `cluster_dispersion`: terminal basal/oblique
    branches >= 20 um long within `max_distance_um` (the thin terminal dendrites P03 take as
    subunits); when fewer than `need`, every basal/oblique branch within that distance; when
    none, every basal/oblique branch."""
    morph = ctx.morphology
    near = [b for b in morph.of_type(("basal", "oblique")) if b.path_distance_at(0.5) <= max_distance_um]
    cands = [b.id for b in near if not morph.children(b.id) and b.length_um >= 20.0]
    if len(cands) >= need:
        return cands
    return [b.id for b in near] or [b.id for b in morph.of_type(("basal", "oblique"))]


def _dispersion_layout(ctx) -> dict:
    """The `cluster_dispersion` drive, after Poirazi, Brannon & Mel 2003 (Neuron 37:989).

    `dispersion_branches` terminal basal/oblique branches (seeded choice) receive the input.
    Configuration (size s, clusters m), placement p: m distinct branches each get a cluster of
    s synapses (centre-out within `cluster_span_um`); at dispersion level d = 0..m the first
    d clusters are dispersed: their synapses move, one each, to random positions on random
    input branches (drawn once per placement, so level d + 1 extends level d), while the
    total s x m stays fixed. Every excitatory synapse (AMPA + NMDA) fires a Poisson train
    (dead time 1 ms) at `dispersion_rate_hz` for `dispersion_duration_ms`, with the
    recipe's conductances x `dispersion_weight_scale`; `dispersion_inhibitory` GABA-A
    synapses distributed over the dendritic tree fire at the same rate, and optionally
    `dispersion_background_synapses` excitatory synapses over the tree at
    `dispersion_background_hz`. The weight scale (0.5 by default) is this project's choice:
    with the full weights the built-in ca1 fired ~50 Hz for concentrated and dispersed input
    alike (saturated), with 0.3 it hardly fired at all.

    Subunit curves: each input branch with n = `dispersion_curve_counts` clustered synapses
    (nested: the n synapses and their trains are the first n of the largest count) at the
    cell's operating point: a context of `dispersion_curve_context` synapses (default: the
    smallest configuration total, 32) at random positions on the *other* input branches and
    the inhibitory synapses, with the same drive, identical for every n, is also measured
    without the branch's synapses (n = 0). The branch's own transfer function is its mean
    local depolarisation above that context's. Measured with the branch alone (context 0,
    as first built), the curves overstate what a cluster adds when the rest of the tree is
    active (built-in ca1: 8 synapses add 16.3 mV alone, 14.1 mV in the runs).

    Every random draw has its own stream rng(seed, "cluster_dispersion", ...); split: a
    seeded permutation of the runs, `test_fraction` held out."""
    if "cluster_dispersion" in ctx.cache:
        return ctx.cache["cluster_dispersion"]
    s, morph = ctx.settings, ctx.morphology
    need = max(m for _, m in s.dispersion_configs)
    cands = _input_branches(ctx, s.pattern_max_distance_um, need)
    if len(cands) < need:
        raise InputError(f"cluster_dispersion: {morph.name} has {len(cands)} basal/oblique branches within "
                         f"{s.pattern_max_distance_um:g} um; the configurations need {need} (one per cluster)")
    k = min(max(s.dispersion_branches, need), len(cands))
    branches = sorted(int(b) for b in rng(s.seed, "cluster_dispersion", "branches").choice(cands, size=k, replace=False))
    centre, cluster = {}, {}
    smax = max(max(sz for sz, _ in s.dispersion_configs), max(s.dispersion_curve_counts))
    for b in branches:
        sites, centre[b] = clustered_sites(morph, b, smax, s.cluster_span_um)
        cluster[b] = sites                       # centre-out: the first s are a cluster of s
    start, dur, rate = T0_MS, s.dispersion_duration_ms, s.dispersion_rate_hz
    runs, rows = [], []
    for (size, count) in s.dispersion_configs:
        for p in range(s.dispersion_placements):
            r = rng(s.seed, "cluster_dispersion", size, count, p)
            on = [int(b) for b in r.choice(branches, size=count, replace=False)]
            moved = [[(int(branches[j]), float(round(x, 6))) for j, x in
                      zip(r.integers(0, k, size), r.uniform(0.05, 0.95, size))] for _ in range(count)]
            inh = distributed_sites(morph, s.dispersion_inhibitory, r)
            bg = distributed_sites(morph, s.dispersion_background_synapses, r) if s.dispersion_background_hz > 0 else []
            for d in range(count + 1):
                exc = [site for c in range(d) for site in moved[c]] + \
                      [site for b in on[d:] for site in cluster[b][:size]]
                rt = rng(s.seed, "cluster_dispersion", size, count, p, d, "trains")
                drives = [(exc, ("ampa", "nmda"), [poisson_train(rt, rate, start, dur) for _ in exc]),
                          (inh, ("gabaa",), [poisson_train(rt, rate, start, dur) for _ in inh]),
                          (bg, ("ampa", "nmda"), [poisson_train(rt, s.dispersion_background_hz, start, dur) for _ in bg])]
                runs.append(drives)
                counts = np.zeros(k, np.int64)
                for b, _x in exc:
                    counts[branches.index(b)] += 1
                rows.append((size, count, p, d, counts))
    n_context = curve_context(s)
    curves = []
    for j, b in enumerate(branches):
        rt = rng(s.seed, "cluster_dispersion", "curve", b)
        trains = [poisson_train(rt, rate, start, dur) for _ in range(max(s.dispersion_curve_counts))]
        rc = rng(s.seed, "cluster_dispersion", "curve_context", b)
        others = [o for o in branches if o != b]
        ctx_exc = [(int(others[i]), float(round(x, 6))) for i, x in
                   zip(rc.integers(0, len(others), n_context), rc.uniform(0.05, 0.95, n_context))] if others else []
        ctx_inh = distributed_sites(morph, s.dispersion_inhibitory, rc) if n_context else []
        ctx_exc_tr = [poisson_train(rc, rate, start, dur) for _ in ctx_exc]
        ctx_inh_tr = [poisson_train(rc, rate, start, dur) for _ in ctx_inh]
        # nested: n synapses are the first n, with their trains; n = 0 (the context alone) first
        for n in ((0,) if n_context else ()) + tuple(s.dispersion_curve_counts):
            curves.append([(cluster[b][:n] + ctx_exc, ("ampa", "nmda"), trains[:n] + ctx_exc_tr),
                           (ctx_inh, ("gabaa",), ctx_inh_tr)])
    perm = rng(s.seed, "cluster_dispersion", "split").permutation(len(runs))
    split = np.full(len(runs), "train", dtype=object)
    split[perm[: int(round(s.test_fraction * len(runs)))]] = "test"
    lay = {"branches": branches, "rec": [(b, centre[b]) for b in branches], "runs": runs, "curves": curves,
           "rows": rows, "split": split, "n_context": n_context}
    ctx.cache["cluster_dispersion"] = lay
    return lay


def curve_context(s: Settings) -> int:
    """Synapses of the subunit curves' context (`dispersion_curve_context`; None: the
    smallest configuration total, the least drive any run has)."""
    if s.dispersion_curve_context is not None:
        return int(s.dispersion_curve_context)
    return min(size * count for size, count in s.dispersion_configs)


def _drive_tasks(ctx, what: str) -> list[Task]:
    s, lay = ctx.settings, _dispersion_layout(ctx)
    runs = lay[what]
    tasks = []
    for first in range(0, len(runs), s.dispersion_batch):
        batch = runs[first: first + s.dispersion_batch]
        tasks.append(Task.make("cluster_dispersion", "drive", len(batch),
                               len(batch) * (T0_MS + s.dispersion_duration_ms), first=first, what=what,
                               runs=[[(sites, kinds, trains, s.dispersion_weight_scale) for sites, kinds, trains in run]
                                     for run in batch],
                               rec_sites=lay["rec"], start_ms=T0_MS, end_ms=T0_MS + s.dispersion_duration_ms))
    return tasks


def plan_cluster_dispersion(ctx: Context) -> list[Task]:
    return _drive_tasks(ctx, "runs") + _drive_tasks(ctx, "curves")


def assemble_cluster_dispersion(ctx: Context, results) -> xr.Dataset:
    s, lay = ctx.settings, _dispersion_layout(ctx)

    def gather(what):
        rs = [results[t] for t in _drive_tasks(ctx, what)]
        return {k: np.concatenate([r[k] for r in rs]) for k in rs[0]}

    runs, curves = gather("runs"), gather("curves")
    B, nc = lay["branches"], len(s.dispersion_curve_counts)
    n0 = 1 if lay["n_context"] else 0              # curve runs per branch: the context alone first
    per = nc + n0
    own = np.arange(len(B) * per)
    local = curves["local_mean_mV"][own, np.repeat(np.arange(len(B)), per)].reshape(len(B), per)
    soma_mean, soma_rate = curves["soma_mean_mV"].reshape(len(B), per), curves["soma_rate_hz"].reshape(len(B), per)
    rows = lay["rows"]
    counts = np.stack([row[4] for row in rows])
    col = lambda j: np.array([row[j] for row in rows], np.int64)   # noqa: E731
    cshape = (len(B), nc)
    data = {
        "n_active": (("run", "branch"), counts),
        "soma_rate_hz": (("run",), runs["soma_rate_hz"].astype(float)),
        "soma_spikes": (("run",), runs["soma_spikes"].astype(np.int64)),
        "soma_mean_mV": (("run",), runs["soma_mean_mV"].astype(float)),
        "local_mean_mV": (("run", "branch"), runs["local_mean_mV"].astype(float)),
        "cluster_size": (("run",), col(0)),
        "n_clusters": (("run",), col(1)),
        "placement_index": (("run",), col(2)),
        "n_dispersed": (("run",), col(3)),
        "total_synapses": (("run",), counts.sum(1).astype(np.int64)),
        # curve run i belongs to branch i // per: its own recording site's column
        "curve_local_mean_mV": (("branch", "curve_n"), local[:, n0:].reshape(cshape)),
        "curve_soma_mean_mV": (("branch", "curve_n"), soma_mean[:, n0:].reshape(cshape)),
        "curve_soma_rate_hz": (("branch", "curve_n"), soma_rate[:, n0:].reshape(cshape)),
    }
    if n0:
        data.update({"curve_context_local_mean_mV": (("branch",), local[:, 0]),
                     "curve_context_soma_mean_mV": (("branch",), soma_mean[:, 0]),
                     "curve_context_soma_rate_hz": (("branch",), soma_rate[:, 0])})
    coords = {**_branch_coords(ctx, B, dict(lay["rec"])), "run": ("run", np.arange(len(rows), dtype=np.int64)),
              "split": ("run", lay["split"]),
              "curve_n": ("curve_n", np.asarray(s.dispersion_curve_counts, np.int64))}
    attrs = _params(s, "dispersion_configs", "dispersion_placements", "dispersion_branches", "dispersion_rate_hz",
                    "dispersion_duration_ms", "dispersion_weight_scale", "dispersion_inhibitory",
                    "dispersion_background_hz", "dispersion_background_synapses", "dispersion_curve_counts",
                    "pattern_max_distance_um", "cluster_span_um", "test_fraction")
    attrs["param_dispersion_configs"] = ",".join(f"{a}x{b}" for a, b in s.dispersion_configs)
    attrs["param_dispersion_curve_context"] = int(lay["n_context"])
    attrs.update({"param_t0_ms": T0_MS, "param_dead_time_ms": DEAD_TIME_MS,
                  "description": _dispersion_layout.__doc__.split("\n\n")[1].replace("\n", " ").strip()})
    return xr.Dataset(data, coords=coords, attrs=attrs)


# =============================================================================== invivo
INVIVO_CONDITIONS = ("control", "ampa_only")


def _invivo_factors(s: Settings, condition: str) -> dict:
    return {} if condition == "control" else {"nmda": 0.0, "ampa": s.invivo_ampa_only_factor}


def _invivo_layout(ctx) -> dict:
    """Synapses, rates and events of every simulation (bridge.characterize.invivo); each
    simulation from its own generator rng(seed, "invivo", sim), shared by the conditions.

    AMPA-only (after Beniaguev et al. 2021's AMPA-only cell): NMDA weight 0 and AMPA x
    `invivo_ampa_only_factor`. 10 is this project's calibration on the built-in l5pc with
    the default rates (2 simulations of 1 s: control 25 spikes; AMPA x 4: 2; x 8: 13; the
    first default, x 2, left the cell silent in all 32 default simulations), so that both
    conditions fire and the spike scores are defined in both."""
    if "invivo" in ctx.cache:
        return ctx.cache["invivo"]
    from bridge.characterize import invivo as IV

    s, morph = ctx.settings, ctx.morphology
    table = IV.synapse_table(morph, ctx.recipe)
    branches = sorted(set(int(b) for b in table["branch"]))
    gain_row = np.searchsorted(branches, table["branch"])
    n_bins = int(round(s.invivo_duration_ms / IV.BIN_MS))
    sims = []
    for k in range(s.invivo_simulations):
        r = rng(s.seed, "invivo", k)
        exc, inh, gain = IV.draw_rates(r, n_bins, len(branches), exc_rate_hz=s.invivo_exc_rate_hz,
                                       inh_rate_hz=s.invivo_inh_rate_hz, segment_ms=s.invivo_segment_ms,
                                       smooth_ms=s.invivo_smooth_ms, burst_fraction=s.invivo_burst_fraction,
                                       burst_factor=s.invivo_burst_factor)
        rates = np.where((table["cls"] == IV.EXC)[:, None], exc[None, :] * gain[gain_row], inh[None, :])
        syn, t = IV.draw_events(r, rates)
        sims.append({"syn": syn, "t": t, "exc_rate": exc.astype(np.float32), "inh_rate": inh.astype(np.float32)})
    record = [] if morph.main_bifurcation_id is None else [(int(morph.main_bifurcation_id), 1.0)]
    lay = {"table": table, "sims": sims, "record": record}
    ctx.cache["invivo"] = lay
    return lay


def _invivo_task(ctx, k: int, condition: str) -> Task:
    """The task of simulation k in `condition`, built once per run (the planner and the
    assembler both ask for it; its trains come from a sort of every event)."""
    key = ("invivo_task", k, condition)
    if key not in ctx.cache:
        ctx.cache[key] = _make_invivo_task(ctx, k, condition)
    return ctx.cache[key]


def _make_invivo_task(ctx, k: int, condition: str) -> Task:
    from bridge.characterize import invivo as IV

    s, lay = ctx.settings, _invivo_layout(ctx)
    tab, sim = lay["table"], lay["sims"][k]
    trains = IV.trains_of(tab["branch"].size, sim["syn"], sim["t"], 0.0)
    sites = [(int(b), float(x)) for b, x in zip(tab["branch"], tab["x"])]
    exc = tab["cls"] == IV.EXC
    drives = [([st for st, e in zip(sites, exc) if e], ("ampa", "nmda"), [tr for tr, e in zip(trains, exc) if e], 1.0),
              ([st for st, e in zip(sites, exc) if not e], ("gabaa",), [tr for tr, e in zip(trains, exc) if not e], 1.0)]
    return Task.make("invivo", "invivo", 1, s.invivo_duration_ms, sim=k, condition=condition, drives=drives,
                     weight_factors=sorted(_invivo_factors(s, condition).items()), rec_sites=lay["record"],
                     tstop_ms=s.invivo_duration_ms, sample_ms=IV.BIN_MS)


def plan_invivo(ctx: Context) -> list[Task]:
    s = ctx.settings
    return [_invivo_task(ctx, k, c) for c in s.invivo_conditions for k in range(s.invivo_simulations)]


def assemble_invivo(ctx: Context, results) -> xr.Dataset:
    from bridge.characterize import invivo as IV

    s, lay = ctx.settings, _invivo_layout(ctx)
    C, N = list(s.invivo_conditions), s.invivo_simulations
    n_t = int(round(s.invivo_duration_ms / IV.BIN_MS))
    soma = np.empty((len(C), N, n_t), np.float32)
    nexus = np.empty((len(C), N, n_t), np.float32) if lay["record"] else None
    sp_c, sp_s, sp_t = [], [], []
    for i, c in enumerate(C):
        for k in range(N):
            r = results[_invivo_task(ctx, k, c)]
            soma[i, k] = r["soma_mV"]
            if nexus is not None:
                nexus[i, k] = r["sites_mV"][0]
            t = np.asarray(r["spike_times_ms"], float)
            sp_c.append(np.full(t.size, i, np.int64))
            sp_s.append(np.full(t.size, k, np.int64))
            sp_t.append(t)
    sp_c, sp_s, sp_t = (np.concatenate(v) if v else np.zeros(0) for v in (sp_c, sp_s, sp_t))
    counts = np.zeros((len(C), N), np.int64)
    np.add.at(counts, (sp_c.astype(np.int64), sp_s.astype(np.int64)), 1)
    tab = lay["table"]
    ev_n = np.array([sim["syn"].size for sim in lay["sims"]], np.int64)
    data = {
        "soma_mV": (("condition", "sim", "time_ms"), soma),
        "soma_spike_count": (("condition", "sim"), counts),
        "spike_condition": (("spike",), sp_c.astype(np.int64)),
        "spike_sim": (("spike",), sp_s.astype(np.int64)),
        "spike_time_ms": (("spike",), sp_t.astype(float)),
        "synapse_branch": (("synapse",), tab["branch"]),
        "synapse_x": (("synapse",), tab["x"]),
        "synapse_class": (("synapse",), tab["cls"].astype(np.int64)),
        "synapse_branch_type": (("synapse",), np.array([ctx.btype(int(b)) for b in tab["branch"]], dtype=object)),
        "synapse_path_distance_um": (("synapse",), np.array([ctx.distance(int(b), x) for b, x in zip(tab["branch"], tab["x"])])),
        "event_synapse": (("event",), np.concatenate([sim["syn"] for sim in lay["sims"]]).astype(np.int32)),
        "event_time_ms": (("event",), np.concatenate([sim["t"] for sim in lay["sims"]]).astype(np.float32)),
        "sim_event_start": (("sim",), np.concatenate([[0], np.cumsum(ev_n)[:-1]]).astype(np.int64)),
        "sim_event_count": (("sim",), ev_n),
        "exc_rate_hz": (("sim", "time_ms"), np.stack([sim["exc_rate"] for sim in lay["sims"]])),
        "inh_rate_hz": (("sim", "time_ms"), np.stack([sim["inh_rate"] for sim in lay["sims"]])),
    }
    if nexus is not None:
        data["nexus_mV"] = (("condition", "sim", "time_ms"), nexus)
    # the tree the synapses sit on, for models that group synapses by branch (hLN subunits)
    tree_ids = sorted(set(int(b) for b in tab["branch"]))
    data["branch_parent"] = (("branch",), np.array([ctx.morphology.branches[b].parent_id or 0 for b in tree_ids],
                                                   np.int64))
    data["branch_type"] = (("branch",), np.array([ctx.btype(b) for b in tree_ids], dtype=object))
    coords = {"condition": ("condition", np.array(C, dtype=object)),
              "sim": ("sim", np.arange(N, dtype=np.int64)),
              "time_ms": ("time_ms", np.arange(n_t, dtype=float) * IV.BIN_MS),
              "synapse": ("synapse", np.arange(tab["branch"].size, dtype=np.int64)),
              "branch": ("branch", np.asarray(tree_ids, np.int64))}
    attrs = _params(s, "invivo_simulations", "invivo_duration_ms", "invivo_conditions", "invivo_exc_rate_hz",
                    "invivo_inh_rate_hz", "invivo_segment_ms", "invivo_smooth_ms", "invivo_burst_fraction",
                    "invivo_burst_factor", "invivo_ampa_only_factor")
    for kind, model in ctx.recipe.synapses:      # the kinetics temporal models start from
        attrs[f"kinetics_{kind}_ms"] = np.array([model.tau_rise_ms, model.tau_decay_ms])
    attrs.update({"synapse_classes": "0 exc (AMPA + NMDA), 1 inh (GABA-A)",
                  "condition_control": "the recipe's synapses",
                  "condition_ampa_only": f"NMDA weight 0, AMPA weight x {s.invivo_ampa_only_factor:g} (after "
                                         "Beniaguev et al. 2021's AMPA-only cell)",
                  "nexus_site": "end of the trunk branch at the main bifurcation" if nexus is not None else "none",
                  "description": IV.__doc__.split("\n\n")[1].replace("\n", " ").strip()})
    return xr.Dataset(data, coords=coords, attrs=attrs)


# =============================================================================== registry
def _params(s: Settings, *names) -> dict:
    out = {}
    for n in names:
        v = getattr(s, n)
        if isinstance(v, (tuple, list)):
            v = np.asarray(v) if all(isinstance(e, (int, float)) for e in v) else ",".join(map(str, v))
        out[f"param_{n}"] = v
    return out


PLANNERS = {"passive": plan_passive, "integration": plan_integration, "timing": plan_timing,
            "bap": plan_bap, "bac": plan_bac, "fi": plan_fi, "patterns": plan_patterns,
            "cluster_dispersion": plan_cluster_dispersion, "invivo": plan_invivo}
ASSEMBLERS = {"passive": assemble_passive, "integration": assemble_integration, "timing": assemble_timing,
              "bap": assemble_bap, "bac": assemble_bac, "fi": assemble_fi, "patterns": assemble_patterns,
              "cluster_dispersion": assemble_cluster_dispersion, "invivo": assemble_invivo}


def default_protocols(cell: str) -> tuple[str, ...]:
    """`--protocols all`: every protocol the cell type supports (`CellType.protocols`)."""
    from cells.types import get_cell_type

    supported = get_cell_type(cell).protocols
    return tuple(p for p in PROTOCOLS if p in supported)


def plan(ctx: Context) -> list[Task]:
    """All tasks of the run, without duplicates, in protocol order."""
    tasks = []
    for p in ctx.protocols:
        tasks += PLANNERS[p](ctx)
    return list(dict.fromkeys(tasks))


def assemble(ctx: Context, results) -> dict[str, xr.Dataset]:
    return {p: ASSEMBLERS[p](ctx, results) for p in ctx.protocols}
