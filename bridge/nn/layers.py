"""Dendritic layers: inputs -> dendrites (restricted sampling) -> somata (structured).

`DendriticLayer` stores weights only for real connections:

* ``indices`` (buffer, int64, (N, s)) — the inputs of each of the N = S * D dendrites;
  row ``k`` belongs to soma ``k // D``;
* ``dendrite_weight`` (N, s), ``dendrite_bias`` (N,);
* ``soma_weight`` (S, D) — dendrite ``d`` of soma ``j`` -> soma ``j`` — and ``soma_bias`` (S,).

Forward pass (x: (B, n_in))::

    h[k] = g_d( sum_i dendrite_weight[k, i] * x[:, indices[k, i]] + dendrite_bias[k] )
    y[j] = g_s( sum_d soma_weight[j, d] * h[j * D + d] + soma_bias[j] )

The dendritic sum is one ``torch.nn.functional.embedding_bag`` call over the transposed
input (each dendrite is a "bag" of its input rows, weighted by per_sample_weights): no
B x N x s intermediate and a cheap backward. Measured on one CPU thread for
B=128, n_in=784, N=8192, s=16 (forward+backward of the dendritic stage): embedding_bag
~8 ms, sparse COO matmul ~29-42 ms, index_select+einsum ~80 ms, advanced-index gather
~110 ms, masked dense ~63 ms (see benchmarks/nn_speed.py for the whole network).
With ``sampling="all"`` the dendritic stage is a dense ``F.linear`` instead.

`MaskedDenseDendriticLayer` is the reference formulation (dense matrices times 0/1
masks), kept for tests and benchmarks.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bridge.nn.connectivity import make_connectivity
from bridge.nn.nonlinearities import LEAKY_SLOPE, FittedTransfer, make_nonlinearity


def _he_bound(fan_in: int) -> float:
    # He/Kaiming uniform for a leaky ReLU with negative slope LEAKY_SLOPE
    gain = math.sqrt(2.0 / (1.0 + LEAKY_SLOPE ** 2))
    return gain * math.sqrt(3.0 / fan_in)


_CHUNK_ELEMENTS = 1 << 21   # dendrites x batch columns per forward chunk (8 MB in float32)
_ELEMENTWISE = (nn.LeakyReLU, nn.ReLU, nn.Identity, nn.Tanh, nn.Sigmoid, nn.ELU, nn.GELU, nn.Softplus)


def _apply_units_first(act: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Apply a nonlinearity to z laid out (units, batch), keeping that layout.

    Modules with per-unit parameters expect units on the last axis; elementwise ones run
    on the contiguous tensor directly (their backward is much slower on a transposed view).
    """
    if isinstance(act, (nn.LeakyReLU, nn.ReLU)) and z.requires_grad and z.grad_fn is not None:
        # z is the caller's fresh intermediate: in place saves a pass and a large allocation
        # (autograd supports both: their backward needs only the result, slope > 0)
        return F.leaky_relu_(z, act.negative_slope) if isinstance(act, nn.LeakyReLU) else F.relu_(z)
    if isinstance(act, _ELEMENTWISE):
        return act(z)
    if isinstance(act, FittedTransfer):
        return act(z, unit_dim=0)
    return act(z.t()).t()


def sparse_linear_t(x: torch.Tensor, indices: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                    dense: bool = False) -> torch.Tensor:
    """``out[k, b] = sum_i weight[k, i] * x[b, indices[k, i]] + bias[k]``, laid out (K, B).

    x: (B, n_in); indices, weight: (K, s). One ``embedding_bag`` call (see module doc);
    ``dense=True`` (every row holds every input in order) is a plain ``addmm``. Shared by
    the dendritic layers and the spiking layers of `bridge.nn.spiking`.
    """
    if dense:
        out = weight @ x.t()
    else:
        # embedding_bag is fast only on a contiguous (n_in, B) table
        out = F.embedding_bag(indices, x.t().contiguous(), per_sample_weights=weight, mode="sum")
    # in place: neither product keeps its output for backward, and out is (K, B), often large
    return out if bias is None else out.add_(bias[:, None])


