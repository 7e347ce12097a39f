"""MNIST and Fashion-MNIST from the standard IDX files.

Where the files are looked for, in order (first directory holding all four files wins;
each file may be gzipped, ``NAME.gz``, or not):

1. `data_dir`, if given (also ``data_dir/<dataset>``);
2. the Debian package location (``apt-get install dataset-fashion-mnist`` installs the
   four gzipped files in ``/usr/share/datasets/fashion-mnist``; ``/usr/share/datasets/mnist``
   is looked at for MNIST too);
3. the cache, ``$BRIDGE_CACHE/datasets/<dataset>`` (default ``~/.cache/bridge``);
4. a download from the canonical URLs into the cache (when ``download=True``): each file
   goes to a temporary name, its md5 is checked against the published one, then it is
   renamed into place (atomic; a mismatch deletes it and raises `InputError`).

Files found in 1-2 are not md5-checked (Debian recompresses them, so the published md5s
of the .gz files do not apply); their IDX headers and sizes are checked instead.

`load_dataset` returns pixels as float32 in [0, 1], shape (n, 784), labels int64,
a seeded 10 % validation split of the training set and, optionally, Gaussian noise of
standard deviation `noise` added once to all images (seeded) and clipped to [0, 1]
(as in the reference study's noisy-input experiments).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cells.errors import InputError

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

DATASETS = {
    "fmnist": {
        "title": "Fashion-MNIST",
        "urls": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        "md5": {  # published md5 of the .gz files (zalandoresearch/fashion-mnist README)
            "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        "system_dirs": ["/usr/share/datasets/fashion-mnist"],
    },
    "mnist": {
        "title": "MNIST",
        "urls": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
        "md5": {
            "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        "system_dirs": ["/usr/share/datasets/mnist"],
    },
}
ALIASES = {"fashion-mnist": "fmnist", "fashion_mnist": "fmnist", "fmnist": "fmnist", "mnist": "mnist"}


@dataclass
class DataSplits:
    """Train / validation / test arrays: x float32 (n, n_features) in [0, 1], y int64."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, int] = (28, 28)
    n_classes: int = 10
    info: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


def cache_dir() -> Path:
    return Path(os.environ.get("BRIDGE_CACHE", Path.home() / ".cache" / "bridge"))


