"""Characterize a cell's dendritic integration and write one netCDF file, a group per protocol.

Protocols: passive, integration, timing, bap, bac (l5pc), fi, patterns, cluster_dispersion, invivo (see
bridge/characterize/protocols.py; file format: bridge/schema.py, "Characterization").
Runs on a local process pool (default: one worker per core) or, with --scheduler, on an
existing Dask cluster; the results are identical. Every finished task is checkpointed in
OUT.nc.parts/, so re-running the same command after an interruption resumes; OUT.nc is
written atomically at the end. Exit status 2 on bad input (nothing written). A run that
fails before any task finished removes OUT.nc.parts/; one that fails later keeps it and
says how many tasks a rerun resumes from.

examples:
  bridge characterize l5pc -o l5pc.nc                       # standard protocols, 3 branches
  bridge characterize ca1 --protocols cluster_dispersion -o ca1_dispersion.nc
  bridge characterize l5pc --protocols invivo --invivo-sims 32 -o l5pc_invivo.nc
  bridge characterize l5pc --protocols integration --branches all --workers 16 -o l5pc_int.nc
  bridge characterize ca1 --morphology cell.swc --protocols passive,fi -o ca1.nc
  bridge characterize l5pc --scheduler tcp://10.0.0.5:8786 -o l5pc.nc
"""
from __future__ import annotations

NAME = "characterize"
HELP = "run characterization protocols (integration, patterns, ...) and write a dataset"


def add_arguments(parser) -> None:
    from bridge.characterize.protocols import CONDITIONS, DEFAULT_BRANCHES, PLACEMENTS, Settings

    d = Settings()
    parser.add_argument("cell", help="cell model: l5pc or ca1")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.nc", help="output file (must not exist)")
    parser.add_argument("--morphology", metavar="FILE.swc", help="SWC reconstruction instead of the built-in morphology")
    parser.add_argument("--simulator", default="neuron", help="neuron (default) or brian2")
    parser.add_argument("--protocols", default="standard", help="comma-separated: passive, integration, timing, bap, "
                        "bac, fi, patterns, cluster_dispersion, invivo; standard (default: all but the long "
                        "cluster_dispersion and invivo) or all; only those the cell type supports (bac: l5pc)")
    parser.add_argument("--branches", default=str(DEFAULT_BRANCHES), metavar="N|all|ID,ID",
                        help=f"integration/timing branches: N sampled (seeded, round-robin basal/oblique/tuft), "
                             f"all dendritic branches, or a list of branch ids (default {DEFAULT_BRANCHES})")
    parser.add_argument("--synapses", type=int, default=d.n_synapses, metavar="N",
                        help=f"integration: synapses per branch, n = 1..N (default {d.n_synapses})")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help=f"integration conditions (default {','.join(CONDITIONS)})")
    parser.add_argument("--placements", default=",".join(PLACEMENTS), help=f"integration placements (default {','.join(PLACEMENTS)})")
    parser.add_argument("--patterns", type=int, default=d.n_patterns, metavar="N",
                        help=f"patterns: number of random drive patterns (default {d.n_patterns})")
    parser.add_argument("--dispersion-placements", type=int, default=d.dispersion_placements, metavar="N",
                        help=f"cluster_dispersion: random placements per configuration (default {d.dispersion_placements})")
    parser.add_argument("--dispersion-configs", default=",".join(f"{a}x{b}" for a, b in d.dispersion_configs),
                        metavar="SxM,...", help="cluster_dispersion: configurations, cluster size x number of "
                        "clusters (default: Poirazi et al. 2003's 8x4,4x8,5x7,7x5,6x6,8x5,4x10)")
    parser.add_argument("--dispersion-branches", type=int, default=d.dispersion_branches, metavar="N",
                        help=f"cluster_dispersion: input branches, each with its own curve (default "
                             f"{d.dispersion_branches}; at least the largest number of clusters)")
    parser.add_argument("--dispersion-ms", type=float, default=d.dispersion_duration_ms, metavar="MS",
                        help=f"cluster_dispersion: drive duration (default {d.dispersion_duration_ms:g} ms)")
    parser.add_argument("--dispersion-curve", default=",".join(map(str, d.dispersion_curve_counts)), metavar="N,...",
                        help="cluster_dispersion: synapse counts of each branch's own curve (default "
                             f"{','.join(map(str, d.dispersion_curve_counts))}; at least 3)")
    parser.add_argument("--invivo-sims", type=int, default=d.invivo_simulations, metavar="N",
                        help=f"invivo: simulations (default {d.invivo_simulations})")
    parser.add_argument("--invivo-ms", type=float, default=d.invivo_duration_ms, metavar="MS",
                        help=f"invivo: duration of each simulation (default {d.invivo_duration_ms:g} ms)")
    parser.add_argument("--invivo-conditions", default=",".join(d.invivo_conditions),
                        help="invivo: control, ampa_only (NMDA replaced by AMPA) or both (default)")
    parser.add_argument("--invivo-exc-hz", default="{:g},{:g}".format(*d.invivo_exc_rate_hz), metavar="LO,HI",
                        help="invivo: range of the excitatory rate per synapse, before the branch gains "
                             "(default {:g},{:g} Hz)".format(*d.invivo_exc_rate_hz))
    parser.add_argument("--invivo-inh-hz", default="{:g},{:g}".format(*d.invivo_inh_rate_hz), metavar="LO,HI",
                        help="invivo: range of the inhibitory rate per synapse (default {:g},{:g} Hz)".format(
                            *d.invivo_inh_rate_hz))
    parser.add_argument("--invivo-bursts", default="{:g},{:g}".format(d.invivo_burst_fraction, d.invivo_burst_factor),
                        metavar="FRACTION,FACTOR",
                        help="invivo: each branch's excitatory synapses burst together at FACTOR x the rate in "
                             "FRACTION of the stretches, the mean gain kept at 1 (default {:g},{:g}; a larger "
                             "FACTOR drives local NMDA spikes)".format(d.invivo_burst_fraction, d.invivo_burst_factor))
    parser.add_argument("--dispersion-curve-context", type=int, default=None, metavar="N",
                        help="cluster_dispersion: synapses driven on the other input branches while each subunit "
                             "curve is measured (default: the smallest configuration total; 0: the branch alone)")
    parser.add_argument("--dispersion-weight-scale", type=float, default=d.dispersion_weight_scale, metavar="X",
                        help="cluster_dispersion: synaptic conductances x X (default "
                             f"{d.dispersion_weight_scale:g})")
    parser.add_argument("--pattern-branches", type=int, default=d.pattern_branches, metavar="N",
                        help=f"patterns: branches that receive input (default {d.pattern_branches})")
    parser.add_argument("--pattern-synapses", type=int, default=d.pattern_synapses, metavar="N",
                        help=f"patterns: cluster size per branch, the most active on one branch "
                             f"(default {d.pattern_synapses})")
    parser.add_argument("--traces", action="store_true", help="integration: also store the voltage traces")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    parser.add_argument("--dt", type=float, default=0.025, metavar="MS", help="time step (default 0.025 ms)")
    parser.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: all cores; 0: in this process)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this Dask distributed scheduler")
    parser.add_argument("--recipe", metavar="RECIPE.json", help="an adapted recipe (bridge adapt) instead of the cell's own")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def parse_branches(text: str):
    from dendritic_errors import InputError

    text = text.strip()
    if text == "all":
        return "all"
    try:
        if "," in text:
            return tuple(int(t) for t in text.split(",") if t.strip())
        n = int(text)
    except ValueError:
        raise InputError(f"--branches {text!r}: expected a number, 'all' or a list of branch ids") from None
    if n < 1:
        raise InputError(f"--branches must be >= 1, got {n}")
    return n


