"""Spiking datasets for `bridge.nn.spiking`: Randman, spike-coded Fashion-MNIST, SHD.

Every dataset comes as `SpikeSplits`: train / validation / test *sources* and labels. A
source keeps the spikes compactly and builds dense float batches ``(B, T, n_inputs)`` of
0/1 (or counts) on demand (`source.batch(indices)`), so a full dataset is never dense in
memory (Fashion-MNIST x 100 steps would be 4.7 GB).

``randman`` (Zenke & Vogels 2021, Neural Comput. 33:899, "The remarkable robustness of
surrogate gradient learning for instilling complex function in spiking neural networks")
    Each class is a random smooth `dim`-dimensional manifold embedded in the space of
    spike times of `n_units` inputs. Written from the paper's description (not the
    authors' package): for class c and input unit i,
    ``f_ci(x) = prod_j sum_{k=1..K} A_cijk / k^alpha * sin(2 pi (k * x_j * B_cijk + C_cijk))``
    with A, B, C ~ U(0, 1), x in [0, 1]^dim, K = `n_basis` Fourier components; f_ci is
    rescaled to [0, 1] by its min and max over 1000 reference points of the manifold
    (clipped), and a sample x ~ U(0,1)^dim gives input i exactly one spike, at step
    ``round(f_ci(x) * (T - 1))``. Larger `alpha` = smoother; more `dim` and classes = harder.
    All draws from one seeded `numpy.random.Generator`; 80/10/10 train/val/test split.
``fmnist-latency``
    time-to-first-spike: pixel x in [0, 1] above `threshold` spikes once, at step
    ``round((1 - x) / (1 - threshold) * (T - 1))`` (brighter = earlier); others never.
``fmnist-rate``
    Bernoulli spikes, probability ``x * max_rate_hz * dt`` per step (x = 1 at 200 Hz,
    dt 1 ms: p = 0.2); seeded per batch by (seed, batch indices), so the test set gets
    the same spikes every epoch. Images from `bridge.data.load_dataset` (same files,
    checksums and 10 % validation split as `bridge train --dataset fmnist`).
``shd``
    Spiking Heidelberg Digits (Cramer et al. 2020, IEEE TNNLS 33:2744), 700 input units,
    20 classes, read from ``shd_train.h5`` / ``shd_test.h5`` (v1.0, zenkelab.org/datasets,
    gunzipped) in `data_dir`: ``spikes/times`` (seconds) and ``spikes/units`` ragged per
    sample, ``labels``. Spikes are binned to `dt_ms` (step = floor(t / dt)); those at or
    after T * dt are dropped; several spikes of one unit in one bin add up. 10 % of the
    training file (seeded) is the validation set. Never downloaded: the published
    checksums are not recorded here, so a download could not be verified.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dendritic_errors import InputError

SPIKE_DATASETS = ("randman", "fmnist-latency", "fmnist-rate", "shd")
SHD_FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}
SHD_VERSION = "shd_train.h5/shd_test.h5 v1.0 (Cramer et al. 2020, zenkelab.org/datasets)"
SHD_UNITS = 700


def _index(idx) -> np.ndarray:
    return np.asarray(idx.cpu() if isinstance(idx, torch.Tensor) else idx, dtype=np.int64).reshape(-1)


class SpikeTimes:
    """At most one spike per input: ``times`` (n, n_inputs) integer steps, -1 = no spike."""

    def __init__(self, times: np.ndarray, n_steps: int):
        self.times = np.asarray(times, dtype=np.int16 if n_steps < 32767 else np.int32)
        self.n_steps, self.n_inputs = int(n_steps), int(self.times.shape[1])
        if self.times.size and self.times.max() >= n_steps:
            raise ValueError(f"spike times beyond n_steps={n_steps}")

    def __len__(self) -> int:
        return len(self.times)

    def batch(self, idx) -> torch.Tensor:
        t = torch.as_tensor(self.times[_index(idx)].astype(np.int64))
        out = torch.zeros(t.shape[0], self.n_steps, self.n_inputs)
        b, i = torch.nonzero(t >= 0, as_tuple=True)
        out[b, t[b, i], i] = 1.0
        return out


class SpikeEvents:
    """Ragged events (SHD): sample k's spikes are ``steps[offsets[k]:offsets[k+1]]``, ``units[...]``."""

    def __init__(self, offsets: np.ndarray, steps: np.ndarray, units: np.ndarray, n_steps: int, n_inputs: int):
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.steps, self.units = np.asarray(steps, dtype=np.int64), np.asarray(units, dtype=np.int64)
        self.n_steps, self.n_inputs = int(n_steps), int(n_inputs)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def batch(self, idx) -> torch.Tensor:
        idx = _index(idx)
        out = torch.zeros(len(idx), self.n_steps, self.n_inputs)
        lo, hi = self.offsets[idx], self.offsets[idx + 1]
        sel = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if len(idx) else np.zeros(0, np.int64)
        row = np.repeat(np.arange(len(idx)), hi - lo)
        out.index_put_((torch.as_tensor(row), torch.as_tensor(self.steps[sel]), torch.as_tensor(self.units[sel])),
                       torch.ones(len(sel)), accumulate=True)
        return out


