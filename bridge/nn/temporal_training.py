"""Training of the temporal neuron models (`bridge.nn.temporal`): data container, loss, fit loop.

Loss per batch (targets (B, T) at 1 ms bins, the first `burn_in_ms` of each sequence left out)::

    L = mean((v_pred - min(v_true, clip_mV))^2) / v_scale_mV^2 + spike_weight * BCE(logit, spikes)

Only the target is clipped (as Beniaguev et al. 2021 train on spike-free voltage): a
clipped prediction would get no gradient once above `clip_mV`. Defaults v_scale_mV = 10,
spike_weight = 1: a 1 mV RMSE costs 0.01, of the order of the spike BCE of a constant
predictor at ~2 spikes/s (0.014). Adam, optionally with gradient clipping and a learning
rate that drops on a validation plateau; early stopping on the validation loss; an
interrupted run resumes from its checkpoint (state_dicts and plain numbers, saved with
torch.save, read with torch.load(weights_only=True)).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TemporalData:
    """Simulations: `x` (n, T, n_synapses) spike counts per bin, `v_mV` (n, T) somatic
    voltage, `spikes` (n, T) 0/1 somatic spikes."""

    x: torch.Tensor
    v_mV: torch.Tensor
    spikes: torch.Tensor

    def __post_init__(self):
        if self.x.ndim != 3 or self.v_mV.shape != self.x.shape[:2] or self.spikes.shape != self.x.shape[:2]:
            raise ValueError(f"need x (n, T, n_synapses), v_mV and spikes (n, T); got {tuple(self.x.shape)}, "
                             f"{tuple(self.v_mV.shape)}, {tuple(self.spikes.shape)}")

    def __len__(self) -> int:
        return self.x.shape[0]

    def subset(self, indices) -> "TemporalData":
        idx = torch.as_tensor(indices, dtype=torch.int64, device=self.x.device)
        return TemporalData(self.x[idx], self.v_mV[idx], self.spikes[idx])

    def to(self, device) -> "TemporalData":
        return TemporalData(self.x.to(device), self.v_mV.to(device), self.spikes.to(device))


def temporal_loss(v_pred_mV, spike_logit, v_true_mV, spikes, *, v_scale_mV: float = 10.0,
                  spike_weight: float = 1.0, clip_mV: float = -55.0, burn_in_steps: int = 0
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, voltage term, spike term); see the module docstring."""
    b = int(burn_in_steps)
    v_term = ((v_pred_mV[:, b:] - v_true_mV[:, b:].clamp(max=clip_mV)) ** 2).mean() / v_scale_mV ** 2
    s_term = F.binary_cross_entropy_with_logits(spike_logit[:, b:], spikes[:, b:].to(spike_logit.dtype))
    return v_term + spike_weight * s_term, v_term, s_term


@torch.no_grad()
def windows(data: TemporalData, n_steps: int) -> TemporalData:
    """Consecutive, non-overlapping windows of `n_steps` bins of every simulation (a shorter
    remainder is dropped; data shorter than one window is returned whole)."""
    T = data.x.shape[1]
    if n_steps >= T:
        return data
    starts = range(0, T - n_steps + 1, n_steps)
    cut = lambda a: torch.cat([a[:, s:s + n_steps] for s in starts])  # noqa: E731
    return TemporalData(cut(data.x), cut(data.v_mV), cut(data.spikes))


