"""Fit dendritic transfer functions and a two-layer cell model to a characterization file.

Reads the output of `bridge characterize` (groups `integration`, `patterns`, optionally
`timing`), fits every branch's measured local response against the expected linear sum
and against the number of synapses (families: linear, sigmoid, supralinear, saturating,
monotone spline; chosen per curve by BIC unless --family forces one), fits the two-layer
model (Poirazi, Brannon & Mel 2003), a point-neuron baseline (total input, equal
weights, one output sigmoid) and a weighted linear model on the train patterns,
and writes a units file (schema `bridge.units` v2, see bridge/schema.py) atomically.

Prints, per branch type, the chosen families, median parameters and median R^2, and the
variance explained on the held-out patterns by the two-layer models, the point neuron and
the weighted linear model.
A branch whose default curve is empty, flat or non-monotone stops the command (exit 2,
no file) unless --skip-bad drops it.

examples:
  bridge fit char.nc -o units.nc
  bridge fit char.nc -o units.nc --family sigmoid --plots figs/
  bridge fit char.nc -o units.nc --no-two-layer --skip-bad
  bridge fit char.nc -o units.nc --overwrite          # replace an earlier units.nc
"""
from __future__ import annotations

import os
import sys

NAME = "fit"
HELP = "fit transfer functions and a two-layer model to a characterization (writes a units file)"

FAMILY_CHOICES = ("auto", "linear", "sigmoid", "supralinear", "saturating", "spline")


def add_arguments(p) -> None:
    p.add_argument("characterization", metavar="CHAR.nc", help="output of `bridge characterize`")
    p.add_argument("-o", "--output", required=True, metavar="UNITS.nc",
                   help="units file to write (must not exist unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--family", default="auto", choices=FAMILY_CHOICES,
                   help="transfer family for every branch (default auto: chosen per curve by --criterion)")
    p.add_argument("--criterion", default="bic", choices=("bic", "aic"),
                   help="model selection criterion (default bic; the simpler family wins within 2 units)")
    p.add_argument("--placement", default=None, help="placement of the default fit (default clustered)")
    p.add_argument("--condition", default=None, help="condition of the default fit (default control)")
    p.add_argument("--skip-bad", action="store_true",
                   help="drop branches whose default curve is empty, flat or non-monotone instead of stopping")
    p.add_argument("--no-two-layer", action="store_true", help="do not fit the two-layer model (no patterns needed)")
    p.add_argument("--ridge", type=float, default=1e-2, help="ridge penalty of the two-layer weights (default 0.01)")
    p.add_argument("--plots", metavar="DIR", default=None, help="write PNG figures of the fits to DIR")


def run(args) -> int:
    from bridge.io import check_output
    from dendritic_errors import InputError

    if os.path.abspath(args.output) == os.path.abspath(args.characterization):
        raise InputError("-o must not be the characterization file itself")
    check_output(args.output, args.overwrite)
    if args.ridge < 0:
        raise InputError(f"--ridge must be >= 0, got {args.ridge}")
    from bridge.fit.pipeline import fit_characterization
    from bridge.fit.summary import summary_table
    from bridge.schema import write_units

    res = fit_characterization(args.characterization, family=args.family, criterion=args.criterion,
                               skip_bad=args.skip_bad, two_layer=not args.no_two_layer,
                               placement=args.placement, condition=args.condition, ridge=args.ridge)
    for _, msg in res.skipped:
        print(f"bridge fit: skipped {msg}", file=sys.stderr)
    for msg in res.warnings[:20]:
        print(f"bridge fit: warning: {msg}", file=sys.stderr)
    if len(res.warnings) > 20:
        print(f"bridge fit: warning: ... and {len(res.warnings) - 20} more", file=sys.stderr)
    u = res.units
    s = res.seconds
    print(f"{u.attrs.get('cell', '?')}: {u.sizes['branch']} branches fitted "
          f"(default curve: {u.attrs['default_placement']}, {u.attrs['default_condition']}; "
          f"selection: {u.attrs['selection_criterion']}, family {u.attrs['fit_family']}); "
          f"branch fits {s['branches']:.2f} s, "
          f"two-layer {s['two_layer']:.1f} s")
    print(summary_table(u))
    write_units(u, args.output)
    print(f"wrote {args.output}")
    if args.plots:
        from bridge.plots import write_fit_figures

        paths = write_fit_figures(res, args.plots)
        print(f"wrote {len(paths)} figures to {args.plots}")
    return 0
