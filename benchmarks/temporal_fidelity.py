"""Temporal neuron models against the detailed cell's response to in-vivo-like input (issue 20).

    .venv/bin/python benchmarks/temporal_fidelity.py --data l5pc_invivo.nc [--models hln,ln,branch_elm,elm,tcn]
    .venv/bin/python benchmarks/temporal_fidelity.py --quick --json out.json --markdown

Reuses an `invivo` characterization (`--data`; several files of the same settings run with
different seeds are pooled, `bridge.characterize.invivo.pool_groups`) or generates one
(`bridge characterize CELL --protocols invivo`, the settings below, into `--work`), then fits every model on each
condition (`bridge.fit.temporal.fit_temporal_models`: split by simulation 70/15/15, early
stopping on validation) and scores the held-out simulations as the ELM paper scores NeuronIO
(500 ms burn-in, > 24 spikes excluded, -55 mV clip). One table: per condition and model,
spike AUC, TPR at 1 % FPR, voltage variance explained raw and rescaled, RMSE, trainable
parameters, epochs and training time; and one plot (AUC and VE against parameters, log x).

`--quick`: 12 simulations of 1.5 s on the built-in l5pc (generated when --data is not given,
about 4 min on 2 quiet cores), models hln, ln and branch_elm, 10 epochs: under 10 minutes in all.
Full: the default invivo dataset (32 x 2 s, both conditions), every model, 40 epochs.

`--train-sims N,N,...`: a learning curve. Every model is fitted again on only the first N
training simulations of the same split (validation and held-out sets unchanged, the smaller
training sets nested in the larger); the table gets one row per model and size, and a second
plot (`--learning-curve`) shows AUC and VE against the seconds of training input.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import _markdown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, metavar="FILE.nc[,FILE.nc...]",
                        help="invivo characterization file(s) to reuse; several (runs of the same settings with "
                             "different seeds) are pooled into one set of simulations")
    parser.add_argument("--work", default="benchmarks/results/temporal_work", help="where a generated dataset goes")
    parser.add_argument("--cell", default="l5pc")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--spike-history", default=None, metavar="MS,MS,...|none",
                        help="hLN and LN spike-history time constants (default bridge.fit.temporal.SPIKE_HISTORY_MS)")
    parser.add_argument("--soma-mlp", type=int, default=None, metavar="H",
                        help="hLN and LN somatic MLP read-out width, 0 for none (default "
                             "bridge.fit.temporal.SOMA_MLP_HIDDEN)")
    parser.add_argument("--subunits", default=None, metavar="RULE,RULE,...",
                        help="hLN subunit rules (bridge fit --subunits), each fitted and listed as 'hln (RULE)' "
                             "(default: bridge.fit.temporal.DEFAULT_SUBUNIT_RULE only)")
    parser.add_argument("--windowed", default=None, metavar="MODEL,MODEL,...|none",
                        help="models trained on windows with clipped gradients (bridge.fit.temporal.WINDOWS); "
                             "the others on whole simulations (default: those of bridge.fit.temporal.TRAINING)")
    parser.add_argument("--train-sims", default=None, metavar="N,N,...",
                        help="fit on only the first N training simulations, once per N (a learning curve; "
                             "default: all of them, once)")
    parser.add_argument("--learning-curve", default="benchmarks/results/temporal_learning_curve.png",
                        help="the learning-curve plot, with --train-sims")
    parser.add_argument("--json", default=None, metavar="OUT.json")
    parser.add_argument("--plot", default="benchmarks/results/temporal_fidelity.png")
    _markdown.add_argument(parser, "temporal_fidelity")
    args = parser.parse_args()
    host = _markdown.machine()
    import torch

    torch.set_num_threads(args.threads)
    from bridge.commands.fit import parse_spike_history
    from bridge.fit.temporal import (DEFAULT_SUBUNIT_RULE, MODELS, SOMA_MLP_HIDDEN, SPIKE_HISTORY_MS,
                                     SUBUNIT_RULES, WINDOWS)
    from bridge.characterize.invivo import pool_groups
    from bridge.schema import open_characterization

    history = SPIKE_HISTORY_MS if args.spike_history is None else parse_spike_history(args.spike_history)
    soma_mlp = SOMA_MLP_HIDDEN if args.soma_mlp is None else args.soma_mlp
    if soma_mlp < 0:
        parser.error(f"--soma-mlp {soma_mlp}: give a width >= 0")

    training = None                                  # bridge.fit.temporal.TRAINING
    if args.windowed is not None:
        windowed = [] if args.windowed == "none" else args.windowed.split(",")
        if any(m not in MODELS for m in windowed):
            parser.error(f"--windowed {args.windowed}: choose from {', '.join(MODELS)} or none")
        training = {m: WINDOWS for m in windowed}
    rules = (args.subunits or DEFAULT_SUBUNIT_RULE).split(",")
    if any(r not in SUBUNIT_RULES for r in rules):
        parser.error(f"--subunits {args.subunits}: choose from {', '.join(SUBUNIT_RULES)}")
    try:
        sizes = [None] if args.train_sims is None else [int(n) for n in args.train_sims.split(",")]
    except ValueError:
        parser.error(f"--train-sims {args.train_sims}: give whole numbers, comma-separated")
    if any(n is not None and n < 1 for n in sizes):
        parser.error(f"--train-sims {args.train_sims}: every size must be at least 1")
    models = tuple((args.models or ("hln,ln,branch_elm" if args.quick else "hln,ln,branch_elm,elm,tcn")).split(","))
    epochs = args.epochs or (10 if args.quick else 40)
    path = args.data
    t0 = time.perf_counter()
    if path is None:
        from bridge.characterize import Settings, characterize

        os.makedirs(args.work, exist_ok=True)
        sims, ms = (12, 1500.0) if args.quick else (32, 2000.0)
        path = os.path.join(args.work, f"{args.cell}_invivo_{sims}x{ms:g}.nc")
        if not os.path.exists(path):
            characterize(args.cell, path, protocols="invivo",
                         settings=Settings(invivo_simulations=sims, invivo_duration_ms=ms), progress=False)
    t_data = time.perf_counter() - t0
    paths = path.split(",")
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        parser.error(f"--data {missing[0]}: no such file")
    groups = [open_characterization(p)["invivo"] for p in paths]
    try:
        group = pool_groups(groups)
    except ValueError as e:
        parser.error(f"--data {path}: {e}")
    res = {}
    for n_train in sizes:
        for cond, by_model in _fit_all(group, models, rules, n_train, epochs=epochs, device=args.device,
                                       spike_history_ms=history, soma_mlp_hidden=soma_mlp, progress=False,
                                       training=training).items():
            for m, r in by_model.items():
                res.setdefault(cond, {})[m if len(sizes) == 1 else f"{m}, {r['n_train']} sims"] = r
    rows, summary = [], {}
    for cond, by_model in res.items():
        for m, r in by_model.items():
            rows.append([cond, m, r["n_train"], f"{r['spike_auc']:.4f}", f"{r['spike_tpr_at_fpr']:.3f}",
                         f"{100 * r['v_variance_explained']:.1f} %", f"{100 * r['v_variance_explained_rescaled']:.1f} %",
                         f"{r['v_rmse_mV']:.2f}", f"{r['n_parameters']:,}", r["epochs"], f"{r['train_seconds']:.0f}",
                         f"{r['train_seconds'] / max(r['epochs'], 1):.1f}"])
            summary.setdefault(cond, {})[m] = {k: v for k, v in r.items() if not k.startswith("_")}
    header = ["condition", "model", "train sims", "spike AUC", "TPR @ 1 % FPR", "VE", "VE rescaled", "RMSE (mV)",
              "parameters", "epochs", "train s", "s / epoch"]
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(c) for c in row))
    n = group.sizes["sim"]
    training_of = {m.split(" ")[0].rstrip(","): r["training"] for by_model in res.values() for m, r in by_model.items()}
    note = (f"data: {', '.join(os.path.basename(p) for p in paths)} ({n} simulations of {group.sizes['time_ms']} ms, {group.sizes['synapse']} "
            f"synapses; {t_data:.0f} s to generate or open); split 70/15/15 by simulation; metrics on the held-out "
            f"simulations after Spieler et al. 2024 (500 ms burn-in, > 24 spikes excluded, -55 mV clip); "
            f"{args.threads} CPU threads, device {args.device}; hLN and LN spike history "
            f"{', '.join(f'{t:g}' for t in history) or 'none'} ms, somatic MLP width {soma_mlp}; hLN subunits {', '.join(rules)}; training: "
            + "; ".join(f"{m} {training_of[m]}" for m in models) + ". "
            "Published, for orientation (a different cell, BSL's L5PC): ELM 54 k parameters AUC 0.9946, VE 96.6 %; Branch-ELM 8 k AUC 0.9922; TCN ~9 M AUC ~0.991.")
    print(note)
    if args.json:
        from bridge.fit.report import write_report
        write_report({"data": path, "models": list(models), "epochs": epochs, "spike_history_ms": list(history),
                      "soma_mlp_hidden": soma_mlp,
                      "training": {m: training_of[m] for m in models},
                      "results": summary}, args.json)
    if args.plot:
        _plot(summary, args.plot)
    if len(sizes) > 1 and args.learning_curve:
        seconds_per_simulation = group.sizes["time_ms"] * float(group["time_ms"][1] - group["time_ms"][0]) / 1000.0
        _plot_learning_curve(summary, args.learning_curve, seconds_per_simulation)
    _markdown.write(args.markdown, "Temporal models against the detailed cell (`benchmarks/temporal_fidelity.py`)",
                    _markdown.table(header, rows), [note], host)
    return 0


def _fit_all(group, models, rules, n_train, **kwargs) -> dict:
    """{condition: {model: row}}: every model under the first rule, and the hLN again under
    each further rule (named 'hln (RULE)'), on the first `n_train` training simulations."""
    from bridge.fit.temporal import fit_temporal_models

    res = fit_temporal_models(group, models=models, rule=rules[0], train_simulations=n_train, **kwargs)
    if len(rules) > 1 and "hln" in models:
        for cond in res:
            res[cond] = {(f"hln ({rules[0]})" if m == "hln" else m): r for m, r in res[cond].items()}
        for rule in rules[1:]:
            more = fit_temporal_models(group, models=("hln",), rule=rule, train_simulations=n_train, **kwargs)
            for cond, by_model in more.items():
                res[cond][f"hln ({rule})"] = by_model["hln"]
    return res


def _plot_learning_curve(summary: dict, path: str, seconds_per_simulation: float) -> None:
    """AUC and VE (rescaled) against the seconds of training input, one line per condition and model."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for cond in summary:
        lines: dict[str, list] = {}
        for m, r in summary[cond].items():
            lines.setdefault(m.split(",")[0], []).append(r)
        for m, rs in lines.items():
            rs = sorted(rs, key=lambda r: r["n_train"])
            x = [r["n_train"] * seconds_per_simulation for r in rs]
            ax1.plot(x, [r["spike_auc"] for r in rs], "o-", label=f"{m} ({cond})")
            ax2.plot(x, [r["v_variance_explained_rescaled"] for r in rs], "o-", label=f"{m} ({cond})")
    _save(fig, ax1, ax2, "training input (s)", path)


def _plot(summary: dict, path: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for cond, marker in zip(summary, "os^"):
        for m, r in summary[cond].items():
            for ax, key in ((ax1, "spike_auc"), (ax2, "v_variance_explained_rescaled")):
                if r[key] == r[key]:
                    ax.scatter(r["n_parameters"], r[key], marker=marker, label=f"{m} ({cond})")
                    ax.annotate(m, (r["n_parameters"], r[key]), fontsize=7)
    _save(fig, ax1, ax2, "trainable parameters", path)


def _save(fig, ax1, ax2, xlabel: str, path: str) -> None:
    """Label the AUC (ax1) and VE (ax2) panels over a log x axis and write the figure."""
    for ax, label in ((ax1, "spike AUC (held-out)"), (ax2, "voltage VE, rescaled (held-out)")):
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
    ax1.legend(fontsize=6)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
