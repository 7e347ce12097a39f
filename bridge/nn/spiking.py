"""Spiking dendritic networks trained with surrogate gradients (discrete time, dt = 1 ms default).

Layers take and return spike trains laid out time-major, ``(T, B, n)``; `SpikingNet`
takes ``(B, T, n_in)`` (batch first, as the data loaders give them) and returns logits.

`SpikingDendriticLayer` (a `DendriticLayer` whose somata are leaky integrate-and-fire
neurons; same connectivity, weights and embedding_bag sum)::

    I_i[t] = a_syn * I_i[t-1] + s_i[t]                       a_syn = exp(-dt / tau_syn)
    h_k[t] = g_k( sum_i w_ki * I_{idx[k, i]}[t] + b_k )      dendrite k (restricted inputs)
    c_j[t] = sum_d u_jd * h_{jD+d}[t] + c_j  (+ sum_l r_jl * S_l[t-1] if recurrent)
    V_j[t] = a_mem * V_j[t-1] + c_j[t]                       a_mem = exp(-dt / tau_mem)
    S_j[t] = H(V_j[t] - theta);  reset: V -= theta * S ("subtract") or V *= 1 - S ("zero")

Each synapse filters its presynaptic spikes with an exponential current (tau_syn); the
filter is linear and shared, so filtering each input once and then summing per dendrite
equals filtering at every synapse (and costs no backward pass for the first layer).
The discretisation (current-based LIF, exact exponential decay per step) follows Neftci,
Mostafa & Zenke 2019 (IEEE Signal Process. Mag. 36:51): the drive is added once per step
(a constant drive c settles at V = c / (1 - a_mem), about 10.5 c for tau_mem = 10 ms and
dt = 1 ms; a gain of 1 - a_mem would leave He-initialised layers silent). During a
refractory period (``refractory_ms``) the membrane is held at 0 and cannot spike.

`LIFLayer` is the point-neuron baseline: each LIF soma samples `synapses` inputs directly
(`make_connectivity` with one "dendrite" per soma), no dendritic stage.

Spikes use a Heaviside step forward and a surrogate derivative backward (`SpikeFunction`):

``fast_sigmoid`` (default; SuperSpike, Zenke & Ganguli 2018, Neural Comput. 30:1514)
    dS/dV = 1 / (beta * |V - theta| + 1)^2
``sigmoid``   dS/dV = beta * sig(beta x) * (1 - sig(beta x)),  x = V - theta
``arctan``    dS/dV = 1 / (1 + (pi * beta * x / 2)^2)   (Fang et al. 2021, ICCV)

with `surrogate_scale` = beta (default 10). The reset uses the detached spike by default
(Zenke & Vogels 2021, Neural Comput. 33:899, found this trains better).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from bridge.nn.connectivity import make_connectivity
from bridge.nn.layers import DendriticLayer, _he_bound, sparse_linear_t
from bridge.nn.nonlinearities import FittedTransfer

SURROGATES = ("fast_sigmoid", "sigmoid", "arctan")
RESETS = ("subtract", "zero")
READOUTS = ("max", "mean", "count")
SPIKING_MODEL_NAMES = ("dsnn-r", "dsnn-lrf", "dsnn-grf", "lif-snn")
_SAMPLING = {"dsnn-r": "random", "dsnn-lrf": "local_rf", "dsnn-grf": "global_rf", "lif-snn": "random"}


def surrogate_derivative(x: torch.Tensor, name: str = "fast_sigmoid", scale: float = 10.0) -> torch.Tensor:
    """The surrogate dS/dV at ``x = V - theta`` (formulas in the module docstring)."""
    if name == "fast_sigmoid":
        return 1.0 / (scale * x.abs() + 1.0) ** 2
    if name == "sigmoid":
        sg = torch.sigmoid(scale * x)
        return scale * sg * (1.0 - sg)
    if name == "arctan":
        return 1.0 / (1.0 + (math.pi * scale * x / 2.0) ** 2)
    raise ValueError(f"unknown surrogate {name!r}; choose from {', '.join(SURROGATES)}")


class SpikeFunction(torch.autograd.Function):
    """Heaviside forward (spike where x > 0), surrogate derivative backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, name: str = "fast_sigmoid", scale: float = 10.0) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.name, ctx.scale = name, float(scale)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad_out * surrogate_derivative(x, ctx.name, ctx.scale), None, None


