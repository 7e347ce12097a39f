"""Temporal dendritic neuron models: spike trains on ~1000 synapses -> somatic voltage and spikes.

Data interface (issue 20; the ``invivo`` protocol after Beniaguev, Segev & London 2021,
Neuron 109:2727): input ``x`` (batch, T, n_synapses) spike counts per `dt_ms` bin;
``synapse_class`` (n_synapses,) 0 = excitatory (AMPA+NMDA), 1 = inhibitory (GABA-A), ...;
``synapse_subunit`` (n_synapses,) in 0..n_subunits-1; ``subunit_parent`` (n_subunits,)
the parent subunit toward the soma, -1 = attached to the soma. Every model's
``forward(x)`` returns ``(v_mV, spike_logit)``, each (batch, T), and is causal: the
outputs at step t depend on ``x[:, :t+1]`` only.

Models here: `HierarchicalLN` (hLN, Ujfalussy et al. 2018) and `PointLN` (its one-subunit
baseline); in `bridge.nn.temporal_nets`: `TCNNeuron` (Beniaguev et al. 2021), `ELMNeuron`
and `BranchELMNeuron` (Spieler et al. 2024); all exported by `bridge.nn`. Metrics:
`bridge.nn.temporal_metrics`; training: `bridge.nn.temporal_training`. Never imports
NEURON, brian2 or `cells`.

Filtering. Exponential kernels are applied either by the first-order recursion
``y[t] = d * y[t-1] + u[t]`` (``d = exp(-dt/tau)``, exact for the sampled kernel
``d**n``) or by one causal FFT convolution of the whole sequence with the sampled kernel
(zero-padded to >= 2T, so there is no wrap-around). Measured once on one CPU thread
(`benchmarks/temporal_speed.py`, x of shape (8, 2000, 1000), forward+backward per batch):
hLN (20 subunits, 3 kernel components: 120 filtered channels) FFT 0.13 s, recursion
0.30 s, so hLN defaults to ``filter_method="fft"``; ELM (1000 per-synapse traces) FFT
2.2 s, recursion 0.69 s, so ELM defaults to ``"recursive"``. FFT outputs before t change
by float round-off (~1e-7 relative in float32) when inputs after t change; the recursion
is exact.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bridge.nn.nonlinearities import FittedTransfer

FILTER_METHODS = ("fft", "recursive")
SYNAPSE_WEIGHTS = ("shared", "per_synapse")


# --- exponential filters --------------------------------------------------------------------

def exp_filter_recursive(u: torch.Tensor, decay: torch.Tensor) -> torch.Tensor:
    """y[:, t] = decay * y[:, t-1] + u[:, t], y[:, -1] = 0; u (B, T, ...), decay broadcasts to u[:, 0]."""
    y = torch.zeros_like(u[:, 0])
    out = []
    # unbind once: indexing u[:, t] per step would make the backward write a full-size
    # zero gradient per step (O(T^2) memory traffic)
    for u_t in u.unbind(1):
        y = decay * y + u_t
        out.append(y)
    return torch.stack(out, dim=1)


def causal_fft_conv(u: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """y[:, t, c] = sum_{n=0..t} kernel[c, n] * u[:, t-n, c]; u (B, T, C), kernel (C, T) -> (B, T, C)."""
    T = u.shape[1]
    n_fft = 1 << (2 * T - 1).bit_length()   # >= 2T-1: linear, not circular, convolution
    # time on the last, contiguous axis: ~2x faster on CPU than transforming along dim 1
    U = torch.fft.rfft(u.transpose(1, 2), n=n_fft, dim=-1)
    K = torch.fft.rfft(kernel, n=n_fft, dim=-1)
    return torch.fft.irfft(U * K, n=n_fft, dim=-1)[..., :T].transpose(1, 2)


def decay_kernel(tau_ms: torch.Tensor, n_steps: int, dt_ms: float) -> torch.Tensor:
    """exp(-n dt / tau) for n = 0..n_steps-1: shape tau.shape + (n_steps,)."""
    t_ms = torch.arange(n_steps, dtype=tau_ms.dtype, device=tau_ms.device) * dt_ms
    return torch.exp(-t_ms / tau_ms[..., None])


def exp_filter(u: torch.Tensor, tau_ms: torch.Tensor, dt_ms: float, method: str) -> torch.Tensor:
    """Filter the channels of u (B, T, C) with kernels exp(-n dt / tau_c), tau (C,)."""
    if method == "fft":
        return causal_fft_conv(u, decay_kernel(tau_ms, u.shape[1], dt_ms))
    return exp_filter_recursive(u, torch.exp(-dt_ms / tau_ms))


def _check_method(method: str) -> str:
    if method not in FILTER_METHODS:
        raise ValueError(f"filter_method must be one of {FILTER_METHODS}, got {method!r}")
    return method


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


HISTORY_SCALE = 10.0
"""Unit of the spike-history coefficients' parameters (see `HierarchicalLN`)."""

SPIKE_PRIOR = 0.002
"""Initial spike probability per 1 ms bin (~2 Hz, the order of Beniaguev et al.'s L5 output
rates), used for the initial bias of every spike read-out."""


