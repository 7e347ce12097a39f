"""Forward + backward time of the temporal neuron models (issue 20) on one batch.

x of shape (batch, T, n_synapses) = (8, 2000, 1000) by default (Poisson spikes at 5 Hz per
synapse, 1 ms bins), 20 subunits (a random tree), 80 % excitatory synapses; loss = sum of
both outputs; median of `--repeats` runs after one warm-up. Prints the parameter counts.

Usage: python benchmarks/temporal_speed.py [--threads 1] [--batch 8] [--steps 2000]
       [--synapses 1000] [--subunits 20] [--repeats 3] [--models hln-fft,hln-recursive,...]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from bridge.fit.temporal import SPIKE_HISTORY_MS
from bridge.nn.models import count_parameters
from bridge.nn.temporal import HierarchicalLN, PointLN
from bridge.nn.temporal_nets import BranchELMNeuron, ELMNeuron, TCNNeuron

# AMPA, NMDA, GABA-A (rise, decay, amplitude): the order of magnitude of the recipes' kinetics
KINETICS = {0: [(0.3, 3.0, 1.0), (2.0, 50.0, 0.5)], 1: [(0.5, 7.0, -1.0)]}


def build(name: str, cls, sub, parent):
    n = len(cls)
    return {
        "hln-fft": lambda: HierarchicalLN(cls, sub, parent, KINETICS, filter_method="fft"),
        "hln-recursive": lambda: HierarchicalLN(cls, sub, parent, KINETICS, filter_method="recursive"),
        "hln-history": lambda: HierarchicalLN(cls, sub, parent, KINETICS, spike_history_ms=SPIKE_HISTORY_MS),
        "pointln": lambda: PointLN(cls, KINETICS),
        "pointln-history": lambda: PointLN(cls, KINETICS, spike_history_ms=SPIKE_HISTORY_MS),
        "tcn": lambda: TCNNeuron(n),
        "elm-fft": lambda: ELMNeuron(n, filter_method="fft"),
        "elm-recursive": lambda: ELMNeuron(n, filter_method="recursive"),
        "branch-elm": lambda: BranchELMNeuron(sub),
    }[name]()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--synapses", type=int, default=1000)
    ap.add_argument("--subunits", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="hln-fft,hln-recursive,hln-history,pointln,pointln-history,tcn,elm-fft,"
                                        "elm-recursive,branch-elm")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(0)
    cls = (torch.rand(a.synapses, generator=gen) < 0.2).long()
    sub = torch.randint(0, a.subunits, (a.synapses,), generator=gen)
    parent = torch.tensor([-1] + [int(torch.randint(0, k, (1,), generator=gen)) for k in range(1, a.subunits)])
    x = (torch.rand(a.batch, a.steps, a.synapses, generator=gen) < 0.005).float()
    print(f"x {tuple(x.shape)}, {a.subunits} subunits, {a.threads} thread(s)")
    for name in a.models.split(","):
        model = build(name, cls, sub, parent)
        times = []
        for r in range(a.repeats + 1):
            model.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            v, logit = model(x)
            (v.sum() + logit.sum()).backward()
            if r:
                times.append(time.perf_counter() - t0)
        print(f"{name:14s} params {count_parameters(model):>9,d}  fwd+bwd {statistics.median(times):7.3f} s")


if __name__ == "__main__":
    main()
