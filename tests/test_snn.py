"""Spiking dendritic networks (bridge.nn.spiking) and spiking datasets (bridge.spike_data)."""
import io
import math

import numpy as np
import pytest
import torch
import xarray as xr

from bridge.cli import main
from bridge.nn import DendriticLayer, count_parameters, make_connectivity
from bridge.nn.spiking import (LIFLayer, LIFSomata, MaskedDenseSpikingDendriticLayer, SpikingDendriticLayer,
                               dsnn_param_count, lif_snn_param_count, make_spiking_model, spike)
from bridge.spike_data import (SpikeTimes, latency_times, load_fmnist_spikes, load_randman, load_shd,
                               randman_times, RateCoded)

torch.set_num_threads(1)


@pytest.mark.parametrize("name", ["fast_sigmoid", "sigmoid", "arctan"])
def test_surrogate_gradient_is_its_formula(name):
    x = torch.linspace(-1.0, 1.0, 41, dtype=torch.float64, requires_grad=True)
    beta = 7.0
    s = spike(x, name, beta)
    assert torch.equal(s, (x > 0).double())                      # Heaviside forward
    s.backward(torch.full_like(x, 2.0))
    xd = x.detach()
    hand = {"fast_sigmoid": 1.0 / (beta * xd.abs() + 1.0) ** 2,  # SuperSpike (Zenke & Ganguli 2018)
            "sigmoid": beta * torch.sigmoid(beta * xd) * (1 - torch.sigmoid(beta * xd)),
            "arctan": 1.0 / (1.0 + (math.pi * beta * xd / 2) ** 2)}[name]
    assert torch.allclose(x.grad, 2.0 * hand, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="surrogate"):
        spike(x, "nope")


def _hand_lif(drive, a, theta, reset, n_ref):
    """Plain-Python LIF: V <- a V + c; held at 0 while refractory; spike if V > theta; reset."""
    v, ref, out = 0.0, 0, []
    for c in drive:
        v = a * v + c
        if ref > 0:
            v = 0.0
        s = 1 if (v > theta and ref <= 0) else 0
        ref = n_ref if s else ref - 1
        if s:
            v = v - theta if reset == "subtract" else 0.0
        out.append(s)
    return out


@pytest.mark.parametrize("reset,refractory", [("subtract", 0.0), ("zero", 0.0), ("subtract", 3.0), ("zero", 2.0)])
def test_lif_reset_and_refractory_match_a_hand_simulation(reset, refractory):
    drive = [0.4] * 6 + [0.0] * 3 + [1.5, 0.2, 0.9, 0.0, 1.2, 1.2, 1.2, 0.0, 0.3]
    lif = LIFSomata(1, tau_mem_ms=10.0, dt_ms=1.0, threshold=1.0, reset=reset, refractory_ms=refractory)
    got = lif(torch.tensor(drive, dtype=torch.float64).reshape(-1, 1, 1)).flatten().tolist()
    want = _hand_lif(drive, math.exp(-0.1), 1.0, reset, int(refractory))
    assert got == want and sum(want) >= 3
    # by hand: V = 0.4, 0.762, 1.0895 -> the first spike is at the third step
    assert want[:3] == [0, 0, 1]


def test_connectivity_and_weights_identical_to_dendritic_layer():
    for sampling, shape in (("random", None), ("local_rf", (7, 7)), ("global_rf", (7, 7)), ("all", None)):
        syn = None if sampling == "all" else 6
        ref = DendriticLayer(49, 5, 3, syn, sampling=sampling, input_shape=shape, seed=11)
        snn = SpikingDendriticLayer(49, 5, 3, syn, sampling=sampling, input_shape=shape, seed=11)
        assert torch.equal(ref.indices, snn.indices)
        assert torch.equal(ref.dendrite_weight, snn.dendrite_weight) and torch.equal(ref.soma_weight, snn.soma_weight)
    lif = LIFLayer(49, 5, 6, sampling="local_rf", input_shape=(7, 7), seed=3)
    assert torch.equal(lif.indices, make_connectivity("local_rf", 49, 5, 1, 6, input_shape=(7, 7), seed=3))


