"""Dendritic SNN against a LIF point-neuron SNN at equal trainable parameters (surrogate gradients).

Tasks: Randman (Zenke & Vogels 2021) at three difficulty levels (10 classes, 50 inputs,
manifold dimension 1, 2, 3; 100 samples per class, 50 steps of 1 ms) and latency-coded
Fashion-MNIST (50 steps). Models (`bridge.nn.spiking.make_spiking_model`): dsnn-r (and
dsnn-lrf on Fashion-MNIST) with D dendrites x S somata x s synapses, leaky ReLU dendrites
and, with --units, the fitted transfer functions (frozen type median); lif-snn with s
synapses per neuron and as many neurons as give the same trainable parameter count (+- one
neuron's worth). Read-out: max over time of a leaky non-spiking membrane. Adam, 3 seeds.

Per run: final test accuracy, trainable parameters, mean spikes per test sample (hidden
layer), mean training time per epoch. Every finished run is appended to OUT/results.nc
(rewritten atomically); runs already there are skipped, so an interrupted sweep resumes.

Speed line: forward + backward of one sparse `SpikingDendriticLayer` (D=16, S=512, s=16,
784 inputs, batch 32, 25 steps) against its masked-dense formulation
(`MaskedDenseSpikingDendriticLayer`), same connectivity and weights, same run.

Usage:
    python benchmarks/snn_sweep.py --quick -o /tmp/snn [--units benchmarks/results/units_l5pc_demo.nc] \
        [--json out.json] [--markdown [docs/benchmarks/snn_sweep.md]]
--quick (< 10 min on 2 CPU threads): D=4, S=32; Randman levels 1-2 for 20 epochs; Fashion-MNIST
10000 training images, 5 epochs, 1000 validation and 2000 test images.
Full: D=8, S=64; Randman levels 1-3 for 40 epochs; Fashion-MNIST all 54000 images, 10 epochs.
`--tasks` and `--models` run a part of the sweep (e.g. the full Fashion-MNIST sweep without
dsnn-lrf takes ~1.5 h on one thread).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import xarray as xr

import _markdown
from bridge.io import write_netcdf_atomic

KEY = ("task", "model", "nonlinearity", "seed", "dendrites", "somata", "epochs")
RANDMAN_LEVELS = {"randman-1d": 1, "randman-2d": 2, "randman-3d": 3}


def lif_neurons_for(params: int, synapses: int, n_classes: int) -> int:
    """Neurons of a one-layer lif-snn whose (s+1)*n + (n+1)*C is closest to `params`."""
    return max(1, int(round((params - n_classes) / (synapses + 1 + n_classes))))


def load_results(path: str) -> xr.Dataset | None:
    if not os.path.exists(path):
        return None
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def done_keys(ds: xr.Dataset | None) -> set[tuple]:
    if ds is None:
        return set()
    return {tuple(str(ds[k].values[i]) if ds[k].dtype.kind in "OSU" else int(ds[k].values[i]) for k in KEY)
            for i in range(ds.sizes["run"])}


def append(results: xr.Dataset | None, rec: dict) -> xr.Dataset:
    new = xr.Dataset({k: ("run", np.array([v], dtype=object if isinstance(v, str) else None)) for k, v in rec.items()})
    out = new if results is None else xr.concat([results, new], dim="run")
    for k, v in rec.items():
        if isinstance(v, str):
            out[k] = out[k].astype(object)
    out.attrs.update({"schema": "bridge.snn_sweep", "schema_version": 1,
                      "description": "dendritic SNN vs LIF SNN at equal trainable parameters"})
    return out


def speed_line(threads: int, repeats: int = 7) -> dict:
    """Best-of-`repeats` forward+backward time (s) of the sparse spiking layer and its masked-dense twin,
    measured alternately so that other work on the machine slows both alike (the minimum is the
    least disturbed measurement)."""
    import torch
    from bridge.nn.spiking import MaskedDenseSpikingDendriticLayer, SpikingDendriticLayer

    torch.set_num_threads(threads)
    D, S, s, n_in, B, T = 16, 512, 16, 784, 32, 25   # the network of benchmarks/nn_speed.py
    x = (torch.rand(T, B, n_in, generator=torch.Generator().manual_seed(0)) < 0.05).float()
    sparse = SpikingDendriticLayer(n_in, S, D, s, seed=1)
    dense = MaskedDenseSpikingDendriticLayer(sparse)
    readout = torch.linspace(-1, 1, S)

    def once(layer):
        t = time.perf_counter()
        out = layer(x)
        (out * readout).sum().backward()
        return time.perf_counter() - t, out.detach()

    once(sparse), once(dense)                       # warm-up
    times: dict[str, list[float]] = {"sparse": [], "dense": []}
    outs: dict[str, torch.Tensor] = {}
    for _ in range(repeats):
        for name, layer in (("sparse", sparse), ("dense", dense)):
            dt, outs[name] = once(layer)
            times[name].append(dt)
    agree = float((outs["sparse"] == outs["dense"]).float().mean())
    t_sparse, t_dense = min(times["sparse"]), min(times["dense"])
    return dict(D=D, S=S, s=s, n_in=n_in, batch=B, steps=T, threads=threads, repeats=repeats, sparse_s=t_sparse,
                dense_s=t_dense, ratio=t_dense / t_sparse, spike_agreement=agree)


def summary_rows(results: xr.Dataset) -> list[dict]:
    groups: dict[tuple, list[int]] = {}
    for i in range(results.sizes["run"]):
        k = (str(results["task"].values[i]), str(results["model"].values[i]), str(results["nonlinearity"].values[i]))
        groups.setdefault(k, []).append(i)
    order = {t: n for n, t in enumerate([*RANDMAN_LEVELS, "fmnist-latency"])}
    rows = []
    for k in sorted(groups, key=lambda k: (order.get(k[0], 99), k[1] == "lif-snn", k[1], k[2] != "leaky_relu")):
        idx = groups[k]
        acc = results["test_accuracy"].values[idx]
        rows.append(dict(task=k[0], model=k[1], nonlinearity=k[2], n=len(idx),
                         accuracy_mean=float(acc.mean()), accuracy_sd=float(acc.std(ddof=1)) if len(idx) > 1 else 0.0,
                         params=int(results["n_trainable_parameters"].values[idx][0]),
                         units=f"{int(results['dendrites'].values[idx][0])} x {int(results['somata'].values[idx][0])}"
                         if k[1] != "lif-snn" else f"{int(results['somata'].values[idx][0])} neurons",
                         spikes=float(results["spikes_per_sample"].values[idx].mean()),
                         epoch_s=float(results["epoch_time_s"].values[idx].mean()),
                         epochs=int(results["epochs"].values[idx][0])))
    return rows


def plot_rows(rows: list[dict], path: str) -> None:
    """Test accuracy (mean ± sd over seeds) and spikes per sample, one group of bars per task,
    one bar per model and dendritic nonlinearity; trainable parameters in the legend."""
    from matplotlib.figure import Figure

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    kinds = list(dict.fromkeys((r["model"], r["nonlinearity"] if r["model"] != "lif-snn" else "-") for r in rows))
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    width = 0.8 / len(kinds)
    for k, (model, nl) in enumerate(kinds):
        xs, acc, sd, spk, params = [], [], [], [], set()
        for i, t in enumerate(tasks):
            for r in rows:
                if r["task"] == t and r["model"] == model and (r["nonlinearity"] == nl or model == "lif-snn"):
                    xs.append(i + (k - (len(kinds) - 1) / 2) * width)
                    acc.append(100 * r["accuracy_mean"]), sd.append(100 * r["accuracy_sd"]), spk.append(r["spikes"])
                    params.add(r["params"])
        label = f"{model}{'' if nl == '-' else ' ' + nl} ({', '.join(f'{p:,}' for p in sorted(params))} params)"
        ax1.bar(xs, acc, width, yerr=sd, label=label)
        ax2.bar(xs, spk, width, label=label)
    for ax, ylabel in ((ax1, "test accuracy (%)"), (ax2, "spikes per sample")):
        ax.set_xticks(range(len(tasks)), tasks, fontsize=8)
        ax.set_ylabel(ylabel)
    ax1.legend(fontsize=7, loc="lower left")
    fig.suptitle("spiking dendritic networks vs LIF SNN at equal trainable parameters (benchmarks/snn_sweep.py)",
                 fontsize=9)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out-dir", required=True, help="sweep folder (results.nc)")
    ap.add_argument("--quick", action="store_true", help="the small version (< 10 min on 2 threads)")
    ap.add_argument("--units", default=None, help="units file: also run dSNNs with fitted dendritic nonlinearities")
    ap.add_argument("--branch-type", default="basal")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--models", nargs="+", default=["dsnn-r", "dsnn-lrf", "lif-snn"],
                    choices=["dsnn-r", "dsnn-lrf", "lif-snn"],
                    help="subset of the models (dsnn-lrf runs on Fashion-MNIST only)")
    ap.add_argument("--tasks", nargs="+", default=None, choices=[*RANDMAN_LEVELS, "fmnist-latency"],
                    help="subset of: randman-1d randman-2d randman-3d fmnist-latency")
    ap.add_argument("--data-dir", default=None, help="Fashion-MNIST IDX files (default: installed or cache)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--no-speed", action="store_true", help="skip the sparse vs masked-dense speed line")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the summary and speed line as JSON")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--plot", default="benchmarks/results/snn_sweep.png", metavar="PNG",
                    help="accuracy and spikes per sample by task and model (default %(default)s; '' for none)")
    ap.add_argument("--plot-from", default=None, metavar="JSON",
                    help="only redraw the plot from an earlier --json file, no training")
    _markdown.add_argument(ap, "snn_sweep")
    args = ap.parse_args(argv)
    host = _markdown.machine()
    if args.plot_from:
        with open(args.plot_from) as fh:
            plot_rows(json.load(fh)["rows"], args.plot or "benchmarks/results/snn_sweep.png")
        return 0

    import torch
    from dendritic_errors import InputError
    from bridge.nn.training import run_spiking_training
    from bridge.spike_data import SpikeTimes, load_spike_dataset

    torch.set_num_threads(args.threads)
    D, S, s = (4, 32, 16) if args.quick else (8, 64, 16)
    tasks = args.tasks or (["randman-1d", "randman-2d", "fmnist-latency"] if args.quick
                           else [*RANDMAN_LEVELS, "fmnist-latency"])
    epochs = {"randman": 20 if args.quick else 40, "fmnist": 5 if args.quick else 10}
    os.makedirs(args.out_dir, exist_ok=True)
    res_path = os.path.join(args.out_dir, "results.nc")
    results = load_results(res_path)
    done = done_keys(results)
    print(f"{0 if results is None else results.sizes['run']} runs already in {res_path}", flush=True)
    t_start = time.perf_counter()
    for task in tasks:
        fm = task == "fmnist-latency"
        try:
            if fm:
                data = load_spike_dataset("fmnist-latency", n_steps=50, seed=1, data_dir=args.data_dir,
                                          download=False, limit_train=10000 if args.quick else None,
                                          limit_test=2000 if args.quick else None)
                if args.quick:   # a smaller validation set too (it is evaluated every epoch)
                    data.x_val, data.y_val = SpikeTimes(data.x_val.times[:1000], 50), data.y_val[:1000]
            else:
                data = load_spike_dataset("randman", n_steps=50, seed=1, randman=dict(
                    n_classes=10, n_units=50, dim=RANDMAN_LEVELS[task], alpha=2.0, n_samples=100))
        except InputError as err:
            print(f"{task}: skipped ({err})", flush=True)
            continue
        ep = epochs["fmnist" if fm else "randman"]
        dsnn_models = [m for m in (["dsnn-r", "dsnn-lrf"] if fm else ["dsnn-r"]) if m in args.models]
        params = (s + 1) * D * S + (D + 1) * S + (S + 1) * data.n_classes
        n_lif = lif_neurons_for(params, s, data.n_classes)
        plan = [(m, "leaky_relu", D, S) for m in dsnn_models]
        if args.units:
            plan += [(m, args.units, D, S) for m in dsnn_models]
        if "lif-snn" in args.models:
            plan.append(("lif-snn", "leaky_relu", 1, n_lif))
        for seed in args.seeds:
            for model, nl, d, n in plan:
                label = "leaky_relu" if nl == "leaky_relu" else "fitted"
                key = dict(task=task, model=model, nonlinearity=label, seed=seed, dendrites=d, somata=n, epochs=ep)
                if tuple(key[k] for k in KEY) in done:
                    continue
                t = time.perf_counter()
                hist = run_spiking_training(dataset=data.name, model=model, dendrites=d, somata=n, synapses=s,
                                            nonlinearity=nl, branch_type=args.branch_type, epochs=ep, seed=seed,
                                            batch_size=32 if not fm else 64, lr=args.lr, threads=args.threads,
                                            progress=args.progress, data=data)
                rec = dict(key, n_trainable_parameters=int(hist.attrs["n_trainable_parameters"]),
                           test_accuracy=float(hist["test_accuracy"].values[-1]),
                           val_accuracy=float(hist["val_accuracy"].values[-1]),
                           spikes_per_sample=float(hist["test_spikes_per_sample"].values[-1].sum()),
                           epoch_time_s=float(hist["train_time_s"].values.mean()),
                           n_train=int(hist.attrs["n_train"]), n_test=int(hist.attrs["n_test"]),
                           threads=int(torch.get_num_threads()), quick=int(args.quick))
                results = append(results, rec)
                write_netcdf_atomic(results, res_path)
                print(f"{task:15s} {model:8s} {label:10s} seed={seed}: {rec['n_trainable_parameters']:6d} params, "
                      f"test acc {rec['test_accuracy']:.3f}, {rec['spikes_per_sample']:.1f} spikes/sample, "
                      f"{rec['epoch_time_s']:.2f} s/epoch ({time.perf_counter() - t:.1f} s)", flush=True)
    print(f"training: {time.perf_counter() - t_start:.0f} s", flush=True)
    speed = None if args.no_speed else speed_line(args.threads)
    if speed:
        print(f"speed, fwd+bwd of one spiking dendritic layer (D={speed['D']} S={speed['S']} s={speed['s']}, "
              f"{speed['n_in']} inputs, batch {speed['batch']}, {speed['steps']} steps, {speed['threads']} threads): "
              f"sparse {speed['sparse_s'] * 1e3:.1f} ms, masked-dense {speed['dense_s'] * 1e3:.1f} ms, "
              f"ratio {speed['ratio']:.1f}x (target >= 10); spikes identical in {100 * speed['spike_agreement']:.2f} %")
    rows = summary_rows(results) if results is not None else []
    header = ["task", "model", "dendritic nonlinearity", "units", "trainable params", "test accuracy (mean ± sd, n)",
              "spikes / sample", "s / epoch"]
    table = [[r["task"], r["model"], r["nonlinearity"] if r["model"] != "lif-snn" else "-", r["units"],
              f"{r['params']:,}", f"{100 * r['accuracy_mean']:.1f} ± {100 * r['accuracy_sd']:.1f} % (n={r['n']})",
              f"{r['spikes']:.0f}", f"{r['epoch_s']:.2f}"] for r in rows]
    for line in _markdown.table(header, table):
        print(line)
    if args.plot and rows:
        plot_rows(rows, args.plot)
    if args.json:
        with open(args.json + ".tmp", "w") as fh:
            json.dump({"rows": rows, "speed": speed, "quick": args.quick, "machine": host}, fh, indent=1)
        os.replace(args.json + ".tmp", args.json)
    data_notes = []
    if any(t in RANDMAN_LEVELS for t in tasks):
        data_notes.append("Randman: 10 classes, 50 inputs, 100 samples per class (80/10/10 split), 50 steps of "
                          f"1 ms, {epochs['randman']} epochs, batch 32, one data set per level (generation seed 1)")
    if "fmnist-latency" in tasks:
        data_notes.append("Fashion-MNIST latency-coded (50 steps, threshold 0.2), "
                          f"{'10000 training images, 1000 validation, 2000 test, ' if args.quick else ''}"
                          f"{epochs['fmnist']} epochs, batch 64")
    notes = [f"{'--quick: ' if args.quick else ''}{'; '.join(data_notes)}. "
             f"Adam {args.lr:g}; tau_syn 5 ms, tau_mem 10 ms, threshold 1, "
             "subtract reset, SuperSpike surrogate (beta 10), max-over-time leaky read-out. lif-snn has 16 synapses "
             "per neuron and as many neurons as give the dSNN's parameter count. The seeds vary connectivity, "
             "initial weights and batch order. Spikes: hidden "
             f"layer, per test sample; s / epoch: training only, {args.threads} CPU thread(s); load average at "
             f"the end {os.getloadavg()[0]:.2f} (times are inflated when other work shares the cores)."]
    if speed:
        notes += ["", f"Speed: forward + backward of one spiking dendritic layer (D={speed['D']}, S={speed['S']}, "
                     f"s={speed['s']}, {speed['n_in']} inputs, batch {speed['batch']}, {speed['steps']} steps): sparse "
                     f"{speed['sparse_s'] * 1e3:.1f} ms, masked-dense {speed['dense_s'] * 1e3:.1f} ms, ratio "
                     f"**{speed['ratio']:.1f}x** (target >= 10); best of {speed['repeats']}, measured alternately in the same run, "
                     f"{speed['threads']} thread(s)."]
    _markdown.write(args.markdown, "Spiking networks: dendritic SNN vs LIF SNN (`benchmarks/snn_sweep.py`)",
                    _markdown.table(header, table), notes, host)
    return 0


if __name__ == "__main__":
    sys.exit(main())