class DendriticLayer(nn.Module):
    """`n_somata` somata, each with `dendrites_per_soma` dendrites of `synapses` inputs.

    `sampling`: 'random' | 'local_rf' | 'global_rf' | 'all' (see `bridge.nn.connectivity`);
    `input_shape` (H, W) is needed by the receptive-field modes for non-square inputs.
    `dendrite_nonlinearity` / `soma_nonlinearity`: 'leaky_relu' (slope 0.1), 'relu',
    'identity' or a module (e.g. `FittedTransfer` with one unit per dendrite / soma).
    `seed` fixes the connectivity and the initial weights (independent of the global RNG).
    Trainable parameters: (s + 1) * N + (D + 1) * S, plus those of trainable nonlinearities.
    """

    def __init__(self, in_features: int, n_somata: int, dendrites_per_soma: int, synapses: int | None = 16,
                 sampling: str = "random", input_shape=None, dendrite_nonlinearity="leaky_relu",
                 soma_nonlinearity="leaky_relu", seed: int = 0, rf_spread: int | None = None,
                 indices: torch.Tensor | None = None, dtype=torch.float32):
        super().__init__()
        self.in_features = int(in_features)
        self.n_somata = int(n_somata)
        self.dendrites_per_soma = int(dendrites_per_soma)
        self.sampling = sampling
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.seed = int(seed)
        n = self.n_somata * self.dendrites_per_soma
        if indices is None:
            indices = make_connectivity(sampling, in_features, n_somata, dendrites_per_soma, synapses,
                                        input_shape=input_shape, seed=seed, rf_spread=rf_spread)
        indices = torch.as_tensor(indices, dtype=torch.int64)
        if indices.ndim != 2 or indices.shape[0] != n:
            raise ValueError(f"indices must have shape ({n}, synapses), got {tuple(indices.shape)}")
        if indices.numel() and (indices.min() < 0 or indices.max() >= in_features):
            raise ValueError("indices out of range of the input")
        self.synapses = int(indices.shape[1])
        self._dense = sampling == "all"
        self.register_buffer("indices", indices.contiguous())
        self.dendrite_weight = nn.Parameter(torch.empty(n, self.synapses, dtype=dtype))
        self.dendrite_bias = nn.Parameter(torch.empty(n, dtype=dtype))
        self.soma_weight = nn.Parameter(torch.empty(self.n_somata, self.dendrites_per_soma, dtype=dtype))
        self.soma_bias = nn.Parameter(torch.empty(self.n_somata, dtype=dtype))
        self.dendrite_act = make_nonlinearity(dendrite_nonlinearity, n)
        self.soma_act = make_nonlinearity(soma_nonlinearity, self.n_somata)
        self.reset_parameters()

    @property
    def n_dendrites(self) -> int:
        return self.n_somata * self.dendrites_per_soma

    @property
    def out_features(self) -> int:
        return self.n_somata

    def reset_parameters(self, seed: int | None = None) -> None:
        """He-uniform weights (fan-in = real inputs), zero biases; seeded by `seed` (default: the layer's)."""
        gen = torch.Generator().manual_seed(10007 + (self.seed if seed is None else int(seed)))
        with torch.no_grad():
            for w, fan_in in ((self.dendrite_weight, self.synapses), (self.soma_weight, self.dendrites_per_soma)):
                b = _he_bound(fan_in)
                w.copy_(torch.rand(w.shape, generator=gen, dtype=torch.float64).mul_(2 * b).sub_(b).to(w.dtype))
            self.dendrite_bias.zero_()
            self.soma_bias.zero_()

    def dendrite_preactivation(self, x: torch.Tensor) -> torch.Tensor:
        """Dendritic input currents, (N, B) (transposed layout: dendrites first)."""
        return sparse_linear_t(x, self.indices, self.dendrite_weight, self.dendrite_bias, self._dense)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2:
            x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"expected {self.in_features} input features, got {x.shape[1]}")
        # large batches in column chunks: each (dendrites x chunk) intermediate stays ~8 MB,
        # cache-sized and reused by the allocator (measured: spiking layer of
        # benchmarks/snn_sweep.py, 800 columns x 8192 dendrites, ~10 % faster forward+backward)
        chunk = max(1, _CHUNK_ELEMENTS // self.n_dendrites)
        parts = [self._somata(x[i:i + chunk]) for i in range(0, x.shape[0], chunk)]
        return (parts[0] if len(parts) == 1 else torch.cat(parts, 1)).t()   # (B, S)

    def _somata(self, x: torch.Tensor) -> torch.Tensor:
        z = self.dendrite_preactivation(x)                          # (N, B), contiguous
        h = _apply_units_first(self.dendrite_act, z)                # (N, B)
        h = h.reshape(self.n_somata, self.dendrites_per_soma, -1)   # (S, D, B)
        # per-soma weighted sum over its D dendrites: batched (1 x D) @ (D x B)
        v = torch.bmm(self.soma_weight.unsqueeze(1), h).squeeze(1) + self.soma_bias[:, None]
        return _apply_units_first(self.soma_act, v)                 # (S, B)

    def extra_repr(self) -> str:
        shape = f", input_shape={self.input_shape}" if self.input_shape else ""
        return (f"in_features={self.in_features}, n_somata={self.n_somata}, "
                f"dendrites_per_soma={self.dendrites_per_soma}, synapses={self.synapses}, "
                f"sampling={self.sampling!r}{shape}, seed={self.seed}")

    def dense_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The equivalent dense matrices: (N, n_in) input->dendrite, (S, N) dendrite->soma."""
        w1 = torch.zeros(self.n_dendrites, self.in_features, dtype=self.dendrite_weight.dtype,
                         device=self.dendrite_weight.device)
        w1.scatter_(1, self.indices, self.dendrite_weight.detach())
        w2 = torch.zeros(self.n_somata, self.n_dendrites, dtype=w1.dtype, device=w1.device)
        w2.view(self.n_somata, self.n_somata, self.dendrites_per_soma)[
            torch.arange(self.n_somata), torch.arange(self.n_somata)] = self.soma_weight.detach()
        return w1, w2

    @classmethod
    def from_units(cls, units, in_features: int, n_somata: int, dendrites_per_soma: int,
                   synapses: int | None = 16, *, branch_type: str = "basal", init: str = "median",
                   trainable: bool = False, seed: int = 0, input_scale: float | None = None,
                   output_scale: float | None = None, soma_nonlinearity="leaky_relu",
                   **kwargs) -> "DendriticLayer":
        """A layer whose dendrites use the transfer functions of `branch_type` in a units file.

        `units`: path or dataset (checked). `init`: 'median' (all dendrites the type's
        median) or 'sample' (each dendrite a seeded draw from the type's fitted branches).
        `trainable`: whether the transfer parameters learn. The soma keeps
        `soma_nonlinearity` (leaky ReLU by default).
        """
        act = FittedTransfer.from_units(units, branch_type, n_somata * dendrites_per_soma, init=init,
                                        seed=seed, trainable=trainable, input_scale=input_scale,
                                        output_scale=output_scale)
        return cls(in_features, n_somata, dendrites_per_soma, synapses, dendrite_nonlinearity=act,
                   soma_nonlinearity=soma_nonlinearity, seed=seed, **kwargs)


class MaskedDenseDendriticLayer(nn.Module):
    """Reference formulation: dense weights times fixed 0/1 masks (as in the original dANNs).

    Same function as `DendriticLayer` with the same connectivity; every masked-out entry
    still costs a multiply-add. `trainable_parameter_count()` counts only real connections.
    """

    def __init__(self, in_features: int, n_somata: int, dendrites_per_soma: int, indices: torch.Tensor,
                 dendrite_nonlinearity="leaky_relu", soma_nonlinearity="leaky_relu", dtype=torch.float32):
        super().__init__()
        self.in_features, self.n_somata, self.dendrites_per_soma = in_features, n_somata, dendrites_per_soma
        n = n_somata * dendrites_per_soma
        mask1 = torch.zeros(n, in_features, dtype=dtype)
        mask1.scatter_(1, torch.as_tensor(indices, dtype=torch.int64), 1.0)
        mask2 = torch.block_diag(*[torch.ones(1, dendrites_per_soma, dtype=dtype)] * n_somata)
        self.register_buffer("mask1", mask1)
        self.register_buffer("mask2", mask2)
        self.weight1 = nn.Parameter(torch.randn(n, in_features, dtype=dtype) * 0.1)
        self.bias1 = nn.Parameter(torch.zeros(n, dtype=dtype))
        self.weight2 = nn.Parameter(torch.randn(n_somata, n, dtype=dtype) * 0.1)
        self.bias2 = nn.Parameter(torch.zeros(n_somata, dtype=dtype))
        self.dendrite_act = make_nonlinearity(dendrite_nonlinearity, n)
        self.soma_act = make_nonlinearity(soma_nonlinearity, n_somata)

    @classmethod
    def from_layer(cls, layer: DendriticLayer) -> "MaskedDenseDendriticLayer":
        """Same connectivity, weights and nonlinearity modules (shared) as a `DendriticLayer`."""
        m = cls(layer.in_features, layer.n_somata, layer.dendrites_per_soma, layer.indices.cpu(),
                layer.dendrite_act, layer.soma_act, dtype=layer.dendrite_weight.dtype)
        w1, w2 = layer.dense_weights()
        with torch.no_grad():
            m.weight1.copy_(w1)
            m.weight2.copy_(w2)
            m.bias1.copy_(layer.dendrite_bias)
            m.bias2.copy_(layer.soma_bias)
        return m.to(layer.dendrite_weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        h = self.dendrite_act(F.linear(x, self.weight1 * self.mask1, self.bias1))
        return self.soma_act(F.linear(h, self.weight2 * self.mask2, self.bias2))

    def trainable_parameter_count(self) -> int:
        n = 0
        for w, m in ((self.weight1, self.mask1), (self.weight2, self.mask2)):
            if w.requires_grad:
                n += int(m.sum().item())
        n += sum(b.numel() for b in (self.bias1, self.bias2) if b.requires_grad)
        return n
