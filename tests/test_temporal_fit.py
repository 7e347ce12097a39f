"""`bridge fit --temporal` on an invivo group (issue 20): data loading, split, report."""
from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from bridge.cli import main
from bridge.fit.temporal import SPIKE_HISTORY_MS, build_spec, load_data, split, subunit_kinds, subunits
from bridge.schema import CHARACTERIZATION_SCHEMA_NAME, CHARACTERIZATION_SCHEMA_VERSION, write_characterization


def invivo_group(n_sim=10, n_t=900, seed=0):
    """A small invivo group whose voltage is a known filtered sum of the inputs."""
    rng = np.random.default_rng(seed)
    n_syn = 24
    cls = np.repeat([0, 1], n_syn // 2)
    branch = np.tile([1, 2, 3], n_syn // 3)
    x = (rng.random((n_sim, n_t, n_syn)) < np.where(cls == 0, 0.02, 0.01)).astype(float)
    k = np.exp(-np.arange(60) / 15.0)
    drive = x @ np.where(cls == 0, 2.0, -1.5)
    v = -70 + np.array([np.convolve(d, k)[:n_t] for d in drive])
    syn_i, t_i, start, count = [], [], [], []
    for s in range(n_sim):
        t, i = np.nonzero(x[s])
        start.append(sum(count)), count.append(t.size)
        syn_i.append(i), t_i.append(t)
    spikes_t = [np.flatnonzero(v[s] > -60)[:3] for s in range(n_sim)]
    sp_sim = np.concatenate([np.full(t.size, s) for s, t in enumerate(spikes_t)]).astype(np.int64)
    sp_t = np.concatenate(spikes_t).astype(float)
    ds = xr.Dataset(
        {"soma_mV": (("condition", "sim", "time_ms"), v[None].astype(np.float32)),
         "soma_spike_count": (("condition", "sim"), np.array([[t.size for t in spikes_t]], np.int64)),
         "spike_condition": (("spike",), np.zeros(sp_t.size, np.int64)), "spike_sim": (("spike",), sp_sim),
         "spike_time_ms": (("spike",), sp_t),
         "synapse_branch": (("synapse",), branch.astype(np.int64)), "synapse_x": (("synapse",), np.full(n_syn, 0.5)),
         "synapse_class": (("synapse",), cls.astype(np.int64)),
         "synapse_branch_type": (("synapse",), np.array(["basal"] * n_syn, dtype=object)),
         "synapse_path_distance_um": (("synapse",), np.full(n_syn, 100.0)),
         "event_synapse": (("event",), np.concatenate(syn_i).astype(np.int32)),
         "event_time_ms": (("event",), np.concatenate(t_i).astype(np.float32)),
         "sim_event_start": (("sim",), np.array(start, np.int64)), "sim_event_count": (("sim",), np.array(count)),
         "exc_rate_hz": (("sim", "time_ms"), np.full((n_sim, n_t), 20.0, np.float32)),
         "inh_rate_hz": (("sim", "time_ms"), np.full((n_sim, n_t), 10.0, np.float32)),
         "branch_parent": (("branch",), np.array([0, 1, 1])),
         "branch_type": (("branch",), np.array(["basal"] * 3, dtype=object))},
        coords={"condition": ("condition", np.array(["control"], dtype=object)), "sim": np.arange(n_sim),
                "time_ms": np.arange(n_t, dtype=float), "synapse": np.arange(n_syn), "branch": [1, 2, 3]},
        attrs={"protocol": "invivo", "kinetics_ampa_ms": np.array([0.3, 3.0]),
               "kinetics_nmda_ms": np.array([2.0, 50.0]), "kinetics_gabaa_ms": np.array([0.5, 7.0])})
    return ds, x, v


def write(path, ds, seed=0):
    attrs = {"schema": CHARACTERIZATION_SCHEMA_NAME, "schema_version": CHARACTERIZATION_SCHEMA_VERSION,
             "project_version": "0", "simulator": "synthetic", "simulator_version": "0", "cell": "synthetic",
             "morphology_source": "builtin", "morphology_sha256": "0" * 64, "recipe_sha256": "0" * 64, "seed": seed,
             "dt_ms": 0.025, "temperature_C": 34.0, "created": "2026-01-01T00:00:00Z", "protocols": "invivo"}
    write_characterization({"invivo": ds}, attrs, path)
    return path


def test_data_split_and_subunits():
    ds, x, v = invivo_group()
    data = load_data(ds, "control")
    np.testing.assert_array_equal(data.x.numpy(), x)
    np.testing.assert_allclose(data.v_mV.numpy(), v, atol=1e-4)
    assert data.spikes.sum() == ds.sizes["spike"]
    parts = split(10, seed=3)
    assert sorted(np.concatenate(list(parts.values()))) == list(range(10))
    again = split(10, seed=3)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    assert len(parts["test"]) >= 1 and len(parts["val"]) >= 1
    sub, parent, names = subunits(ds, "branch")
    assert list(parent) == [-1, 0, 0] and set(sub) == {0, 1, 2} and names[0] == "branch 1"
    flat_sub, flat_parent, flat_names = subunits(ds, "two_layer")     # the same subunits, all on the soma
    assert list(flat_parent) == [-1, -1, -1] and list(flat_sub) == list(sub) and flat_names == names
    # two_layer_shared: the same subunits, one kind per branch type
    assert subunits(ds, "two_layer_shared")[2] == names and subunit_kinds(ds, "two_layer") is None
    typed = ds.assign(branch_type=("branch", np.array(["tuft", "basal", "tuft"], dtype=object)))
    assert list(subunit_kinds(typed, "two_layer_shared")) == [1, 0, 1]
    _, kwargs = build_spec("hln", typed, "two_layer_shared", seed=0)
    assert list(kwargs["subunit_kind"]) == [1, 0, 1] and "subunit_kind" not in build_spec("hln", ds, "type", 0)[1]


def test_fit_temporal_cli_exports_units_that_load_back(tmp_path, capsys):
    import torch

    from bridge.fit.temporal import load_data
    from bridge.nn import HierarchicalLN, PointLN, count_parameters, predict_temporal, temporal_models, temporal_neuron
    from bridge.schema import open_units

    ds = invivo_group()[0]
    path = write(tmp_path / "iv.nc", ds)
    report, units = tmp_path / "t.json", tmp_path / "t.nc"
    assert main(["fit", str(path), "--temporal", "--models", "hln,ln", "--subunits", "branch", "--epochs", "3",
                 "--threads", "1", "--report", str(report), "-o", str(units)]) == 0
    rep = json.loads(report.read_text())["temporal"]["conditions"]["control"]
    for m in ("hln", "ln"):
        assert rep[m]["n_test"] >= 1
        assert rep[m]["v_rmse_mV"] is not None and rep[m]["v_rmse_mV"] > 0
    # shared synaptic weights: LN = 3 components x (amplitude + 2 time constants) + bias + 6 somatic
    # + 2 per spike-history time constant (voltage and logit coefficients)
    assert rep["ln"]["n_parameters"] == 16 + 2 * len(SPIKE_HISTORY_MS) < rep["hln"]["n_parameters"]
    assert "hln" in capsys.readouterr().out
    # the units file holds both models; each comes back as its class, with the report's figures
    assert sorted(temporal_models(units)) == ["control/hln", "control/ln"]
    hln, ln = temporal_neuron(units), temporal_neuron(units, model="ln", condition="control")
    assert type(hln) is HierarchicalLN and type(ln) is PointLN and not hln.training
    assert hln.units_attrs["n_parameters"] == rep["hln"]["n_parameters"]
    assert hln.units_attrs["subunit_rule"] == "branch"          # as asked with --subunits
    assert hln.spike_history_ms == SPIKE_HISTORY_MS and ln.spike_history_ms == SPIKE_HISTORY_MS
    assert hln.units_attrs["v_rmse_mV"] == pytest.approx(rep["hln"]["v_rmse_mV"])
    # ... and predicts what the fitted model predicted: the same held-out RMSE, recomputed
    data = load_data(ds, "control").subset(split(len(ds["sim"]), 0)["test"])
    v, _ = predict_temporal(hln, data)
    assert not v.requires_grad          # prediction keeps no graph
    rmse = float(torch.sqrt(torch.mean((torch.clamp(v[:, 500:], max=-55.0)
                                        - torch.clamp(data.v_mV[:, 500:], max=-55.0)) ** 2)))
    assert rmse == pytest.approx(rep["hln"]["v_rmse_mV"], rel=1e-4)
    # a temporal-only units file is not a transfer-function file: one line says where to read it
    with pytest.raises(Exception, match="temporal models only"):
        open_units(units)
    assert main(["fit", str(path), "--temporal", "--report", str(tmp_path / "u.json"), "-o", str(units)]) == 2
    assert "already exists" in capsys.readouterr().err
    with pytest.raises(Exception, match="no temporal model 'control/elm'"):
        temporal_neuron(units, model="elm")
    assert main(["fit", str(path), "--temporal", "--models", "xyz", "--report", str(tmp_path / "v.json")]) == 2
    assert "unknown model" in capsys.readouterr().err
    for bad in ("0,10", "ten", ""):
        assert main(["fit", str(path), "--temporal", "--spike-history", bad, "--report", str(tmp_path / "v.json")]) == 2
        assert "--spike-history" in capsys.readouterr().err
    assert not (tmp_path / "v.json").exists() and not (tmp_path / "u.json").exists()
    # without history: the plain LN's 16 parameters
    assert main(["fit", str(path), "--temporal", "--models", "ln", "--spike-history", "none", "--epochs", "1",
                 "--threads", "1", "--report", str(tmp_path / "w.json")]) == 0
    rep = json.loads((tmp_path / "w.json").read_text())["temporal"]
    assert rep["spike_history_ms"] == [] and rep["conditions"]["control"]["ln"]["n_parameters"] == 16
    # a somatic MLP of width 4 on its 3 inputs (z, d, r): 3*4+4 + 4*4+4 + 4+1 = 41 parameters more,
    # in the report and in the units file
    assert main(["fit", str(path), "--temporal", "--soma-mlp", "-1", "--report", str(tmp_path / "s.json")]) == 2
    assert "--soma-mlp" in capsys.readouterr().err and not (tmp_path / "s.json").exists()
    assert main(["fit", str(path), "--temporal", "--models", "ln", "--spike-history", "none", "--epochs", "1",
                 "--soma-mlp", "4", "--threads", "1", "--report", str(tmp_path / "s.json"),
                 "-o", str(tmp_path / "s.nc")]) == 0
    rep = json.loads((tmp_path / "s.json").read_text())["temporal"]
    assert rep["soma_mlp_hidden"] == 4 and rep["conditions"]["control"]["ln"]["n_parameters"] == 57
    back = temporal_neuron(tmp_path / "s.nc", model="ln")
    assert back.soma_mlp_hidden == 4 and count_parameters(back) == 57


def test_fit_temporal_cli_pools_runs_of_other_seeds(tmp_path, capsys):
    a = write(tmp_path / "a.nc", invivo_group(n_sim=6, seed=1)[0], seed=1)
    b = write(tmp_path / "b.nc", invivo_group(n_sim=6, seed=2)[0], seed=2)
    report = tmp_path / "r.json"
    assert main(["fit", str(a), "--temporal", "--pool", str(b), "--models", "ln", "--epochs", "1", "--threads", "1",
                 "--report", str(report)]) == 0
    rep = json.loads(report.read_text())
    row = rep["temporal"]["conditions"]["control"]["ln"]
    assert row["n_train"] + row["n_val"] + row["n_test"] == 12 and rep["characterization"] == f"{a},{b}"
    for args, says in ((["--temporal", "--pool", str(a)], "same seed"),       # a run pooled with itself
                       (["--temporal", "--pool", str(tmp_path / "none.nc")], "none.nc"),
                       (["--pool", str(b)], "give --temporal too"),
                       (["--temporal", "--pool", str(b), "-o", str(b), "--overwrite"], "must not be an input")):
        assert main(["fit", str(a), *args, "--report", str(tmp_path / "s.json")]) == 2
        assert says in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


def test_plot_invivo(tmp_path):
    from bridge.plots import plot_invivo, save_figure
    ds, x, _ = invivo_group(n_sim=2, n_t=300)
    fig = plot_invivo(ds, sim=1, max_synapses=12)
    assert len(fig.axes) == 3                                   # no nexus recording here
    raster = fig.axes[0].collections[0].get_offsets()
    shown = np.lexsort((ds.synapse_path_distance_um.values, ds.synapse_class.values))[::2]   # 24 -> every 2nd
    assert len(raster) == int(x[1][:, shown].sum())              # every event of the shown synapses
    save_figure(fig, tmp_path / "iv.png")
    assert (tmp_path / "iv.png").stat().st_size > 1000


def test_pooled_runs_give_back_every_simulation_and_refuse_other_settings():
    """Two runs of the same settings (different seeds) pool into one set of simulations:
    each pooled simulation's inputs, voltage and spikes are those of its own run."""
    from bridge.characterize.invivo import pool_groups

    a, xa, va = invivo_group(n_sim=4, seed=1)
    b, xb, vb = invivo_group(n_sim=3, seed=2)
    a.attrs["seed"], b.attrs["seed"] = 1, 2
    pooled = pool_groups([a, b])
    assert pooled.sizes["sim"] == 7 and list(pooled["sim"].values) == list(range(7))
    assert list(pooled.attrs["seed"]) == [1, 2] and int(pooled.attrs["param_invivo_simulations"]) == 7
    data = load_data(pooled, "control")
    assert np.array_equal(data.x.numpy(), np.concatenate([xa, xb]).astype(np.float32))
    assert np.allclose(data.v_mV.numpy(), np.concatenate([va, vb]), atol=1e-4)
    assert np.array_equal(data.spikes.numpy(), np.concatenate([load_data(g, "control").spikes.numpy() for g in (a, b)]))
    with pytest.raises(ValueError, match="same seed"):
        pool_groups([a, a])
    other = b.assign(synapse_class=("synapse", b["synapse_class"].values[::-1]))
    with pytest.raises(ValueError, match="synapse_class differs"):
        pool_groups([a, other])
    b.attrs["kinetics_nmda_ms"] = np.array([2.0, 80.0])
    with pytest.raises(ValueError, match="kinetics_nmda_ms differs"):
        pool_groups([a, b])


def test_training_is_described_as_configured():
    from bridge.fit.temporal import WHOLE_SIMULATIONS, WINDOWS, describe_training

    assert describe_training(WHOLE_SIMULATIONS) == "whole simulations, 100 ms burn-in"
    assert describe_training(WINDOWS) == ("1500 ms windows, 200 ms burn-in, gradient norm clipped at 1, "
                                          "learning rate halved after 2 epochs without improvement")
    assert describe_training({**WINDOWS, "lr_factor": 0.2}).endswith(
        "learning rate multiplied by 0.2 after 2 epochs without improvement")


def test_train_simulations_takes_a_nested_subset_and_keeps_val_and_test():
    """A learning curve (`benchmarks/temporal_fidelity.py --train-sims`): the first N training
    simulations of the same split; the held-out scores are on the same simulations."""
    from dendritic_errors import InputError
    from bridge.fit.temporal import fit_temporal_models

    ds, _, _ = invivo_group(n_sim=10, n_t=300)
    rows = {n: fit_temporal_models(ds, models=("ln",), epochs=1, train_simulations=n, say=lambda *_: None)["control"]["ln"]
            for n in (1, 3, None)}
    assert [rows[n]["n_train"] for n in (1, 3, None)] == [1, 3, 6]
    assert len({(rows[n]["n_val"], rows[n]["n_test"], rows[n]["n_bins"]) for n in rows}) == 1
    # a different training set gives a different fit, scored on the same held-out bins
    assert rows[1]["v_rmse_mV"] != rows[None]["v_rmse_mV"]
    with pytest.raises(InputError, match="--train-sims 0"):
        fit_temporal_models(ds, models=("ln",), epochs=1, train_simulations=0)
