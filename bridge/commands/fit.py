"""Fit dendritic transfer functions and a two-layer cell model to a characterization file.

Reads the output of `bridge characterize` (groups `integration`, `patterns`, optionally
`timing` and `cluster_dispersion`), fits every branch's measured local response against the expected linear sum
and against the number of synapses (families: linear, sigmoid, supralinear, saturating,
monotone spline; chosen per curve by BIC unless --family forces one), fits the two-layer
model (Poirazi, Brannon & Mel 2003), a point-neuron baseline (total input, equal
weights, one output sigmoid) and a weighted linear model on the train patterns,
and writes a units file (schema `bridge.units`, see bridge/schema.py) atomically. Each
two-layer subunit is the branch's own fit (from its own curve); a branch without one stops
the fit, named. With a `cluster_dispersion` group (Poirazi, Brannon & Mel 2003's
experiment) the same models are fitted to the firing rate of those runs, each subunit from
its branch's own curve. --report writes the printed figures as JSON.

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
  bridge fit dispersion.nc --report fit.json          # cluster_dispersion only: figures, no units file
  bridge fit invivo.nc --temporal --models hln,ln,elm -o temporal.nc --report fit.json
  bridge fit invivo.nc --temporal --pool invivo_seed1.nc -o temporal.nc   # two runs' simulations
"""
from __future__ import annotations

import os
import sys

NAME = "fit"
HELP = "fit transfer functions and a two-layer model to a characterization (writes a units file)"

FAMILY_CHOICES = ("auto", "linear", "sigmoid", "supralinear", "saturating", "spline")


def add_arguments(p) -> None:
    from bridge.fit.temporal import DEFAULT_SUBUNIT_RULE, SOMA_MLP_HIDDEN, SPIKE_HISTORY_MS, SUBUNIT_RULES

    p.add_argument("characterization", metavar="CHAR.nc", help="output of `bridge characterize`")
    p.add_argument("-o", "--output", default=None, metavar="UNITS.nc",
                   help="units file to write (must not exist unless --overwrite; needs the integration group)")
    p.add_argument("--report", default=None, metavar="FILE.json",
                   help="also write what is printed as JSON: per model, variance explained per target, n train and "
                        "test, parameter count (-o, --report or both)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
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
    t = p.add_argument_group("temporal models (the invivo group)")
    t.add_argument("--temporal", action="store_true",
                   help="fit temporal neuron models to the invivo group instead: -o writes them into a units "
                        "file (bridge.nn.temporal_neuron reads them back), --report their held-out figures")
    t.add_argument("--models", default="hln,ln", help="hln, ln, branch_elm, elm, tcn (default hln,ln)")
    t.add_argument("--subunits", default=DEFAULT_SUBUNIT_RULE, choices=SUBUNIT_RULES,
                   help="hLN subunits: one per dendritic branch, joined along the tree (branch) or all on the soma "
                        "(two_layer; two_layer_shared: those of a branch type share their parameters), or one per "
                        f"branch type (default {DEFAULT_SUBUNIT_RULE})")
    t.add_argument("--spike-history", default=",".join(f"{t:g}" for t in SPIKE_HISTORY_MS), metavar="MS,MS,...",
                   help="time constants (ms) of the hLN's and LN's spike-history filters, or 'none' (default "
                        f"{','.join(f'{t:g}' for t in SPIKE_HISTORY_MS)})")
    t.add_argument("--soma-mlp", type=int, default=SOMA_MLP_HIDDEN, metavar="H",
                   help="the hLN's and LN's somatic read-out: a two-layer MLP of H units per layer of the subunit "
                        f"inputs and the spike history, added to the voltage (0: none; default {SOMA_MLP_HIDDEN})")
    t.add_argument("--pool", default=None, metavar="FILE.nc[,FILE.nc...]",
                   help="more invivo files of the same settings, run with other seeds: their simulations are "
                        "pooled with CHAR.nc's before the split")
    t.add_argument("--conditions", default=None, help="invivo conditions (default all in the file)")
    t.add_argument("--epochs", type=int, default=30, help="maximum epochs (default 30; early stopping on validation)")
    t.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--checkpoints", metavar="DIR", default=None,
                   help="resumable per-model checkpoints (state_dicts) in DIR")


def parse_spike_history(text: str) -> tuple:
    """--spike-history: 'none' or comma-separated positive time constants in ms."""
    from dendritic_errors import InputError

    if text.strip().lower() == "none":
        return ()
    try:
        taus = tuple(float(v) for v in text.split(","))
    except ValueError:
        taus = ()
    if not taus or not all(0 < t < float("inf") for t in taus):
        raise InputError(f"--spike-history {text!r}: give positive time constants in ms (e.g. 1,10,100) or 'none'")
    return taus


