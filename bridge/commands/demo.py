"""The whole pipeline on one cell: characterize -> fit -> train -> report and figures.

Steps (each writes its file into OUT and is skipped when that file is already there, so
an interrupted demo resumes; the characterization itself resumes from its checkpoints):

  1. characterize the cell (built-in morphology, NEURON): passive, integration on a
     sample of branches (control and NMDA block), bAP, BAC (l5pc), f-I and random drive
     patterns -> CELL.nc
  2. fit transfer functions per branch and the two-layer model -> units.nc, figures/fit/
  3. train a dANN-R with the fitted dendritic units and one with leaky ReLU on
     Fashion-MNIST (installed, or downloaded and SHA-256-checked; when neither works, on
     the code-generated `synthetic` image task, saying so on stderr and in the report)
     -> train_fitted.nc, train_leaky_relu.nc
  4. figures of the cell (morphology, channel densities, bAP, f-I, passive) and of the
     training, and a short report -> report.md (also printed)

examples:
  bridge demo                       # outputs in demo-out/
  bridge demo -o /tmp/demo --epochs 5 --branches 8
  bridge demo --dataset synthetic   # no Fashion-MNIST needed
  bridge demo --quick -o /tmp/smoke # every step in a few minutes, tiny sizes
"""
from __future__ import annotations

import os
import sys
import time

NAME = "demo"
# smaller than `bridge characterize --protocols all` so the demo takes minutes: no timing
# protocol, no dendritic Na block (the l5pc basal tree has no Na channels)
DEMO_PROTOCOLS = ("passive", "integration", "bap", "bac", "fi", "patterns")
DEMO_CONDITIONS = ("control", "nmda_block")
HELP = "run the whole pipeline on the default cell and write a report with figures"
# the sizes of a run, by default and with --quick (a smoke run of every step; tests/test_cli.py)
FULL = dict(branches=4, synapses=30, patterns=500, pattern_synapses=20, pattern_branches=None, epochs=3)   # None: Settings'
QUICK = dict(branches=1, synapses=8, patterns=40, pattern_synapses=4, pattern_branches=4, epochs=1)
QUICK_FI_STEP_MS = 300.0


def _sizes(args) -> None:
    """Fill the sizes not given on the command line from FULL or, with --quick, QUICK."""
    from bridge.characterize.protocols import Settings

    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, getattr(Settings, name) if value is None else value)


