"""Run a cell's validation protocols and compare them with published targets.

Prints one row per feature: the target (mean ± SD, or a range) and its source, the
measured value, pass/fail. Exit status 1 when any feature fails, 2 on bad input.

examples:
  bridge validate l5pc
  bridge validate ca1 --morphology ../shared/morphologies/ca1_n120.swc
  bridge validate l5pc --protocols bap,bac
  bridge validate l5pc --fast --simulator brian2
"""
from __future__ import annotations

import sys

NAME = "validate"
HELP = "check a cell model against published dendritic physiology"


def add_arguments(parser) -> None:
    parser.add_argument("cell", help="cell model: l5pc or ca1")
    parser.add_argument("--morphology", metavar="FILE.swc", help="SWC reconstruction instead of the built-in morphology")
    parser.add_argument("--simulator", default="neuron", choices=["neuron", "brian2"],
                        help="simulator backend (default: neuron)")
    parser.add_argument("--protocols", help="comma-separated subset of protocols (default: all for this cell)")
    parser.add_argument("--fast", action="store_true", help="shorter protocols (as in the test suite)")


def run(args) -> int:
    from cells import InputError, get_cell_type
    from cells.validation import protocol_plan, validate

    get_cell_type(args.cell)                      # InputError naming the known types
    protocols = None
    if args.protocols:
        protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
        unknown = set(protocols) - set(protocol_plan(args.cell))
        if unknown:
            raise InputError(f"unknown protocol(s) {', '.join(sorted(unknown))} for {args.cell}: "
                             f"choose from {', '.join(protocol_plan(args.cell))}")

    def progress(name):
        print(f"  running {name} ...", file=sys.stderr, flush=True)

    report = validate(args.cell, morphology=args.morphology, simulator=args.simulator,
                      fast=args.fast, protocols=protocols, progress=progress)
    print(report.table())
    print("sources:")
    print(report.sources())
    return 0 if report.passed else 1
