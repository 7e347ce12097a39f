"""Temporal neuron models (issue 20): causality, gradients, state round trips, filters,
fitted subunits, metrics against hand-computed values, learning and resumable training."""
import math

import numpy as np
import pytest
import torch

from bridge.nn.models import count_parameters
from bridge.nn.temporal import (HierarchicalLN, PointLN, causal_fft_conv, decay_kernel, exp_filter_recursive,
                                transfer_from_units)
from bridge.nn.temporal_nets import BranchELMNeuron, ELMNeuron, TCNNeuron
from bridge.nn.temporal_metrics import average_ranks, roc_auc, roc_curve, temporal_metrics, tpr_at_fpr
from bridge.nn.temporal_training import TemporalData, fit_temporal, predict_temporal, temporal_loss
from bridge.transfer import get_family

torch.set_num_threads(1)

# AMPA, NMDA, GABA-A: (rise ms, decay ms, amplitude)
KINETICS = {0: [(0.3, 3.0, 1.0), (2.0, 50.0, 0.5)], 1: [(0.5, 7.0, -1.0)]}
N_SYN, N_SUB = 30, 4
PARENT = torch.tensor([-1, 0, 0, 1])      # 3 -> 1 -> 0 -> soma, 2 -> 0
KINDS = [5, 2, 2, 5]                      # subunits 1 and 2 share parameters, and 0 and 3


def _tree(seed=0):
    g = torch.Generator().manual_seed(seed)
    cls = (torch.rand(N_SYN, generator=g) < 0.25).long()
    sub = torch.arange(N_SYN) % N_SUB       # every subunit gets synapses
    return cls, sub


def _spikes(shape, rate=0.03, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < rate).to(dtype)


def _with_soma_mlp_output(model):
    """The somatic MLP's output layer away from its initial zeros, so gradients reach its
    hidden layers too."""
    with torch.no_grad():
        last = model.soma_mlp[-1]
        last.weight.copy_(0.3 * torch.randn(last.weight.shape, generator=torch.Generator().manual_seed(4)))
    return model


def _models():
    cls, sub = _tree()
    return {
        "hln-fft": lambda seed=0: HierarchicalLN(cls, sub, PARENT, KINETICS, seed=seed),
        "hln-recursive": lambda seed=0: HierarchicalLN(cls, sub, PARENT, KINETICS, filter_method="recursive",
                                                       seed=seed),
        "hln-transfer": lambda seed=0: HierarchicalLN(
            cls, sub, PARENT, KINETICS, seed=seed,
            transfer=[("sigmoid", dict(threshold=4.0, slope=1.5, amplitude=10.0, baseline=0.0)),
                      ("saturating", dict(amplitude=8.0, scale=3.0))] * 2),
        "hln-kinds": lambda seed=0: HierarchicalLN(cls, sub, PARENT, KINETICS, subunit_kind=KINDS, seed=seed),
        "hln-per-synapse": lambda seed=0: HierarchicalLN(cls, sub, PARENT, KINETICS, synapse_weights="per_synapse",
                                                         seed=seed),
        "pointln": lambda seed=0: PointLN(cls, KINETICS, seed=seed),
        "hln-history": lambda seed=0: HierarchicalLN(cls, sub, PARENT, KINETICS, spike_history_ms=(2.0, 20.0),
                                                     seed=seed),
        "pointln-history-recursive": lambda seed=0: PointLN(cls, KINETICS, spike_history_ms=(3.0,),
                                                           filter_method="recursive", seed=seed),
        "hln-history-soma-mlp": lambda seed=0: _with_soma_mlp_output(HierarchicalLN(
            cls, sub, PARENT, KINETICS, spike_history_ms=(2.0, 20.0), soma_mlp_hidden=5, seed=seed)),
        "tcn": lambda seed=0: TCNNeuron(N_SYN, channels=6, n_layers=3, first_kernel_ms=7, kernel_ms=3, seed=seed),
        "elm-fft": lambda seed=0: ELMNeuron(N_SYN, n_memory=5, mlp_hidden=8, filter_method="fft", seed=seed),
        "elm-recursive": lambda seed=0: ELMNeuron(N_SYN, n_memory=5, mlp_hidden=8, seed=seed),
        "branch-elm": lambda seed=0: BranchELMNeuron(sub, n_memory=5, mlp_hidden=8, filter_method="fft",
                                                     seed=seed),
    }


MODELS = list(_models())
EXACT = {"hln-recursive", "pointln-history-recursive", "tcn", "elm-recursive"}    # no FFT: the past is bit-for-bit unchanged


@pytest.mark.parametrize("name", MODELS)
def test_shapes_and_causality(name):
    model = _models()[name]().double()
    x = _spikes((3, 80, N_SYN))
    v, logit = model(x)
    assert v.shape == (3, 80) and logit.shape == (3, 80)
    assert torch.isfinite(v).all() and torch.isfinite(logit).all()
    t = 50
    x2 = x.clone()
    x2[:, t:] = _spikes((3, 80 - t, N_SYN), rate=0.3, seed=9)
    v2, logit2 = model(x2)
    if name in EXACT:
        assert torch.equal(v2[:, :t], v[:, :t]) and torch.equal(logit2[:, :t], logit[:, :t])
    else:   # FFT round-off only
        assert torch.allclose(v2[:, :t], v[:, :t], rtol=0, atol=1e-9)
        assert torch.allclose(logit2[:, :t], logit[:, :t], rtol=0, atol=1e-9)
    # ... while the future does change (the test can fail)
    assert (v2[:, t + 2:] - v[:, t + 2:]).abs().max() > 1e-3


