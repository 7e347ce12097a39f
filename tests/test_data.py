import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from dendritic_errors import InputError
from bridge import data as bdata


def write_idx(path, arr, gz=True):
    arr = np.asarray(arr, dtype=np.uint8)
    raw = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as fh:
            fh.write(raw)
    else:
        path.write_bytes(raw)


def make_fake_mnist(directory, n_train=50, n_test=20, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    ytr = rng.integers(0, 10, n_train)
    yte = rng.integers(0, 10, n_test)
    # class-dependent images, so a model can learn something
    def imgs(y):
        x = rng.integers(0, 60, (len(y), 28, 28))
        for i, c in enumerate(y):
            x[i, 2 * c:2 * c + 4, 4:24] = 255
        return x
    write_idx(directory / "train-images-idx3-ubyte", imgs(ytr), gz)
    write_idx(directory / "train-labels-idx1-ubyte", ytr, gz)
    write_idx(directory / "t10k-images-idx3-ubyte", imgs(yte), gz)
    write_idx(directory / "t10k-labels-idx1-ubyte", yte, gz)
    return directory


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx(tmp_path, gz):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a", arr, gz)
    got = bdata.read_idx(tmp_path / ("a.gz" if gz else "a"))
    assert got.shape == (2, 3, 4) and np.array_equal(got, arr)


def test_read_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(InputError, match="magic"):
        bdata.read_idx(tmp_path / "bad")
    arr = np.zeros((2, 3), np.uint8)
    write_idx(tmp_path / "t", arr, gz=False)
    (tmp_path / "t").write_bytes((tmp_path / "t").read_bytes()[:-2])
    with pytest.raises(InputError, match="size mismatch"):
        bdata.read_idx(tmp_path / "t")


def test_load_dataset_split_noise(tmp_path):
    d = make_fake_mnist(tmp_path / "fm", n_train=50)
    a = bdata.load_dataset("fmnist", data_dir=d, seed=3)
    assert a.x_train.dtype == np.float32 and a.x_train.shape == (45, 784) and a.x_val.shape == (5, 784)
    assert a.x_test.shape == (20, 784) and a.y_train.dtype == np.int64
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    b = bdata.load_dataset("fmnist", data_dir=d, seed=3)
    c = bdata.load_dataset("fmnist", data_dir=d, seed=4)
    assert np.array_equal(a.y_val, b.y_val) and not np.array_equal(a.x_val, c.x_val)
    n1 = bdata.load_dataset("fmnist", data_dir=d, seed=3, noise=0.2)
    n2 = bdata.load_dataset("fmnist", data_dir=d, seed=3, noise=0.2)
    assert np.array_equal(n1.x_train, n2.x_train) and not np.array_equal(n1.x_train, a.x_train)
    assert n1.x_train.min() >= 0.0 and n1.x_train.max() <= 1.0
    assert bdata.load_dataset("mnist", data_dir=d, limit_train=10).x_train.shape == (10, 784)


def test_missing_dataset_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("BRIDGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(bdata.DATASETS["mnist"], "system_dirs", [])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="not found"):
        bdata.load_dataset("mnist", data_dir=empty, download=False)
    with pytest.raises(InputError, match="unknown dataset"):
        bdata.load_dataset("cifar")


def test_download_md5_mismatch_and_atomic(tmp_path, monkeypatch):
    monkeypatch.setenv("BRIDGE_CACHE", str(tmp_path / "cache"))

    def fake_fetch(url, dest):
        with open(dest, "wb") as fh:
            fh.write(b"not the real file")

    monkeypatch.setattr(bdata, "_fetch", fake_fetch)
    with pytest.raises(InputError, match="md5 mismatch"):
        bdata.download("mnist")
    target = tmp_path / "cache" / "datasets" / "mnist"
    assert list(target.iterdir()) == []  # the bad file was not kept under any name


def _serve(src, monkeypatch) -> list:
    """Replace the downloader by a copy from `src`; returns the list of URLs asked for."""
    calls = []

    def fake_fetch(url, dest):
        calls.append(url)
        with open(dest, "wb") as fh:
            fh.write((src / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(bdata, "_fetch", fake_fetch)
    return calls


def test_download_success_with_matching_md5(tmp_path, monkeypatch):
    monkeypatch.setenv("BRIDGE_CACHE", str(tmp_path / "cache"))
    src = make_fake_mnist(tmp_path / "src")
    md5 = {s: bdata.md5sum(src / f"{s}.gz") for s in bdata.FILES}
    monkeypatch.setitem(bdata.DATASETS["mnist"], "md5", md5)
    monkeypatch.setitem(bdata.DATASETS["mnist"], "system_dirs", [])
    calls = _serve(src, monkeypatch)
    ds = bdata.load_dataset("mnist")
    assert ds.x_test.shape == (20, 784) and len(calls) == 4
    bdata.load_dataset("mnist")  # now from the cache
    assert len(calls) == 4


def test_synthetic_dataset_is_deterministic_and_learnable():
    a = bdata.load_dataset("synthetic", seed=1)
    b = bdata.load_dataset("synthetic", seed=1)
    assert a.x_train.shape == (10800, 784) and a.x_val.shape == (1200, 784) and a.x_test.shape == (2000, 784)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    assert set(np.unique(a.y_train)) == set(range(10))
    # nearest class mean on the training set separates the test set far above chance (10 %)
    means = np.stack([a.x_train[a.y_train == c].mean(0) for c in range(10)])
    pred = np.argmin(((a.x_test[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == a.y_test).mean() > 0.2


# --- the demo's dataset resolution (never downloads: _fetch is always replaced) ---------------

@pytest.fixture
def no_fmnist(tmp_path, monkeypatch):
    """Fashion-MNIST neither installed nor cached; any real download would fail the test."""
    monkeypatch.setenv("BRIDGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(bdata.DATASETS["fmnist"], "system_dirs", [str(tmp_path / "not-installed")])

    def no_network(url, dest):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(bdata, "_fetch", no_network)
    return tmp_path


def _fake_checksums(src, monkeypatch):
    import gzip as _gzip
    import hashlib

    monkeypatch.setitem(bdata.DATASETS["fmnist"], "sha256", {s: bdata.sha256sum(src / f"{s}.gz") for s in bdata.FILES})
    monkeypatch.setitem(bdata.DATASETS["fmnist"], "idx_sha256", {
        s: hashlib.sha256(_gzip.decompress((src / f"{s}.gz").read_bytes())).hexdigest() for s in bdata.FILES})


def test_resolve_installed_fmnist(no_fmnist, monkeypatch):
    installed = make_fake_mnist(no_fmnist / "installed")
    _fake_checksums(installed, monkeypatch)
    monkeypatch.setitem(bdata.DATASETS["fmnist"], "system_dirs", [str(installed)])
    said = []
    name, note = bdata.resolve_demo_dataset("auto", say=said.append)
    assert name == "fmnist" and str(installed) in note and not said
    assert bdata.resolve_demo_dataset("fashion-mnist")[0] == "fmnist"
    assert bdata.resolve_demo_dataset("synthetic")[0] == "synthetic"


def test_resolve_downloads_with_sha256(no_fmnist, monkeypatch):
    src = make_fake_mnist(no_fmnist / "server")
    _fake_checksums(src, monkeypatch)
    calls = _serve(src, monkeypatch)
    name, note = bdata.resolve_demo_dataset("auto")
    assert name == "fmnist" and "downloaded" in note and len(calls) == 4
    assert bdata.resolve_demo_dataset("auto")[0] == "fmnist" and len(calls) == 4   # now from the cache
    assert bdata.load_dataset(name, download=False).x_test.shape == (20, 784)


def test_resolve_falls_back_to_synthetic_and_says_so(no_fmnist):
    said = []
    name, note = bdata.resolve_demo_dataset("auto", say=said.append)
    assert name == "synthetic"
    assert "code-generated synthetic image task, not Fashion-MNIST" in note
    assert len(said) == 1 and "synthetic" in said[0]
    name, note = bdata.resolve_demo_dataset("auto", allow_download=False)
    assert name == "synthetic" and "not Fashion-MNIST" in note
    with pytest.raises(InputError, match="download failed"):
        bdata.resolve_demo_dataset("fashion-mnist")
    with pytest.raises(InputError, match="not found"):
        bdata.resolve_demo_dataset("fashion-mnist", allow_download=False)


def test_resolve_refuses_checksum_mismatch(no_fmnist, monkeypatch):
    def tampered(url, dest):
        with open(dest, "wb") as fh:
            fh.write(b"not the published file")

    monkeypatch.setattr(bdata, "_fetch", tampered)
    with pytest.raises(bdata.ChecksumError) as exc:
        bdata.resolve_demo_dataset("auto")          # a mismatch is never a fallback
    msg = str(exc.value)
    assert "\n" not in msg and "sha256 mismatch" in msg and "refused" in msg
    target = no_fmnist / "cache" / "datasets" / "fmnist"
    assert list(target.iterdir()) == []


def test_installed_files_with_wrong_content_are_refused(no_fmnist, monkeypatch):
    installed = make_fake_mnist(no_fmnist / "installed")
    monkeypatch.setitem(bdata.DATASETS["fmnist"], "system_dirs", [str(installed)])
    with pytest.raises(bdata.ChecksumError) as exc:   # the real Fashion-MNIST checksums
        bdata.locate("fmnist", download_missing=False)
    assert "\n" not in str(exc.value) and "refused" in str(exc.value)


def test_demo_cli_dataset_choices():
    from bridge.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["demo"]).dataset == "auto"
    assert parser.parse_args(["demo", "--dataset", "fmnist"]).dataset == "fashion-mnist"
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--dataset", "cifar"])


@pytest.mark.skipif(not all((Path("/usr/share/datasets/fashion-mnist") / f"{s}.gz").is_file() for s in bdata.FILES),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fmnist_matches_the_published_checksums():
    found = bdata.locate("fmnist", download_missing=False)   # checks the IDX SHA-256 of installed files
    assert all(Path(p).is_file() for p in found.values())