class RateCoded:
    """Bernoulli spikes with probability ``p_max * x`` per step; seeded per batch (see module doc)."""

    def __init__(self, intensity: np.ndarray, n_steps: int, p_max: float, seed: int):
        self.intensity = np.asarray(intensity, dtype=np.float32)
        self.n_steps, self.n_inputs = int(n_steps), int(self.intensity.shape[1])
        self.p_max, self.seed = float(p_max), int(seed)

    def __len__(self) -> int:
        return len(self.intensity)

    def batch(self, idx) -> torch.Tensor:
        idx = _index(idx)
        key = np.random.SeedSequence([self.seed, len(idx), *(int(i) for i in idx[:1]), *(int(i) for i in idx[-1:])])
        gen = torch.Generator().manual_seed(int(key.generate_state(1)[0]))
        p = torch.as_tensor(self.intensity[idx]) * self.p_max
        u = torch.rand((len(idx), self.n_steps, self.n_inputs), generator=gen)
        return (u < p[:, None, :]).float()


@dataclass
class SpikeSplits:
    """Spike sources and int64 labels of the train / validation / test splits."""

    name: str
    x_train: object
    y_train: np.ndarray
    x_val: object
    y_val: np.ndarray
    x_test: object
    y_test: np.ndarray
    n_classes: int
    dt_ms: float
    image_shape: tuple[int, int] | None = None
    info: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.x_train.n_inputs)

    @property
    def n_steps(self) -> int:
        return int(self.x_train.n_steps)