def _canonical(name: str) -> str:
    key = ALIASES.get(name.lower())
    if key is None:
        raise InputError(f"unknown dataset {name!r} (choose fmnist or mnist)")
    return key


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped if the name ends in .gz); unsigned-byte data only."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: cannot read ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise InputError(f"{path}: not an IDX file (bad magic number)")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != 0x08:
        raise InputError(f"{path}: IDX data type 0x{dtype_code:02x} not supported (need unsigned byte)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    n = int(np.prod(shape)) if shape else 1
    if len(raw) - header != n:
        raise InputError(f"{path}: IDX size mismatch (header says {shape}, {n} bytes; "
                         f"file has {len(raw) - header})")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(directory: Path, stem: str) -> Path | None:
    for cand in (directory / f"{stem}.gz", directory / stem):
        if cand.is_file():
            return cand
    return None


def _complete_dir(directory: Path) -> dict[str, Path] | None:
    found = {stem: _find(directory, stem) for stem in FILES}
    return found if all(found.values()) else None


def md5sum(path: str | os.PathLike) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(url: str, dest: str) -> None:
    """Download `url` to `dest` (replaced in tests)."""
    with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
        while True:
            block = resp.read(1 << 20)
            if not block:
                break
            out.write(block)


def download(name: str, directory: str | os.PathLike | None = None) -> dict[str, Path]:
    """Download the four files of dataset `name` into `directory` (default: the cache), md5-checked."""
    key = _canonical(name)
    spec = DATASETS[key]
    target = Path(directory) if directory is not None else cache_dir() / "datasets" / key
    target.mkdir(parents=True, exist_ok=True)
    out = {}
    for stem in FILES:
        dest = target / f"{stem}.gz"
        if dest.is_file() and md5sum(dest) == spec["md5"][stem]:
            out[stem] = dest
            continue
        tmp = target / f".{stem}.gz.part{os.getpid()}"
        errors = []
        for base in spec["urls"]:
            try:
                _fetch(base + f"{stem}.gz", str(tmp))
                break
            except OSError as err:
                errors.append(f"{base}: {err}")
        else:
            if tmp.exists():
                tmp.unlink()
            raise InputError(f"cannot download {spec['title']} {stem}.gz ({'; '.join(errors)})")
        got = md5sum(tmp)
        if got != spec["md5"][stem]:
            tmp.unlink()
            raise InputError(f"{spec['title']} {stem}.gz: md5 mismatch (got {got}, "
                             f"expected {spec['md5'][stem]}); download corrupted, try again")
        os.replace(tmp, dest)
        out[stem] = dest
    return out


def locate(name: str, data_dir: str | os.PathLike | None = None, download_missing: bool = True) -> dict[str, Path]:
    """Paths of the four IDX files of `name` (see module docstring for the search order)."""
    key = _canonical(name)
    spec = DATASETS[key]
    candidates: list[Path] = []
    if data_dir is not None:
        d = Path(data_dir)
        if not d.is_dir():
            raise InputError(f"data directory {d} does not exist")
        candidates += [d, d / key, d / spec["title"].lower()]
    candidates += [Path(p) for p in spec["system_dirs"]]
    cached = cache_dir() / "datasets" / key
    for d in candidates:
        found = _complete_dir(d)
        if found:
            return found
    found = _complete_dir(cached)
    if found and all(md5sum(p) == spec["md5"][s] for s, p in found.items() if p.suffix == ".gz"):
        return found
    if not download_missing:
        where = ", ".join(str(d) for d in candidates + [cached])
        raise InputError(f"{spec['title']} not found (looked in {where}); "
                         "pass --data-dir or allow the download")
    return download(key)


def load_idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(images)
    y = read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise InputError(f"{images}, {labels}: inconsistent shapes {x.shape} and {y.shape}")
    return x, y


def load_dataset(name: str = "fmnist", *, data_dir=None, download: bool = True, val_fraction: float = 0.1,
                 seed: int = 1, noise: float = 0.0, limit_train: int | None = None) -> DataSplits:
    """Load `name` ('fmnist' or 'mnist'); see module docstring.

    `val_fraction` of the training images (seeded permutation) form the validation set;
    `noise` > 0 adds N(0, noise^2) to every image once (seeded) and clips to [0, 1];
    `limit_train` keeps only the first N training images after the split (quick runs).
    """
    key = _canonical(name)
    paths = locate(key, data_dir, download_missing=download)
    x_tr, y_tr = load_idx_pair(paths[FILES[0]], paths[FILES[1]])
    x_te, y_te = load_idx_pair(paths[FILES[2]], paths[FILES[3]])
    shape = tuple(int(s) for s in x_tr.shape[1:])
    if tuple(x_te.shape[1:]) != shape:
        raise InputError(f"{key}: train images {shape} and test images {x_te.shape[1:]} differ in size")
    rng = np.random.default_rng(seed)
    n = len(y_tr)
    perm = rng.permutation(n)
    n_val = int(round(val_fraction * n))
    val, train = perm[:n_val], perm[n_val:]
    if limit_train is not None:
        train = train[:int(limit_train)]

    def prep(x):
        return (x.reshape(len(x), -1).astype(np.float32) / np.float32(255.0))

    x_train, x_val, x_test = prep(x_tr[train]), prep(x_tr[val]), prep(x_te)
    if noise and noise > 0:
        nrng = np.random.default_rng([seed, 7])
        for arr in (x_train, x_val, x_test):
            arr += nrng.normal(0.0, noise, size=arr.shape).astype(np.float32)
            np.clip(arr, 0.0, 1.0, out=arr)
    n_classes = int(max(y_tr.max(), y_te.max())) + 1 if len(y_tr) else 10
    return DataSplits(key, x_train, y_tr[train].astype(np.int64), x_val, y_tr[val].astype(np.int64),
                      x_test, y_te.astype(np.int64), image_shape=shape, n_classes=max(n_classes, 10),
                      info={"source": str(Path(paths[FILES[0]]).parent), "noise": float(noise or 0.0),
                            "val_fraction": float(val_fraction), "split_seed": int(seed)})
