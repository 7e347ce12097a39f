"""Which inputs each dendrite samples: seeded index tables.

Every function returns an int64 tensor of shape ``(n_somata * dendrites_per_soma, synapses)``:
row ``s * dendrites_per_soma + d`` lists the input indices of dendrite ``d`` of soma ``s``
(distinct, sorted ascending for memory locality). The soma a dendrite belongs to is
implied by its row, so connectivity is structured by construction: each dendrite
belongs to exactly one soma.

Sampling modes (after Chavlis & Poirazi 2025):

``random``
    each dendrite draws `synapses` distinct inputs uniformly over the whole input.
``local_rf``
    each dendrite picks a centre pixel uniformly on the H x W image and samples the
    `synapses` pixels nearest to it (Euclidean distance; ties broken at random).
``global_rf``
    each soma picks a centre pixel; each of its dendrites is centred at that pixel plus
    a uniform integer offset in ``[-rf_spread, rf_spread]`` per axis (clipped to the
    image) and samples a local receptive field there.
``all``
    every dendrite sees every input (``synapses == in_features``).

All draws come from one ``torch.Generator`` seeded with `seed`, on the CPU, so the
table depends only on the arguments.
"""
from __future__ import annotations

import math

import torch

SAMPLING_MODES = ("random", "local_rf", "global_rf", "all")


def image_shape(in_features: int, input_shape=None) -> tuple[int, int]:
    """(H, W) of an image input; inferred for square images when `input_shape` is None."""
    if input_shape is None:
        side = math.isqrt(in_features)
        if side * side != in_features:
            raise ValueError(f"receptive-field sampling needs input_shape=(H, W); "
                             f"{in_features} inputs is not a square image")
        return side, side
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 2 or shape[0] * shape[1] != in_features:
        raise ValueError(f"input_shape {tuple(input_shape)} does not match in_features={in_features} "
                         "(need (H, W) with H * W == in_features)")
    return shape  # type: ignore[return-value]


def _nearest_pixels(centres: torch.Tensor, shape, synapses: int, gen: torch.Generator) -> torch.Tensor:
    """For each centre (n, 2) (row, col): the `synapses` nearest pixel indices."""
    h, w = shape
    rows = torch.arange(h).repeat_interleave(w).to(torch.float32)
    cols = torch.arange(w).repeat(h).to(torch.float32)
    out = []
    for chunk in centres.split(4096):
        d2 = (rows - chunk[:, :1]) ** 2 + (cols - chunk[:, 1:]) ** 2  # integers
        # noise in [0, 0.5) breaks ties at random and never reorders distinct distances
        d2 = d2 + 0.5 * torch.rand(d2.shape, generator=gen)
        out.append(d2.topk(synapses, dim=1, largest=False).indices)
    return torch.cat(out)


def make_connectivity(sampling: str, in_features: int, n_somata: int, dendrites_per_soma: int,
                      synapses: int | None, *, input_shape=None, seed: int = 0,
                      rf_spread: int | None = None, return_centres: bool = False):
    """Index table (n_somata * dendrites_per_soma, synapses) for `sampling`; see module doc.

    With ``return_centres=True`` also returns a dict with ``dendrite_centres`` (n, 2) and,
    for ``global_rf``, ``soma_centres`` (n_somata, 2) as (row, col).
    """
    if sampling not in SAMPLING_MODES:
        raise ValueError(f"unknown sampling {sampling!r}; choose from {', '.join(SAMPLING_MODES)}")
    n = n_somata * dendrites_per_soma
    if n_somata < 1 or dendrites_per_soma < 1:
        raise ValueError("n_somata and dendrites_per_soma must be >= 1")
    if sampling == "all":
        if synapses not in (None, in_features):
            raise ValueError(f"sampling='all' connects every input: synapses must be {in_features} or None")
        idx = torch.arange(in_features, dtype=torch.int64).expand(n, in_features).contiguous()
        return (idx, {}) if return_centres else idx
    if synapses is None or not 1 <= synapses <= in_features:
        raise ValueError(f"synapses must be in 1..{in_features}, got {synapses}")
    gen = torch.Generator().manual_seed(int(seed))
    centres: dict[str, torch.Tensor] = {}
    if sampling == "random":
        keys = torch.rand(n, in_features, generator=gen)
        idx = keys.topk(synapses, dim=1).indices
    else:
        h, w = image_shape(in_features, input_shape)
        if sampling == "local_rf":
            dc = torch.stack([torch.randint(0, h, (n,), generator=gen),
                              torch.randint(0, w, (n,), generator=gen)], dim=1)
        else:  # global_rf
            spread = max(1, min(h, w) // 7) if rf_spread is None else int(rf_spread)
            sc = torch.stack([torch.randint(0, h, (n_somata,), generator=gen),
                              torch.randint(0, w, (n_somata,), generator=gen)], dim=1)
            off = torch.randint(-spread, spread + 1, (n, 2), generator=gen)
            dc = sc.repeat_interleave(dendrites_per_soma, dim=0) + off
            dc[:, 0].clamp_(0, h - 1)
            dc[:, 1].clamp_(0, w - 1)
            centres["soma_centres"] = sc
            centres["rf_spread"] = torch.tensor(spread)
        idx = _nearest_pixels(dc.to(torch.float32), (h, w), synapses, gen)
        centres["dendrite_centres"] = dc
    idx = idx.sort(dim=1).values.to(torch.int64).contiguous()
    return (idx, centres) if return_centres else idx
