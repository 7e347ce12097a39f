"""Resumable Fashion-MNIST sweep after Chavlis & Poirazi 2025 (test accuracy vs trainable parameters).

Grid: models dann-r, dann-lrf, vann (+ dann-grf with --grf) x dendrites per soma D in
{1, 4, 16} x somata S in {32, 128, 256} x seeds {1, 2}; 25 epochs, Adam, batch 128.
dANNs run with leaky ReLU dendrites and, with --units UNITS.nc, also with the fitted
transfer functions (frozen, type median; --trainable-units to train them).

Each finished run is appended to OUT/results.nc (rewritten atomically); runs already in
it are skipped, so an interrupted sweep resumes where it stopped. After each run the
table OUT/results.csv and the plot OUT/accuracy_vs_params.png are refreshed.

Usage:
    python benchmarks/fmnist_sweep.py -o sweep-out [--units units.nc] [--grf] [--threads 2]
    python benchmarks/fmnist_sweep.py -o /tmp/s --epochs 1 --limit 2000 --models dann-r \
        --dendrites 1 --somata 32 --seeds 1          # a quick check
    python benchmarks/fmnist_sweep.py --results benchmarks/results/fmnist_sweep.nc --markdown
                                                     # only the Markdown table of a finished sweep

--markdown [FILE] writes the table (final test accuracy, mean over seeds, per model, D x S
and nonlinearity) to FILE (default docs/benchmarks/fmnist_sweep.md).
"""
from __future__ import annotations

import argparse
import csv
import itertools
import os
import sys
import time

import numpy as np
import xarray as xr

import _markdown
from bridge.io import write_netcdf_atomic

KEY = ("model", "nonlinearity", "dendrites", "somata", "seed")
SCALARS = ("n_trainable_parameters", "final_test_accuracy", "final_val_accuracy", "best_val_accuracy",
           "test_accuracy_at_best_val", "final_test_loss", "train_time_s", "epochs", "limit_train")


def load_results(path: str) -> xr.Dataset | None:
    if not os.path.exists(path):
        return None
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def done_keys(ds: xr.Dataset | None, epochs: int, limit) -> set[tuple]:
    if ds is None:
        return set()
    keys = set()
    lim = -1 if limit is None else int(limit)
    for i in range(ds.sizes["run"]):
        if int(ds["epochs"][i]) != epochs or int(ds["limit_train"][i]) != lim:
            continue
        keys.add(tuple(str(ds[k].values[i]) if k in ("model", "nonlinearity") else int(ds[k].values[i])
                       for k in KEY))
    return keys


def run_record(hist: xr.Dataset, key: dict, epochs: int, limit) -> xr.Dataset:
    best = int(np.argmax(hist["val_accuracy"].values))
    rec = {
        "model": key["model"], "nonlinearity": key["nonlinearity"], "dendrites": key["dendrites"],
        "somata": key["somata"], "seed": key["seed"],
        "n_trainable_parameters": int(hist.attrs["n_trainable_parameters"]),
        "final_test_accuracy": float(hist["test_accuracy"].values[-1]),
        "final_val_accuracy": float(hist["val_accuracy"].values[-1]),
        "best_val_accuracy": float(hist["val_accuracy"].values[best]),
        "test_accuracy_at_best_val": float(hist["test_accuracy"].values[best]),
        "final_test_loss": float(hist["test_loss"].values[-1]),
        "train_time_s": float(hist["train_time_s"].values.sum()),
        "epochs": epochs, "limit_train": -1 if limit is None else int(limit),
    }
    data = {k: ("run", np.array([v], dtype=object if isinstance(v, str) else None)) for k, v in rec.items()}
    data["test_accuracy_curve"] = (("run", "epoch"), hist["test_accuracy"].values[None, :])
    data["val_accuracy_curve"] = (("run", "epoch"), hist["val_accuracy"].values[None, :])
    return xr.Dataset(data, coords={"epoch": np.arange(1, epochs + 1)})


def append(results: xr.Dataset | None, rec: xr.Dataset) -> xr.Dataset:
    if results is None:
        out = rec
    else:
        out = xr.concat([results, rec], dim="run", join="outer", data_vars="all", coords="different",
                        compat="equals")
    for k in ("model", "nonlinearity"):
        out[k] = out[k].astype(object)
    out.attrs.update({"schema": "bridge.sweep", "schema_version": 1,
                      "description": "Fashion-MNIST sweep after Chavlis & Poirazi 2025"})
    return out