@torch.no_grad()
def predict_temporal(model: nn.Module, data: TemporalData, *, batch_size: int = 8,
                     device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(v_mV, spike_logit) of `model` on every simulation of `data`, on the CPU (no graph)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was = model.training
    model.eval()
    vs, ls = [], []
    for i in range(0, len(data), batch_size):
        v, logit = model(data.x[i:i + batch_size].to(device))
        vs.append(v.cpu()), ls.append(logit.cpu())
    model.train(was)
    return torch.cat(vs), torch.cat(ls)


def _save_atomic(obj, path) -> None:
    tmp = f"{path}.tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)     # a kill during the save leaves the previous checkpoint intact


def fit_temporal(model: nn.Module, train: TemporalData, val: TemporalData, *, epochs: int, lr: float,
                 batch_size: int, seed: int, patience: int, device="cpu", checkpoint=None,
                 progress: bool = True, v_scale_mV: float = 10.0, spike_weight: float = 1.0,
                 clip_mV: float = -55.0, burn_in_ms: float = 0.0, dt_ms: float = 1.0,
                 window_ms: float | None = None, max_grad_norm: float | None = None,
                 lr_patience: int | None = None, lr_factor: float = 0.5
                 ) -> tuple[dict[str, torch.Tensor], dict[str, list]]:
    """Train `model` with Adam on `train`, early-stopping on the loss of `val`.

    Returns (best_state_dict (CPU tensors), history) and leaves the best state loaded in
    `model`. history: lists per epoch of ``epoch``, ``train_loss`` (mean over the epoch's
    batches), ``val_loss``, ``val_voltage_loss``, ``val_spike_loss``, ``epoch_time_s``.
    Stops after `epochs` epochs in total or `patience` epochs without a lower validation
    loss. Batch order per epoch comes from a generator seeded by (seed, epoch), so a
    resumed run draws the batches an uninterrupted one would. `checkpoint`: a path written
    after every epoch (model, optimizer, history, best state); if it exists the run
    continues from it (the model and optimizer must be built the same way). `window_ms`:
    train on consecutive windows of that length cut from the training simulations (each
    starts from rest, so `burn_in_ms` should cover the models' memory): many more, shorter
    gradient steps per epoch; validation stays on whole simulations. `max_grad_norm`: clip
    the gradients' global norm before each step; `lr_patience`: multiply the learning rate by
    `lr_factor` after that many epochs without a lower validation loss (ReduceLROnPlateau;
    its state is checkpointed too).
    """
    device = torch.device(device)
    if window_ms:
        train = windows(train, int(round(window_ms / dt_ms)))
    model.to(device)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    sched = (torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=lr_factor, patience=lr_patience)
             if lr_patience is not None else None)
    loss_kw = dict(v_scale_mV=v_scale_mV, spike_weight=spike_weight, clip_mV=clip_mV,
                   burn_in_steps=int(round(burn_in_ms / dt_ms)))
    keys = ("epoch", "train_loss", "val_loss", "val_voltage_loss", "val_spike_loss", "epoch_time_s")
    hist: dict[str, list] = {k: [] for k in keys}
    best_val, bad, start = float("inf"), 0, 0
    best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if checkpoint is not None and os.path.exists(checkpoint):
        ck = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if sched is not None and "scheduler" in ck:
            sched.load_state_dict(ck["scheduler"])
        hist = {k: list(ck["history"][k]) for k in keys}
        best_val, bad, start = float(ck["best_val"]), int(ck["bad_epochs"]), int(ck["epoch"])
        best_state = {k: v.cpu() for k, v in ck["best_state"].items()}
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs, initial=start, unit="epoch", dynamic_ncols=True, leave=False)
    n = len(train)
    for epoch in range(start, epochs):
        if bad >= patience:
            break
        t0 = time.perf_counter()
        model.train()
        gen = torch.Generator().manual_seed(int(seed) * 100_003 + epoch)
        perm = torch.randperm(n, generator=gen)
        total, count = 0.0, 0
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            b = train.subset(idx).to(device)
            opt.zero_grad(set_to_none=True)
            v, logit = model(b.x)
            loss = temporal_loss(v, logit, b.v_mV, b.spikes, **loss_kw)[0]
            loss.backward()
            if max_grad_norm:
                nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            opt.step()
            total += loss.item() * len(idx)
            count += len(idx)
        v, logit = predict_temporal(model, val, batch_size=batch_size, device=device)
        vl, vv, vs = (t.item() for t in temporal_loss(v, logit, val.v_mV.cpu(), val.spikes.cpu(), **loss_kw))
        for k, val_ in zip(keys, (epoch + 1, total / max(count, 1), vl, vv, vs, time.perf_counter() - t0)):
            hist[k].append(val_)
        if sched is not None:
            sched.step(vl)
        if vl < best_val:
            best_val, bad = vl, 0
            best_state = {k: t.detach().cpu().clone() for k, t in model.state_dict().items()}
        else:
            bad += 1
        if checkpoint is not None:
            _save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1,
                          "history": hist, "best_val": best_val, "bad_epochs": bad, "best_state": best_state,
                          **({"scheduler": sched.state_dict()} if sched is not None else {})},
                         checkpoint)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(train=f"{hist['train_loss'][-1]:.4g}", val=f"{vl:.4g}")
    if bar is not None:
        bar.close()
    model.load_state_dict(best_state)
    return best_state, hist