# --- hierarchical linear-nonlinear model ---------------------------------------------------

def _tree_depths(parent: np.ndarray) -> np.ndarray:
    n = len(parent)
    depth = np.full(n, -1)
    for s in range(n):
        path, k = [], s
        while k >= 0 and depth[k] < 0:
            if k in path:
                raise ValueError(f"subunit_parent has a cycle through subunit {k}")
            path.append(k)
            k = int(parent[k])
        base = -1 if k < 0 else depth[k]
        for i, node in enumerate(reversed(path)):
            depth[node] = base + 1 + i
    return depth


def transfer_from_units(units, *, branches=None, branch_types=None) -> list[tuple[str, dict[str, float]]]:
    """One ``(family, params)`` per subunit from a ``bridge fit`` units dataset (or path), for
    ``HierarchicalLN(transfer=...)``: `branches` (a branch id per subunit: that branch's own
    fit) or `branch_types` (a branch type per subunit: the type's median fit)."""
    from dendritic_errors import InputError
    from bridge.nn.units import load_units
    from bridge.transfer import get_family

    if (branches is None) == (branch_types is None):
        raise ValueError("pass exactly one of branches= or branch_types=")
    ds = load_units(units) if not hasattr(units, "data_vars") else units
    pnames = [str(p) for p in ds["param"].values]
    known = ({int(b) for b in ds["branch"].values} if branches is not None
             else {str(t) for t in ds["branch_type"].values})
    out = []
    for key in (branches if branches is not None else branch_types):
        key = int(key) if branches is not None else str(key)
        if key not in known:
            raise InputError(f"{'branch' if branches is not None else 'branch type'} {key!r} not in units file")
        if branches is not None:
            fam, vals = str(ds["family"].sel(branch=key).values), ds["params"].sel(branch=key).values
        else:
            fam = str(ds["type_family"].sel(branch_type=key).values)
            vals = ds["type_params_median"].sel(branch_type=key).values
        out.append((fam, {n: float(vals[pnames.index(n)]) for n in get_family(fam).param_names}))
    return out