def _settings(args):
    """The characterization's Settings; --quick also shortens the passive and f-I protocols."""
    from bridge.characterize.protocols import Settings
    from cells import get_cell_type

    sizes = dict(branches=args.branches, n_patterns=args.patterns, n_synapses=args.synapses,
                 pattern_synapses=args.pattern_synapses, pattern_branches=args.pattern_branches,
                 conditions=DEMO_CONDITIONS)
    if not args.quick:
        return Settings(**sizes)
    currents = get_cell_type(args.cell).stimuli.fi_currents_nA
    return Settings(**sizes, passive_sites_per_type=1, passive_path_spacing_um=400.0,
                    fi_currents_nA=(currents[len(currents) // 2], currents[-1]), fi_step_ms=QUICK_FI_STEP_MS)


def add_arguments(p) -> None:
    p.add_argument("-o", "--output-dir", default="demo-out", metavar="DIR", help="output folder (default demo-out)")
    p.add_argument("--cell", default="l5pc", help="cell model (default l5pc)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run of every step in a few minutes: the sizes below become "
                        + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in QUICK.items())
                        + ", one passive site per branch type, two f-I steps of 300 ms (explicit options still apply)")
    p.add_argument("--branches", type=int, default=None, help=f"integration branches sampled (default {FULL['branches']})")
    p.add_argument("--patterns", type=int, default=None, help=f"random drive patterns (default {FULL['patterns']})")
    p.add_argument("--synapses", type=int, default=None,
                   help=f"integration: n = 1..N synapses per branch (default {FULL['synapses']})")
    p.add_argument("--pattern-synapses", type=int, default=None,
                   help=f"patterns: cluster size per pattern branch, each with its own curve (default {FULL['pattern_synapses']})")
    p.add_argument("--pattern-branches", type=int, default=None, metavar="N",
                   help="patterns: branches that receive input (default: the characterization's, 12)")
    p.add_argument("--epochs", type=int, default=None, help=f"training epochs per network (default {FULL['epochs']})")
    p.add_argument("--dataset", default="auto", choices=("auto", "fashion-mnist", "synthetic"),
                   type=lambda s: {"fmnist": "fashion-mnist"}.get(s, s),
                   help="auto (default): Fashion-MNIST when installed, else downloaded (SHA-256-checked) when "
                        "the network allows, else the code-generated synthetic task, said on stderr and in "
                        "the report; fashion-mnist: fail rather than fall back")
    p.add_argument("--no-download", action="store_true", help="never download Fashion-MNIST")
    p.add_argument("--workers", type=int, default=None, help="simulation worker processes (default: all cores)")
    p.add_argument("--threads", type=int, default=2, help="torch threads for training (default 2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _check(args) -> None:
    from cells import get_cell_type
    from dendritic_errors import InputError

    get_cell_type(args.cell)                      # InputError naming the known types
    _sizes(args)
    for name in ("branches", "patterns", "synapses", "pattern_synapses", "pattern_branches", "epochs", "threads"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
        raise InputError(f"-o {args.output_dir}: exists and is not a folder")


def _say(msg: str) -> None:
    print(f"[demo] {msg}", file=sys.stderr, flush=True)


def run(args) -> int:
    _check(args)
    from bridge.characterize import characterize
    from bridge.fit import summary_table
    from bridge.fit.pipeline import fit_characterization
    from bridge.plots import write_fit_figures
    from bridge.data import resolve_demo_dataset
    from bridge.schema import open_characterization, write_units

    # the dataset first: --dataset fashion-mnist without it fails before any simulation
    dataset, data_note = resolve_demo_dataset(args.dataset, allow_download=not args.no_download, say=_say)
    out = os.path.abspath(args.output_dir)
    figs = os.path.join(out, "figures")
    os.makedirs(figs, exist_ok=True)
    t_start = time.perf_counter()
    report = [f"# bridge demo: {args.cell}", "", f"Training data: {data_note}.", ""]
    if args.quick:
        report += ["Quick settings (`--quick`): a smoke run of every step; the figures are not the full demo's.", ""]

    # 1. characterize
    char_path = os.path.join(out, f"{args.cell}.nc")
    if os.path.exists(char_path):
        _say(f"1/4 characterization: reusing {char_path}")
        summary = None
    else:
        _say(f"1/4 characterizing {args.cell} -> {char_path}")
        settings = _settings(args)
        from bridge.characterize import default_protocols

        protocols = [p for p in DEMO_PROTOCOLS if p in default_protocols(args.cell)]   # those the type supports
        summary = characterize(args.cell, char_path, protocols=protocols, settings=settings, workers=args.workers,
                               progress=not args.no_progress, say=_say)
    groups = open_characterization(char_path)
    line = f"Characterization `{char_path}`: protocols {', '.join(groups)}"
    if summary:
        line += f"; {summary['simulations']} simulations in {summary['seconds']:.0f} s"
    report += [line + ".", ""]

    # 2. fit
    units_path = os.path.join(out, "units.nc")
    _say(f"2/4 fitting -> {units_path}")
    res = fit_characterization(char_path, skip_bad=True)
    if not os.path.exists(units_path):
        write_units(res.units, units_path)
    fit_figs = write_fit_figures(res, os.path.join(figs, "fit"))
    units = res.units
    report += [f"Units `{units_path}` ({units.sizes['branch']} branches fitted; "
               f"{len(res.skipped)} skipped):", "", "```", summary_table(units), "```", ""]
    for _, msg in res.skipped:
        report.append(f"- skipped: {msg}")

    # 3. cell figures
    _say("3/4 figures of the cell")
    cell_figs = _cell_figures(args.cell, groups, figs)

    # 4. train
    _say(f"4/4 training on {dataset} ({args.epochs} epochs each)")
    runs = _train(args, dataset, units_path, out)
    from bridge.plots import plot_learning_curves, save_figure

    lc = save_figure(plot_learning_curves(runs, title=f"dANN-R (8 dendrites x 64 somata) on {dataset}"),
                     os.path.join(figs, "learning_curves.png"))
    report += [f"Training: dANN-R, 8 dendrites per soma, 64 somata, 16 synapses per dendrite, "
               f"{args.epochs} epochs, on {data_note}.", "",
               "| dendritic nonlinearity | trainable parameters | final test accuracy |", "|---|---|---|"]
    for label, ds in runs.items():
        report.append(f"| {label} | {int(ds.attrs['n_trainable_parameters']):,} | "
                      f"{100 * float(ds['test_accuracy'].values[-1]):.2f} % |")
    all_figs = [str(p) for p in list(fit_figs) + cell_figs + [lc]]
    report += ["", f"Figures ({len(all_figs)}) in `{figs}`:", ""]
    report += [f"- {os.path.relpath(p, out)}" for p in all_figs]
    report += ["", f"Total time {time.perf_counter() - t_start:.0f} s."]
    text = "\n".join(report) + "\n"
    tmp = os.path.join(out, ".report.md.tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, os.path.join(out, "report.md"))
    print(text)
    print(f"outputs in {out} (report.md, units.nc, {args.cell}.nc, figures/)")
    return 0


def _cell_figures(cell_name: str, groups: dict, figs: str) -> list:
    import cells
    from bridge.plots import plot_bap, plot_fi, plot_morphology, plot_passive, save_figure

    morph, recipe = cells.load_morphology(cell_name), cells.get_recipe(cell_name)
    paths = [save_figure(plot_morphology(morph, color_by="type"), os.path.join(figs, "morphology_types.png")),
             save_figure(plot_morphology(morph, color_by="Ih", recipe=recipe), os.path.join(figs, "morphology_ih.png"))]
    plots = {"bap": plot_bap, "fi": plot_fi, "passive": plot_passive}
    for name, fn in plots.items():
        if name in groups:
            paths.append(save_figure(fn(groups[name]), os.path.join(figs, f"{name}.png")))
    return paths


def _train(args, dataset: str, units_path: str, out: str) -> dict:
    from bridge.data import load_dataset
    from bridge.io import read_netcdf
    from bridge.nn.training import run_training, write_run

    data = None
    runs = {}
    for label, nonlinearity in (("leaky ReLU", "leaky_relu"), ("fitted units (basal median)", units_path)):
        path = os.path.join(out, "train_leaky_relu.nc" if nonlinearity == "leaky_relu" else "train_fitted.nc")
        if not os.path.exists(path):
            if data is None:
                data = load_dataset(dataset, download=False, seed=1)
            ds = run_training(dataset=dataset, model="dann-r", dendrites=8, somata=64, synapses=16,
                              nonlinearity=nonlinearity, branch_type="basal", epochs=args.epochs, seed=1,
                              threads=args.threads, progress=not args.no_progress, data=data)
            write_run(ds, path)
        runs[label] = read_netcdf(path, "training run")      # checksums verified; InputError if corrupted
    return runs