@pytest.mark.parametrize("name", MODELS)
def test_gradients_reach_every_parameter(name):
    model = _models()[name]().double()
    v, logit = model(_spikes((2, 60, N_SYN)))
    ((v + 60.0) ** 2).mean().add(logit.sigmoid().mean()).backward()
    for pname, p in model.named_parameters():
        if p.numel() and p.requires_grad:     # frozen: a centred transfer's cancelling baseline
            assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_round_trip_and_seeded_reset(name, tmp_path):
    make = _models()[name]
    a, b = make(seed=1), make(seed=2)
    x = _spikes((2, 50, N_SYN), dtype=torch.float32)
    with torch.no_grad():
        for p in a.parameters():        # move away from the initial values
            p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    torch.save(a.state_dict(), tmp_path / "m.pt")
    b.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    (va, la), (vb, lb) = a(x), b(x)
    assert torch.equal(va, vb) and torch.equal(la, lb)
    a.reset_parameters(seed=5)
    b.reset_parameters(seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    if name in ("hln-per-synapse", "tcn"):
        b.reset_parameters(seed=6)      # the seed matters where the init is random (shared weights: none)
        assert not all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert "seed=" in repr(a)


def test_elm_seed_matters_and_memory_timescales():
    a, b = ELMNeuron(10, seed=1), ELMNeuron(10, seed=2)
    assert not torch.equal(a.mlp_in.weight, b.mlp_in.weight)
    tau = a.time_constants_ms()["memory"]
    assert tau[0] == pytest.approx(1.0) and tau[-1] == pytest.approx(1000.0, rel=1e-5)
    assert np.allclose(np.diff(np.log(tau)), np.log(1000.0) / 19, rtol=1e-4)


def test_elm_filter_methods_agree():
    a = ELMNeuron(N_SYN, n_memory=5, mlp_hidden=8, filter_method="fft", seed=3).double()
    b = ELMNeuron(N_SYN, n_memory=5, mlp_hidden=8, filter_method="recursive", seed=3).double()
    x = _spikes((2, 90, N_SYN))
    for p, q in zip(a(x), b(x)):
        assert torch.allclose(p, q, atol=1e-9)


def test_exponential_filters_match_direct_convolution():
    g = torch.Generator().manual_seed(3)
    u = torch.rand(2, 120, 3, generator=g, dtype=torch.float64)
    tau = torch.tensor([0.3, 4.0, 60.0], dtype=torch.float64)
    n = torch.arange(120, dtype=torch.float64)
    k = torch.exp(-n[None, :] / tau[:, None])            # analytic kernel at t = n * 1 ms
    direct = torch.zeros_like(u)
    for t in range(120):
        for s in range(t + 1):
            direct[:, t] += k[:, s] * u[:, t - s]
    assert torch.allclose(exp_filter_recursive(u, torch.exp(-1.0 / tau)), direct, atol=1e-12)
    assert torch.allclose(causal_fft_conv(u, decay_kernel(tau, 120, 1.0)), direct, atol=1e-10)


def test_hln_kernels_and_methods_agree():
    cls, sub = _tree()
    a = HierarchicalLN(cls, sub, PARENT, KINETICS).double()
    b = HierarchicalLN(cls, sub, PARENT, KINETICS, filter_method="recursive").double()
    x = _spikes((2, 150, N_SYN))
    for (p, q) in zip(a(x), b(x)):
        assert torch.allclose(p, q, atol=1e-9)
    k = a.kernels(100.0)
    assert k["components"].shape == (3, 100) and k["synaptic"].shape == (2, N_SUB, 100)
    assert np.allclose(k["components"].max(1), 1.0, atol=0.05)        # peak-normalised (sampled at 1 ms)
    t = k["t_ms"]
    nmda = np.exp(-t / 50.0) - np.exp(-t / 2.0)
    assert np.allclose(k["components"][1], nmda / nmda.max(), atol=2e-3)
    assert k["soma"].sum() == pytest.approx(1.0, abs=1e-3)              # unit area
    assert np.all(k["synaptic"][1] <= 0)                                # GABA-A is inhibitory
    w = a.coupling_weights()
    assert w.shape == (N_SUB,) and w[0] == pytest.approx(20.0) and np.all(w[1:] == 1.0)
    curves = a.subunit_curves(np.linspace(-5, 5, 11))
    assert curves.shape == (11, N_SUB) and np.allclose(curves[:, 0], 1 / (1 + np.exp(-np.linspace(-5, 5, 11))))


def test_hln_fitted_sigmoid_matches_family_formula_on_static_input():
    params = dict(threshold=6.0, slope=1.5, amplitude=12.0, baseline=-1.0)
    model = HierarchicalLN([0, 0, 0], [0, 0, 0], [-1], {0: [(1.0, 5.0, 0.8)]},
                           transfer=[("sigmoid", params)], transfer_options=dict(center=False)).double()
    x = torch.zeros(1, 400, 3, dtype=torch.float64)
    x[:, :, :] = 0.5                                       # constant input: half a spike per bin
    with torch.no_grad():
        z, y = model.subunit_outputs(x)
    # steady state of the sampled kernel (exp(-n/5) - exp(-n/1)) / peak, summed over n >= 0
    tr, td = (float(t.detach()) for t in model.time_constants_ms())    # 1 and 5 ms to float32 precision
    t_peak = tr * td / (td - tr) * math.log(td / tr)
    peak = math.exp(-t_peak / td) - math.exp(-t_peak / tr)
    gain = (1 / (1 - math.exp(-1 / td)) - 1 / (1 - math.exp(-1 / tr))) / peak
    z_ss = float(model.amplitude.detach()[0, 0]) * gain * 0.5 * float(model.synapse_weight.detach().sum())
    assert float(z[0, -1, 0]) == pytest.approx(z_ss, rel=1e-9)
    expected = get_family("sigmoid").fn_numpy(z_ss, *params.values())
    assert float(y[0, -1, 0]) == pytest.approx(float(expected), rel=1e-9)
    grid = np.linspace(-5, 20, 26)
    assert np.allclose(model.subunit_curves(grid)[:, 0], get_family("sigmoid").fn_numpy(grid, *params.values()))


def test_hln_from_units_file(tmp_path):
    from bridge.schema import make_units_dataset, write_units
    ds = make_units_dataset(
        [3, 7, 9], ["basal", "basal", "apical"], ["sigmoid", "supralinear", "linear"],
        [dict(threshold=10, slope=2, amplitude=20, baseline=0), dict(amplitude=1, scale=5),
         dict(slope=1, offset=0)], path_distance_um=[50, 120, 300], r2=[0.99, 0.95, 0.9],
        rmse_mV=[0.2, 0.4, 0.1], provenance={"cell": "l5pc", "seed": 1})
    write_units(ds, tmp_path / "u.nc")
    spec = transfer_from_units(tmp_path / "u.nc", branches=[7, 3, 9])
    assert [f for f, _ in spec] == ["supralinear", "sigmoid", "linear"]
    assert spec[0][1] == dict(amplitude=1, scale=5)
    assert transfer_from_units(ds, branch_types=["apical"]) == [("linear", dict(slope=1.0, offset=0.0))]
    model = HierarchicalLN([0] * 6, [0, 1, 2, 0, 1, 2], [-1, 0, 0], KINETICS, transfer=spec)
    z = np.linspace(-5, 25, 7)
    got = model.subunit_curves(z)
    for s, (fam, p) in enumerate(spec):      # centred: f(z) - f(0)
        f = get_family(fam).fn_numpy
        assert np.allclose(got[:, s], f(z, *p.values()) - f(0.0, *p.values()), rtol=1e-5, atol=1e-5)
    assert count_parameters(model) == 3 * 3 + 6 + 3 + 2 + 6 + (3 + 2 + 1)   # + sigmoid 3, supra 2, linear 1
    with pytest.raises(Exception, match="not in units file"):
        transfer_from_units(ds, branches=[4])


def test_per_synapse_state_loads_into_a_shared_weight_model():
    """Units files written before `synapse_weights` existed hold per-synapse weights in the
    state; the default (shared) model reads them into its weight buffer and computes the same."""
    cls, sub = _tree()
    old = HierarchicalLN(cls, sub, PARENT, KINETICS, synapse_weights="per_synapse", seed=3).double()
    new = HierarchicalLN(cls, sub, PARENT, KINETICS).double()
    assert not torch.equal(old.synapse_weight, new.synapse_weight)
    new.load_state_dict(old.state_dict())
    x = _spikes((2, 40, N_SYN))
    assert torch.equal(new(x)[0], old(x)[0])
    assert "synapse_weight" not in dict(new.named_parameters())


def test_hln_parameter_count_at_cell_scale():
    g = torch.Generator().manual_seed(0)
    cls = (torch.rand(1000, generator=g) < 0.2).long()
    sub = torch.randint(0, 20, (1000,), generator=g)
    parent = torch.tensor([-1] + [k // 2 for k in range(1, 20)])
    model = HierarchicalLN(cls, sub, parent, KINETICS)
    # shared synaptic weights: 3*20 amplitudes + 2*3 taus + 20 biases + 19 couplings + 6 somatic
    assert count_parameters(model) == 111
    assert count_parameters(PointLN(cls, KINETICS)) == 3 + 6 + 1 + 0 + 6
    # one weight per synapse: + 1000
    assert count_parameters(HierarchicalLN(cls, sub, parent, KINETICS, synapse_weights="per_synapse")) == 1111 <= 5000
    assert count_parameters(PointLN(cls, KINETICS, synapse_weights="per_synapse")) == 1016
    with pytest.raises(ValueError, match="synapse_weights"):
        HierarchicalLN(cls, sub, parent, KINETICS, synapse_weights="each")


def test_deep_model_parameter_counts_match_docstrings():
    assert count_parameters(TCNNeuron(1000)) == 1000 * 32 * 35 + 32 + 3 * (32 * 32 * 9 + 32) + 2 * 33
    assert TCNNeuron(1000).receptive_field_ms == 91.0
    N, M, H = 1000, 20, 64
    assert count_parameters(ELMNeuron(N)) == N + N + H * (N + M + 1) + M * (H + 1) + M + 2 * (M + 1) == 68706
    belm = BranchELMNeuron(torch.arange(N) % 20)
    assert belm.n_inputs == 20
    assert count_parameters(belm) == N + 20 + H * (20 + M + 1) + M * (H + 1) + M + 2 * (M + 1) == 5006


def test_spike_history_matches_its_definition_step_by_step():
    """v and logit with history against a plain loop over time of the class docstring's
    equations: p(t) = sigmoid(logit(t)), history at t from p before t only."""
    cls, sub = _tree()
    taus = (2.0, 15.0)
    plain = HierarchicalLN(cls, sub, PARENT, KINETICS).double()
    model = HierarchicalLN(cls, sub, PARENT, KINETICS, spike_history_ms=taus).double()
    model.load_state_dict(plain.state_dict(), strict=False)      # the same feed-forward part
    with torch.no_grad():
        model.spike_bias.fill_(1.0)                              # p near 0.7: a history worth feeding back
        plain.spike_bias.fill_(1.0)
        model.history_voltage.copy_(torch.tensor([-1.5, 0.4]))   # x HISTORY_SCALE = -15 and 4 mV
        model.history_logit.copy_(torch.tensor([-0.8, 0.3]))
    x = _spikes((2, 70, N_SYN))
    with torch.no_grad():
        v_ff, l_ff = plain(x)
        v, logit = model(x)
    eta_v, eta_l = (-15.0, 4.0), (-8.0, 3.0)
    trace = np.zeros((2, 2))
    p_hist = []
    for t in range(70):
        want_l = l_ff[:, t].numpy() + trace @ np.array(eta_l)
        want_v = v_ff[:, t].numpy() + trace @ np.array(eta_v)
        assert np.allclose(logit[:, t].numpy(), want_l, atol=1e-9)
        assert np.allclose(v[:, t].numpy(), want_v, atol=1e-9)
        p = 1 / (1 + np.exp(-want_l))
        p_hist.append(p)
        trace = trace * np.exp(-1.0 / np.array(taus)) + p[:, None]
    assert (v - v_ff).abs().max() > 1.0                          # the history did act
    k = model.kernels(40.0)                                      # one spike's effect n steps later
    n = np.arange(1, 40)
    assert k["history_mV"][0] == 0 and k["history_logit"][0] == 0
    assert np.allclose(k["history_mV"][1:], -15.0 * np.exp(-(n - 1) / 2.0) + 4.0 * np.exp(-(n - 1) / 15.0))
    assert np.allclose(k["history_logit"][1:], -8.0 * np.exp(-(n - 1) / 2.0) + 3.0 * np.exp(-(n - 1) / 15.0))
    assert count_parameters(model) == count_parameters(plain) + 2 * len(taus)
    assert "spike_history_ms=(2.0, 15.0)" in repr(model)
    with pytest.raises(ValueError, match="spike_history_ms"):
        HierarchicalLN(cls, sub, PARENT, KINETICS, spike_history_ms=(0.0,))


def test_spike_history_initialised_from_true_spikes():
    """A target that is the feed-forward model plus a known after-hyperpolarisation of the
    true spikes: the data initialisation recovers that kernel by least squares."""
    cls, sub = _tree()
    taus = (3.0, 30.0)
    model = PointLN(cls, KINETICS, spike_history_ms=taus).double()
    x = _spikes((4, 300, N_SYN))
    spikes = _spikes((4, 300), rate=0.02, seed=7)
    model.initialize_from_data(x, torch.zeros(4, 300, dtype=torch.float64))   # scales the synapses
    with torch.no_grad():
        model.soma_gain.fill_(5.0)
        model.v_rest.fill_(-65.0)
        v_ff, _ = model(x)
        ahp = model.history_traces(spikes) @ torch.tensor([-12.0, -3.0], dtype=torch.float64)
        noise = 0.5 * torch.randn(4, 300, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        model.initialize_from_data(x, v_ff + ahp + noise, spikes, clip_mV=100.0)
    eta_v, eta_l = model.history_coefficients()
    assert torch.allclose(eta_v, torch.tensor([-12.0, -3.0], dtype=torch.float64), atol=0.5)
    assert model.soma_gain.item() == pytest.approx(5.0, rel=0.05)
    assert model.v_rest.item() == pytest.approx(-65.0, abs=0.3)
    assert torch.equal(eta_l, torch.zeros(2, dtype=torch.float64))


def test_soma_mlp_matches_its_definition():
    """v = v (without the MLP) + MLP((features - mean) / sd), features [z, d, r, history traces];
    the MLP's output layer starts at 0, so a fresh model is the model without it."""
    cls, sub = _tree()
    taus, H = (2.0, 20.0), 6
    plain = HierarchicalLN(cls, sub, PARENT, KINETICS, spike_history_ms=taus).double()
    model = HierarchicalLN(cls, sub, PARENT, KINETICS, spike_history_ms=taus, soma_mlp_hidden=H).double()
    n_in = 4 + 2 + len(taus)
    assert count_parameters(model) == count_parameters(plain) + n_in * H + H + H * H + H + H + 1
    assert "soma_mlp_hidden=6" in repr(model) and "soma_mlp_hidden=0" in repr(plain)
    missing, unexpected = model.load_state_dict(plain.state_dict(), strict=False)   # states written without it
    assert not unexpected and all(k.startswith("soma_mlp") for k in missing) and len(missing) == 8
    x = _spikes((2, 90, N_SYN))
    with torch.no_grad():
        for m in (plain, model):
            m.history_voltage.fill_(-0.5)
            m.history_logit.fill_(-0.2)
        v_plain, l_plain = plain(x)
        v0, l0 = model(x)
        assert torch.equal(v0, v_plain) and torch.equal(l0, l_plain)
        _with_soma_mlp_output(model)
        model.soma_mlp_mean.copy_(torch.linspace(-1, 1, n_in))
        model.soma_mlp_sd.copy_(torch.linspace(0.5, 2, n_in))
        v, logit = model(x)
        # the features by hand: subunit inputs, drive, root input, then p's history traces
        z, y = plain.subunit_outputs(x)
        r = y[..., plain.root_index].sum(-1)
        tau = plain.log_soma_tau.exp()
        kern = -torch.expm1(-1.0 / tau) * torch.exp(-torch.arange(90, dtype=torch.float64) / tau)
        d = torch.stack([torch.stack([(kern[:t + 1].flip(0) * r[b, :t + 1]).sum() for t in range(90)]) for b in range(2)])
        traces = plain.history_traces(torch.sigmoid(l_plain))
        f = torch.cat([z, d[..., None], r[..., None], traces], -1)
        torch.testing.assert_close(model.soma_mlp_features(x), f)
        want = v_plain + model.soma_mlp((f - model.soma_mlp_mean) / model.soma_mlp_sd)[..., 0]
    torch.testing.assert_close(v, want)
    assert torch.equal(logit, l_plain)            # the spike read-out does not see it
    assert (v - v_plain).abs().max() > 0.01
    with pytest.raises(ValueError, match="soma_mlp_hidden"):
        HierarchicalLN(cls, sub, PARENT, KINETICS, soma_mlp_hidden=-1)


def test_soma_mlp_data_initialisation_standardises_its_inputs():
    cls, sub = _tree()
    model = HierarchicalLN(cls, sub, PARENT, KINETICS, spike_history_ms=(5.0,), soma_mlp_hidden=3).double()
    x = _spikes((3, 200, N_SYN))
    target = -68.0 + 3.0 * torch.randn(3, 200, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    model.initialize_from_data(x, target)
    with torch.no_grad():
        f = (model.soma_mlp_features(x) - model.soma_mlp_mean) / model.soma_mlp_sd
    torch.testing.assert_close(f.mean((0, 1)), torch.zeros(f.shape[-1], dtype=torch.float64), atol=1e-6, rtol=0)
    torch.testing.assert_close(f.std((0, 1)), torch.ones(f.shape[-1], dtype=torch.float64), atol=1e-6, rtol=0)
    assert torch.equal(model.soma_mlp[-1].weight, torch.zeros_like(model.soma_mlp[-1].weight))


def test_states_without_history_load_into_models_built_without_it():
    cls, sub = _tree()
    a = HierarchicalLN(cls, sub, PARENT, KINETICS)
    assert not any("history" in k for k in a.state_dict())      # units files written before history exist
    b = HierarchicalLN(cls, sub, PARENT, KINETICS, spike_history_ms=(5.0,))
    assert {"history_voltage", "history_logit", "history_tau_ms"} <= set(b.state_dict())


def test_hln_rejects_bad_trees_and_kinetics():
    with pytest.raises(ValueError, match="cycle"):
        HierarchicalLN([0, 0], [0, 1], [1, 0], KINETICS)
    with pytest.raises(ValueError, match="no entry"):
        HierarchicalLN([0, 2], [0, 0], [-1], KINETICS)
    with pytest.raises(ValueError, match="tau_rise < tau_decay"):
        HierarchicalLN([0], [0], [-1], {0: [(5.0, 2.0, 1.0)]})
    with pytest.raises(ValueError, match="synapse_subunit"):
        HierarchicalLN([0], [3], [-1], KINETICS)


# --- metrics ---------------------------------------------------------------------------------

def test_auc_rank_formula_and_ties():
    y = np.array([0, 0, 1, 1])
    assert roc_auc([0.1, 0.2, 0.8, 0.9], y) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], y) == 0.0
    assert roc_auc([0.5, 0.5, 0.5, 0.5], y) == 0.5
    # pairs (pos, neg): (0.8 vs 0.1, 0.4) wins, (0.3 vs 0.1) win, (0.3 vs 0.4) loss -> 3/4
    assert roc_auc([0.1, 0.4, 0.8, 0.3], y) == pytest.approx(0.75)
    # a tie between a positive and a negative counts one half: (0.5 = 0.5) 1/2, others win -> 3.5/4
    assert roc_auc([0.1, 0.5, 0.5, 0.9], y) == pytest.approx(0.875)
    assert np.allclose(average_ranks([3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0])
    assert math.isnan(roc_auc([0.1, 0.2], [0, 0]))
    rng = np.random.default_rng(0)
    s, lab = rng.random(20000), rng.random(20000) < 0.1
    assert roc_auc(s, lab) == pytest.approx(0.5, abs=0.02)


def test_roc_curve_and_tpr_at_fpr():
    # 100 negatives scored 0..99, 4 positives at 98.5, 99.5, 50.5, 10.5
    neg = np.arange(100.0)
    pos = np.array([98.5, 99.5, 50.5, 10.5])
    s = np.r_[neg, pos]
    y = np.r_[np.zeros(100), np.ones(4)]
    f, t = roc_curve(s, y)
    assert f[0] == 0 and t[0] == 0 and f[-1] == 1 and t[-1] == 1
    # threshold 99.5 -> TPR 1/4, FPR 0; 99 -> FPR 1/100; 98.5 -> TPR 2/4, FPR 1/100
    assert tpr_at_fpr(s, y, 0.01) == pytest.approx(0.5)
    # at FPR 0.005: between (0, 0.25) and (0.01, 0.25) -> 0.25
    assert tpr_at_fpr(s, y, 0.005) == pytest.approx(0.25)
    # FPR 0.015: between (0.01, 0.5) and (0.02, 0.5) -> 0.5; FPR 0.5: 50.5 beats 49 of 100 negatives
    assert tpr_at_fpr(s, y, 0.015) == pytest.approx(0.5)
    assert tpr_at_fpr(s, y, 0.49) == pytest.approx(0.75)
    assert tpr_at_fpr(-s, y, 0.01) == pytest.approx(0.0)      # inverted ranking


def test_temporal_metrics_rules_and_voltage_scores():
    T = 8
    v_true = np.full((3, T), -70.0)
    v_true[0, 4:] = [-66.0, -40.0, -68.0, -62.0]   # -40 is clipped to -55
    v_true[1, 4:] = [-64.0, -70.0, -66.0, -60.0]
    v_true[2] = -60.0
    spikes = np.zeros((3, T))
    spikes[0, 5] = 1
    spikes[1, 7] = 1
    spikes[1, 0] = 1             # in the burn-in: counts for exclusion, not for the scores
    spikes[2, :] = 1             # 8 spikes > max_spikes=2: excluded
    v_pred = v_true.copy()
    v_pred[0, 4:] = [-65.0, -50.0, -70.0, -62.0]   # clipped: -65, -55, -70, -62
    v_pred[1, 4:] = [-64.0, -68.0, -66.0, -61.0]
    logit = np.zeros((3, T))
    logit[0, 5], logit[1, 7] = 3.0, 2.0
    logit[1, 4] = 2.5            # one negative ranked between the two positives
    m = temporal_metrics(v_true, spikes, v_pred, logit, burn_in_ms=4, max_spikes=2, clip_mV=-55.0, fpr=0.25)
    assert m["n_simulations"] == 2 and m["n_excluded"] == 1 and m["n_bins"] == 8 and m["n_spike_bins"] == 2
    vt = np.array([-66, -55, -68, -62, -64, -70, -66, -60.0])
    vp = np.array([-65, -55, -70, -62, -64, -68, -66, -61.0])
    assert m["v_rmse_mV"] == pytest.approx(math.sqrt((1 + 4 + 4 + 1) / 8))
    assert m["v_variance_explained"] == pytest.approx(1 - np.var(vt - vp) / np.var(vt))
    vr = (vp - vp.mean()) / vp.std() * vt.std() + vt.mean()
    assert m["v_rmse_rescaled_mV"] == pytest.approx(math.sqrt(np.mean((vr - vt) ** 2)))
    assert m["v_variance_explained_rescaled"] == pytest.approx(1 - np.var(vt - vr) / np.var(vt))
    # logits over the 8 kept bins: positives 3.0, 2.0; negatives 2.5 and five zeros
    assert m["spike_auc"] == pytest.approx((6 + 5) / 12)
    # ROC: (0, 1/2) at 3.0, (1/6, 1/2) at 2.5, (1/6, 1) at 2.0 -> TPR at FPR 1/4 is 1
    assert m["spike_tpr_at_fpr"] == pytest.approx(1.0)
    # perfect voltage prediction: RMSE 0, VE 1 (raw and rescaled); constant prediction: VE 0
    p = temporal_metrics(v_true, spikes, v_true, logit, burn_in_ms=4, max_spikes=2)
    assert p["v_rmse_mV"] == 0 and p["v_variance_explained"] == 1 and p["v_variance_explained_rescaled"] == 1
    c = temporal_metrics(v_true, spikes, np.full_like(v_true, -90.0), logit, burn_in_ms=4, max_spikes=2)
    assert c["v_variance_explained"] == pytest.approx(0.0) and c["v_rmse_rescaled_mV"] == pytest.approx(vt.std())
    # defaults: 500 ms burn-in leaves nothing of 8 ms
    assert math.isnan(temporal_metrics(v_true, spikes, v_pred, logit)["spike_auc"])


# --- training --------------------------------------------------------------------------------

def _teacher_data(n=24, T=300, n_syn=16, seed=0) -> TemporalData:
    """Random LN teacher: 2 subunits (1 -> 0 -> soma), exponential synaptic kernels,
    threshold-linear subunits, a somatic exponential filter; spikes at upward crossings of -60 mV."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, T, n_syn, generator=g) < 0.04).float()
    w = torch.rand(n_syn, generator=g) + 0.5
    w[: n_syn // 4] *= -1.0                                   # a quarter inhibitory
    sub = torch.arange(n_syn) % 2
    u = x * w
    drive = torch.stack([u[..., sub == k].sum(-1) for k in (0, 1)], -1)
    f = exp_filter_recursive(drive, torch.exp(torch.tensor(-1.0 / 8.0)))
    y1 = torch.relu(f[..., 1] - 1.0)
    y0 = torch.relu(f[..., 0] + 1.5 * y1 - 1.0)
    d = exp_filter_recursive(y0[..., None], torch.exp(torch.tensor(-1.0 / 10.0)))[..., 0] / 10.0
    v = -70.0 + 3.0 * d
    above = v > -60.0
    spikes = (above[:, 1:] & ~above[:, :-1]).float()
    spikes = torch.cat([torch.zeros(n, 1), spikes], 1)
    return TemporalData(x, v, spikes), sub


def test_temporal_data_container():
    data, _ = _teacher_data(n=5, T=20)
    sub = data.subset([0, 3])
    assert len(sub) == 2 and torch.equal(sub.x[1], data.x[3]) and sub.to("cpu").v_mV.shape == (2, 20)
    with pytest.raises(ValueError):
        TemporalData(data.x, data.v_mV[:, :5], data.spikes)


def test_hln_learns_the_teacher_better_than_the_mean():
    data, sub = _teacher_data()
    assert data.spikes.sum() > 5 and data.v_mV.std() > 1.0
    train, val = data.subset(range(16)), data.subset(range(16, 24))
    cls = (torch.arange(16) < 4).long()                     # the teacher's inhibitory quarter
    model = HierarchicalLN(cls, sub, [-1, 0], {0: [(1.0, 8.0, 1.0)], 1: [(1.0, 8.0, -1.0)]}, seed=0)
    _, hist = fit_temporal(model, train, val, epochs=40, lr=0.05, batch_size=8, seed=0, patience=40,
                           device="cpu", progress=False)
    v, logit = predict_temporal(model, val)
    mse_model = float(((v - val.v_mV) ** 2).mean())
    mse_mean = float(((train.v_mV.mean() - val.v_mV) ** 2).mean())
    assert mse_model < 0.3 * mse_mean, (mse_model, mse_mean)   # measured: 1.4 vs 13.9 mV^2
    assert hist["val_loss"][-1] < hist["val_loss"][0]
    m = temporal_metrics(val.v_mV, val.spikes, v, logit, burn_in_ms=20, max_spikes=100)
    assert m["v_variance_explained"] > 0.7


def test_fit_resumes_from_checkpoint(tmp_path):
    data, sub = _teacher_data(n=8, T=60, n_syn=8)
    train, val = data.subset(range(6)), data.subset(range(6, 8))

    def make():
        return PointLN(torch.zeros(8, dtype=torch.int64), {0: [(1.0, 8.0, 1.0)]}, seed=3)

    # clipping and the plateau schedule on (lr_patience=0: any epoch without a new best
    # halves the rate), so the resumed run must also restore the scheduler's state
    kw = dict(lr=0.01, batch_size=2, seed=1, patience=10, device="cpu", progress=False,
              max_grad_norm=0.05, lr_patience=0)
    ck = tmp_path / "fit.pt"
    _, h2 = fit_temporal(make(), train, val, epochs=2, checkpoint=ck, **kw)
    assert h2["epoch"] == [1, 2] and ck.exists()
    resumed = make()
    best_r, h4 = fit_temporal(resumed, train, val, epochs=4, checkpoint=ck, **kw)
    assert h4["epoch"] == [1, 2, 3, 4] and h4["train_loss"][:2] == h2["train_loss"]
    straight = make()
    best_s, hs = fit_temporal(straight, train, val, epochs=4, **kw)
    assert np.allclose(hs["train_loss"], h4["train_loss"], rtol=1e-6)
    assert np.allclose(hs["val_loss"], h4["val_loss"], rtol=1e-6)
    assert all(torch.allclose(best_r[k], best_s[k], rtol=1e-6) for k in best_s)
    ckpt = torch.load(ck, weights_only=True)
    assert ckpt["epoch"] == 4 and set(ckpt) >= {"model", "optimizer", "history", "best_state", "scheduler"}
    # epochs without a new best by ReduceLROnPlateau's default rule (relative threshold 1e-4)
    n_worse = sum(v >= min(h4["val_loss"][:i]) * (1 - 1e-4) for i, v in enumerate(h4["val_loss"]) if i)
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.01 * 0.5 ** n_worse)


def test_gradient_clipping_bounds_what_the_optimizer_sees():
    # the gradient norm at every optimizer step is at most max_grad_norm
    data, _ = _teacher_data(n=4, T=60, n_syn=8)
    model = PointLN(torch.zeros(8, dtype=torch.int64), {0: [(1.0, 8.0, 1.0)]}, seed=3)
    seen = []
    from torch.optim.optimizer import register_optimizer_step_pre_hook
    hook = register_optimizer_step_pre_hook(lambda opt, args, kwargs: seen.append(float(torch.sqrt(sum(
        (p.grad ** 2).sum() for g in opt.param_groups for p in g["params"] if p.grad is not None)))))
    try:
        fit_temporal(model, data.subset(range(2)), data.subset(range(2, 4)), epochs=1, lr=0.01, batch_size=2,
                     seed=0, patience=1, progress=False, max_grad_norm=1e-3)
    finally:
        hook.remove()
    assert seen and max(seen) <= 1e-3 * (1 + 1e-4)


def test_temporal_loss_clips_only_the_target():
    v_true = torch.tensor([[-70.0, -20.0]])
    total, vterm, sterm = temporal_loss(torch.tensor([[-70.0, -55.0]]), torch.zeros(1, 2), v_true,
                                        torch.tensor([[0.0, 1.0]]))
    assert float(vterm) == 0.0 and float(sterm) == pytest.approx(math.log(2.0))
    assert float(total) == pytest.approx(math.log(2.0))


def _specs():
    """(class name, constructor arguments) of each model kind, as `bridge fit --temporal` stores them."""
    cls, sub = (t.numpy() for t in _tree())
    return {
        "hln": ("HierarchicalLN", dict(synapse_class=cls, synapse_subunit=sub, subunit_parent=PARENT.numpy(),
                                       kinetics=KINETICS, v_rest_mV=-68.0, seed=3)),
        "hln-transfer": ("HierarchicalLN", dict(
            synapse_class=cls, synapse_subunit=sub, subunit_parent=PARENT.numpy(), kinetics=KINETICS, seed=3,
            transfer=[("sigmoid", dict(threshold=4.0, slope=1.5, amplitude=10.0, baseline=0.0)),
                      ("saturating", dict(amplitude=8.0, scale=3.0))] * 2)),
        "hln-kinds": ("HierarchicalLN", dict(synapse_class=cls, synapse_subunit=sub, subunit_parent=PARENT.numpy(),
                                             kinetics=KINETICS, subunit_kind=np.array(KINDS), seed=3)),
        "ln": ("PointLN", dict(synapse_class=cls, kinetics=KINETICS, seed=3)),
        "ln-soma-mlp": ("PointLN", dict(synapse_class=cls, kinetics=KINETICS, spike_history_ms=[3.0, 30.0],
                                        soma_mlp_hidden=4, seed=3)),
        "tcn": ("TCNNeuron", dict(n_synapses=N_SYN, channels=6, n_layers=3, first_kernel_ms=7, kernel_ms=3)),
        "elm": ("ELMNeuron", dict(n_synapses=N_SYN, n_memory=5, mlp_hidden=8)),
        "branch_elm": ("BranchELMNeuron", dict(synapse_subunit=sub, n_memory=5, mlp_hidden=8)),
    }


def test_units_file_round_trip_of_every_model_kind(tmp_path):
    """Export to a units file and read back: the same class, state and outputs (no pickle)."""
    from bridge.nn.temporal_units import model_dataset, temporal_model, temporal_neuron
    from bridge.schema import write_units

    groups, fitted = {}, {}
    for name, (class_name, kwargs) in _specs().items():
        m = temporal_model(class_name, kwargs)
        with torch.no_grad():      # away from the initial values, so a fresh build would differ
            for p in m.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
        fitted[name] = m.eval()
        groups[f"control/{name}"] = model_dataset(m, kwargs, dict(model=name, condition="control", spike_auc=0.5))
    write_units(None, tmp_path / "u.nc", temporal=groups, attrs={"cell": "test"})
    x = _spikes((2, 70, N_SYN), dtype=torch.float32)
    for name, m in fitted.items():
        back = temporal_neuron(tmp_path / "u.nc", model=name)
        assert type(back) is type(m) and back.units_attrs["spike_auc"] == 0.5
        assert back.units_attrs["n_parameters"] == count_parameters(m)
        for (k, a), (k2, b) in zip(m.state_dict().items(), back.state_dict().items()):
            assert k == k2 and torch.equal(a, b), (name, k)
        with torch.no_grad():
            (v1, l1), (v2, l2) = m(x), back(x)
        assert torch.equal(v1, v2) and torch.equal(l1, l2), name
        fresh = temporal_model(*_specs()[name])
        assert not all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), back.state_dict().values()))


def test_subunit_kinds_share_parameters_and_keep_their_own_nonlinearity():
    """Subunits of one kind share amplitudes, bias and coupling: the model is the untied one
    with those parameters copied to every subunit of the kind, with fewer parameters."""
    cls, sub = _tree()
    tied = HierarchicalLN(cls, sub, PARENT, KINETICS, subunit_kind=KINDS, spike_history_ms=(5.0,)).double()
    with torch.no_grad():
        for p in tied.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel()), dtype=p.dtype))
    # kinds renumbered 0..1 in sorted order: subunits 1, 2 -> kind 0; 0, 3 -> kind 1
    assert tied.subunit_kind.tolist() == [1, 0, 0, 1] and tied.n_kinds == 2
    untied = HierarchicalLN(cls, sub, PARENT, KINETICS, spike_history_ms=(5.0,)).double()
    state = {k: v for k, v in tied.state_dict().items()}
    state.update(amplitude=tied.subunit_amplitude(), subunit_bias=tied.subunit_bias[tied.subunit_kind],
                 coupling=tied.child_coupling())
    untied.load_state_dict({k: v.detach() for k, v in state.items()})
    x = _spikes((2, 120, N_SYN), rate=0.1)
    with torch.no_grad():
        (v1, l1), (v2, l2) = tied(x), untied(x)
        _, y = tied.subunit_outputs(x)
    assert torch.allclose(v1, v2, atol=1e-12) and torch.allclose(l1, l2, atol=1e-12)
    assert not torch.allclose(y[..., 1], y[..., 2])    # one kind, each its own input and output
    # J*N + 2J + N + couplings of the kinds with children (both) + 6 + 2K
    assert count_parameters(tied) == 3 * 2 + 6 + 2 + 2 + 6 + 2 == count_parameters(untied) - 9
    assert "subunit_kind" not in tied.state_dict()      # follows from the constructor's arguments
    # data init of a two-layer model: each kind's bias centres its subunits' mean input
    flat = HierarchicalLN(cls, sub, torch.full((N_SUB,), -1), KINETICS, subunit_kind=[0, 0, 1, 1]).double()
    flat.initialize_from_data(_spikes((3, 400, N_SYN), rate=0.2), -70.0 + torch.zeros(3, 400).double())
    with torch.no_grad():
        z, _ = flat.subunit_outputs(_spikes((3, 400, N_SYN), rate=0.2))
    zm = z.mean(dim=(0, 1))
    assert float(zm[:2].mean()) == pytest.approx(0.0, abs=1e-9) and float(zm[2:].mean()) == pytest.approx(0.0, abs=1e-9)
    assert float(zm[0] - zm[1]) != pytest.approx(0.0, abs=1e-6)      # one bias, not one per subunit
    with pytest.raises(ValueError, match="one entry per subunit"):
        HierarchicalLN(cls, sub, PARENT, KINETICS, subunit_kind=[0, 1])


def test_data_initialisation_centres_subunits_and_matches_the_target_scale():
    """hLN data init: the subunits' own inputs have RMS SD 1 and (children included) mean 0;
    the prediction has the clipped target's mean and SD; the spike logit sits at the prior."""
    from bridge.nn.temporal import SPIKE_PRIOR
    cls, sub = _tree()
    model = HierarchicalLN(cls, sub, PARENT, KINETICS).double()
    x = _spikes((3, 400, N_SYN), rate=0.2)
    v_true = -70.0 + 10.0 * torch.sin(torch.arange(400.0) / 30.0).double().expand(3, -1)
    model.initialize_from_data(x, v_true)
    with torch.no_grad():
        drive = model._dendritic_drive(x)
        z, _ = model.subunit_outputs(x)
        v, logit = model(x)
    assert float(drive.std(dim=(0, 1)).square().mean()) == pytest.approx(1.0, rel=1e-9)
    assert torch.allclose(z.mean(dim=(0, 1)), torch.zeros(N_SUB, dtype=torch.float64), atol=1e-9)
    target = torch.clamp(v_true, max=-55.0)
    assert float(v.mean()) == pytest.approx(float(target.mean()), abs=1e-9)
    assert float(v.std()) == pytest.approx(float(target.std()), rel=1e-9)
    assert float(logit.mean()) == pytest.approx(math.log(SPIKE_PRIOR / (1 - SPIKE_PRIOR)), abs=1e-6)
    assert float(logit.std()) == pytest.approx(2.0, rel=1e-6)
    # without it, 30 synapses at this rate already push the point neuron's sigmoid to saturation
    plain = PointLN(cls, KINETICS).double()
    with torch.no_grad():
        zp, _ = plain.subunit_outputs(x)
    assert float(torch.sigmoid(zp).mean()) > 0.95


def test_training_windows():
    from bridge.nn.temporal_training import windows
    d = TemporalData(torch.arange(2 * 10 * 3.0).reshape(2, 10, 3), torch.arange(20.0).reshape(2, 10),
                     torch.zeros(2, 10))
    w = windows(d, 4)           # 2 windows per simulation, the remainder of 2 bins dropped
    assert w.x.shape == (4, 4, 3) and torch.equal(w.v_mV[1], d.v_mV[1, :4]) and torch.equal(w.v_mV[2], d.v_mV[0, 4:8])
    assert windows(d, 10) is d
