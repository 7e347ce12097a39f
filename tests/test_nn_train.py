import numpy as np
import pytest
import xarray as xr

from bridge.cli import main
from bridge.schema import make_units_dataset, write_units


def make_fake_mnist(directory, n_train, n_test, seed=0):
    """Tiny gzipped IDX files with class-dependent images (never downloads)."""
    import gzip
    import struct
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True)

    def write(name, arr):
        arr = np.asarray(arr, dtype=np.uint8)
        raw = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
        with gzip.open(directory / f"{name}.gz", "wb") as fh:
            fh.write(raw)

    for split, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(y):
            x[i, 2 * c:2 * c + 4, 4:24] = 255
        write(f"{split}-images-idx3-ubyte", x)
        write(f"{split}-labels-idx1-ubyte", y)
    return directory


@pytest.fixture
def data_dir(tmp_path):
    return make_fake_mnist(tmp_path / "data", n_train=120, n_test=40)


def _train(data_dir, out, *extra):
    return main(["train", "--dataset", "fmnist", "--data-dir", str(data_dir), "--no-download",
                 "--dendrites", "2", "--somata", "8", "--synapses", "8", "--epochs", "2", "--batch-size", "32",
                 "--threads", "1", "--no-progress", "--seed", "3", "-o", str(out), *extra])


def test_train_command_end_to_end_and_deterministic(data_dir, tmp_path):
    a, b = tmp_path / "a.nc", tmp_path / "b.nc"
    assert _train(data_dir, a, "--model", "dann-lrf") == 0
    assert _train(data_dir, b, "--model", "dann-lrf") == 0
    da, db = xr.open_dataset(a), xr.open_dataset(b)
    assert da.sizes["epoch"] == 2
    for v in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy"):
        assert v in da and np.array_equal(da[v].values, db[v].values)
    assert da.attrs["n_trainable_parameters"] == (8 + 1) * 2 * 8 + (2 + 1) * 8 + (8 + 1) * 10
    assert da.attrs["seed"] == 3 and "torch_version" in da.attrs and '"model": "dann-lrf"' in da.attrs["config"]
    assert not list(tmp_path.glob(".*tmp*"))


def test_train_with_units_file(data_dir, tmp_path):
    units = tmp_path / "u.nc"
    write_units(make_units_dataset([0, 1], ["basal", "basal"], ["saturating", "saturating"],
                                   [dict(amplitude=10, scale=5), dict(amplitude=12, scale=6)]), units)
    out = tmp_path / "r.nc"
    assert _train(data_dir, out, "--model", "dann-r", "--nonlinearity", str(units),
                  "--trainable-nonlinearity", "--init", "sample") == 0
    ds = xr.open_dataset(out)
    assert ds.attrs["n_trainable_parameters"] == (8 + 1) * 16 + 3 * 8 + 9 * 10 + 2 * 16


def test_train_bad_input(data_dir, tmp_path, capsys):
    assert _train(data_dir, tmp_path / "x.nc", "--model", "vann", "--nonlinearity", "nope.nc") == 2
    assert _train(data_dir, tmp_path / "x.nc", "--model", "dann-r", "--nonlinearity", "nope.nc") == 2
    assert _train(data_dir, tmp_path / "x.nc", "--epochs", "0") == 2
    err = capsys.readouterr().err
    assert "bridge train: error:" in err
    assert _train(tmp_path / "nodir", tmp_path / "x.nc") == 2


def test_train_refuses_to_overwrite_without_flag(data_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run.nc"
    out.write_bytes(b"an earlier run")
    import bridge.nn.training

    real = bridge.nn.training.run_training
    calls = []

    def spy(**k):
        calls.append(1)
        return real(**k)
    monkeypatch.setattr(bridge.nn.training, "run_training", spy)
    assert _train(data_dir, out, "--epochs", "1") == 2
    err = capsys.readouterr().err
    assert err == f"bridge train: error: {out} already exists; pass --overwrite to replace it or choose another -o\n"
    assert out.read_bytes() == b"an earlier run" and not calls             # refused before any training
    assert _train(data_dir, out, "--epochs", "1", "--overwrite") == 0
    assert calls and xr.open_dataset(out).sizes["epoch"] == 1
    assert not list(tmp_path.glob(".run.nc*"))
    import h5py
    with h5py.File(out, "r") as f:                      # training runs carry checksums too
        assert f["val_accuracy"].fletcher32 and f["train_loss"].fletcher32


def test_train_refuses_its_units_file_as_output(data_dir, tmp_path, capsys):
    units = tmp_path / "u.nc"
    write_units(make_units_dataset([0], ["basal"], ["linear"], [dict(slope=1, offset=0)]), units)
    before = units.read_bytes()
    assert _train(data_dir, units, "--nonlinearity", str(units), "--overwrite") == 2
    assert "must not be the units file" in capsys.readouterr().err and units.read_bytes() == before