def parse_configs(text: str) -> tuple:
    from dendritic_errors import InputError

    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        try:
            size, count = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise InputError(f"--dispersion-configs: {item!r} is not SIZExCOUNT (e.g. 8x4)") from None
        if size < 1 or count < 1:
            raise InputError(f"--dispersion-configs: {item!r} needs a size and a count >= 1")
        out.append((size, count))
    if not out:
        raise InputError("--dispersion-configs: no configuration given")
    return tuple(out)


def parse_counts(text: str, option: str) -> tuple:
    from dendritic_errors import InputError

    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise InputError(f"{option} {text!r}: expected comma-separated integers") from None
    if len(values) < 3 or min(values) < 1 or len(set(values)) != len(values):
        raise InputError(f"{option} {text!r}: needs at least 3 distinct counts >= 1")
    return tuple(sorted(values))


def parse_rate_range(text: str, option: str) -> tuple:
    from dendritic_errors import InputError

    try:
        lo, hi = (float(t) for t in text.split(","))
    except ValueError:
        raise InputError(f"{option} {text!r}: expected LO,HI in Hz (e.g. 0.5,3)") from None
    if not 0 <= lo <= hi or hi >= 1000.0:
        raise InputError(f"{option} {text!r}: needs 0 <= LO <= HI < 1000 Hz (one event per synapse and ms at most)")
    return (lo, hi)


def parse_bursts(text: str) -> tuple:
    from dendritic_errors import InputError

    try:
        fraction, factor = (float(t) for t in text.split(","))
    except ValueError:
        raise InputError(f"--invivo-bursts {text!r}: expected FRACTION,FACTOR (e.g. 0.1,4)") from None
    if not (0 <= fraction <= 1 and factor >= 1):
        raise InputError(f"--invivo-bursts {text!r}: needs 0 <= FRACTION <= 1 and FACTOR >= 1")
    return fraction, factor


def run(args) -> int:
    from bridge.characterize import Settings, characterize

    def names(text):
        return tuple(t.strip() for t in text.split(",") if t.strip())

    bursts = parse_bursts(args.invivo_bursts)
    settings = Settings(seed=args.seed, branches=parse_branches(args.branches), n_synapses=args.synapses,
                        conditions=names(args.conditions), placements=names(args.placements),
                        n_patterns=args.patterns, traces=args.traces,
                        pattern_branches=args.pattern_branches, pattern_synapses=args.pattern_synapses,
                        dispersion_placements=args.dispersion_placements,
                        dispersion_configs=parse_configs(args.dispersion_configs),
                        dispersion_duration_ms=args.dispersion_ms,
                        dispersion_branches=args.dispersion_branches,
                        invivo_simulations=args.invivo_sims, invivo_duration_ms=args.invivo_ms,
                        invivo_conditions=names(args.invivo_conditions),
                        invivo_exc_rate_hz=parse_rate_range(args.invivo_exc_hz, "--invivo-exc-hz"),
                        invivo_inh_rate_hz=parse_rate_range(args.invivo_inh_hz, "--invivo-inh-hz"),
                        invivo_burst_fraction=bursts[0], invivo_burst_factor=bursts[1],
                        dispersion_curve_counts=parse_counts(args.dispersion_curve, "--dispersion-curve"),
                        dispersion_weight_scale=args.dispersion_weight_scale,
                        dispersion_curve_context=args.dispersion_curve_context)
    characterize(args.cell, args.output, morphology=args.morphology, simulator=args.simulator,
                 protocols=args.protocols, settings=settings, dt_ms=args.dt, workers=args.workers,
                 scheduler=args.scheduler, progress=not args.no_progress, recipe_file=args.recipe)
    return 0