class HierarchicalLN(nn.Module):
    """Hierarchical linear-nonlinear model (hLN; Ujfalussy, Makara, Lengyel & Branco 2018,
    Neuron 100:579), in discrete time (`dt_ms` bins).

    Synaptic kernels: each synapse class c has components j (e.g. AMPA and NMDA for class 0)
    with a difference of exponentials normalised to a peak of 1 (Dayan & Abbott 2001, eq. 5.34):
    ``k_j(t) = (exp(-t/tau_decay_j) - exp(-t/tau_rise_j)) / peak_j``, sampled at t = n dt,
    n >= 0 (k_j(0) = 0, so a spike acts from the next bin on). Time constants are learned
    (shared by the subunits), initialised from `kinetics`:
    ``{class: [(tau_rise_ms, tau_decay_ms, amplitude), ...]}``, e.g. AMPA (0.3, 3, 1),
    NMDA (2, 50, 0.5), GABA-A (0.5, 7, -1) (values from the caller's recipe; bridge.nn
    reads none). The amplitude of component j in subunit s, A[j, s], is learned
    (initialised to the given amplitude, in subunit-input units per unit weight).

    Subunit s (leaves first, the tree given by `subunit_parent`)::

        z_s(t)   = b_s + sum_{i in s} w_i sum_{j in class(i)} A[j, s] (k_j * x_i)(t)
                       + sum_{children k of s} c_k y_k(t)
        y_s(t)   = g_s(z_s(t))
        r(t)     = sum_{s attached to the soma} y_s(t)
        d(t)     = (k_soma * r)(t),  k_soma(n) = (1 - e^{-dt/tau_soma}) e^{-n dt/tau_soma}
        v_mV(t)  = v_rest + gain * d(t)                 + sum_k eta_v[k] (e_k * p)(t - 1)
        logit(t) = a_d d(t) + a_r r(t) + a_0           + sum_k eta_l[k] (e_k * p)(t - 1)
        p(t)     = sigmoid(logit(t))

    Somatic read-out (``soma_mlp_hidden``, default 0: none): with H > 0 a two-layer MLP of H
    GELU units per layer adds to v_mV a function of the subunits' inputs z_s, d, r and the
    spike-history traces (e_k * p)(t - 1), each standardised by its mean and SD on the
    initialisation data (`initialize_from_data`)::

        v_mV(t) += MLP([z(t), d(t), r(t), (e * p)(t - 1)])

    The MLP's last layer starts at zero, so training starts from the model without it. It
    is the read-out that can let a spike's after-effect depend on the input at that time, as
    conductances make it in the cell (a scratch analysis on the l5pc sparse bursting data, seed 0,
    the benchmark's split: a linear read-out of the inputs per branch type, filtered at
    2-100 ms, and of the true spikes' history explains 86.0 % of the held-out voltage
    variance, an MLP of the same features 93.4 %, the MLP with the history only added 85.5
    %). Parameters: (S + 2 + K) H + H + H^2 + H + H + 1 (497 at 4 subunits, K = 6, H = 16).
    Measured closed loop (docs/temporal.md): held-out VE 82.3 -> 85.1 % for the type hLN (H = 16).

    Spike history (``spike_history_ms``, default none): the model's own spike probability
    p, filtered by fixed exponentials e_k(n) = exp(-n dt / tau_k), feeds back onto the
    voltage (the spike's after-hyperpolarisation, in mV per spike) and onto the spike logit
    (refractoriness, burst facilitation): the post-spike filter of a GLM (Pillow et al. 2008,
    Nature 454:995) or a spike-response model (Jolivet, Lewis & Gerstner 2004, J Neurophysiol
    92:959), driven by the expected spike train p (mean field, so the output stays
    deterministic and is trained through, by backpropagation through time). eta_v and eta_l
    start at 0 (the model without history) or, from `initialize_from_data` with spikes, eta_v
    from a least-squares fit of the voltage residual on the true spikes' history. Measured
    on the l5pc control data, where 41 % of the clipped voltage's variance lies in the 30 ms
    after a spike: see `bridge.fit.temporal.SPIKE_HISTORY_MS`.

    `g_s`: ``nonlinearity="sigmoid"`` (logistic, per-subunit threshold via b_s) or
    ``transfer=[(family, params), ...]`` one `bridge.transfer` family and parameter mapping
    per subunit (``bridge fit`` results; evaluated by `FittedTransfer`, z in mV,
    ``transfer_options`` passed on, default input_scale=1, output_scale=1, center=True,
    trainable=True; with center=True an additive `baseline`/`offset` cancels and is frozen;
    `transfer_from_units` reads them from a units file). With transfer functions z is read
    as the expected (linear-sum) dendritic depolarisation in mV, so the kinetics amplitudes
    should then be unitary PSP peaks in mV.
    Subunit kinds (``subunit_kind``, one integer per subunit; default: every subunit its own):
    subunits of one kind share A[:, s], b_s and, for children, c_k, while each applies g_s
    to its own input. One subunit per branch with the branches of a branch type as one kind is
    Poirazi, Brannon & Mel 2003's two-layer neuron, whose branches share one sigmoid: it
    resolves which branch is driven at the parameter count of one subunit per type.
    Synaptic weights w_i: ``synapse_weights="shared"`` (default) fixes every w_i at one common
    value (1, rescaled by `initialize_from_data`), so the synapses of one class in one subunit
    share one kernel and its amplitude A[j, s], as in Ujfalussy et al. 2018's hLN;
    ``"per_synapse"`` learns one w_i per synapse (initialised U(0.5, 1.5), seeded). Measured
    on the l5pc `invivo` data (68 training simulations of 2 s, benchmarks/temporal_fidelity.py):
    per-synapse weights over-fit, validation loss stopped improving after 1-3 epochs and the
    held-out voltage variance explained of the LN baseline was 45 % against 56 % shared.
    Trainable parameters: [n_synapses, per_synapse only] + J*N (amplitudes, N kinds; N = S
    by default) + 2*J (time constants) + N (biases) + the kinds with children (couplings; S -
    n_roots by default) + 6 (tau_soma, gain, v_rest, a_d, a_r, a_0) + 2 K (spike history, K
    time constants) + the somatic MLP's (above) + the trainable transfer parameters; at 20 subunits, 3 components,
    sigmoids, no history: 60 + 6 + 20 + 19 + 6 = 111 shared, + 1000 per synapse at 1000
    synapses.
    """

    def __init__(self, synapse_class, synapse_subunit, subunit_parent,
                 kinetics: Mapping[int, Sequence[Sequence[float]]], *, nonlinearity: str = "sigmoid",
                 transfer: Sequence[tuple[str, Mapping]] | None = None, transfer_options: Mapping | None = None,
                 dt_ms: float = 1.0, soma_tau_ms: float = 10.0, soma_gain_mV: float | None = None,
                 v_rest_mV: float = -70.0, sigmoid_bias: float = -2.0, filter_method: str = "fft",
                 synapse_weights: str = "shared", spike_history_ms: Sequence[float] = (),
                 subunit_kind=None, soma_mlp_hidden: int = 0, seed: int = 0):
        super().__init__()
        if synapse_weights not in SYNAPSE_WEIGHTS:
            raise ValueError(f"synapse_weights must be one of {SYNAPSE_WEIGHTS}, got {synapse_weights!r}")
        cls_ = torch.as_tensor(synapse_class, dtype=torch.int64).reshape(-1).cpu()   # buffers follow .to()
        sub = torch.as_tensor(synapse_subunit, dtype=torch.int64).reshape(-1).cpu()
        parent = torch.as_tensor(subunit_parent, dtype=torch.int64).reshape(-1).cpu()
        if cls_.shape != sub.shape:
            raise ValueError(f"synapse_class {tuple(cls_.shape)} and synapse_subunit {tuple(sub.shape)} differ")
        S = len(parent)
        if sub.numel() and (sub.min() < 0 or sub.max() >= S):
            raise ValueError(f"synapse_subunit must lie in 0..{S - 1}")
        if parent.numel() and (parent.min() < -1 or parent.max() >= S):
            raise ValueError(f"subunit_parent must lie in -1..{S - 1}")
        depth = _tree_depths(parent.numpy())
        if subunit_kind is None:
            kind = np.arange(S)
        else:
            given = np.asarray(subunit_kind, dtype=np.int64).reshape(-1)
            if given.shape != (S,):
                raise ValueError(f"subunit_kind needs one entry per subunit ({S}), got {given.shape[0]}")
            kind = np.unique(given, return_inverse=True)[1].reshape(-1)   # numbered 0..n_kinds-1
        n_kinds = int(kind.max()) + 1 if S else 0
        n_classes = int(cls_.max()) + 1 if cls_.numel() else 0
        missing = set(range(n_classes)) - {int(k) for k in kinetics}
        if missing:
            raise ValueError(f"kinetics has no entry for synapse classes {sorted(missing)}")
        comp_class, rise, decay, amp = [], [], [], []
        for c in sorted(int(k) for k in kinetics):
            for comp in kinetics[c]:
                tr, td, a = (float(v) for v in comp)
                if not 0 < tr < td:
                    raise ValueError(f"class {c}: need 0 < tau_rise < tau_decay, got ({tr}, {td})")
                comp_class.append(c), rise.append(tr), decay.append(td), amp.append(a)
        if not comp_class:
            raise ValueError("kinetics needs at least one (tau_rise_ms, tau_decay_ms, amplitude) component")
        self.n_classes = max(n_classes, max(comp_class) + 1)
        self.n_synapses, self.n_subunits, self.n_components = len(cls_), S, len(comp_class)
        self.dt_ms = float(dt_ms)
        self.filter_method = _check_method(filter_method)
        self.seed = int(seed)
        self.synapse_weights = synapse_weights
        self.register_buffer("synapse_class", cls_)
        self.register_buffer("synapse_subunit", sub)
        self.register_buffer("subunit_parent", parent)
        self.register_buffer("subunit_depth", torch.as_tensor(depth, dtype=torch.int64))
        self.max_depth = int(depth.max()) if S else -1
        self.register_buffer("component_class", torch.tensor(comp_class, dtype=torch.int64))
        self.register_buffer("_channel", cls_ * S + sub)   # (class, subunit) channel of each synapse
        is_child = parent >= 0
        self.register_buffer("child_index", torch.nonzero(is_child).reshape(-1))
        self.register_buffer("root_index", torch.nonzero(~is_child).reshape(-1))
        self.n_kinds = n_kinds
        # not in the state (they follow from the constructor's arguments), so states saved
        # before subunit kinds existed load unchanged
        self.register_buffer("subunit_kind", torch.as_tensor(kind, dtype=torch.int64), persistent=False)
        # couplings are shared by the children of one kind: one per kind that has children
        child_kinds, coupling_of_child = np.unique(kind[is_child.numpy()], return_inverse=True)
        self.register_buffer("_coupling_of_child", torch.as_tensor(coupling_of_child.reshape(-1), dtype=torch.int64),
                             persistent=False)
        self._init = dict(rise=rise, decay=decay, amp=amp, soma_tau=float(soma_tau_ms), v_rest=float(v_rest_mV),
                          sigmoid_bias=float(sigmoid_bias))
        J = self.n_components
        if synapse_weights == "per_synapse":
            self.synapse_weight = nn.Parameter(torch.empty(self.n_synapses))
        else:   # a buffer: saved with the state, moved by .to(), not trained
            self.register_buffer("synapse_weight", torch.empty(self.n_synapses))
        self.amplitude = nn.Parameter(torch.empty(J, n_kinds))    # per kind; `subunit_amplitude()` per subunit
        self.log_tau_rise = nn.Parameter(torch.empty(J))
        self.log_tau_gap = nn.Parameter(torch.empty(J))      # tau_decay = tau_rise + exp(gap) > tau_rise
        self.subunit_bias = nn.Parameter(torch.empty(n_kinds))
        self.coupling = nn.Parameter(torch.empty(len(child_kinds)))
        self.log_soma_tau = nn.Parameter(torch.empty(()))
        self.soma_gain = nn.Parameter(torch.empty(()))
        self.v_rest = nn.Parameter(torch.empty(()))
        self.spike_readout = nn.Parameter(torch.empty(2))      # a_d, a_r
        self.spike_bias = nn.Parameter(torch.empty(()))
        history = [float(t) for t in spike_history_ms]
        if any(not t > 0 for t in history):
            raise ValueError(f"spike_history_ms must be positive time constants, got {history}")
        self.spike_history_ms = tuple(history)
        if history:   # registered only when used: states saved without history load unchanged
            self.register_buffer("history_tau_ms", torch.tensor(history, dtype=torch.float32))
            # in units of HISTORY_SCALE (mV per spike; logit per spike): Adam's ~lr steps then
            # reach the tens of mV of an after-hyperpolarisation within a few hundred steps
            self.history_voltage = nn.Parameter(torch.empty(len(history)))
            self.history_logit = nn.Parameter(torch.empty(len(history)))
        if int(soma_mlp_hidden) < 0:
            raise ValueError(f"soma_mlp_hidden must be >= 0 (0: no MLP), got {soma_mlp_hidden}")
        self.soma_mlp_hidden = int(soma_mlp_hidden)
        if self.soma_mlp_hidden:   # registered only when used: states saved without it load unchanged
            n_in, h = S + 2 + len(history), self.soma_mlp_hidden
            self.register_buffer("soma_mlp_mean", torch.zeros(n_in))   # feature standardisation
            self.register_buffer("soma_mlp_sd", torch.ones(n_in))
            self.soma_mlp = nn.Sequential(nn.Linear(n_in, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, 1))
        # subunit nonlinearities
        self.transfers = nn.ModuleList()
        self._transfer_init: list[dict[str, torch.Tensor]] = []
        if transfer is not None:
            if len(transfer) != S:
                raise ValueError(f"transfer needs one (family, params) per subunit ({S}), got {len(transfer)}")
            opts = dict(input_scale=1.0, output_scale=1.0, center=True, trainable=True)
            opts.update(transfer_options or {})
            families = list(dict.fromkeys(f for f, _ in transfer))
            order = []
            for fam in families:
                idx = [s for s, (f, _) in enumerate(transfer) if f == fam]
                names = list(transfer[idx[0]][1].keys())
                table = {n: np.array([float(transfer[s][1][n]) for s in idx]) for n in names}
                ft = FittedTransfer(fam, table, n_units=len(idx), **opts)
                if opts["center"]:
                    for name in ("baseline", "offset"):   # cancel in f(z) - f(0): frozen, not counted
                        if hasattr(ft, name):
                            getattr(ft, name).requires_grad_(False)
                self.transfers.append(ft)
                self._transfer_init.append({n: p.detach().clone() for n, p in ft.named_parameters()})
                order += idx
                self.register_buffer(f"_transfer_units_{len(self.transfers) - 1}", torch.tensor(idx))
            self.register_buffer("_transfer_inverse", torch.argsort(torch.tensor(order)))
            self.nonlinearity = "transfer:" + "+".join(families)
        elif nonlinearity == "sigmoid":
            self.nonlinearity = "sigmoid"
        else:
            raise ValueError(f"nonlinearity must be 'sigmoid' (or pass transfer=...), got {nonlinearity!r}")
        if soma_gain_mV is None:
            soma_gain_mV = 20.0 if transfer is None else 1.0   # sigmoid outputs lie in (0, 1); fitted ones in mV
        self._init["soma_gain"] = float(soma_gain_mV)
        # initial logit slope per unit drive: a drive of ~1 (sigmoid) or ~20 mV (fitted) -> +4
        self._init["spike_slope"] = 4.0 if transfer is None else 0.2
        self.reset_parameters()

    def reset_parameters(self, seed: int | None = None) -> None:
        """Kinetics from the constructor; w_i = 1 (shared) or ~ U(0.5, 1.5) seeded by `seed`
        (default: the model's)."""
        gen = torch.Generator().manual_seed(20021 + (self.seed if seed is None else int(seed)))
        i = self._init
        with torch.no_grad():
            if self.synapse_weights == "per_synapse":
                self.synapse_weight.copy_(torch.rand(self.n_synapses, generator=gen, dtype=torch.float64) + 0.5)
            else:
                self.synapse_weight.fill_(1.0)
            self.amplitude.copy_(torch.tensor(i["amp"], dtype=torch.float64)[:, None].expand(-1, self.n_kinds))
            rise = torch.tensor(i["rise"], dtype=torch.float64)
            decay = torch.tensor(i["decay"], dtype=torch.float64)
            self.log_tau_rise.copy_(rise.log())
            self.log_tau_gap.copy_((decay - rise).log())
            self.subunit_bias.fill_(i["sigmoid_bias"] if not self.transfers else 0.0)
            self.coupling.fill_(1.0)
            self.log_soma_tau.fill_(math.log(i["soma_tau"]))
            self.soma_gain.fill_(i["soma_gain"])
            self.v_rest.fill_(i["v_rest"])
            self.spike_readout.copy_(torch.tensor([i["spike_slope"], 0.0]))
            self.spike_bias.fill_(_logit(SPIKE_PRIOR))
            if self.spike_history_ms:
                self.history_voltage.zero_()
                self.history_logit.zero_()
            for ft, init in zip(self.transfers, self._transfer_init):
                for n, p in ft.named_parameters():
                    p.copy_(init[n])
            if self.soma_mlp_hidden:   # nn.Linear's default ranges, seeded; the output layer at 0
                self.soma_mlp_mean.zero_()
                self.soma_mlp_sd.fill_(1.0)
                for layer in self.soma_mlp[:-1]:
                    if isinstance(layer, nn.Linear):
                        bound = 1.0 / math.sqrt(layer.in_features)
                        for w in (layer.weight, layer.bias):   # drawn on the CPU: any device, same values
                            w.copy_((2 * torch.rand(w.shape, generator=gen, dtype=torch.float64) - 1) * bound)
                self.soma_mlp[-1].weight.zero_()
                self.soma_mlp[-1].bias.zero_()

    # --- pieces (also the inspection API) ---
    def subunit_amplitude(self) -> torch.Tensor:
        """A[j, s]: the amplitude of component j in subunit s (its kind's), (J, S)."""
        return self.amplitude[:, self.subunit_kind]

    def child_coupling(self) -> torch.Tensor:
        """c_k of every child subunit (its kind's), in `child_index` order."""
        return self.coupling[self._coupling_of_child]

    def time_constants_ms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(tau_rise, tau_decay) of the kernel components, each (J,), ms."""
        tr = self.log_tau_rise.exp()
        return tr, tr + self.log_tau_gap.exp()

    def _peaks(self) -> torch.Tensor:
        """Continuous-time peak of exp(-t/td) - exp(-t/tr), at t = tr td ln(td/tr) / (td - tr): (J,)."""
        tr, td = self.time_constants_ms()
        t_peak = tr * td / (td - tr) * torch.log(td / tr)
        return torch.exp(-t_peak / td) - torch.exp(-t_peak / tr)

    def component_kernels(self, n_steps: int) -> torch.Tensor:
        """Peak-normalised difference-of-exponentials kernels sampled at n dt: (J, n_steps)."""
        tr, td = self.time_constants_ms()
        diff = decay_kernel(td, n_steps, self.dt_ms) - decay_kernel(tr, n_steps, self.dt_ms)
        return diff / self._peaks()[:, None]

    def synaptic_kernels(self, n_steps: int) -> torch.Tensor:
        """Kernel of class c onto subunit s per unit weight, sum_j A[j, s] k_j: (C, S, n_steps)."""
        onehot = F.one_hot(self.component_class, self.n_classes).to(self.amplitude.dtype)   # (J, C)
        return torch.einsum("jc,js,jt->cst", onehot, self.subunit_amplitude(), self.component_kernels(n_steps))

    def soma_kernel(self, n_steps: int) -> torch.Tensor:
        """k_soma(n) = (1 - e^{-dt/tau}) e^{-n dt/tau} (unit area, so gain is in mV per unit drive)."""
        tau = self.log_soma_tau.exp()
        return -torch.expm1(-self.dt_ms / tau) * decay_kernel(tau, n_steps, self.dt_ms)

    def _class_subunit_input(self, x: torch.Tensor) -> torch.Tensor:
        """u[b, t, c*S + s] = sum over synapses of class c in subunit s of w_i x_i: (B, T, C*S)."""
        w = self.synapse_weight
        W = w.new_zeros(self.n_synapses, self.n_classes * self.n_subunits)
        W = W.index_put((torch.arange(self.n_synapses, device=w.device), self._channel), w)
        return x.to(w.dtype) @ W

    def _dendritic_drive(self, x: torch.Tensor) -> torch.Tensor:
        """Filtered synaptic input of each subunit (without bias and children): (B, T, S)."""
        B, T, _ = x.shape
        C, S = self.n_classes, self.n_subunits
        u = self._class_subunit_input(x)                                  # (B, T, C*S)
        if self.filter_method == "fft":
            K = self.synaptic_kernels(T).reshape(C * S, T)
            return causal_fft_conv(u, K).reshape(B, T, C, S).sum(2)
        # recursion: rise and decay exponentials of each component, on its class's channels
        uj = u.reshape(B, T, C, S)[:, :, self.component_class]           # (B, T, J, S)
        tr, td = self.time_constants_ms()
        decays = torch.exp(-self.dt_ms / torch.stack([td, tr], 1))        # (J, 2)
        y = exp_filter_recursive(uj.unsqueeze(3).expand(-1, -1, -1, 2, -1), decays[:, :, None])
        diff = y[:, :, :, 0] - y[:, :, :, 1]                              # (B, T, J, S)
        return torch.einsum("btjs,js->bts", diff, self.subunit_amplitude() / self._peaks()[:, None])

    def subunit_nonlinearity(self, z: torch.Tensor) -> torch.Tensor:
        """g_s applied to z (..., S) (subunits on the last axis)."""
        if not self.transfers:
            return torch.sigmoid(z)
        parts = [ft(z[..., getattr(self, f"_transfer_units_{k}")]) for k, ft in enumerate(self.transfers)]
        return torch.cat(parts, -1)[..., self._transfer_inverse]

    def subunit_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, y): subunit inputs and outputs, each (B, T, S)."""
        S = self.n_subunits
        base = self._dendritic_drive(x) + self.subunit_bias[self.subunit_kind]
        P = base.new_zeros(S, S).index_put((self.child_index, self.subunit_parent[self.child_index]),
                                           self.child_coupling())          # child -> parent couplings
        y = base.new_zeros(base.shape)
        z = base
        for level in range(self.max_depth, -1, -1):   # leaves first
            z = base + y @ P       # children (deeper levels) are final when their parent is computed
            y = torch.where(self.subunit_depth == level, self.subunit_nonlinearity(z), y)
        return z, y

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v, logit, features = self._feedforward(x, with_features=bool(self.soma_mlp_hidden))
        if self.spike_history_ms:
            v, logit, traces = self._spike_history(v, logit)
            if features is not None:
                features = torch.cat([features, traces], -1)
        if features is not None:
            v = v + self.soma_mlp((features - self.soma_mlp_mean) / self.soma_mlp_sd)[..., 0]
        return v, logit

    def soma_mlp_features(self, x: torch.Tensor) -> torch.Tensor:
        """The somatic MLP's inputs before standardisation, [z, d, r, history traces]: (B, T, S + 2 + K)."""
        _, logit, features = self._feedforward(x, with_features=True)
        if self.spike_history_ms:
            features = torch.cat([features, self._spike_history(torch.zeros_like(logit), logit)[2]], -1)
        return features

    def _feedforward(self, x: torch.Tensor, with_features: bool = False):
        """(v_mV, logit, features) from the input alone, before any spike history; features:
        [z, d, r] (B, T, S + 2) with `with_features`, else None."""
        z, y = self.subunit_outputs(x)
        r = y[..., self.root_index].sum(-1, keepdim=True)               # (B, T, 1)
        tau = self.log_soma_tau.exp()
        if self.filter_method == "fft":
            d = causal_fft_conv(r, self.soma_kernel(x.shape[1])[None])
        else:
            d = exp_filter_recursive(-torch.expm1(-self.dt_ms / tau) * r, torch.exp(-self.dt_ms / tau))
        features = torch.cat([z, d, r], -1) if with_features else None
        d, r = d[..., 0], r[..., 0]
        v = self.v_rest + self.soma_gain * d
        logit = self.spike_readout[0] * d + self.spike_readout[1] * r + self.spike_bias
        return v, logit, features

    def history_coefficients(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(eta_v in mV, eta_l in logit units) per unit of each history trace: (K,), (K,)."""
        return HISTORY_SCALE * self.history_voltage, HISTORY_SCALE * self.history_logit

    def history_traces(self, p: torch.Tensor) -> torch.Tensor:
        """sum_{m < t} p(m) exp(-(t - 1 - m) dt / tau_k): the strictly past spike history of
        p (B, T) at every step, (B, T, K)."""
        K = len(self.spike_history_ms)
        tau = self.history_tau_ms.to(p.dtype)
        y = exp_filter(p[..., None].expand(-1, -1, K), tau, self.dt_ms, self.filter_method)
        return F.pad(y[:, :-1], (0, 0, 1, 0))

    def _spike_history(self, v: torch.Tensor, logit: torch.Tensor):
        """Feed the model's spike probability back (class docstring): the logit by a recursion
        over time (p(t) depends on the history of p before t), the voltage by one filter of p.
        Returns v, logit and the history traces (B, T, K)."""
        eta_v, eta_l = self.history_coefficients()
        decay = torch.exp(-self.dt_ms / self.history_tau_ms.to(v.dtype))
        state = v.new_zeros(v.shape[0], len(self.spike_history_ms))
        out = []
        for l_t in logit.unbind(1):
            l_t = l_t + state @ eta_l
            out.append(l_t)
            state = decay * state + torch.sigmoid(l_t)[:, None]
        logit = torch.stack(out, 1)
        traces = self.history_traces(torch.sigmoid(logit))
        return v + traces @ eta_v, logit, traces

    @torch.no_grad()
    def initialize_from_data(self, x: torch.Tensor, v_mV: torch.Tensor, spikes: torch.Tensor | None = None, *,
                             clip_mV: float = -55.0, input_sd: float = 1.0) -> None:
        """Data-dependent initialisation (as Salimans & Kingma 2016 initialise weight-normalised
        networks), on sample inputs x (B, T, n_synapses) and the voltage v_mV (B, T) they evoked.

        Sigmoid subunits: all synaptic weights are scaled by one factor so that the subunits'
        own filtered inputs have a root-mean-square SD of `input_sd` over the sample (one
        factor keeps the relative weights of the synapses), and each bias (leaves first,
        children included) puts its subunit's mean input at the sigmoid's midpoint: with
        ~1000 synapses the unscaled sum saturates the sigmoids and no gradient flows. Fitted transfer subunits keep their
        input scale (mV). Then the soma: gain and v_rest give the prediction the mean and SD of
        the target clipped at `clip_mV` (as the loss sees it), and the spike read-out moves the
        logit by 2 per SD of the somatic drive around the prior spike probability. With spike
        history and `spikes` (B, T, 0/1) given: gain, v_rest and eta_v by one least-squares fit
        of the clipped target on the somatic drive and the true spikes' history (eta_l stays 0)."""
        if not self.transfers:
            # one common scale (relative synaptic weights stay those of the point neuron): the
            # subunits' input SDs then have a root mean square of `input_sd`
            sd = self._dendritic_drive(x).std(dim=(0, 1))
            self.synapse_weight.mul_(input_sd / sd.square().mean().sqrt().clamp_min(1e-6))
            self.subunit_bias.zero_()
            for level in range(self.max_depth, -1, -1):
                z, _ = self.subunit_outputs(x)
                at = (self.subunit_depth == level).to(z.dtype)
                # a kind's bias: the mean input of its subunits at this level (kinds at several
                # levels are set again at each, the soma's side last)
                total = torch.zeros_like(self.subunit_bias).index_add_(0, self.subunit_kind, at * z.mean(dim=(0, 1)))
                count = torch.zeros_like(self.subunit_bias).index_add_(0, self.subunit_kind, at)
                self.subunit_bias.sub_(torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total)))
        self.soma_gain.fill_(1.0)
        self.v_rest.fill_(0.0)
        if self.spike_history_ms:
            self.history_voltage.zero_()
            self.history_logit.zero_()
        d, _, _ = self._feedforward(x)                    # = the somatic drive d(t) with gain 1, rest 0
        target = torch.clamp(v_mV.to(d.dtype), max=clip_mV)
        gain = target.std() / d.std().clamp_min(1e-6)
        rest = target.mean() - gain * d.mean()
        if self.spike_history_ms and spikes is not None:
            # one least-squares fit of gain, rest and eta_v on the true spikes' history, so the
            # gain does not absorb the after-spike variance
            H = self.history_traces(spikes.to(d.dtype))
            A = torch.cat([d[..., None], torch.ones_like(d[..., None]), H], -1).reshape(-1, 2 + H.shape[-1])
            coef = torch.linalg.lstsq(A.double(), target.reshape(-1, 1).double()).solution[:, 0].to(d.dtype)
            gain, rest = coef[0], coef[1]
            self.history_voltage.copy_(coef[2:] / HISTORY_SCALE)
        self.soma_gain.fill_(float(gain))
        self.v_rest.fill_(float(rest))
        slope = 2.0 / float(d.std().clamp_min(1e-6))
        self.spike_readout.copy_(torch.tensor([slope, 0.0]))
        self.spike_bias.fill_(_logit(SPIKE_PRIOR) - slope * float(d.mean()))
        if self.soma_mlp_hidden:   # standardise its inputs as the model, so initialised, gives them
            f = self.soma_mlp_features(x).reshape(-1, self.soma_mlp_mean.numel())
            self.soma_mlp_mean.copy_(f.mean(0))
            self.soma_mlp_sd.copy_(f.std(0).clamp_min(1e-6))

    # --- inspection ---
    @torch.no_grad()
    def kernels(self, duration_ms: float = 200.0) -> dict[str, np.ndarray]:
        """Arrays over time: 't_ms' (n,), 'components' (J, n), 'synaptic' (C, S, n), 'soma' (n,);
        with spike history also 'history_mV' and 'history_logit' (n,): the effect of one spike
        at t = 0 on the voltage and the spike logit n steps later (0 at n = 0)."""
        n = int(round(duration_ms / self.dt_ms))
        out = {"t_ms": np.arange(n) * self.dt_ms, "components": self.component_kernels(n).cpu().numpy(),
               "synaptic": self.synaptic_kernels(n).cpu().numpy(), "soma": self.soma_kernel(n).cpu().numpy()}
        if self.spike_history_ms:
            one = self.history_voltage.new_zeros(1, n)
            one[0, 0] = 1.0
            traces = self.history_traces(one)[0]                  # (n, K)
            eta_v, eta_l = self.history_coefficients()
            out["history_mV"] = (traces @ eta_v).cpu().numpy()
            out["history_logit"] = (traces @ eta_l).cpu().numpy()
        return out

    @torch.no_grad()
    def subunit_curves(self, z) -> np.ndarray:
        """g_s(z) for every subunit on a grid of subunit inputs z (n,): (n, S)."""
        zt = torch.as_tensor(np.asarray(z, dtype=float), dtype=self.amplitude.dtype,
                             device=self.amplitude.device)
        return self.subunit_nonlinearity(zt[:, None].expand(-1, self.n_subunits)).cpu().numpy()

    @torch.no_grad()
    def coupling_weights(self) -> np.ndarray:
        """(S,) weight from each subunit to its parent; subunits on the soma: the somatic gain (mV)."""
        c = torch.full((self.n_subunits,), float(self.soma_gain), dtype=torch.float64)
        c[self.child_index.cpu()] = self.child_coupling().detach().cpu().double()
        return c.numpy()

    def extra_repr(self) -> str:
        return (f"n_synapses={self.n_synapses}, n_subunits={self.n_subunits}, n_classes={self.n_classes}, "
                f"n_components={self.n_components}, nonlinearity={self.nonlinearity!r}, dt_ms={self.dt_ms}, "
                f"filter_method={self.filter_method!r}, synapse_weights={self.synapse_weights!r}, "
                f"spike_history_ms={self.spike_history_ms}, n_kinds={self.n_kinds}, "
                f"soma_mlp_hidden={self.soma_mlp_hidden}, seed={self.seed}")


class PointLN(HierarchicalLN):
    """The point-neuron LN baseline: `HierarchicalLN` with one subunit holding every synapse.
    Trainable parameters: 3 J + 1 + 6 (16 at 3 components), + 2 K with K spike-history time
    constants, + the somatic MLP's with ``soma_mlp_hidden`` (`HierarchicalLN`), + n_synapses
    with ``synapse_weights="per_synapse"``."""

    def __init__(self, synapse_class, kinetics, **kwargs):
        n = len(torch.as_tensor(synapse_class).reshape(-1))
        super().__init__(synapse_class, torch.zeros(n, dtype=torch.int64), torch.tensor([-1]), kinetics, **kwargs)