def write_table(results: xr.Dataset, csv_path: str, png_path: str) -> None:
    cols = list(KEY) + list(SCALARS)
    with open(csv_path + ".tmp", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for i in range(results.sizes["run"]):
            w.writerow([results[c].values[i] for c in cols])
    os.replace(csv_path + ".tmp", csv_path)

    from bridge.plots import plot_accuracy_vs_parameters, save_figure

    fig = plot_accuracy_vs_parameters(results, accuracy="final_test_accuracy", title="Fashion-MNIST")
    save_figure(fig, png_path + ".tmp.png", dpi=150)
    os.replace(png_path + ".tmp.png", png_path)


def markdown_rows(results: xr.Dataset) -> list[list]:
    """One row per (model, D, S): parameters, and the final test accuracy (mean over seeds) per nonlinearity."""
    acc: dict[tuple, dict[str, list[float]]] = {}
    params: dict[tuple, int] = {}
    for i in range(results.sizes["run"]):
        key = (str(results["model"].values[i]), int(results["dendrites"].values[i]), int(results["somata"].values[i]))
        nl = str(results["nonlinearity"].values[i])
        acc.setdefault(key, {}).setdefault(nl, []).append(float(results["final_test_accuracy"].values[i]))
        params[key] = int(results["n_trainable_parameters"].values[i])
    rows = []
    for key in sorted(acc, key=lambda k: (k[0], k[1], k[2])):
        cell = {nl: f"{100 * np.mean(v):.2f} % (n={len(v)})" for nl, v in acc[key].items()}
        rows.append([key[0], f"{key[1]} x {key[2]}", f"{params[key]:,}", cell.get("leaky_relu", ""),
                     cell.get("fitted", cell.get("fitted-trainable", ""))])
    return rows


def write_markdown(results: xr.Dataset, path: str | None, source: str) -> None:
    epochs = sorted({int(e) for e in results["epochs"].values})
    _markdown.write(path, "Fashion-MNIST: accuracy against trainable parameters (`benchmarks/fmnist_sweep.py`)",
                    _markdown.table(["model", "D x S", "parameters", "leaky ReLU", "fitted units"],
                                    markdown_rows(results)),
                    [f"Final test accuracy, mean over seeds (n runs in brackets); {results.sizes['run']} runs "
                     f"from `{source}`, epochs {', '.join(map(str, epochs))}; Adam 1e-3, batch 128, 10 % validation "
                     "split. Differences below ~0.5 percentage points are within the seed-to-seed spread."])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out-dir", help="sweep folder (results.nc, results.csv, accuracy_vs_params.png)")
    ap.add_argument("--results", metavar="RESULTS.nc", help="no training: only write --markdown from this file")
    ap.add_argument("--models", nargs="+", default=["dann-r", "dann-lrf", "vann"])
    ap.add_argument("--grf", action="store_true", help="add dann-grf")
    ap.add_argument("--dendrites", nargs="+", type=int, default=[1, 4, 16])
    ap.add_argument("--somata", nargs="+", type=int, default=[32, 128, 256])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--synapses", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--limit", type=int, default=None, help="training images per epoch (quick checks)")
    ap.add_argument("--units", default=None, help="units file: also run dANNs with fitted nonlinearities")
    ap.add_argument("--branch-type", default="basal")
    ap.add_argument("--trainable-units", action="store_true")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-runs", type=int, default=None, help="stop after this many new runs")
    ap.add_argument("--progress", action="store_true")
    _markdown.add_argument(ap, "fmnist_sweep")
    args = ap.parse_args(argv)
    if args.results:
        res = load_results(args.results)
        if res is None:
            ap.error(f"--results {args.results}: no such file")
        write_markdown(res, args.markdown or _markdown.os.path.join(_markdown.DOCS, "fmnist_sweep.md"), args.results)
        return 0
    if not args.out_dir:
        ap.error("-o/--out-dir is required (unless --results)")

    import torch
    from bridge.data import load_dataset
    from bridge.nn.training import run_training

    torch.set_num_threads(args.threads)
    os.makedirs(args.out_dir, exist_ok=True)
    res_path = os.path.join(args.out_dir, "results.nc")
    results = load_results(res_path)
    done = done_keys(results, args.epochs, args.limit)
    models = list(args.models) + (["dann-grf"] if args.grf and "dann-grf" not in args.models else [])
    nls = ["leaky_relu"] + ([args.units] if args.units else [])
    todo = []
    for model, d, s, seed in itertools.product(models, args.dendrites, args.somata, args.seeds):
        for nl in (nls if model != "vann" else ["leaky_relu"]):
            label = "leaky_relu" if nl == "leaky_relu" else ("fitted-trainable" if args.trainable_units else "fitted")
            key = dict(model=model, nonlinearity=label, dendrites=d, somata=s, seed=seed)
            if tuple(key[k] for k in KEY) in done:
                continue
            todo.append((key, nl))
    print(f"{len(done)} runs already in {res_path}; {len(todo)} to do", flush=True)
    data_cache: dict[int, object] = {}
    n_new = 0
    for key, nl in todo:
        if args.max_runs is not None and n_new >= args.max_runs:
            break
        seed = key["seed"]
        if seed not in data_cache:  # the validation split depends on the seed
            data_cache[seed] = load_dataset("fmnist", data_dir=args.data_dir, seed=seed, limit_train=args.limit)
        t = time.perf_counter()
        hist = run_training(dataset="fmnist", model=key["model"], dendrites=key["dendrites"],
                            somata=key["somata"], synapses=args.synapses, nonlinearity=nl,
                            trainable_nonlinearity=args.trainable_units, branch_type=args.branch_type,
                            epochs=args.epochs, seed=seed, threads=args.threads, progress=args.progress,
                            data=data_cache[seed])
        rec = run_record(hist, key, args.epochs, args.limit)
        results = append(results, rec)
        write_netcdf_atomic(results, res_path)
        write_table(results, os.path.join(args.out_dir, "results.csv"),
                    os.path.join(args.out_dir, "accuracy_vs_params.png"))
        n_new += 1
        print(f"{key['model']:9s} {key['nonlinearity']:10s} D={key['dendrites']:<3d} S={key['somata']:<4d} "
              f"seed={seed}: {int(rec['n_trainable_parameters'][0]):8d} params, test acc "
              f"{float(rec['final_test_accuracy'][0]):.4f} ({time.perf_counter() - t:.1f} s)", flush=True)
    if results is not None and n_new == 0:
        write_table(results, os.path.join(args.out_dir, "results.csv"),
                    os.path.join(args.out_dir, "accuracy_vs_params.png"))
    if results is not None:
        write_markdown(results, args.markdown, res_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