def run_temporal(args) -> int:
    from bridge.fit.report import REPORT_SCHEMA, REPORT_VERSION, write_report
    from bridge.characterize.invivo import pool_groups
    from bridge.fit.temporal import fit_temporal_models
    from bridge.schema import open_characterization
    from dendritic_errors import InputError

    if args.epochs < 1:
        raise InputError(f"--epochs must be >= 1, got {args.epochs}")
    history = parse_spike_history(args.spike_history)
    if args.soma_mlp < 0:
        raise InputError(f"--soma-mlp must be >= 0 (0: no MLP), got {args.soma_mlp}")
    if args.device.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            raise InputError(f"--device {args.device}: no CUDA device is available")
    paths = [args.characterization] + ([p.strip() for p in args.pool.split(",") if p.strip()] if args.pool else [])
    invivo = []
    for path in paths:
        groups = open_characterization(path)
        if "invivo" not in groups:
            raise InputError(f"{path}: no 'invivo' protocol group (protocols present: "
                             f"{', '.join(groups) or 'none'}); run `bridge characterize CELL --protocols invivo`")
        invivo.append(groups["invivo"])
    try:
        g = pool_groups(invivo)
    except ValueError as e:
        raise InputError(f"--pool {args.pool}: {e}") from None
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    if args.checkpoints:
        os.makedirs(args.checkpoints, exist_ok=True)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    conds = None if args.conditions is None else [c.strip() for c in args.conditions.split(",") if c.strip()]
    res = fit_temporal_models(g, models=models, conditions=conds, rule=args.subunits, epochs=args.epochs,
                              seed=args.seed, device=args.device, checkpoint_dir=args.checkpoints,
                              spike_history_ms=history, soma_mlp_hidden=args.soma_mlp, progress=False)
    report = {"schema": REPORT_SCHEMA, "schema_version": REPORT_VERSION, "characterization": ",".join(paths),
              "cell": str(g.attrs.get("cell", "")), "temporal": {
                  "subunits": args.subunits, "spike_history_ms": list(history), "soma_mlp_hidden": args.soma_mlp,
                  "seed": args.seed,
                  "device": args.device,
                  "conditions": {c: {m: {k: v for k, v in row.items() if not k.startswith("_")}
                                     for m, row in rows.items()} for c, rows in res.items()}}}
    if args.output is not None:
        from bridge.fit.temporal import units_groups
        from bridge.schema import write_units

        provenance = {k: v for k, v in g.attrs.items()
                      if isinstance(v, (str, int, float)) and k not in ("schema", "schema_version")}
        provenance.update(source_file=",".join(os.path.abspath(p) for p in paths),
                          characterization_schema_version=int(g.attrs.get("schema_version", 0)))
        write_units(None, args.output, temporal=units_groups(res, rule=args.subunits, seed=args.seed,
                                                              device=args.device), attrs=provenance)
        print(f"wrote {args.output}: {sum(len(r) for r in res.values())} temporal model(s); "
              "read one with bridge.nn.temporal_neuron(path, model=..., condition=...)")
    if args.report is not None:
        write_report(report, args.report)
        print(f"wrote {args.report}")
    return 0


def run(args) -> int:
    from bridge.io import check_output
    from dendritic_errors import InputError

    if args.output is None and args.report is None:
        raise InputError(("--temporal: " if args.temporal else "") + "give -o UNITS.nc, --report FILE.json, or both")
    for option, out in (("-o", args.output), ("--report", args.report)):
        if out is None:
            continue
        inputs = [args.characterization] + (args.pool.split(",") if args.pool else [])
        if any(os.path.abspath(out) == os.path.abspath(p.strip()) for p in inputs):
            raise InputError(f"{option} must not be an input characterization file")
        check_output(out, args.overwrite, option)
    if args.output is not None and args.report is not None and \
            os.path.abspath(args.output) == os.path.abspath(args.report):
        raise InputError("-o and --report must be different files")
    if args.temporal:
        return run_temporal(args)
    if args.pool:
        raise InputError("--pool pools invivo simulations for --temporal fits: give --temporal too")
    if args.ridge < 0:
        raise InputError(f"--ridge must be >= 0, got {args.ridge}")
    if args.plots and args.output is None:
        raise InputError("--plots draws the branch fits of a units file: give -o UNITS.nc too")
    from bridge.fit.pipeline import fit_characterization
    from bridge.fit.report import fit_report, write_report
    from bridge.fit.summary import dispersion_table, summary_table
    from bridge.schema import write_units

    res = fit_characterization(args.characterization, family=args.family, criterion=args.criterion,
                               skip_bad=args.skip_bad, two_layer=not args.no_two_layer,
                               placement=args.placement, condition=args.condition, ridge=args.ridge,
                               need_units=args.output is not None)
    for _, msg in res.skipped:
        print(f"bridge fit: skipped {msg}", file=sys.stderr)
    for msg in res.warnings[:20]:
        print(f"bridge fit: warning: {msg}", file=sys.stderr)
    if len(res.warnings) > 20:
        print(f"bridge fit: warning: ... and {len(res.warnings) - 20} more", file=sys.stderr)
    u = res.units
    if u is not None:
        s = res.seconds
        print(f"{u.attrs.get('cell', '?')}: {u.sizes['branch']} branches fitted "
              f"(default curve: {u.attrs['default_placement']}, {u.attrs['default_condition']}; "
              f"selection: {u.attrs['selection_criterion']}, family {u.attrs['fit_family']}); "
              f"branch fits {s['branches']:.2f} s, "
              f"two-layer {s['two_layer']:.1f} s")
        if res.subunit_source:
            print(f"two-layer subunits: {len(res.subunit_source)} of {len(res.subunit_source)} pattern branches "
                  f"fitted on their own measurements ({', '.join(sorted(set(res.subunit_source)))})")
        print(summary_table(u))
    if res.dispersion is not None:
        print(dispersion_table(res.dispersion))
    if args.output is not None:
        write_units(u, args.output)
        print(f"wrote {args.output}")
    if args.report is not None:
        write_report(fit_report(res, args.characterization), args.report)
        print(f"wrote {args.report}")
    if args.plots:
        from bridge.plots import write_fit_figures

        paths = write_fit_figures(res, args.plots)
        print(f"wrote {len(paths)} figures to {args.plots}")
    return 0
