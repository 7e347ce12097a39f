"""Speed of the sparse dendritic layer versus the masked-dense reference formulation.

1. forward + backward + Adam step at batch 128 for one dendritic layer + read-out,
   D=16 dendrites/soma, S=512 somata, 16 synapses/dendrite, 784 inputs, 10 classes:
   `DendriticLayer` (weights only for real connections) versus `MaskedDenseDendriticLayer`
   (dense weights times 0/1 masks, the reference formulation), same connectivity, same
   run, same threads. Target: ratio >= 10.
2. one Fashion-MNIST training epoch (54k images after the 10 % validation split) of
   dANN-R with D=8, S=128 on 2 threads (target < 5 s), if the dataset is available
   locally (no download here).

Usage: python benchmarks/nn_speed.py [--threads N] [--repeats R] [--data-dir DIR] [--markdown [FILE]]
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import _markdown


def step_time(model: nn.Module, x, y, repeats: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]  # median


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="threads for part 1 (default 1)")
    ap.add_argument("--epoch-threads", type=int, default=2, help="threads for part 2 (default 2)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--skip-epoch", action="store_true")
    _markdown.add_argument(ap, "nn_speed")
    args = ap.parse_args(argv)
    host = _markdown.machine()

    from bridge.nn import DendriticLayer, DendriticNet, MaskedDenseDendriticLayer, make_model

    torch.set_num_threads(args.threads)
    D, S, s, n_in, C, B = 16, 512, 16, 784, 10, 128
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(B, n_in, generator=gen)
    y = torch.randint(0, C, (B,), generator=gen)
    sparse_layer = DendriticLayer(n_in, S, D, s, sampling="random", seed=1)
    sparse = DendriticNet([sparse_layer], C, seed=1)
    dense = nn.Sequential(MaskedDenseDendriticLayer.from_layer(sparse_layer), nn.Linear(S, C))
    dense[1].load_state_dict(sparse.readout.state_dict())
    with torch.no_grad():
        assert torch.allclose(sparse(x), dense(x), atol=1e-4)
    t_sparse = step_time(sparse, x, y, args.repeats)
    t_dense = step_time(dense, x, y, args.repeats)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"fwd+bwd+Adam, batch {B}, D={D} S={S} s={s} on {n_in} inputs ({S * D} dendrites):")
    print(f"  sparse DendriticLayer        {t_sparse * 1e3:8.2f} ms/step")
    print(f"  masked-dense reference       {t_dense * 1e3:8.2f} ms/step")
    print(f"  ratio (dense / sparse)       {t_dense / t_sparse:8.1f} x  (target >= 10)")
    rows = [[f"training step, sparse `DendriticLayer` ({args.threads} thread(s))", f"{t_sparse * 1e3:.2f} ms"],
            [f"training step, masked-dense reference ({args.threads} thread(s))", f"{t_dense * 1e3:.2f} ms"],
            ["ratio dense / sparse (target >= 10)", f"{t_dense / t_sparse:.1f}x"]]

    def write_md(note):
        _markdown.write(args.markdown, "PyTorch dendritic layer speed (`benchmarks/nn_speed.py`)",
                        _markdown.table(["measure", "value"], rows),
                        [f"torch {torch.__version__}; fwd+bwd+Adam, batch {B}, D={D} S={S} s={s} on {n_in} inputs; "
                         f"median of {args.repeats}. {note}"], host)

    if args.skip_epoch:
        write_md("Fashion-MNIST epoch: not run (--skip-epoch).")
        return 0
    from dendritic_errors import InputError
    from bridge.data import load_dataset
    from bridge.nn.training import train_model
    try:
        data = load_dataset("fmnist", data_dir=args.data_dir, download=False, seed=1)
    except InputError as err:
        print(f"Fashion-MNIST epoch: skipped, dataset not available locally ({err})")
        write_md("Fashion-MNIST epoch: not run (dataset not installed).")
        return 0
    import os
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Fashion-MNIST epoch, dANN-R D=8 S=128, {len(data.y_train)} images "
          f"(load average before: {load:.2f} on {os.cpu_count()} CPUs; target < 5 s on 2 threads):")
    for threads in dict.fromkeys((args.epoch_threads, 1)):
        model = make_model("dann-r", dendrites=8, somata=128, synapses=16, seed=1)
        res = train_model(model, data, epochs=1, batch_size=128, lr=1e-3, seed=1,
                          threads=threads, progress=False)
        t = float(res["train_time_s"].values[0])
        print(f"  {threads} thread(s): {t:6.2f} s training (+{float(res['eval_time_s'].values[0]):.2f} s "
              f"val/test evaluation); val acc {float(res['val_accuracy'].values[0]):.3f}")
        rows.append([f"Fashion-MNIST epoch, dANN-R D=8 S=128, {threads} thread(s) (target < 5 s on 2)", f"{t:.2f} s"])
    print("  (with more threads than free cores, OpenMP barriers stall: on a loaded machine"
          " 1 thread can be much faster than 2)")
    write_md(f"Fashion-MNIST epoch: {len(data.y_train)} images, load average {load:.2f} before.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
