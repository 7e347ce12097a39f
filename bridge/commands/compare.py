"""Run the same protocols in NEURON and Brian2 and report how far apart they are.

Protocols: passive EPSPs at several distances, a somatic current step with spikes,
clustered NMDA input on a basal branch, a backpropagating AP (see cells/equivalence.py).
Prints, per protocol and recording site, the mean absolute voltage difference (outside 2 ms
around each spike), the largest difference, spike counts and the largest spike-time
difference. Exit status 1 when a tolerance is exceeded (passive mean |dV| > 0.1 mV, active
> 0.5 mV, a spike unmatched or more than 0.2 ms off), 2 on bad input.

examples:
  bridge compare l5pc
  bridge compare ca1 --morphology ../shared/morphologies/ca1_n120.swc
  bridge compare l5pc --protocols step,bap
"""
from __future__ import annotations

import sys

NAME = "compare"
HELP = "run the same protocols in NEURON and Brian2 and compare the voltages"


def add_arguments(parser) -> None:
    parser.add_argument("cell", help="cell model: l5pc or ca1")
    parser.add_argument("--morphology", metavar="FILE.swc", help="SWC reconstruction instead of the built-in morphology")
    parser.add_argument("--protocols", help="comma-separated subset of passive_epsp,step,nmda_cluster,bap (default: all)")


def run(args) -> int:
    from cells import InputError, get_cell_type
    from cells.equivalence import PROTOCOLS, compare, table

    get_cell_type(args.cell)                      # InputError naming the known types
    protocols = None
    if args.protocols:
        protocols = tuple(p.strip() for p in args.protocols.split(",") if p.strip())
        unknown = set(protocols) - set(PROTOCOLS)
        if unknown or not protocols:
            raise InputError(f"unknown protocol(s) {', '.join(sorted(unknown)) or '(none given)'}: "
                             f"choose from {', '.join(PROTOCOLS)}")

    def progress(name):
        print(f"  running {name} in NEURON and Brian2 ...", file=sys.stderr, flush=True)

    rows, seconds = compare(args.cell, morphology=args.morphology, protocols=protocols, progress=progress)
    source = args.morphology or "built-in morphology"
    print(f"{args.cell} on {source}: NEURON {seconds['neuron']:.1f} s, Brian2 {seconds['brian2']:.1f} s")
    print(table(rows))
    return 0 if all(r.passed for r in rows) else 1
