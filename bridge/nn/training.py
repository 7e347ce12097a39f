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
    return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2048) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` on (x, y)."""
    if len(y) == 0:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(y), batch_size):
        out = model(x[i:i + batch_size])
        yb = y[i:i + batch_size]
        loss += nn.functional.cross_entropy(out, yb, reduction="sum").item()
        correct += (out.argmax(1) == yb).sum().item()
    model.train(was_training)
    return loss / len(y), correct / len(y)


def train_model(model: nn.Module, data, *, epochs: int = 25, batch_size: int = 128, lr: float = 1e-3,
                seed: int = 1, threads: int | None = None, progress: bool = True,
                config: dict[str, Any] | None = None) -> xr.Dataset:
    """Train `model` on `data` (`bridge.data.DataSplits`) with Adam; return the history.

    Per epoch: ``train_loss``/``train_accuracy`` (running mean over the epoch's batches,
    as Keras reports them), ``val_*`` and ``test_*`` (full evaluation after the epoch),
    ``train_time_s`` and ``eval_time_s``. Attributes: parameter count, configuration
    (JSON and flattened), seed, torch version.
    """
    if threads:
        torch.set_num_threads(int(threads))
    x_tr, y_tr = _as_tensors(data.x_train, data.y_train)
    x_va, y_va = _as_tensors(data.x_val, data.y_val)
    x_te, y_te = _as_tensors(data.x_test, data.y_test)
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
    for epoch in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        tot_loss, tot_correct = 0.0, 0
        for b in range(n_batches):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            xb, yb = x_tr[idx], y_tr[idx]
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
        vl, va = evaluate(model, x_va, y_va)
        tl, ta = evaluate(model, x_te, y_te)
        hist["val_loss"].append(vl)
        hist["val_accuracy"].append(va)
        hist["test_loss"].append(tl)
        hist["test_accuracy"].append(ta)
        hist["train_time_s"].append(t1 - t0)
        hist["eval_time_s"].append(time.perf_counter() - t1)
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
                 download: bool = True, data=None) -> xr.Dataset:
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
                       progress=progress, config=config)