def spike(x: torch.Tensor, surrogate: str = "fast_sigmoid", scale: float = 10.0) -> torch.Tensor:
    """Spikes where ``x = V - theta > 0``; gradient by `surrogate` (see `SpikeFunction`)."""
    if surrogate not in SURROGATES:
        raise ValueError(f"unknown surrogate {surrogate!r}; choose from {', '.join(SURROGATES)}")
    return SpikeFunction.apply(x, surrogate, scale)


def exp_filter(x: torch.Tensor, decay: float) -> torch.Tensor:
    """``y[t] = decay * y[t-1] + x[t]`` along the first (time) axis, y[-1] = 0."""
    out, acc = [], None
    for xt in x.unbind(0):
        acc = xt if acc is None else decay * acc + xt
        out.append(acc)
    return torch.stack(out)


class LIFSomata(nn.Module):
    """Leaky integrate-and-fire somata driven by a current ``(T, n, B)``; returns spikes ``(T, n, B)``.

    Dynamics, reset and surrogate: module docstring. ``recurrent=True`` adds a dense
    trainable ``recurrent_weight`` (n, n): soma l's spike at t-1 drives soma j at t.
    """

    def __init__(self, n: int, *, tau_mem_ms: float = 10.0, dt_ms: float = 1.0, threshold: float = 1.0,
                 reset: str = "subtract", refractory_ms: float = 0.0, surrogate: str = "fast_sigmoid",
                 surrogate_scale: float = 10.0, recurrent: bool = False, detach_reset: bool = True,
                 seed: int = 0, dtype=torch.float32):
        super().__init__()
        if reset not in RESETS:
            raise ValueError(f"unknown reset {reset!r}; choose from {', '.join(RESETS)}")
        if surrogate not in SURROGATES:
            raise ValueError(f"unknown surrogate {surrogate!r}; choose from {', '.join(SURROGATES)}")
        if tau_mem_ms <= 0 or dt_ms <= 0 or threshold <= 0 or refractory_ms < 0 or surrogate_scale <= 0:
            raise ValueError("tau_mem_ms, dt_ms, threshold and surrogate_scale must be > 0, refractory_ms >= 0")
        self.n = int(n)
        self.tau_mem_ms, self.dt_ms, self.threshold = float(tau_mem_ms), float(dt_ms), float(threshold)
        self.reset, self.refractory_ms = reset, float(refractory_ms)
        self.surrogate, self.surrogate_scale = surrogate, float(surrogate_scale)
        self.detach_reset = bool(detach_reset)
        self.seed = int(seed)
        self.recurrent_weight = nn.Parameter(torch.empty(n, n, dtype=dtype)) if recurrent else None
        self.reset_parameters()

    @property
    def decay(self) -> float:
        return math.exp(-self.dt_ms / self.tau_mem_ms)

    @property
    def refractory_steps(self) -> int:
        return int(round(self.refractory_ms / self.dt_ms))

    def reset_parameters(self, seed: int | None = None) -> None:
        if self.recurrent_weight is None:
            return
        # small uniform recurrent weights (fan-in n), so recurrence starts as a perturbation
        gen = torch.Generator().manual_seed(40009 + (self.seed if seed is None else int(seed)))
        b = 0.1 * _he_bound(self.n)
        with torch.no_grad():
            self.recurrent_weight.copy_(torch.rand(self.recurrent_weight.shape, generator=gen,
                                                   dtype=torch.float64).mul_(2 * b).sub_(b))

    def forward(self, drive: torch.Tensor) -> torch.Tensor:
        a = self.decay
        n_ref = self.refractory_steps
        v = torch.zeros_like(drive[0])
        s = torch.zeros_like(drive[0])
        ref = torch.zeros_like(drive[0])          # remaining refractory steps
        out = []
        for c in drive.unbind(0):
            if self.recurrent_weight is not None:
                c = c + self.recurrent_weight @ s
            v = a * v + c
            if n_ref:
                free = (ref <= 0).to(v.dtype)
                v = v * free                      # held at 0 while refractory
            s = spike(v - self.threshold, self.surrogate, self.surrogate_scale)
            if n_ref:
                s = s * free
                ref = torch.where(s.detach() > 0, torch.full_like(ref, n_ref), ref - 1)
            sr = s.detach() if self.detach_reset else s
            v = v - self.threshold * sr if self.reset == "subtract" else v * (1.0 - sr)
            out.append(s)
        return torch.stack(out)

    def extra_repr(self) -> str:
        return (f"n={self.n}, tau_mem_ms={self.tau_mem_ms}, dt_ms={self.dt_ms}, threshold={self.threshold}, "
                f"reset={self.reset!r}, refractory_ms={self.refractory_ms}, surrogate={self.surrogate!r}, "
                f"surrogate_scale={self.surrogate_scale}, recurrent={self.recurrent_weight is not None}, "
                f"detach_reset={self.detach_reset}")


