"""Training loop (Adam, cross-entropy) returning per-epoch metrics as an xarray dataset.

Usable from Python (`train_model`, `run_training`); `bridge train` is a thin wrapper.
Deterministic for a seed on a given machine and thread count: the model's weights and
connectivity come from its own seed (`make_model(seed=...)`), batch order from a
``torch.Generator`` seeded with `seed`.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from bridge.io import write_netcdf_atomic

from bridge.nn.models import count_parameters

RUN_SCHEMA = "bridge.run"


def _as_tensors(x, y):
    """Images as float32 tensors; a spike source (has ``batch``) stays as it is."""
    if hasattr(x, "batch"):
        return x, torch.as_tensor(y, dtype=torch.int64)
    return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)


def _take(x, idx: torch.Tensor) -> torch.Tensor:
    """Rows `idx` of an image tensor, or the dense spike batch of a spike source."""
    return x.batch(idx) if hasattr(x, "batch") else x[idx]


@torch.no_grad()
def evaluate(model: nn.Module, x, y: torch.Tensor, batch_size: int = 2048, device=None,
             spikes: list | None = None) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` on (x, y).

    `x`: a tensor or a spike source (`bridge.spike_data`). For a spiking model (with
    ``spike_counts``), `spikes` (a list) receives the mean spikes per sample of each layer.
    """
    if len(y) == 0:
        if spikes is not None and hasattr(model, "spike_counts"):
            spikes.extend([float("nan")] * len(model.spike_counts))
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    loss, correct, total_spikes = 0.0, 0, None
    for i in range(0, len(y), batch_size):
        idx = torch.arange(i, min(i + batch_size, len(y)))
        out = model(_take(x, idx).to(device))
        yb = y[idx].to(out.device)
        loss += nn.functional.cross_entropy(out, yb, reduction="sum").item()
        correct += (out.argmax(1) == yb).sum().item()
        if hasattr(model, "spike_counts"):
            c = model.spike_counts.double()
            total_spikes = c if total_spikes is None else total_spikes + c
    model.train(was_training)
    if spikes is not None and total_spikes is not None:
        spikes.extend((total_spikes / len(y)).tolist())
    return loss / len(y), correct / len(y)


