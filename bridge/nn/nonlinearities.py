"""Dendritic and somatic nonlinearities: leaky ReLU or transfer functions fitted from cells.

`FittedTransfer` evaluates the families of `bridge.transfer` (same formulas, same
parameter names and order) with torch, one parameter set per unit (dendrite).

Mapping of ranges (documented contract)::

    x_mV = input_scale * x                          # layer units -> expected input (mV)
    x_mV = clamp(x_mV, input_range_min, input_range_max)   # if clamp (default): the fits
                                                    # are only known on that range
    y    = (f(x_mV) - f(0)) / output_scale          # center=True (default): 0 at rest
    y    =  f(x_mV)         / output_scale          # center=False

`from_units` defaults: ``input_scale = max(|input_range_min|, |input_range_max|)`` so a
layer input of 1 reaches the edge of the fitted range, and ``output_scale`` = the
(centred) response of the per-type median function at ``input_scale`` mV, so the
median unit maps 1 -> 1 like an identity on [0, 1].
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Mapping

import numpy as np
import torch
from torch import nn

from bridge.transfer import get_family

TORCH_OPS = SimpleNamespace(exp=torch.exp, expm1=torch.expm1, sigmoid=torch.sigmoid, relu=torch.relu)
"""The torch twin of `bridge.transfer.NUMPY_OPS`."""

LEAKY_SLOPE = 0.1
"""Negative slope of the leaky ReLU (as in the reference implementation)."""


def make_nonlinearity(spec, n_units: int | None = None) -> nn.Module:
    """'leaky_relu' | 'relu' | 'identity' | an nn.Module (returned as is)."""
    if isinstance(spec, nn.Module):
        return spec
    if spec in (None, "leaky_relu"):
        return nn.LeakyReLU(LEAKY_SLOPE)
    if spec == "relu":
        return nn.ReLU()
    if spec in ("identity", "linear"):
        return nn.Identity()
    raise ValueError(f"unknown nonlinearity {spec!r} (use 'leaky_relu', 'relu', 'identity' or a module)")


class FittedTransfer(nn.Module):
    """A per-unit transfer function of a `bridge.transfer` family.

    `params`: mapping name -> scalar or array of shape (n_units,), or an array
    (n_units, n_params) in the family's parameter order. Each parameter becomes an
    ``nn.Parameter`` of shape (n_units,) (broadcast over the last axis of the input)
    with ``requires_grad=trainable``; frozen ones do not count as trainable parameters
    in `bridge.nn.count_parameters`. See the module docstring for the scaling.
    Note: trainable parameters are not constrained (a slope may cross 0 if the
    optimiser pushes it there).
    """

    def __init__(self, family: str, params, input_scale: float = 1.0, output_scale: float = 1.0,
                 trainable: bool = False, *, n_units: int | None = None, center: bool = True,
                 clamp: tuple[float, float] | None = None, dtype=torch.float32):
        super().__init__()
        fam = get_family(family)
        self.fam = fam
        self.family = fam.name
        if isinstance(params, Mapping):
            values = [np.asarray(params[name], dtype=float) for name in fam.param_names]
        else:
            arr = np.asarray(params, dtype=float)
            if arr.ndim == 1:
                arr = arr[None, :]
            if arr.shape[-1] != len(fam.param_names):
                raise ValueError(f"{family} needs {len(fam.param_names)} parameters, got {arr.shape[-1]}")
            values = [arr[:, i] for i in range(arr.shape[-1])]
        sizes = {v.size for v in values if v.ndim > 0 and v.size != 1}
        if n_units is None:
            n_units = sizes.pop() if sizes else 1
        if sizes - {n_units}:
            raise ValueError(f"parameter arrays have sizes {sorted(sizes)}, expected {n_units}")
        self.n_units = int(n_units)
        self.param_names = fam.param_names
        for name, v in zip(fam.param_names, values):
            t = torch.as_tensor(np.broadcast_to(v.reshape(-1) if v.size > 1 else v.reshape(()),
                                                (self.n_units,)).copy(), dtype=dtype)
            self.register_parameter(name, nn.Parameter(t, requires_grad=trainable))
        self.register_buffer("input_scale", torch.tensor(float(input_scale), dtype=dtype))
        self.register_buffer("output_scale", torch.tensor(float(output_scale), dtype=dtype))
        self.center = bool(center)
        if clamp is not None:
            lo, hi = float(clamp[0]), float(clamp[1])
            if not lo < hi:
                raise ValueError(f"clamp range must be increasing, got {clamp}")
            self.clamp = (lo, hi)
        else:
            self.clamp = None

    @property
    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())

    def params(self) -> list[torch.Tensor]:
        return [getattr(self, n) for n in self.param_names]

    def forward(self, x: torch.Tensor, unit_dim: int = -1) -> torch.Tensor:
        """Apply the transfer functions; units lie along `unit_dim` (default: last axis)."""
        x_mV = x * self.input_scale
        if self.clamp is not None:
            x_mV = x_mV.clamp(self.clamp[0], self.clamp[1])
        params = self.params()
        if unit_dim not in (-1, x.ndim - 1):
            shape = [1] * x.ndim
            shape[unit_dim] = self.n_units
            params = [p.reshape(shape) for p in params]
        formula = self.fam.formula
        y = formula(x_mV, *params, ops=TORCH_OPS)
        if self.center:
            y = y - formula(torch.zeros((), dtype=x.dtype, device=x.device), *params, ops=TORCH_OPS)
        return y / self.output_scale

    def extra_repr(self) -> str:
        return (f"family={self.family}, n_units={self.n_units}, trainable={self.trainable}, "
                f"input_scale={float(self.input_scale):.4g}, output_scale={float(self.output_scale):.4g}, "
                f"center={self.center}, clamp={self.clamp}")

    @classmethod
    def from_units(cls, units, branch_type: str, n_units: int, *, init: str = "median", seed: int = 0,
                   trainable: bool = False, input_scale: float | None = None,
                   output_scale: float | None = None, center: bool = True, clamp: bool = True,
                   dtype=torch.float32) -> "FittedTransfer":
        """Units of `branch_type` from a units dataset (or path).

        ``init="median"``: every unit gets the type's median parameters (`type_family`).
        ``init="sample"``: each unit copies the parameters of a branch drawn uniformly (with
        replacement, seeded) among the type's branches fitted with `type_family` — a draw
        from the empirical distribution of fits.
        """
        from dendritic_errors import InputError
        from bridge.nn.units import load_units

        ds = load_units(units) if not hasattr(units, "data_vars") else units
        types = [str(t) for t in ds["branch_type"].values]
        if branch_type not in types:
            raise InputError(f"branch type {branch_type!r} not in units file (has: {', '.join(types)})")
        family = str(ds["type_family"].sel(branch_type=branch_type).values)
        fam = get_family(family)
        pnames = [str(p) for p in ds["param"].values]
        cols = [pnames.index(n) for n in fam.param_names]
        if init == "median":
            row = ds["type_params_median"].sel(branch_type=branch_type).values[cols]
            table = np.broadcast_to(row, (n_units, len(cols)))
        elif init == "sample":
            sel = np.nonzero((np.asarray(ds["branch_type_of_branch"].values, dtype=str) == branch_type)
                             & (np.asarray(ds["family"].values, dtype=str) == family))[0]
            gen = torch.Generator().manual_seed(int(seed))
            pick = sel[torch.randint(0, len(sel), (n_units,), generator=gen).numpy()]
            table = ds["params"].values[pick][:, cols]
        else:
            raise ValueError(f"init must be 'median' or 'sample', got {init!r}")
        lo, hi = float(ds.attrs["input_range_min"]), float(ds.attrs["input_range_max"])
        if input_scale is None:
            input_scale = max(abs(lo), abs(hi))
        if output_scale is None:
            med = ds["type_params_median"].sel(branch_type=branch_type).values[cols]
            x_top = float(np.clip(input_scale, lo, hi))
            out = fam.fn_numpy(x_top, *med) - (fam.fn_numpy(0.0, *med) if center else 0.0)
            output_scale = float(abs(out)) if np.isfinite(out) and abs(out) > 1e-9 else 1.0
        return cls(family, np.array(table), input_scale=input_scale, output_scale=output_scale,
                   trainable=trainable, n_units=n_units, center=center,
                   clamp=(lo, hi) if clamp else None, dtype=dtype)
