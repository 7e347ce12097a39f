"""The two-layer model on the `cluster_dispersion` group, as Poirazi, Brannon & Mel 2003
(Neuron 37:989) built it, against the point neuron.

Subunits: every input branch's own transfer function, fitted (`bridge.fit.curves`, the
transfer families of `bridge.transfer`, chosen by BIC) to its own curve: the time-averaged
local depolarisation that n clustered synapses add to the curve context's (the rest of the
tree driven, `curve_context_local_mean_mV`; files measured with the branch alone have no
context and nothing is subtracted), against the expected linear sum
``x = n * mV_per_synapse`` (``mV_per_synapse``: the smallest n's response divided by n).
No type medians or stand-ins: a branch whose curve cannot be fitted stops the fit, named.

Whole cell (`bridge.fit.two_layer.fit_two_layer`, unchanged): in run r, branch b receives
``x_rb = n_active[r, b] * mV_per_synapse[b]``; the two-layer model sums ``f_b(x_rb) - f_b(0)``
with a fitted weight per branch through an output sigmoid; the point neuron sees only the
total number of driven synapses. Targets: the somatic firing rate (P03's output) and the
mean somatic depolarisation. Figures are variance explained on the held-out runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from bridge.fit.branches import own_curve_fits
from bridge.fit.two_layer import RIDGE, TwoLayerResult, fit_two_layer
from dendritic_errors import InputError

TARGETS = ("soma_rate_hz", "soma_mean_mV")


@dataclass
class DispersionFit:
    branch: np.ndarray
    families: list               # per branch
    params: list                 # per branch: parameter values in the family's order
    r2: np.ndarray               # per branch
    mV_per_synapse: np.ndarray   # per branch
    result: TwoLayerResult
    n_runs: int
    curve_context: int = 0       # synapses driven elsewhere while the curves were measured (0: the branch alone)


def fit_dispersion(group: xr.Dataset, *, criterion: str = "bic", ridge: float = RIDGE,
                   source: str = "cluster_dispersion") -> DispersionFit:
    """Fit the subunits on the branch curves, then the whole-cell models on the runs."""
    counts = np.asarray(group["curve_n"].values, float)
    y = np.asarray(group["curve_local_mean_mV"].transpose("branch", "curve_n").values, float)
    if "curve_context_local_mean_mV" in group:      # what the branch's synapses add to the context
        y = y - np.asarray(group["curve_context_local_mean_mV"].transpose("branch").values, float)[:, None]
    branch = np.asarray(group["branch"].values, np.int64)
    first = int(np.argmin(counts))
    mv = y[:, first] / counts[first]
    bad_mv = [int(b) for b, v in zip(branch, mv) if not (np.isfinite(v) and v > 0)]
    if bad_mv:
        raise InputError(f"{source}: branch(es) {', '.join(map(str, bad_mv))} have no positive response to "
                         f"{counts[first]:g} synapse(s); their subunit cannot be scaled")
    x = counts[None, :] * mv[:, None]
    fams, params, r2 = own_curve_fits(x, y, branch, criterion=criterion, source=source)
    split = np.asarray(group["split"].values).astype(str)
    if not (split == "test").any() or not (split == "train").any():
        raise InputError(f"{source}: split has {int((split == 'train').sum())} train and "
                         f"{int((split == 'test').sum())} test runs; both are needed")
    targets = {t: np.asarray(group[t].values, float) for t in TARGETS}
    res = fit_two_layer(group["n_active"].transpose("run", "branch").values, split, targets, mv, fams, params,
                        branch, ridge=ridge)
    context = int(group.attrs.get("param_dispersion_curve_context", 0)) if "curve_context_local_mean_mV" in group else 0
    return DispersionFit(branch, fams, params, r2, mv, res, int(split.size), context)