def train_model(model: nn.Module, data, *, epochs: int = 25, batch_size: int = 128, lr: float = 1e-3,
                seed: int = 1, threads: int | None = None, progress: bool = True,
                config: dict[str, Any] | None = None, device: str | None = None,
                eval_batch_size: int = 2048) -> xr.Dataset:
    """Train `model` on `data` (`bridge.data.DataSplits`) with Adam; return the history.

    Per epoch: ``train_loss``/``train_accuracy`` (running mean over the epoch's batches,
    as Keras reports them), ``val_*`` and ``test_*`` (full evaluation after the epoch),
    ``train_time_s`` and ``eval_time_s``; for a spiking model (`bridge.nn.spiking`) also
    ``test_spikes_per_sample`` (epoch, layer): mean spikes per test sample of each hidden
    layer. `data` may be `bridge.spike_data.SpikeSplits` (batches built on demand).
    `device`: 'cpu', 'cuda', ... (default: where the model is). Attributes: parameter
    count, configuration (JSON and flattened), seed, torch version.
    """
    if threads:
        torch.set_num_threads(int(threads))
    x_tr, y_tr = _as_tensors(data.x_train, data.y_train)
    x_va, y_va = _as_tensors(data.x_val, data.y_val)
    x_te, y_te = _as_tensors(data.x_test, data.y_test)
    if device is not None:
        model.to(device)
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    names = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy",
             "train_time_s", "eval_time_s")
    hist = {k: [] for k in names}
    n = len(y_tr)
    n_batches = (n + batch_size - 1) // batch_size
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs * n_batches, unit="batch", dynamic_ncols=True, leave=False)
    model.train()
    spike_hist = []
    for epoch in range(epochs):
        spike_rows: list[float] = []
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        tot_loss, tot_correct = 0.0, 0
        for b in range(n_batches):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            xb, yb = _take(x_tr, idx).to(device), y_tr[idx].to(device)
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = nn.functional.cross_entropy(out, yb)
            loss.backward()
            opt.step()
            tot_loss += loss.item() * len(idx)
            tot_correct += (out.argmax(1) == yb).sum().item()
            if bar is not None:
                bar.update(1)
        t1 = time.perf_counter()
        hist["train_loss"].append(tot_loss / max(n, 1))
        hist["train_accuracy"].append(tot_correct / max(n, 1))
        vl, va = evaluate(model, x_va, y_va, eval_batch_size, device)
        tl, ta = evaluate(model, x_te, y_te, eval_batch_size, device, spikes=spike_rows)
        hist["val_loss"].append(vl)
        hist["val_accuracy"].append(va)
        hist["test_loss"].append(tl)
        hist["test_accuracy"].append(ta)
        hist["train_time_s"].append(t1 - t0)
        hist["eval_time_s"].append(time.perf_counter() - t1)
        spike_hist.append(spike_rows)
        if bar is not None:
            bar.set_postfix(epoch=epoch + 1, val_acc=f"{va:.4f}", test_acc=f"{ta:.4f}")
    if bar is not None:
        bar.close()
    units = {"loss": "nats", "accuracy": "1", "time_s": "s"}
    ds = xr.Dataset(
        {k: ("epoch", np.asarray(v, dtype=float), {"units": next(u for s, u in units.items() if k.endswith(s))})
         for k, v in hist.items()},
        coords={"epoch": ("epoch", np.arange(1, epochs + 1))},
    )
    if spike_hist and spike_hist[0]:
        ds["test_spikes_per_sample"] = (("epoch", "layer"), np.asarray(spike_hist, dtype=float),
                                        {"units": "spikes", "long_name": "mean spikes per test sample, per layer"})
        ds = ds.assign_coords(layer=np.arange(1, len(spike_hist[0]) + 1))
    cfg = dict(config or {})
    ds.attrs.update({
        "schema": RUN_SCHEMA,
        "schema_version": 1,
        "n_trainable_parameters": int(count_parameters(model)),
        "seed": int(seed),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "lr": float(lr),
        "threads": int(torch.get_num_threads()),
        "torch_version": str(torch.__version__),
        "n_train": int(n), "n_val": int(len(y_va)), "n_test": int(len(y_te)),
        "config": json.dumps(cfg, sort_keys=True, default=str),
    })
    for k, v in cfg.items():
        key = f"config_{k}"
        if isinstance(v, bool):
            ds.attrs[key] = int(v)
        elif isinstance(v, str):
            ds.attrs[key] = str(v)
        elif isinstance(v, (int, float)):
            ds.attrs[key] = v
        elif v is None:
            ds.attrs[key] = "none"
        else:
            ds.attrs[key] = str(v)
    return ds


def write_run(ds: xr.Dataset, path: str | os.PathLike) -> None:
    """Write a training run atomically (bridge.io.write_netcdf_atomic)."""
    write_netcdf_atomic(ds, path)


def run_training(*, dataset: str = "fmnist", model: str = "dann-r", dendrites: int = 16, somata: int = 128,
                 synapses: int = 16, nonlinearity: str = "leaky_relu", trainable_nonlinearity: bool = False,
                 branch_type: str = "basal", init: str = "median", epochs: int = 25, seed: int = 1,
                 noise: float = 0.0, data_dir=None, batch_size: int = 128, lr: float = 1e-3,
                 threads: int | None = None, limit_train: int | None = None, progress: bool = True,
                 download: bool = True, data=None, device: str | None = None) -> xr.Dataset:
    """Load data, build the model and train it; returns the history dataset.

    `nonlinearity`: 'leaky_relu' or a path to a units file. `data`: preloaded
    `DataSplits` (skips loading). The configuration is recorded in the attributes.
    """
    from bridge.data import load_dataset
    from bridge.nn.models import make_model

    if threads:
        torch.set_num_threads(int(threads))
    if data is None:
        data = load_dataset(dataset, data_dir=data_dir, download=download, seed=seed, noise=noise,
                            limit_train=limit_train)
    nl: Any = nonlinearity
    if nonlinearity not in ("leaky_relu",):
        from bridge.nn.units import load_units
        nl = load_units(nonlinearity)
    net = make_model(model, in_features=data.n_features, n_classes=data.n_classes, dendrites=dendrites,
                     somata=somata, synapses=synapses, input_shape=data.image_shape, nonlinearity=nl,
                     trainable_nonlinearity=trainable_nonlinearity, branch_type=branch_type, init=init,
                     seed=seed)
    config = dict(dataset=dataset, model=model, dendrites=dendrites, somata=somata, synapses=synapses,
                  nonlinearity=str(nonlinearity), trainable_nonlinearity=trainable_nonlinearity,
                  branch_type=branch_type, init=init, epochs=epochs, seed=seed, noise=noise,
                  batch_size=batch_size, lr=lr, limit_train=limit_train, data_source=data.info.get("source"))
    return train_model(net, data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, threads=threads,
                       progress=progress, config=config, device=device)