def test_fitted_dendrites_from_units(tmp_path):
    from bridge.schema import make_units_dataset, write_units
    units = tmp_path / "u.nc"
    write_units(make_units_dataset([0, 1], ["basal", "basal"], ["saturating", "saturating"],
                                   [dict(amplitude=10, scale=5), dict(amplitude=12, scale=6)]), units)
    layer = SpikingDendriticLayer.from_units(units, 30, 4, 3, 5, init="sample", trainable=True, tau_syn_ms=3.0)
    assert layer.dendrite_act.family == "saturating" and layer.tau_syn_ms == 3.0
    assert isinstance(layer.soma_act, torch.nn.Identity)
    x = (torch.rand(10, 2, 30, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    layer(x).sum().backward()
    assert count_parameters(layer) == (5 + 1) * 12 + (3 + 1) * 4 + 2 * 12   # + amplitude, scale per dendrite


def test_sparse_spiking_layer_matches_masked_dense_outputs_and_gradients():
    layer = SpikingDendriticLayer(30, 4, 3, 5, seed=2, dtype=torch.float64, threshold=0.5)
    dense = MaskedDenseSpikingDendriticLayer(layer)
    x = (torch.rand(20, 6, 30, generator=torch.Generator().manual_seed(0)) < 0.3).double()
    y, y_ref = layer(x), dense(x)
    assert y.shape == (20, 6, 4) and y.sum() > 0 and torch.equal(y, y_ref)
    g = torch.randn_like(y)
    y.backward(g)
    y_ref.backward(g)
    assert torch.allclose(layer.dendrite_weight.grad, dense.dense.weight1.grad.gather(1, layer.indices), atol=1e-10)
    assert layer.dendrite_weight.grad.abs().sum() > 0


def test_parameter_counts():
    m = make_spiking_model("dsnn-r", in_features=50, n_classes=4, dendrites=3, somata=8, synapses=6)
    assert count_parameters(m) == dsnn_param_count(6, 3, 8, 4) == (6 + 1) * 24 + (3 + 1) * 8 + (8 + 1) * 4
    m = make_spiking_model("dsnn-r", in_features=50, n_classes=4, dendrites=3, somata=8, synapses=6, recurrent=True)
    assert count_parameters(m) == dsnn_param_count(6, 3, 8, 4, recurrent=True)
    m = make_spiking_model("lif-snn", in_features=50, n_classes=4, somata=8, synapses=6)
    assert count_parameters(m) == lif_snn_param_count(6, 8, 4) == 7 * 8 + 9 * 4
    assert count_parameters(MaskedDenseSpikingDendriticLayer(SpikingDendriticLayer(50, 8, 3, 6))) == 7 * 24 + 4 * 8


def test_state_dict_round_trip_and_repr():
    kw = dict(in_features=49, n_classes=3, dendrites=2, somata=4, synapses=5, recurrent=True, input_shape=(7, 7))
    a = make_spiking_model("dsnn-lrf", seed=1, readout="count", **kw)
    b = make_spiking_model("dsnn-lrf", seed=2, readout="count", **kw)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=True))
    x = (torch.rand(3, 10, 49, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    assert torch.equal(a(x), b(x))
    r = repr(a)
    assert "tau_syn_ms=5.0" in r and "surrogate='fast_sigmoid'" in r and "recurrent=True" in r


def test_randman_seeded_deterministic_and_one_spike_per_unit():
    t1, y1 = randman_times(3, 12, 2, 2.0, 20, 30, seed=5)
    t2, y2 = randman_times(3, 12, 2, 2.0, 20, 30, seed=5)
    t3, _ = randman_times(3, 12, 2, 2.0, 20, 30, seed=6)
    assert np.array_equal(t1, t2) and np.array_equal(y1, y2) and not np.array_equal(t1, t3)
    assert t1.shape == (60, 12) and t1.min() >= 0 and t1.max() <= 29 and np.bincount(y1).tolist() == [20] * 3
    sp = load_randman(n_classes=3, n_units=12, n_samples=20, n_steps=30, seed=5)
    assert len(sp.y_train) == 48 and len(sp.y_val) == 6 and len(sp.y_test) == 6
    xb = sp.x_train.batch(torch.arange(4))
    assert xb.shape == (4, 30, 12) and torch.equal(xb.sum(1), torch.ones(4, 12))


def test_latency_and_rate_coding():
    x = np.array([[1.0, 0.6, 0.2, 0.0]])
    t = latency_times(x, 11, threshold=0.2)
    assert t.tolist() == [[0, 5, -1, -1]]                      # brighter = earlier, none at/below threshold
    xb = SpikeTimes(t, 11).batch([0])
    assert xb.sum().item() == 2 and xb[0, 0, 0] == 1 and xb[0, 5, 1] == 1
    rc = RateCoded(np.array([[1.0, 0.5, 0.0]] * 2), 2000, 0.2, seed=3)
    r1, r2 = rc.batch([0, 1]), rc.batch([0, 1])
    assert torch.equal(r1, r2)                                 # seeded
    rate = r1.mean(dim=(0, 1))
    assert abs(rate[0] - 0.2) < 0.02 and abs(rate[1] - 0.1) < 0.02 and rate[2] == 0


def test_fmnist_spikes_from_preloaded_images():
    from bridge.data import DataSplits
    rng = np.random.default_rng(0)
    img = lambda n: rng.uniform(0, 1, (n, 784)).astype(np.float32)
    lab = lambda n: rng.integers(0, 10, n)
    data = DataSplits("fmnist", img(10), lab(10), img(4), lab(4), img(6), lab(6))
    sp = load_fmnist_spikes("latency", n_steps=20, images=data, limit_test=3)
    assert sp.n_features == 784 and sp.n_steps == 20 and len(sp.y_test) == 3 and sp.image_shape == (28, 28)
    assert sp.x_train.batch([0, 1]).shape == (2, 20, 784)
    rate = load_fmnist_spikes("rate", n_steps=20, images=data, seed=4, max_rate_hz=100.0)
    xb = rate.x_test.batch([0, 1, 2])
    assert torch.equal(xb, rate.x_test.batch([0, 1, 2])) and set(xb.unique().tolist()) <= {0.0, 1.0}
    # expected spikes: 20 steps x p = 0.1 x pixel intensity
    assert abs(xb.sum().item() - 2.0 * data.x_test[:3].sum()) < 0.1 * 2.0 * data.x_test[:3].sum()


def _write_shd(path, samples, labels):
    import h5py
    with h5py.File(path, "w") as f:
        ft, fu = h5py.vlen_dtype(np.float32), h5py.vlen_dtype(np.uint16)
        times = f.create_dataset("spikes/times", (len(samples),), dtype=ft)
        units = f.create_dataset("spikes/units", (len(samples),), dtype=fu)
        for k, (t, u) in enumerate(samples):
            times[k], units[k] = np.asarray(t, np.float32), np.asarray(u, np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, np.uint8))


def test_shd_reader_bins_spikes(tmp_path):
    train = [([0.0005, 0.0012, 0.0014, 0.5], [3, 699, 699, 1]), ([0.002], [0])] * 5
    _write_shd(tmp_path / "shd_train.h5", train, [0, 1] * 5)
    _write_shd(tmp_path / "shd_test.h5", [([0.0031, 0.0099], [5, 6])], [19])
    sp = load_shd(tmp_path, n_steps=10, dt_ms=1.0, seed=1)
    assert sp.n_features == 700 and sp.n_classes == 20 and len(sp.y_train) == 9 and len(sp.y_val) == 1
    x = sp.x_test.batch([0])
    assert x[0, 3, 5] == 1 and x[0, 9, 6] == 1 and x.sum() == 2
    first = int(np.nonzero(sp.y_train == 0)[0][0])
    xb = sp.x_train.batch([first])
    assert xb[0, 0, 3] == 1 and xb[0, 1, 699] == 2 and xb.sum() == 3   # 0.5 s is past 10 steps: dropped
    (tmp_path / "shd_test.h5").unlink()
    from dendritic_errors import InputError
    with pytest.raises(InputError, match="does not download"):
        load_shd(tmp_path, n_steps=10, dt_ms=1.0)


def test_tiny_network_learns_separable_randman():
    from bridge.nn.training import run_spiking_training
    ds = run_spiking_training(dataset="randman", model="dsnn-r", dendrites=4, somata=16, synapses=8, epochs=4,
                              batch_size=32, lr=3e-3, progress=False, threads=1, time_steps=30, seed=2,
                              randman=dict(n_classes=2, n_units=16, dim=1, n_samples=100))
    assert ds["test_accuracy"].values[-1] >= 0.8                 # chance: 0.5
    assert ds["test_spikes_per_sample"].shape == (4, 1)


def _cli(out, *extra):
    return main(["train", "--dataset", "randman", "--model", "dsnn-r", "--dendrites", "2", "--somata", "8",
                 "--synapses", "6", "--epochs", "2", "--batch-size", "16", "--threads", "1", "--no-progress",
                 "--randman-classes", "3", "--randman-units", "12", "--randman-samples", "20", "--time-steps", "20",
                 "-o", str(out), *extra])


def test_cli_spiking_run_writes_spike_counts_and_refuses_bad_input(tmp_path, capsys):
    out = tmp_path / "run.nc"
    assert _cli(out) == 0 and _cli(tmp_path / "again.nc") == 0
    ds, again = xr.open_dataset(out), xr.open_dataset(tmp_path / "again.nc")
    for v in ("train_loss", "test_accuracy", "test_spikes_per_sample"):    # seeded: the same run twice
        assert np.array_equal(ds[v].values, again[v].values)
    assert ds["test_spikes_per_sample"].dims == ("epoch", "layer") and ds.sizes["epoch"] == 2
    assert ds.attrs["n_trainable_parameters"] == dsnn_param_count(6, 2, 8, 3)
    assert ds.attrs["config_time_steps"] == 20 and ds.attrs["config_model"] == "dsnn-r"
    capsys.readouterr()
    assert _cli(out) == 2                                          # exists, no --overwrite
    assert _cli(tmp_path / "b.nc", "--tau-mem", "0") == 2
    assert _cli(tmp_path / "b.nc", "--synapses", "13") == 2        # more than the 12 inputs
    assert _cli(tmp_path / "b.nc", "--limit-test", "5") == 2        # only for fmnist-*
    assert main(["train", "--dataset", "randman", "--model", "vann", "-o", str(tmp_path / "c.nc")]) == 2
    assert main(["train", "--dataset", "shd", "--model", "lif-snn", "--data-dir", str(tmp_path),
                 "-o", str(tmp_path / "c.nc")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 6 and all(line.startswith("bridge train: error:") for line in err)
    assert not (tmp_path / "b.nc").exists() and not (tmp_path / "c.nc").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda():
    m = make_spiking_model("dsnn-r", in_features=20, n_classes=3, dendrites=2, somata=4, synapses=5).cuda()
    x = (torch.rand(4, 10, 20, device="cuda") < 0.3).float()
    m(x).sum().backward()
    assert m.layers[0].dendrite_weight.grad.is_cuda


@pytest.mark.parametrize("readout", ["max", "mean", "count"])
def test_stacked_recurrent_layers_train_through_every_readout(readout):
    m = make_spiking_model("dsnn-r", in_features=20, n_classes=3, dendrites=2, somata=6, synapses=5, n_layers=2,
                           recurrent=True, readout=readout, threshold=0.3, seed=4)
    assert m.layers[1].in_features == 6 and m.layers[1].synapses == 5
    x = (torch.rand(5, 15, 20, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    out = m(x)
    assert out.shape == (5, 3) and m.spike_counts.shape == (2,) and m.spike_counts[0] > 0
    out.sum().backward()
    for layer in m.layers:                               # gradients reach every layer through the surrogate
        assert layer.dendrite_weight.grad.abs().sum() > 0 and layer.lif.recurrent_weight.grad is not None
    lif = make_spiking_model("lif-snn", in_features=20, n_classes=3, somata=6, synapses=5, n_layers=2,
                             readout=readout)
    # two layers of 6 neurons x (5 synapses + bias), read-out (6 + 1) x 3 (leaky or dense LIF alike)
    assert lif(x).shape == (5, 3) and count_parameters(lif) == 2 * (5 + 1) * 6 + (6 + 1) * 3
