"""Evaluation of temporal neuron models as the ELM paper evaluates NeuronIO.

Spieler et al. 2024 (ICLR; on the data of Beniaguev, Segev & London 2021, Neuron 109:2727):
drop the first 500 ms of every simulation, exclude simulations with more than 24 output
spikes, clip the somatic voltage at -55 mV (removes the action potentials), then somatic
voltage RMSE and variance explained, and spike prediction ROC AUC and true-positive rate
at 1 % false-positive rate over all 1 ms bins. Everything in float64 numpy; no scikit-learn.
"""
from __future__ import annotations

import numpy as np


def _np(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=float)


def average_ranks(scores) -> np.ndarray:
    """1-based ranks of `scores` (ascending); tied scores share the mean of their ranks."""
    s = _np(scores).reshape(-1)
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts            # 0-based rank of each distinct value's first copy
    return (first + (counts + 1) / 2.0)[inverse]


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve by the rank (Mann-Whitney U) formula:
    AUC = (sum of the positives' ranks - P (P + 1) / 2) / (P N), ties at average ranks
    (Hanley & McNeil 1982, Radiology 143:29). NaN without positives or negatives."""
    y = _np(labels).reshape(-1) > 0.5
    P, N = int(y.sum()), int((~y).sum())
    if P == 0 or N == 0:
        return float("nan")
    r = average_ranks(scores)
    return float((r[y].sum() - P * (P + 1) / 2.0) / (P * N))


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) at every distinct threshold (predict positive when score >= threshold),
    from (0, 0) to (1, 1); tied scores form one point."""
    s, y = _np(scores).reshape(-1), _np(labels).reshape(-1) > 0.5
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_group = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp, fp = np.cumsum(y)[last_of_group], np.cumsum(~y)[last_of_group]
    P, N = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return np.r_[0.0, fp / N], np.r_[0.0, tp / P]


def tpr_at_fpr(scores, labels, fpr: float = 0.01) -> float:
    """True-positive rate at false-positive rate `fpr`, linearly interpolated on the ROC curve
    (between the last point with FPR <= fpr and the next one). NaN without both classes."""
    y = _np(labels).reshape(-1) > 0.5
    if y.all() or not y.any():
        return float("nan")
    f, t = roc_curve(scores, labels)
    i = int(np.nonzero(f <= fpr)[0][-1])     # FPR and TPR are non-decreasing: the best point so far
    if i == len(f) - 1 or f[i] == fpr:
        return float(t[i])
    return float(t[i] + (t[i + 1] - t[i]) * (fpr - f[i]) / (f[i + 1] - f[i]))


def _voltage_scores(target: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(RMSE, variance explained = 1 - Var(target - pred) / Var(target))."""
    rmse = float(np.sqrt(np.mean((pred - target) ** 2)))
    var = float(np.var(target))
    ve = float(1.0 - np.var(target - pred) / var) if var > 0 else float("nan")
    return rmse, ve


def temporal_metrics(v_true_mV, spikes, v_pred_mV, spike_logit, *, dt_ms: float = 1.0,
                     burn_in_ms: float = 500.0, max_spikes: int = 24, clip_mV: float = -55.0,
                     fpr: float = 0.01) -> dict:
    """Voltage and spike-prediction scores of one model on a set of simulations.

    Inputs are (n_simulations, T) arrays or tensors (1-D: one simulation) at `dt_ms` bins.
    Rules, in order: a simulation with more than `max_spikes` spikes over its whole length
    is excluded; the first `burn_in_ms` of each kept simulation are dropped; target and
    prediction are clipped from above at `clip_mV`; the scores pool every remaining bin.
    "Rescaled": the clipped prediction shifted and scaled to the clipped target's mean and
    SD (a constant prediction becomes the target's mean). Variance explained is
    1 - Var(residual) / Var(target). Spike scores use the logits as the ranking.

    Returns a dict: n_simulations (kept), n_excluded, n_bins, n_spike_bins, v_rmse_mV,
    v_variance_explained, v_rmse_rescaled_mV, v_variance_explained_rescaled, spike_auc,
    spike_tpr_at_fpr, fpr (NaN scores when nothing is left).
    """
    arrays = [np.atleast_2d(_np(a)) for a in (v_true_mV, spikes, v_pred_mV, spike_logit)]
    if len({a.shape for a in arrays}) != 1:
        raise ValueError(f"all inputs need one shape (n_simulations, T), got {[a.shape for a in arrays]}")
    vt, sp, vp, lg = arrays
    keep = sp.sum(1) <= max_spikes
    b = int(round(burn_in_ms / dt_ms))
    vt, sp, vp, lg = (a[keep, b:] for a in (vt, sp, vp, lg))
    out = {"n_simulations": int(keep.sum()), "n_excluded": int((~keep).sum()), "n_bins": int(vt.size),
           "n_spike_bins": int((sp > 0.5).sum()), "fpr": float(fpr)}
    nan = float("nan")
    if vt.size == 0:
        return out | dict(v_rmse_mV=nan, v_variance_explained=nan, v_rmse_rescaled_mV=nan,
                          v_variance_explained_rescaled=nan, spike_auc=nan, spike_tpr_at_fpr=nan)
    vt, vp = np.minimum(vt, clip_mV).ravel(), np.minimum(vp, clip_mV).ravel()
    out["v_rmse_mV"], out["v_variance_explained"] = _voltage_scores(vt, vp)
    sd_p = vp.std()
    z = (vp - vp.mean()) / sd_p if sd_p > 0 else np.zeros_like(vp)
    out["v_rmse_rescaled_mV"], out["v_variance_explained_rescaled"] = _voltage_scores(vt, z * vt.std() + vt.mean())
    out["spike_auc"] = roc_auc(lg, sp)
    out["spike_tpr_at_fpr"] = tpr_at_fpr(lg, sp, fpr)
    return out