def _lif_kwargs(kw: dict) -> dict:
    keys = ("tau_mem_ms", "dt_ms", "threshold", "reset", "refractory_ms", "surrogate", "surrogate_scale",
            "recurrent", "detach_reset")
    return {k: kw.pop(k) for k in keys if k in kw}


def _filtered(x: torch.Tensor, tau_syn_ms: float, dt_ms: float) -> torch.Tensor:
    """Exponential synaptic currents of the spikes x (T, B, n), flattened to (T * B, n)."""
    t, b, n = x.shape
    return exp_filter(x, math.exp(-dt_ms / tau_syn_ms)).reshape(t * b, n)


class SpikingDendriticLayer(DendriticLayer):
    """A `DendriticLayer` (same arguments, connectivity, parameters) with LIF somata.

    Extra arguments: ``tau_syn_ms`` (5), ``tau_mem_ms`` (10), ``dt_ms`` (1),
    ``threshold`` (1), ``reset`` ('subtract' | 'zero'), ``refractory_ms`` (0),
    ``surrogate`` ('fast_sigmoid' | 'sigmoid' | 'arctan'), ``surrogate_scale`` (10),
    ``recurrent`` (False), ``detach_reset`` (True). The somatic sum is linear (the LIF
    soma is its nonlinearity). Input ``(T, B, in_features)`` spikes, output ``(T, B, n_somata)``.
    Trainable parameters: (s + 1) * N + (D + 1) * S (+ S * S if recurrent).
    """

    def __init__(self, in_features: int, n_somata: int, dendrites_per_soma: int, synapses: int | None = 16,
                 *, tau_syn_ms: float = 5.0, **kwargs):
        lif = _lif_kwargs(kwargs)
        if kwargs.pop("soma_nonlinearity", "identity") not in ("identity", None):
            raise ValueError("the soma of a spiking layer is a LIF neuron; soma_nonlinearity must be 'identity'")
        super().__init__(in_features, n_somata, dendrites_per_soma, synapses, soma_nonlinearity="identity",
                         **kwargs)
        if tau_syn_ms <= 0:
            raise ValueError(f"tau_syn_ms must be > 0, got {tau_syn_ms}")
        self.tau_syn_ms = float(tau_syn_ms)
        self.lif = LIFSomata(self.n_somata, seed=self.seed, dtype=self.soma_weight.dtype, **lif)

    @classmethod
    def from_units(cls, units, in_features: int, n_somata: int, dendrites_per_soma: int,
                   synapses: int | None = 16, **kwargs) -> "SpikingDendriticLayer":
        """`DendriticLayer.from_units` (fitted dendrites) with a linear soma feeding the LIF neuron."""
        kwargs.setdefault("soma_nonlinearity", "identity")
        return super().from_units(units, in_features, n_somata, dendrites_per_soma, synapses, **kwargs)

    def reset_parameters(self, seed: int | None = None) -> None:
        super().reset_parameters(seed)
        if hasattr(self, "lif"):  # the parent's __init__ calls this before the LIF somata exist
            self.lif.reset_parameters(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[2] != self.in_features:
            raise ValueError(f"expected spikes (T, B, {self.in_features}), got {tuple(x.shape)}")
        t, b, _ = x.shape
        drive = super().forward(_filtered(x, self.tau_syn_ms, self.lif.dt_ms))   # (T*B, S), a view of (S, T*B)
        return self.lif(drive.t().reshape(self.n_somata, t, b).permute(1, 0, 2)).permute(0, 2, 1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, tau_syn_ms={self.tau_syn_ms}"


class MaskedDenseSpikingDendriticLayer(nn.Module):
    """Reference formulation of a `SpikingDendriticLayer`: the dendritic stage as dense
    matrices times 0/1 masks (`MaskedDenseDendriticLayer`), same filter and LIF somata
    (shared module). Kept for tests and the speed benchmark."""

    def __init__(self, layer: SpikingDendriticLayer):
        super().__init__()
        from bridge.nn.layers import MaskedDenseDendriticLayer

        self.dense = MaskedDenseDendriticLayer.from_layer(layer)
        self.lif, self.tau_syn_ms, self.n_somata = layer.lif, layer.tau_syn_ms, layer.n_somata

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b, _ = x.shape
        drive = self.dense(_filtered(x, self.tau_syn_ms, self.lif.dt_ms))          # (T*B, S)
        return self.lif(drive.reshape(t, b, self.n_somata).transpose(1, 2)).transpose(1, 2)

    def trainable_parameter_count(self) -> int:
        lif = sum(p.numel() for p in self.lif.parameters() if p.requires_grad)
        return self.dense.trainable_parameter_count() + lif


class LIFLayer(nn.Module):
    """Point-neuron baseline: `n_neurons` LIF somata, each sampling `synapses` inputs directly.

    `sampling` as in `make_connectivity` (one "dendrite" per soma); 'all' is a dense layer.
    Parameters ``weight`` (n, s), ``bias`` (n,) (+ ``lif.recurrent_weight``), He-uniform.
    Input ``(T, B, in_features)`` spikes, output ``(T, B, n_neurons)``.
    Trainable parameters: (s + 1) * n (+ n * n if recurrent).
    """

    def __init__(self, in_features: int, n_neurons: int, synapses: int | None = 16, sampling: str = "random",
                 input_shape=None, seed: int = 0, rf_spread: int | None = None, tau_syn_ms: float = 5.0,
                 dtype=torch.float32, **lif):
        super().__init__()
        self.in_features, self.n_neurons = int(in_features), int(n_neurons)
        self.sampling, self.seed = sampling, int(seed)
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        indices = make_connectivity(sampling, in_features, n_neurons, 1, synapses, input_shape=input_shape,
                                    seed=seed, rf_spread=rf_spread)
        self.synapses = int(indices.shape[1])
        self._dense = sampling == "all"
        self.register_buffer("indices", indices)
        self.weight = nn.Parameter(torch.empty(n_neurons, self.synapses, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(n_neurons, dtype=dtype))
        if tau_syn_ms <= 0:
            raise ValueError(f"tau_syn_ms must be > 0, got {tau_syn_ms}")
        self.tau_syn_ms = float(tau_syn_ms)
        self.lif = LIFSomata(n_neurons, seed=seed, dtype=dtype, **lif)
        self.reset_parameters()

    @property
    def out_features(self) -> int:
        return self.n_neurons

    @property
    def n_somata(self) -> int:
        return self.n_neurons

    def reset_parameters(self, seed: int | None = None) -> None:
        gen = torch.Generator().manual_seed(10007 + (self.seed if seed is None else int(seed)))
        b = _he_bound(self.synapses)
        with torch.no_grad():
            self.weight.copy_(torch.rand(self.weight.shape, generator=gen, dtype=torch.float64)
                              .mul_(2 * b).sub_(b))
            self.bias.zero_()
        self.lif.reset_parameters(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[2] != self.in_features:
            raise ValueError(f"expected spikes (T, B, {self.in_features}), got {tuple(x.shape)}")
        t, b, _ = x.shape
        drive = sparse_linear_t(_filtered(x, self.tau_syn_ms, self.lif.dt_ms), self.indices, self.weight,
                                self.bias, self._dense)                            # (n, T*B)
        return self.lif(drive.reshape(self.n_neurons, t, b).permute(1, 0, 2)).permute(0, 2, 1)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, n_neurons={self.n_neurons}, synapses={self.synapses}, "
                f"sampling={self.sampling!r}, seed={self.seed}, tau_syn_ms={self.tau_syn_ms}")


class LeakyReadout(nn.Module):
    """Non-spiking leaky read-out: dense ``Linear(n_in, n_classes)`` of the synaptic currents,
    integrated by a leaky membrane (tau_mem) that never spikes; returns V ``(T, B, n_classes)``."""

    def __init__(self, in_features: int, n_classes: int, *, tau_syn_ms: float = 5.0, tau_mem_ms: float = 10.0,
                 dt_ms: float = 1.0, seed: int = 0):
        super().__init__()
        self.linear = nn.Linear(in_features, n_classes)
        self.tau_syn_ms, self.tau_mem_ms = float(tau_syn_ms), float(tau_mem_ms)
        self.dt_ms, self.seed = float(dt_ms), int(seed)
        self.reset_parameters()

    def reset_parameters(self, seed: int | None = None) -> None:
        gen = torch.Generator().manual_seed(20011 + (self.seed if seed is None else int(seed)))
        b = _he_bound(self.linear.in_features)
        with torch.no_grad():
            self.linear.weight.copy_(torch.rand(self.linear.weight.shape, generator=gen, dtype=torch.float64)
                                     .mul_(2 * b).sub_(b))
            self.linear.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b, _ = x.shape
        c = self.linear(_filtered(x, self.tau_syn_ms, self.dt_ms)).reshape(t, b, -1)
        a = math.exp(-self.dt_ms / self.tau_mem_ms)
        return exp_filter(c, a)

    def extra_repr(self) -> str:
        return f"tau_syn_ms={self.tau_syn_ms}, tau_mem_ms={self.tau_mem_ms}, dt_ms={self.dt_ms}"


class SpikingNet(nn.Module):
    """Spiking layers and a read-out; input ``(B, T, n_in)`` spikes, output logits ``(B, n_classes)``.

    `readout`: 'max' (max over time of a `LeakyReadout` membrane, Zenke & Vogels 2021),
    'mean' (its mean over time) or 'count' (a dense LIF layer of n_classes neurons; logits
    are its spike counts). After each forward, ``spike_counts`` holds the total spikes of
    each hidden layer over the batch (detached, shape (n_layers,)).
    """

    def __init__(self, layers: Sequence[nn.Module], n_classes: int, readout: str = "max", seed: int = 0,
                 **neuron):
        super().__init__()
        if not layers:
            raise ValueError("SpikingNet needs at least one spiking layer")
        if readout not in READOUTS:
            raise ValueError(f"unknown readout {readout!r}; choose from {', '.join(READOUTS)}")
        self.layers = nn.ModuleList(layers)
        self.n_classes, self.readout_mode = int(n_classes), readout
        n_last = layers[-1].out_features
        if readout == "count":
            self.readout = LIFLayer(n_last, n_classes, None, sampling="all", seed=20011 + seed, **neuron)
        else:
            keep = {k: neuron[k] for k in ("tau_syn_ms", "tau_mem_ms", "dt_ms") if k in neuron}
            self.readout = LeakyReadout(n_last, n_classes, seed=seed, **keep)
        self.spike_counts = torch.zeros(len(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3:
            raise ValueError(f"expected spikes (B, T, n_in), got {tuple(x.shape)}")
        s = x.transpose(0, 1)                                  # (T, B, n)
        counts = []
        for layer in self.layers:
            s = layer(s)
            counts.append(s.detach().sum())
        self.spike_counts = torch.stack(counts)          # stays on the device: no sync per batch
        out = self.readout(s)
        if self.readout_mode == "max":
            return out.max(0).values
        if self.readout_mode == "mean":
            return out.mean(0)
        return out.sum(0)

    def extra_repr(self) -> str:
        return f"readout={self.readout_mode!r}"


def make_spiking_model(name: str, *, in_features: int, n_classes: int, dendrites: int = 8, somata: int = 64,
                       synapses: int = 16, input_shape=None, nonlinearity="leaky_relu",
                       trainable_nonlinearity: bool = False, branch_type: str = "basal", init: str = "median",
                       n_layers: int = 1, readout: str = "max", tau_syn_ms: float = 5.0, tau_mem_ms: float = 10.0,
                       dt_ms: float = 1.0, threshold: float = 1.0, reset: str = "subtract",
                       refractory_ms: float = 0.0, surrogate: str = "fast_sigmoid", surrogate_scale: float = 10.0,
                       recurrent: bool = False, seed: int = 0, rf_spread: int | None = None) -> SpikingNet:
    """A spiking model by name.

    ``dsnn-r`` / ``dsnn-lrf`` / ``dsnn-grf``: `SpikingDendriticLayer` s (random, local or
    global receptive fields in the first layer, random sampling after), dendrites leaky
    ReLU or the fitted transfer functions of `branch_type` (`nonlinearity` = units file or
    dataset). ``lif-snn``: `LIFLayer` s of `somata` point neurons with `synapses` random
    inputs each (`dendrites` ignored). `seed` fixes connectivity and initial weights.
    """
    if name not in SPIKING_MODEL_NAMES:
        raise ValueError(f"unknown spiking model {name!r}; choose from {', '.join(SPIKING_MODEL_NAMES)}")
    neuron = dict(tau_syn_ms=tau_syn_ms, tau_mem_ms=tau_mem_ms, dt_ms=dt_ms, threshold=threshold, reset=reset,
                  refractory_ms=refractory_ms, surrogate=surrogate, surrogate_scale=surrogate_scale)
    fitted = not (isinstance(nonlinearity, str) and nonlinearity in ("leaky_relu", "relu", "identity"))
    if name == "lif-snn" and fitted:
        raise ValueError("lif-snn has no dendrites; fitted nonlinearities apply to dsnn models")
    layers: list[nn.Module] = []
    n_in, shape = in_features, input_shape
    for i in range(n_layers):
        mode = _SAMPLING[name] if i == 0 else "random"
        syn = min(synapses, n_in)
        lseed = seed + 7919 * i
        if name == "lif-snn":
            layers.append(LIFLayer(n_in, somata, syn, sampling=mode, input_shape=shape if i == 0 else None,
                                   seed=lseed, rf_spread=rf_spread, recurrent=recurrent, **neuron))
        else:
            act = (FittedTransfer.from_units(nonlinearity, branch_type, somata * dendrites, init=init, seed=lseed,
                                             trainable=trainable_nonlinearity) if fitted else nonlinearity)
            layers.append(SpikingDendriticLayer(n_in, somata, dendrites, syn, sampling=mode,
                                                input_shape=shape if i == 0 else None, dendrite_nonlinearity=act,
                                                seed=lseed, rf_spread=rf_spread, recurrent=recurrent, **neuron))
        n_in, shape = somata, None
    neuron.pop("tau_syn_ms")
    return SpikingNet(layers, n_classes, readout=readout, seed=seed, tau_syn_ms=tau_syn_ms, **neuron)


def dsnn_param_count(s: int, D: int, S: int, C: int, recurrent: bool = False) -> int:
    """One-layer dendritic SNN with a leaky read-out: (s+1)*D*S + (D+1)*S + (S+1)*C (+ S^2)."""
    return (s + 1) * D * S + (D + 1) * S + (S + 1) * C + (S * S if recurrent else 0)


def lif_snn_param_count(s: int, S: int, C: int, recurrent: bool = False) -> int:
    """One-layer LIF SNN with a leaky read-out: (s+1)*S + (S+1)*C (+ S^2)."""
    return (s + 1) * S + (S + 1) * C + (S * S if recurrent else 0)
