"""Deep temporal neuron models on the data interface of `bridge.nn.temporal`: a causal
temporal convolutional network (Beniaguev, Segev & London 2021) and the Expressive Leaky
Memory neuron with its Branch-ELM variant (Spieler et al., ICLR 2024).

``forward(x)`` with x (batch, T, n_synapses) returns ``(v_mV, spike_logit)``, each (batch, T),
causal in time. Never imports NEURON, brian2 or `cells`.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bridge.nn.temporal import SPIKE_PRIOR, _check_method, _logit, exp_filter


# --- temporal convolutional network -----------------------------------------------------------

class TCNNeuron(nn.Module):
    """Causal temporal convolutional network after Beniaguev, Segev & London 2021 (Neuron
    109:2727): the synapses are the input channels of 1D convolutions over time.

    They needed 5-8 layers for the L5 pyramidal cell with NMDA synapses (their best: 7 layers
    with a long first-layer kernel); the default here is smaller: 4 layers of 32 channels,
    first kernel 35 ms, then kernels of 9 ms with dilations 1, 2, 4 (receptive field
    35 + 8 * (1 + 2 + 4) = 91 ms), ReLU between layers;
    two 1x1 heads (voltage, spike logit). Causal by left zero-padding of (k - 1) * dilation
    bins. Trainable parameters at 1000 synapses: 1000*32*35 + 32 + 3 * (32*32*9 + 32)
    + 2 * 33 = 1,147,842.
    """

    def __init__(self, n_synapses: int, *, channels: int = 32, n_layers: int = 4, first_kernel_ms: float = 35.0,
                 kernel_ms: float = 9.0, dilation_growth: int = 2, dt_ms: float = 1.0, v_rest_mV: float = -70.0,
                 seed: int = 0):
        super().__init__()
        if n_layers < 1:
            raise ValueError("TCNNeuron needs n_layers >= 1")
        self.n_synapses, self.channels, self.n_layers = int(n_synapses), int(channels), int(n_layers)
        self.dt_ms, self.v_rest_mV, self.seed = float(dt_ms), float(v_rest_mV), int(seed)
        k1, k = max(1, round(first_kernel_ms / dt_ms)), max(1, round(kernel_ms / dt_ms))
        self.kernel_sizes = [k1] + [k] * (n_layers - 1)
        self.dilations = [1] + [dilation_growth ** i for i in range(n_layers - 1)]
        self.convs = nn.ModuleList(
            nn.Conv1d(self.n_synapses if i == 0 else channels, channels, ks, dilation=dl)
            for i, (ks, dl) in enumerate(zip(self.kernel_sizes, self.dilations)))
        self.head = nn.Conv1d(channels, 2, 1)     # row 0: voltage (mV), row 1: spike logit
        self.reset_parameters()

    @property
    def receptive_field_ms(self) -> float:
        return (1 + sum((k - 1) * d for k, d in zip(self.kernel_sizes, self.dilations))) * self.dt_ms

    def reset_parameters(self, seed: int | None = None) -> None:
        """He-uniform conv weights (ReLU), zero biases; head: voltage bias v_rest, spike bias logit(prior)."""
        gen = torch.Generator().manual_seed(30011 + (self.seed if seed is None else int(seed)))
        with torch.no_grad():
            for conv in list(self.convs) + [self.head]:
                fan_in = conv.weight.shape[1] * conv.weight.shape[2]
                b = math.sqrt(6.0 / fan_in) if conv is not self.head else math.sqrt(1.0 / fan_in)
                conv.weight.copy_(torch.rand(conv.weight.shape, generator=gen, dtype=torch.float64) * 2 * b - b)
                conv.bias.zero_()
            self.head.bias.copy_(torch.tensor([self.v_rest_mV, _logit(SPIKE_PRIOR)]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x.to(self.head.weight.dtype).transpose(1, 2)     # (B, n_synapses, T)
        for conv in self.convs:
            pad = (conv.kernel_size[0] - 1) * conv.dilation[0]
            h = torch.relu(conv(F.pad(h, (pad, 0))))          # left padding only: causal
        out = self.head(h)
        return out[:, 0], out[:, 1]

    def extra_repr(self) -> str:
        return (f"n_synapses={self.n_synapses}, channels={self.channels}, n_layers={self.n_layers}, "
                f"kernel_sizes={self.kernel_sizes}, dilations={self.dilations}, "
                f"receptive_field_ms={self.receptive_field_ms}, seed={self.seed}")


# --- expressive leaky memory neuron ------------------------------------------------------------

class ELMNeuron(nn.Module):
    """Expressive Leaky Memory neuron (Spieler, Rahaman, Martius, Schölkopf & Levina, ICLR 2024),
    written from the paper's equations as understood here::

        s_t     = lambda_s * s_{t-1} + w_s * x_t          synaptic traces, lambda = exp(-dt/tau)
        h_t     = relu(W_1 [s_t, m_{t-1}] + b_1)          MLP, one hidden layer
        dm_t    = tanh(W_2 h_t + b_2)
        m_t     = lambda_m * m_{t-1} + (1 - lambda_m) * dm_t
        (v_t - v_rest, logit_t) = W_y m_t + b_y

    tau_m (n_memory) learned, initialised log-spaced over `tau_memory_ms` (1..1000 ms);
    tau_s learned per input channel, initialised to `tau_synapse_ms`. Defaults: 20 memory
    units, MLP width 64. The traces are linear in x, so they are computed for all steps
    before the memory loop (`filter_method`) and the W_1 s_t part of the MLP input is one
    matrix product; only the memory recursion runs step by step.

    Branch-ELM (`BranchELMNeuron`, same paper): with `synapse_branch` (n_synapses,), the
    weighted inputs are first summed per branch, ``x^b_t = sum_{i in b} w_i x_{i,t}``, and
    traces/MLP work on the n_branches sums (tau_s per branch), which shrinks W_1.
    Trainable parameters (N inputs, K branches, M memory, H width): N (w_s) + I (tau_s, I = N or K)
    + H (I + M + 1) + M (H + 1) + M (tau_m) + 2 (M + 1); at N = 1000, M = 20, H = 64:
    ELM 68,706 (I = 1000); Branch-ELM with K = 20: 5,006.
    """

    def __init__(self, n_synapses: int, *, n_memory: int = 20, mlp_hidden: int = 64,
                 tau_memory_ms: tuple[float, float] = (1.0, 1000.0), tau_synapse_ms: float = 5.0,
                 synapse_branch=None, dt_ms: float = 1.0, v_rest_mV: float = -70.0,
                 filter_method: str = "recursive", seed: int = 0):
        super().__init__()
        self.n_synapses, self.n_memory, self.mlp_hidden = int(n_synapses), int(n_memory), int(mlp_hidden)
        self.tau_memory_ms = (float(tau_memory_ms[0]), float(tau_memory_ms[1]))
        self.tau_synapse_ms = float(tau_synapse_ms)
        self.dt_ms, self.v_rest_mV, self.seed = float(dt_ms), float(v_rest_mV), int(seed)
        self.filter_method = _check_method(filter_method)
        if synapse_branch is not None:
            br = torch.as_tensor(synapse_branch, dtype=torch.int64).reshape(-1).cpu()
            if len(br) != self.n_synapses or br.min() < 0:
                raise ValueError("synapse_branch needs one branch index >= 0 per synapse")
            self.register_buffer("synapse_branch", br)
            self.n_inputs = int(br.max()) + 1
        else:
            self.synapse_branch = None
            self.n_inputs = self.n_synapses
        self.synapse_weight = nn.Parameter(torch.empty(self.n_synapses))
        self.log_tau_synapse = nn.Parameter(torch.empty(self.n_inputs))
        self.log_tau_memory = nn.Parameter(torch.empty(self.n_memory))
        self.mlp_in = nn.Linear(self.n_inputs + self.n_memory, self.mlp_hidden)
        self.mlp_out = nn.Linear(self.mlp_hidden, self.n_memory)
        self.readout = nn.Linear(self.n_memory, 2)
        self.reset_parameters()

    def reset_parameters(self, seed: int | None = None) -> None:
        """w_s = 1, tau_s = tau_synapse_ms, tau_m log-spaced; Linear layers U(-1/sqrt(fan_in), ..) seeded."""
        gen = torch.Generator().manual_seed(40013 + (self.seed if seed is None else int(seed)))
        with torch.no_grad():
            self.synapse_weight.fill_(1.0)
            self.log_tau_synapse.fill_(math.log(self.tau_synapse_ms))
            lo, hi = self.tau_memory_ms
            self.log_tau_memory.copy_(torch.linspace(math.log(lo), math.log(hi), self.n_memory,
                                                     dtype=torch.float64))
            for lin in (self.mlp_in, self.mlp_out, self.readout):
                b = 1.0 / math.sqrt(lin.in_features)
                lin.weight.copy_(torch.rand(lin.weight.shape, generator=gen, dtype=torch.float64) * 2 * b - b)
                lin.bias.copy_(torch.rand(lin.bias.shape, generator=gen, dtype=torch.float64) * 2 * b - b)
            self.readout.bias.copy_(torch.tensor([self.v_rest_mV, _logit(SPIKE_PRIOR)]))

    def traces(self, x: torch.Tensor) -> torch.Tensor:
        """s_t (B, T, n_inputs): weighted (and, for Branch-ELM, per-branch summed) filtered input."""
        w = self.synapse_weight
        x = x.to(w.dtype)
        if self.synapse_branch is None:
            u = x * w
        else:
            W = w.new_zeros(self.n_synapses, self.n_inputs).index_put(
                (torch.arange(self.n_synapses, device=w.device), self.synapse_branch), w)
            u = x @ W
        return exp_filter(u, self.log_tau_synapse.exp(), self.dt_ms, self.filter_method)

    def memory(self, x: torch.Tensor) -> torch.Tensor:
        """m_t for every step: (B, T, n_memory)."""
        s = self.traces(x)
        W1 = self.mlp_in.weight
        drive = F.linear(s, W1[:, :self.n_inputs], self.mlp_in.bias)   # (B, T, H), all steps at once
        W1m = W1[:, self.n_inputs:].t()
        lam = torch.exp(-self.dt_ms / self.log_tau_memory.exp())
        m = x.new_zeros(x.shape[0], self.n_memory)
        out = []
        for drive_t in drive.unbind(1):      # unbind: see exp_filter_recursive
            dm = torch.tanh(self.mlp_out(torch.relu(drive_t + m @ W1m)))
            m = lam * m + (1 - lam) * dm
            out.append(m)
        return torch.stack(out, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.readout(self.memory(x))
        return out[..., 0], out[..., 1]

    @torch.no_grad()
    def time_constants_ms(self) -> dict[str, np.ndarray]:
        """Learned time constants (ms): 'memory' (n_memory,), 'synapse' (n_inputs,)."""
        return {"memory": self.log_tau_memory.exp().cpu().numpy(),
                "synapse": self.log_tau_synapse.exp().cpu().numpy()}

    def extra_repr(self) -> str:
        kind = "branch" if self.synapse_branch is not None else "synapse"
        return (f"n_synapses={self.n_synapses}, n_inputs={self.n_inputs} ({kind}), n_memory={self.n_memory}, "
                f"mlp_hidden={self.mlp_hidden}, tau_memory_ms={self.tau_memory_ms}, "
                f"filter_method={self.filter_method!r}, seed={self.seed}")


class BranchELMNeuron(ELMNeuron):
    """Branch-ELM: `ELMNeuron` whose inputs are summed per subunit (`synapse_subunit`) first."""

    def __init__(self, synapse_subunit, **kwargs):
        sub = torch.as_tensor(synapse_subunit, dtype=torch.int64).reshape(-1)
        super().__init__(len(sub), synapse_branch=sub, **kwargs)
