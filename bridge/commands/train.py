"""Train a dendritic (or vanilla) ANN on Fashion-MNIST or MNIST and record its learning curves.

Models (Chavlis & Poirazi 2025): dann-r (random input sampling), dann-lrf (local receptive
fields), dann-grf (global receptive fields), pdann (every input on every dendrite),
vann (dense baseline with the same unit counts). Dendrites use leaky ReLU, or the
transfer functions fitted by `bridge fit` when --nonlinearity names a units file.

Writes a netCDF file (dim `epoch`: train/val/test loss and accuracy, timing; attributes:
trainable parameter count, configuration, seed, torch version), atomically.
"""
from __future__ import annotations

import os

from cells.errors import InputError

NAME = "train"
HELP = "train a dendritic ANN on (Fashion-)MNIST"

MODELS = ("dann-r", "dann-lrf", "dann-grf", "pdann", "vann")


def add_arguments(p) -> None:
    p.add_argument("--dataset", default="fmnist", choices=("fmnist", "mnist"))
    p.add_argument("--model", default="dann-r", choices=MODELS)
    p.add_argument("--dendrites", type=int, default=16, metavar="D", help="dendrites per soma (default 16)")
    p.add_argument("--somata", type=int, default=128, metavar="S", help="somata (default 128)")
    p.add_argument("--synapses", type=int, default=16, help="inputs per dendrite (default 16; ignored by pdann/vann)")
    p.add_argument("--nonlinearity", default="leaky_relu", metavar="leaky_relu|UNITS.nc",
                   help="dendritic nonlinearity: leaky_relu or a units file from `bridge fit`")
    p.add_argument("--branch-type", default="basal", help="branch type of the units file to use (default basal)")
    p.add_argument("--init", default="median", choices=("median", "sample"),
                   help="fitted nonlinearity per dendrite: the type median, or drawn from the fitted branches")
    p.add_argument("--trainable-nonlinearity", action="store_true",
                   help="let the fitted transfer parameters learn (default: frozen)")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--noise", type=float, default=0.0, metavar="SIGMA",
                   help="Gaussian pixel noise added once to all images (default 0)")
    p.add_argument("--data-dir", default=None, metavar="DIR", help="directory with the IDX files")
    p.add_argument("--no-download", action="store_true", help="fail instead of downloading the dataset")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=None, metavar="N", help="torch CPU threads")
    p.add_argument("--limit-train", type=int, default=None, metavar="N",
                   help="use only the first N training images (quick runs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-o", "--output", required=True, metavar="RUN.nc")


def _check(args) -> None:
    for name in ("dendrites", "somata", "synapses", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.lr <= 0:
        raise InputError(f"--lr must be > 0, got {args.lr}")
    if args.noise < 0:
        raise InputError(f"--noise must be >= 0, got {args.noise}")
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    if args.limit_train is not None and args.limit_train < 1:
        raise InputError(f"--limit-train must be >= 1, got {args.limit_train}")
    if args.nonlinearity != "leaky_relu":
        if args.model == "vann":
            raise InputError("vann uses leaky ReLU; fitted nonlinearities apply to dendritic models")
        if not os.path.isfile(args.nonlinearity):
            raise InputError(f"--nonlinearity: {args.nonlinearity!r} is neither 'leaky_relu' nor a units file")
    if args.model not in ("pdann", "vann") and args.synapses > 784 and args.dataset in ("fmnist", "mnist"):
        raise InputError(f"--synapses {args.synapses} exceeds the 784 inputs")
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise InputError(f"output directory {out_dir} does not exist")


def run(args) -> int:
    _check(args)
    from bridge.nn.training import run_training, write_run

    ds = run_training(dataset=args.dataset, model=args.model, dendrites=args.dendrites, somata=args.somata,
                      synapses=args.synapses, nonlinearity=args.nonlinearity,
                      trainable_nonlinearity=args.trainable_nonlinearity, branch_type=args.branch_type,
                      init=args.init, epochs=args.epochs, seed=args.seed, noise=args.noise,
                      data_dir=args.data_dir, batch_size=args.batch_size, lr=args.lr, threads=args.threads,
                      limit_train=args.limit_train, progress=not args.no_progress,
                      download=not args.no_download)
    write_run(ds, args.output)
    last = ds.isel(epoch=-1)
    print(f"{args.model} D={args.dendrites} S={args.somata}: {ds.attrs['n_trainable_parameters']} trainable "
          f"parameters; epoch {int(last.epoch)}: val acc {float(last.val_accuracy):.4f}, "
          f"test acc {float(last.test_accuracy):.4f} -> {args.output}")
    return 0