def run_spiking_training(*, dataset: str = "randman", model: str = "dsnn-r", dendrites: int = 8, somata: int = 64,
                         synapses: int = 16, nonlinearity: str = "leaky_relu", trainable_nonlinearity: bool = False,
                         branch_type: str = "basal", init: str = "median", epochs: int = 10, seed: int = 1,
                         data_dir=None, batch_size: int = 128, lr: float = 1e-3, threads: int | None = None,
                         limit_train: int | None = None, limit_test: int | None = None, progress: bool = True,
                         download: bool = True, time_steps: int | None = None, dt_ms: float | None = None,
                         n_layers: int = 1, readout: str = "max", tau_syn_ms: float = 5.0, tau_mem_ms: float = 10.0,
                         threshold: float = 1.0, reset: str = "subtract", refractory_ms: float = 0.0,
                         surrogate: str = "fast_sigmoid", surrogate_scale: float = 10.0, recurrent: bool = False,
                         randman: dict | None = None, device: str | None = None, data=None) -> xr.Dataset:
    """Load a spiking dataset (`bridge.spike_data`), build a spiking model
    (`bridge.nn.spiking.make_spiking_model`) and train it; returns the history dataset
    (with ``test_spikes_per_sample``). `data`: preloaded `SpikeSplits`."""
    from dendritic_errors import InputError
    from bridge.nn.spiking import make_spiking_model
    from bridge.spike_data import load_spike_dataset

    if threads:
        torch.set_num_threads(int(threads))
    if data is None:
        data = load_spike_dataset(dataset, n_steps=time_steps, dt_ms=dt_ms, seed=seed, data_dir=data_dir,
                                  download=download, limit_train=limit_train, limit_test=limit_test,
                                  randman=randman)
    if model in ("dsnn-lrf", "dsnn-grf") and data.image_shape is None:
        raise InputError(f"{model} samples receptive fields on an image; {dataset} has no image layout "
                         "(use dsnn-r or lif-snn)")
    nl: Any = nonlinearity
    if nonlinearity != "leaky_relu":
        from bridge.nn.units import load_units
        nl = load_units(nonlinearity)
    net = make_spiking_model(model, in_features=data.n_features, n_classes=data.n_classes, dendrites=dendrites,
                             somata=somata, synapses=synapses, input_shape=data.image_shape, nonlinearity=nl,
                             trainable_nonlinearity=trainable_nonlinearity, branch_type=branch_type, init=init,
                             n_layers=n_layers, readout=readout, tau_syn_ms=tau_syn_ms, tau_mem_ms=tau_mem_ms,
                             dt_ms=data.dt_ms, threshold=threshold, reset=reset, refractory_ms=refractory_ms,
                             surrogate=surrogate, surrogate_scale=surrogate_scale, recurrent=recurrent, seed=seed)
    config = dict(dataset=dataset, model=model, dendrites=dendrites, somata=somata, synapses=synapses,
                  nonlinearity=str(nonlinearity), trainable_nonlinearity=trainable_nonlinearity,
                  branch_type=branch_type, init=init, epochs=epochs, seed=seed, batch_size=batch_size, lr=lr,
                  limit_train=limit_train, limit_test=limit_test, data_source=data.info.get("source"),
                  time_steps=data.n_steps, dt_ms=data.dt_ms, n_layers=n_layers, readout=readout,
                  tau_syn_ms=tau_syn_ms, tau_mem_ms=tau_mem_ms, threshold=threshold, reset=reset,
                  refractory_ms=refractory_ms, surrogate=surrogate, surrogate_scale=surrogate_scale,
                  recurrent=recurrent, device=device or "cpu", dataset_info=data.info)
    return train_model(net, data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, threads=threads,
                       progress=progress, config=config, device=device, eval_batch_size=256)