# --------------------------------------------------------------------------- Randman
def randman_times(n_classes: int = 10, n_units: int = 50, dim: int = 1, alpha: float = 2.0,
                  n_samples: int = 100, n_steps: int = 50, n_basis: int = 3, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Spike steps (n_classes * n_samples, n_units) and labels, in class order (see module doc)."""
    for name, v in (("n_classes", n_classes), ("n_units", n_units), ("dim", dim), ("n_samples", n_samples),
                    ("n_steps", n_steps), ("n_basis", n_basis)):
        if int(v) < 1:
            raise InputError(f"randman: {name} must be >= 1, got {v}")
    if alpha <= 0:
        raise InputError(f"randman: alpha must be > 0, got {alpha}")
    rng = np.random.default_rng(seed)
    k = np.arange(1, n_basis + 1, dtype=float)

    def manifold(x, a, b, c):  # x (n, dim) -> (n, n_units)
        arg = 2 * np.pi * (k * x[:, None, :, None] * b + c)       # (n, units, dim, basis)
        return (a / k ** alpha * np.sin(arg)).sum(-1).prod(-1)

    times, labels = [], []
    for cls in range(n_classes):
        a, b, c = rng.uniform(size=(3, n_units, dim, n_basis))
        ref = manifold(rng.uniform(size=(1000, dim)), a, b, c)
        lo, hi = ref.min(0), ref.max(0)
        f = (manifold(rng.uniform(size=(n_samples, dim)), a, b, c) - lo) / np.maximum(hi - lo, 1e-12)
        times.append(np.rint(np.clip(f, 0.0, 1.0) * (n_steps - 1)).astype(np.int64))
        labels.append(np.full(n_samples, cls, dtype=np.int64))
    return np.concatenate(times), np.concatenate(labels)


def _split(n: int, seed: int, fractions=(0.8, 0.1)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    perm = np.random.default_rng([seed, 11]).permutation(n)
    n_tr, n_va = int(round(fractions[0] * n)), int(round(fractions[1] * n))
    return perm[:n_tr], perm[n_tr:n_tr + n_va], perm[n_tr + n_va:]


def load_randman(*, n_classes: int = 10, n_units: int = 50, dim: int = 1, alpha: float = 2.0,
                 n_samples: int = 100, n_steps: int = 50, n_basis: int = 3, seed: int = 0,
                 dt_ms: float = 1.0) -> SpikeSplits:
    """Randman data generated from `seed`; 80/10/10 train/val/test split (seeded)."""
    t, y = randman_times(n_classes, n_units, dim, alpha, n_samples, n_steps, n_basis, seed)
    tr, va, te = _split(len(y), seed)
    info = dict(source=f"randman (generated, seed {seed})", n_units=n_units, dim=dim, alpha=alpha,
                n_samples_per_class=n_samples, n_basis=n_basis, generator_seed=seed)
    return SpikeSplits("randman", SpikeTimes(t[tr], n_steps), y[tr], SpikeTimes(t[va], n_steps), y[va],
                       SpikeTimes(t[te], n_steps), y[te], n_classes=n_classes, dt_ms=dt_ms, info=info)


# --------------------------------------------------------------------------- Fashion-MNIST
def latency_times(x: np.ndarray, n_steps: int, threshold: float = 0.2) -> np.ndarray:
    """Time-to-first-spike steps of intensities x in [0, 1]; -1 (no spike) at or below `threshold`."""
    if not 0 <= threshold < 1:
        raise InputError(f"latency threshold must be in [0, 1), got {threshold}")
    x = np.asarray(x, dtype=np.float64)
    t = np.rint((1.0 - np.clip(x, 0, 1)) / (1.0 - threshold) * (n_steps - 1)).astype(np.int64)
    return np.where(x > threshold, np.minimum(t, n_steps - 1), -1)


def load_fmnist_spikes(coding: str = "latency", *, n_steps: int = 50, dt_ms: float = 1.0, threshold: float = 0.2,
                       max_rate_hz: float = 200.0, data_dir=None, download: bool = True, seed: int = 1,
                       limit_train: int | None = None, limit_test: int | None = None, images=None) -> SpikeSplits:
    """Fashion-MNIST as spikes (`coding` 'latency' or 'rate'); `images`: preloaded `DataSplits`."""
    from bridge.data import load_dataset

    data = images if images is not None else load_dataset("fmnist", data_dir=data_dir, download=download,
                                                          seed=seed, limit_train=limit_train)
    x_test, y_test = data.x_test, data.y_test
    if limit_test is not None:
        x_test, y_test = x_test[:limit_test], y_test[:limit_test]
    arrays = (data.x_train, data.x_val, x_test)
    if coding == "latency":
        src = [SpikeTimes(latency_times(x, n_steps, threshold), n_steps) for x in arrays]
        extra = {"latency_threshold": threshold}
    elif coding == "rate":
        p = max_rate_hz * dt_ms / 1000.0
        if not 0 < p <= 1:
            raise InputError(f"max rate {max_rate_hz} Hz at dt {dt_ms} ms gives p = {p:.3g} per step; need (0, 1]")
        src = [RateCoded(x, n_steps, p, seed=seed * 3 + k) for k, x in enumerate(arrays)]
        extra = {"max_rate_hz": max_rate_hz}
    else:
        raise InputError(f"unknown coding {coding!r} (latency or rate)")
    info = dict(data.info, coding=coding, **extra)
    return SpikeSplits(f"fmnist-{coding}", src[0], data.y_train, src[1], data.y_val, src[2], y_test,
                       n_classes=data.n_classes, dt_ms=dt_ms, image_shape=data.image_shape, info=info)


# --------------------------------------------------------------------------- SHD
def read_shd(path: str | os.PathLike, n_steps: int, dt_ms: float) -> tuple[SpikeEvents, np.ndarray]:
    """One SHD HDF5 file -> (events binned to dt_ms, labels); bad files raise InputError naming the file."""
    import h5py

    path = os.fspath(path)
    try:
        with h5py.File(path, "r") as f:
            times, units, labels = f["spikes"]["times"][()], f["spikes"]["units"][()], f["labels"][()]
    except (OSError, KeyError) as err:
        raise InputError(f"{path}: not an SHD file (need spikes/times, spikes/units, labels): {err}") from None
    if not (len(times) == len(units) == len(labels)):
        raise InputError(f"{path}: spikes/times, spikes/units and labels differ in length")
    offsets, steps, unit_list = [0], [], []
    for k, (t, u) in enumerate(zip(times, units)):
        t, u = np.asarray(t, dtype=np.float64), np.asarray(u, dtype=np.int64)
        if t.shape != u.shape:
            raise InputError(f"{path}: sample {k} has {t.size} times but {u.size} units")
        if u.size and (u.min() < 0 or u.max() >= SHD_UNITS):
            raise InputError(f"{path}: sample {k} has units outside 0..{SHD_UNITS - 1}")
        s = np.floor(t * 1000.0 / dt_ms).astype(np.int64)
        keep = (s >= 0) & (s < n_steps)
        steps.append(s[keep])
        unit_list.append(u[keep])
        offsets.append(offsets[-1] + int(keep.sum()))
    cat = (lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64))
    return SpikeEvents(np.asarray(offsets), cat(steps), cat(unit_list), n_steps, SHD_UNITS), \
        np.asarray(labels, dtype=np.int64)


def load_shd(data_dir, *, n_steps: int = 100, dt_ms: float = 10.0, seed: int = 1,
             limit_train: int | None = None) -> SpikeSplits:
    """SHD from `data_dir` (see module doc); never downloaded (no recorded checksums to verify it)."""
    d = Path(data_dir) if data_dir is not None else None
    missing = [n for n in SHD_FILES.values() if d is None or not (d / n).is_file()]
    if missing:
        where = f"in {d}" if d is not None else "(no --data-dir given)"
        raise InputError(f"SHD files {', '.join(missing)} not found {where}; bridge does not download SHD (no "
                         "recorded checksums): get shd_*.h5.gz from zenkelab.org/datasets, gunzip, pass --data-dir")
    train, y_train = read_shd(d / SHD_FILES["train"], n_steps, dt_ms)
    test, y_test = read_shd(d / SHD_FILES["test"], n_steps, dt_ms)
    perm = np.random.default_rng([seed, 13]).permutation(len(y_train))
    n_val = int(round(0.1 * len(perm)))
    va, tr = perm[:n_val], perm[n_val:]
    if limit_train is not None:
        tr = tr[:limit_train]

    def subset(src: SpikeEvents, idx: np.ndarray) -> SpikeEvents:
        lo, hi = src.offsets[idx], src.offsets[idx + 1]
        sel = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if len(idx) else np.zeros(0, np.int64)
        return SpikeEvents(np.concatenate([[0], np.cumsum(hi - lo)]), src.steps[sel], src.units[sel],
                           src.n_steps, src.n_inputs)

    n_classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    info = dict(source=str(d), version=SHD_VERSION, val_fraction=0.1, split_seed=seed)
    return SpikeSplits("shd", subset(train, tr), y_train[tr], subset(train, va), y_train[va], test, y_test,
                       n_classes=max(n_classes, 20), dt_ms=dt_ms, info=info)


def load_spike_dataset(name: str, *, n_steps: int | None = None, dt_ms: float | None = None, seed: int = 1,
                       data_dir=None, download: bool = True, limit_train: int | None = None,
                       limit_test: int | None = None, randman: dict | None = None, images=None) -> SpikeSplits:
    """A spiking dataset by name (`SPIKE_DATASETS`). Defaults: T = 50 steps of 1 ms; SHD 100 of 10 ms.

    `randman`: keyword arguments of `load_randman` (n_classes, n_units, dim, alpha, n_samples, n_basis).
    """
    if name not in SPIKE_DATASETS:
        raise InputError(f"unknown spiking dataset {name!r} (choose {', '.join(SPIKE_DATASETS)})")
    if name == "shd":
        return load_shd(data_dir, n_steps=n_steps or 100, dt_ms=dt_ms or 10.0, seed=seed, limit_train=limit_train)
    n_steps, dt_ms = n_steps or 50, dt_ms or 1.0
    if name == "randman":
        kw = dict(randman or {})
        kw.setdefault("seed", seed)
        sp = load_randman(n_steps=n_steps, dt_ms=dt_ms, **kw)
        if limit_train is not None:
            sp.x_train = SpikeTimes(sp.x_train.times[:limit_train], n_steps)
            sp.y_train = sp.y_train[:limit_train]
        return sp
    return load_fmnist_spikes(name.split("-")[1], n_steps=n_steps, dt_ms=dt_ms, data_dir=data_dir,
                              download=download, seed=seed, limit_train=limit_train, limit_test=limit_test,
                              images=images)
