"""Characterize a cell's dendritic integration and write one netCDF file, a group per protocol.

Protocols: passive, integration, timing, bap, bac (l5pc), fi, patterns (see
bridge/characterize/protocols.py; file format: bridge/schema.py, "Characterization").
Runs on a local process pool (default: one worker per core) or, with --scheduler, on an
existing Dask cluster; the results are identical. Every finished task is checkpointed in
OUT.nc.parts/, so re-running the same command after an interruption resumes; OUT.nc is
written atomically at the end. Exit status 2 on bad input (nothing written). A run that
fails before any task finished removes OUT.nc.parts/; one that fails later keeps it and
says how many tasks a rerun resumes from.

examples:
  bridge characterize l5pc -o l5pc.nc                       # all protocols, 3 branches
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
    parser.add_argument("--protocols", default="all", help="comma-separated: passive, integration, timing, bap, bac, "
                        "fi, patterns; or all (default; bac only for l5pc)")
    parser.add_argument("--branches", default=str(DEFAULT_BRANCHES), metavar="N|all|ID,ID",
                        help=f"integration/timing branches: N sampled (seeded, round-robin basal/oblique/tuft), "
                             f"all dendritic branches, or a list of branch ids (default {DEFAULT_BRANCHES})")
    parser.add_argument("--synapses", type=int, default=d.n_synapses, metavar="N",
                        help=f"integration: synapses per branch, n = 1..N (default {d.n_synapses})")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help=f"integration conditions (default {','.join(CONDITIONS)})")
    parser.add_argument("--placements", default=",".join(PLACEMENTS), help=f"integration placements (default {','.join(PLACEMENTS)})")
    parser.add_argument("--patterns", type=int, default=d.n_patterns, metavar="N",
                        help=f"patterns: number of random drive patterns (default {d.n_patterns})")
    parser.add_argument("--traces", action="store_true", help="integration: also store the voltage traces")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    parser.add_argument("--dt", type=float, default=0.025, metavar="MS", help="time step (default 0.025 ms)")
    parser.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: all cores; 0: in this process)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this Dask distributed scheduler")
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


def run(args) -> int:
    from bridge.characterize import Settings, characterize

    def names(text):
        return tuple(t.strip() for t in text.split(",") if t.strip())

    settings = Settings(seed=args.seed, branches=parse_branches(args.branches), n_synapses=args.synapses,
                        conditions=names(args.conditions), placements=names(args.placements),
                        n_patterns=args.patterns, traces=args.traces)
    characterize(args.cell, args.output, morphology=args.morphology, simulator=args.simulator,
                 protocols=args.protocols, settings=settings, dt_ms=args.dt, workers=args.workers,
                 scheduler=args.scheduler, progress=not args.no_progress)
    return 0
