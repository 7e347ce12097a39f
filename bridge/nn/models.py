"""Networks built from dendritic layers, the vanilla ANN baseline and parameter counting.

Model names (`make_model`), after Chavlis & Poirazi 2025:

``dann-r``    dendritic ANN, random input sampling
``dann-lrf``  dendritic ANN, local receptive fields
``dann-grf``  dendritic ANN, global receptive fields
``pdann``     partly dendritic ANN: structured dendrites->somata, every input on every dendrite
``vann``      vanilla ANN: n_in -> D*S "dendrite" units -> S "soma" units -> classes, all dense

Each dendritic network is one or more `DendriticLayer` s and a dense linear read-out to the
classes (logits). Later layers (``n_layers > 1``) sample the previous somata at random
(or all of them for ``pdann``).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from bridge.nn.layers import DendriticLayer, _he_bound
from bridge.nn.nonlinearities import FittedTransfer, make_nonlinearity

MODEL_NAMES = ("dann-r", "dann-lrf", "dann-grf", "pdann", "vann")
_SAMPLING = {"dann-r": "random", "dann-lrf": "local_rf", "dann-grf": "global_rf", "pdann": "all"}


def _init_linear(lin: nn.Linear, seed: int) -> nn.Linear:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        b = _he_bound(lin.in_features)
        lin.weight.copy_(torch.rand(lin.weight.shape, generator=gen, dtype=torch.float64)
                         .mul_(2 * b).sub_(b).to(lin.weight.dtype))
        lin.bias.zero_()
    return lin


class DendriticNet(nn.Module):
    """Dendritic layers followed by a dense read-out ``Linear(last.n_somata, n_classes)``."""

    def __init__(self, layers: Sequence[DendriticLayer], n_classes: int, seed: int = 0):
        super().__init__()
        if not layers:
            raise ValueError("DendriticNet needs at least one DendriticLayer")
        self.layers = nn.ModuleList(layers)
        self.readout = _init_linear(nn.Linear(layers[-1].n_somata, n_classes), 20011 + seed)
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        for layer in self.layers:
            x = layer(x)
        return self.readout(x)


class VANN(nn.Module):
    """Vanilla ANN with the dANN's unit counts: n_in -> D*S -> S -> n_classes, dense, leaky ReLU."""

    def __init__(self, in_features: int, dendrites_per_soma: int, n_somata: int, n_classes: int,
                 nonlinearity="leaky_relu", seed: int = 0):
        super().__init__()
        n = dendrites_per_soma * n_somata
        self.hidden1 = _init_linear(nn.Linear(in_features, n), 30011 + seed)
        self.act1 = make_nonlinearity(nonlinearity, n)
        self.hidden2 = _init_linear(nn.Linear(n, n_somata), 30013 + seed)
        self.act2 = make_nonlinearity(nonlinearity, n_somata)
        self.readout = _init_linear(nn.Linear(n_somata, n_classes), 30017 + seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        return self.readout(self.act2(self.hidden2(self.act1(self.hidden1(x)))))


def make_model(name: str, *, in_features: int = 784, n_classes: int = 10, dendrites: int = 16,
               somata: int = 128, synapses: int = 16, input_shape=(28, 28), nonlinearity="leaky_relu",
               trainable_nonlinearity: bool = False, branch_type: str = "basal", init: str = "median",
               n_layers: int = 1, seed: int = 0, rf_spread: int | None = None) -> nn.Module:
    """A model by name (see module docstring).

    `nonlinearity`: 'leaky_relu' or a units dataset / path (dendrites use the fitted
    transfer functions of `branch_type`, initialised by `init`; somata keep leaky ReLU).
    `seed` fixes connectivity and initial weights.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    fitted = not (isinstance(nonlinearity, str) and nonlinearity in ("leaky_relu", "relu", "identity"))
    if name == "vann":
        if fitted:
            raise ValueError("vann uses leaky ReLU units; fitted dendritic nonlinearities apply to dANNs")
        return VANN(in_features, dendrites, somata, n_classes, nonlinearity, seed=seed)
    sampling = _SAMPLING[name]
    layers = []
    n_in, shape = in_features, input_shape
    for i in range(n_layers):
        mode = sampling if i == 0 else ("all" if sampling == "all" else "random")
        syn = None if mode == "all" else min(synapses, n_in)
        lseed = seed + 7919 * i
        if fitted:
            act = FittedTransfer.from_units(nonlinearity, branch_type, somata * dendrites, init=init,
                                            seed=lseed, trainable=trainable_nonlinearity)
        else:
            act = nonlinearity
        layers.append(DendriticLayer(n_in, somata, dendrites, syn, sampling=mode,
                                     input_shape=shape if i == 0 else None, dendrite_nonlinearity=act,
                                     seed=lseed, rf_spread=rf_spread))
        n_in, shape = somata, None
    return DendriticNet(layers, n_classes, seed=seed)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters as the reference counts them: real synapses plus biases.

    Sums ``numel`` of parameters with ``requires_grad`` (so frozen `FittedTransfer`
    parameters do not count; trainable ones do, n_units per transfer parameter); a module
    that defines ``trainable_parameter_count()`` (the masked-dense layer: only unmasked
    entries) is counted by that method instead.
    """
    def count(m: nn.Module) -> int:
        if hasattr(m, "trainable_parameter_count"):
            return int(m.trainable_parameter_count())
        own = sum(p.numel() for p in m.parameters(recurse=False) if p.requires_grad)
        return own + sum(count(c) for c in m.children())
    return count(model)


def dann_param_count(s: int, D: int, S: int, C: int) -> int:
    """Reference count of a one-layer dANN: (s+1)*D*S + (D+1)*S + (S+1)*C."""
    return (s + 1) * D * S + (D + 1) * S + (S + 1) * C


def vann_param_count(n_in: int, D: int, S: int, C: int) -> int:
    """Reference count of the vANN: (n_in+1)*D*S + (D*S+1)*S + (S+1)*C."""
    return (n_in + 1) * D * S + (D * S + 1) * S + (S + 1) * C
