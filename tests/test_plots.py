"""bridge.plots: every figure function on small synthetic datasets that follow bridge/schema.py."""
import sys

import matplotlib
import numpy as np
import pytest
import xarray as xr

import cells
from bridge import plots
from bridge.schema import check_characterization_group, check_units, make_units_dataset
from bridge.transfer import evaluate

UNIT_WORDS = ("(mV)", "(ms)", "(Hz)", "(nA)", "(\u00b5m)", "(um)", "(S/cm\u00b2)", "(count", "(%)",
              "(ratio)", "(mV/mV)")


def _png_ok(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"


def _labels_have_units(ax):
    for label in (ax.get_xlabel(), ax.get_ylabel()):
        assert any(u in label for u in UNIT_WORDS), label


def _legend_texts(ax):
    leg = ax.get_legend()
    assert leg is not None
    return [t.get_text() for t in leg.get_texts()]


def _save(fig, tmp_path, name):
    path = plots.save_figure(fig, tmp_path / "figs" / name)
    _png_ok(path)
    return path


# ----------------------------------------------------------------------------- datasets
def _attrs(protocol):
    return {"protocol": protocol, "cell": "l5pc"}


def site_dataset(protocol, rng, n=12):
    types = np.array(["basal"] * 4 + ["trunk"] * 3 + ["oblique"] * 2 + ["tuft"] * 3, dtype=object)[:n]
    dist = np.sort(rng.uniform(10, 1000, n))
    coords = {"site_branch": ("site", np.arange(1, n + 1)), "site_x": ("site", np.full(n, 0.5)),
              "branch_type": ("site", types), "path_distance_um": ("site", dist, {"units": "um"})}
    if protocol == "passive":
        att = np.exp(-dist / 400.0)
        local = 1.0 + dist / 100.0
        data = {"input_resistance_MOhm": ((), 42.0, {"units": "MOhm"}),
                "membrane_tau_ms": ((), 15.5, {"units": "ms"}), "sag_ratio": ((), 0.1, {"units": "1"}),
                "ss_attenuation": ("site", att, {"units": "1"}),
                "epsp_local_mV": ("site", local, {"units": "mV"}),
                "epsp_soma_mV": ("site", local * att * 0.5, {"units": "mV"}),
                "epsp_attenuation": ("site", att * 0.5, {"units": "1"})}
    else:
        data = {"bap_amplitude_mV": ("site", 90 * np.exp(-dist / 500.0), {"units": "mV"}),
                "bap_delay_ms": ("site", dist / 300.0, {"units": "ms"})}
    ds = xr.Dataset(data, coords=coords, attrs=_attrs(protocol))
    return check_characterization_group(ds, protocol)


BRANCHES = {3: "basal", 5: "basal", 8: "basal", 20: "oblique", 22: "oblique", 40: "tuft"}
N_SYN = 8


@pytest.fixture(scope="module")
def integration_ds():
    rng = np.random.default_rng(0)
    ids = list(BRANCHES)
    placements, conditions = ["clustered", "distributed"], ["control", "nmda_block", "na_block"]
    shape = (len(ids), 2, 3, N_SYN)
    unit = rng.uniform(0.8, 1.5, (len(ids), 2, 3, N_SYN))
    expected = np.cumsum(unit, axis=-1)
    gain = np.array([1.0, 0.7, 0.9])[None, None, :, None]
    measured = expected * gain * (1 + 0.5 / (1 + np.exp(-(expected - 5.0))))
    dims = ("branch", "placement", "condition", "n_synapses")
    sdims = ("branch", "placement", "condition", "synapse")
    ds = xr.Dataset(
        {"measured_local_mV": (dims, measured, {"units": "mV"}),
         "measured_soma_mV": (dims, 0.2 * measured, {"units": "mV"}),
         "expected_local_mV": (dims, expected, {"units": "mV"}),
         "expected_soma_mV": (dims, 0.2 * expected, {"units": "mV"}),
         "unitary_local_mV": (sdims, unit, {"units": "mV"}),
         "unitary_soma_mV": (sdims, 0.2 * unit, {"units": "mV"}),
         "soma_spikes": (dims, np.zeros(shape), {"units": "1"})},
        coords={"branch": ("branch", np.array(ids)),
                "branch_type": ("branch", np.array(list(BRANCHES.values()), dtype=object)),
                "path_distance_um": ("branch", np.linspace(50, 900, len(ids)), {"units": "um"}),
                "placement": ("placement", np.array(placements, dtype=object)),
                "condition": ("condition", np.array(conditions, dtype=object)),
                "n_synapses": ("n_synapses", np.arange(1, N_SYN + 1)),
                "synapse": ("synapse", np.arange(N_SYN))},
        attrs=_attrs("integration"))
    return check_characterization_group(ds, "integration")


SIG = dict(threshold=6.0, slope=1.5, amplitude=8.0, baseline=0.0)


@pytest.fixture(scope="module")
def units_ds():
    ids = list(BRANCHES)
    fams = ["sigmoid", "sigmoid", "linear", "sigmoid", "sigmoid", "saturating"]
    params = [{**SIG, "threshold": 6.0 + i} if f == "sigmoid" else
              (dict(slope=1.1, offset=0.1) if f == "linear" else dict(amplitude=20.0, scale=10.0))
              for i, f in enumerate(fams)]
    std = [{k: 0.1 for k in p} for p in params]
    ds = make_units_dataset(ids, list(BRANCHES.values()), fams, params, params_std=std,
                            path_distance_um=np.linspace(50, 900, len(ids)),
                            r2=np.full(len(ids), 0.95), rmse_mV=np.full(len(ids), 0.3))
    return check_units(ds)


# ----------------------------------------------------------------------------- tests
def test_no_simulator_or_torch_imports():
    import subprocess

    code = ("import sys, bridge.plots; bad = [m for m in ('neuron', 'brian2', 'torch', 'matplotlib.pyplot') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_morphology_context_moved():
    from cells.distributions import morphology_context
    from cells.neuron_cell import morphology_context as old

    assert old is morphology_context


@pytest.fixture(scope="module")
def l5pc():
    return cells.load_morphology("l5pc")


def test_plot_morphology_types(l5pc, tmp_path):
    fig = plots.plot_morphology(l5pc)
    ax = fig.axes[0]
    _labels_have_units(ax)
    present = {b.type for b in l5pc.branches}
    texts = _legend_texts(ax)
    assert {t.split(" (")[0] for t in texts} == present
    assert "l5pc" in ax.get_title()
    # one collection per type, together one segment per pair of consecutive points
    n_seg = sum(len(b.xyzr_um) - 1 for b in l5pc.branches)
    assert sum(len(c.get_segments()) for c in ax.collections) == n_seg
    _save(fig, tmp_path, "morph_type.png")


def test_plot_morphology_distance_and_density(l5pc, tmp_path):
    fig = plots.plot_morphology(l5pc, color_by="distance", projection="xz")
    cbar_ax = fig.axes[1]
    assert "\u00b5m" in cbar_ax.get_ylabel()
    lo, hi = cbar_ax.get_ylim()
    assert lo == pytest.approx(0.0, abs=30.0) and hi <= l5pc.max_path_distance_um() + 1e-6
    assert fig.axes[0].get_xlabel().startswith("x") and fig.axes[0].get_ylabel().startswith("z")
    _save(fig, tmp_path, "morph_dist.png")

    recipe = cells.get_recipe("l5pc")
    fig = plots.plot_morphology(l5pc, color_by="Ih", recipe=recipe)
    ax, cbar_ax = fig.axes
    mappable = [c for c in ax.collections if c.get_array() is not None][0]
    dens = np.asarray(mappable.get_array())
    assert mappable.norm.vmin == pytest.approx(dens.min()) and mappable.norm.vmax == pytest.approx(dens.max())
    assert cbar_ax.get_ylim() == pytest.approx((dens.min(), dens.max()))
    assert "(S/cm\u00b2)" in cbar_ax.get_ylabel() and "Ih" in ax.get_title()
    # Ih rises along the apical tree: the densities span more than a factor of 5
    assert dens.max() > 5 * dens.min() > 0
    _save(fig, tmp_path, "morph_ih.png")

    with pytest.raises(ValueError, match="recipe"):
        plots.plot_morphology(l5pc, color_by="Ih")
    with pytest.raises(ValueError, match="no mechanism"):
        plots.plot_morphology(l5pc, color_by="nope", recipe=recipe)


def test_plot_traces(tmp_path):
    t = np.linspace(0, 100, 501)
    traces = {"t_ms": t, "soma": -70 + 20 * np.exp(-t / 20), "dend": -70 + 5 * np.sin(t / 5)}
    fig = plots.plot_traces(traces, title="Test traces")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (ms)" and "(mV)" in ax.get_ylabel()
    assert _legend_texts(ax) == ["soma", "dend"] and len(ax.lines) == 2
    _save(fig, tmp_path, "traces.png")
    fig = plots.plot_traces(traces, names=["dend"])
    assert len(fig.axes[0].lines) == 1
    with pytest.raises(ValueError):
        plots.plot_traces({"t_ms": t, "v": t[:-1]})


def test_plot_integration(integration_ds, units_ds, tmp_path):
    fig = plots.plot_integration(integration_ds, 3, units=units_ds)
    ax = fig.axes[0]
    _labels_have_units(ax)
    texts = _legend_texts(ax)
    assert len(ax.lines) == 2 * 3 + 2          # 6 series + identity + fit
    assert "clustered, nmda block" in texts and "linear sum (identity)" in texts
    assert any(t.startswith("fit: sigmoid") and "0.95" in t for t in texts)
    fit_line = [ln for ln in ax.lines if ln.get_label().startswith("fit")][0]
    x, y = fit_line.get_data()
    np.testing.assert_allclose(y, evaluate("sigmoid", x, SIG))
    assert "basal" in ax.get_title() and "\u00b5m" in ax.get_title()
    _save(fig, tmp_path, "integration.png")

    fig = plots.plot_integration(integration_ds, 40, placement="clustered", conditions=["control"], site="soma")
    assert len(fig.axes[0].lines) == 2 and "soma" in fig.axes[0].get_ylabel()
    with pytest.raises(KeyError):
        plots.plot_integration(integration_ds, 999)


def test_plot_integration_by_type(integration_ds, units_ds, tmp_path):
    fig = plots.plot_integration_by_type(integration_ds, units=units_ds)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["basal", "oblique", "tuft"]
    for ax in panels:
        t = ax.get_title()
        n_branches = sum(1 for v in BRANCHES.values() if v == t)
        assert sum(1 for ln in ax.lines if (ln.get_gid() or "").startswith("branch-")) == n_branches
        texts = _legend_texts(ax)
        assert f"branches (n = {n_branches})" in texts
        assert any(s.startswith("median fit:") for s in texts)
        _labels_have_units(ax)
    _save(fig, tmp_path, "integration_by_type.png")


def test_plot_fit_parameters(units_ds, tmp_path):
    fig = plots.plot_fit_parameters(units_ds, param="threshold")
    ax_s, ax_h = fig.axes
    _labels_have_units(ax_s)
    assert "(mV)" in ax_h.get_xlabel() and "(count)" in ax_h.get_ylabel()
    assert _legend_texts(ax_s) == ["basal (2)", "oblique (2)"]      # sigmoid branches only
    assert len(ax_h.patches) == 2                                     # one step histogram per type
    _save(fig, tmp_path, "fit_params.png")
    fig = plots.plot_fit_parameters(units_ds)                          # default: most common family
    assert "sigmoid threshold" in fig.axes[0].get_ylabel()
    assert "(mV/mV)" in plots.plot_fit_parameters(units_ds, param="slope", family="linear").axes[0].get_ylabel()


def test_plot_bap_fi_passive(tmp_path):
    rng = np.random.default_rng(1)
    bap = site_dataset("bap", rng)
    fig = plots.plot_bap(bap)
    ax = fig.axes[0]
    _labels_have_units(ax)
    assert "bAP amplitude (mV)" == ax.get_ylabel()
    assert _legend_texts(ax) == ["basal (4)", "trunk (3)", "oblique (2)", "tuft (3)"]
    assert sum(len(ln.get_xdata()) for ln in ax.lines) == bap.sizes["site"]
    _save(fig, tmp_path, "bap.png")

    cur = np.linspace(0, 1.5, 7)
    fi = xr.Dataset({"rate_hz": ("current_nA", np.maximum(0, 40 * (cur - 0.4)), {"units": "Hz"}),
                     "n_spikes": ("current_nA", np.zeros(7), {"units": "1"}),
                     "first_spike_ms": ("current_nA", np.full(7, np.nan), {"units": "ms"})},
                    coords={"current_nA": ("current_nA", cur, {"units": "nA"})}, attrs=_attrs("fi"))
    check_characterization_group(fi, "fi")
    fig = plots.plot_fi(fi)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "step current (nA)" and ax.get_ylabel() == "firing rate (Hz)"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), fi["rate_hz"].values)
    _save(fig, tmp_path, "fi.png")

    passive = site_dataset("passive", rng)
    fig = plots.plot_passive(passive)
    ax = fig.axes[0]
    _labels_have_units(ax)
    assert "42.0 M\u03a9" in ax.get_title() and "15.5 ms" in ax.get_title()
    _save(fig, tmp_path, "passive.png")
    assert "(mV)" in plots.plot_passive(passive, variable="epsp_soma_mV").axes[0].get_ylabel()


def test_plot_two_layer(tmp_path):
    rng = np.random.default_rng(2)
    n = 40
    split = np.array(["train"] * 25 + ["test"] * 15, dtype=object)
    peak = rng.uniform(0, 20, n)
    patterns = xr.Dataset(
        {"n_active": (("pattern", "branch"), rng.integers(0, 5, (n, 3)), {"units": "1"}),
         "soma_peak_mV": ("pattern", peak, {"units": "mV"}),
         "soma_rate_hz": ("pattern", np.zeros(n), {"units": "Hz"}),
         "soma_spikes": ("pattern", np.zeros(n), {"units": "1"})},
        coords={"branch": ("branch", [1, 2, 3]), "branch_type": ("branch", np.array(["basal"] * 3, dtype=object)),
                "path_distance_um": ("branch", [10.0, 20.0, 30.0]), "split": ("pattern", split)},
        attrs=_attrs("patterns"))
    check_characterization_group(patterns, "patterns")
    test = peak[split == "test"]
    pred = {"two-layer": test + rng.normal(0, 0.5, test.size), "point neuron": 0.5 * test + 3}
    fig = plots.plot_two_layer(pred, patterns)
    ax = fig.axes[0]
    _labels_have_units(ax)
    texts = _legend_texts(ax)
    ve = plots.variance_explained(pred["two-layer"], test)
    assert f"two-layer (VE = {ve:.2f})" in texts and texts[1].startswith("point neuron (VE = ")
    assert ve > plots.variance_explained(pred["point neuron"], test)
    assert "n = 15" in ax.get_title()
    _save(fig, tmp_path, "two_layer.png")
    assert plots.variance_explained([1, 2, 3], [1, 2, 3]) == 1.0


def sweep_results():
    rows = []
    for model, nl, base in (("dann-r", "leaky_relu", 0.85), ("dann-r", "fitted", 0.84), ("vann", "leaky_relu", 0.83)):
        for p in (1000, 10000, 100000):
            for seed in (1, 2):
                rows.append((model, nl, seed, p, base + 0.01 * np.log10(p) + 0.002 * seed))
    m, nl, s, p, a = map(list, zip(*rows))
    return xr.Dataset({"model": ("run", np.array(m, dtype=object)), "nonlinearity": ("run", np.array(nl, dtype=object)),
                       "seed": ("run", s), "n_trainable_parameters": ("run", p), "final_test_accuracy": ("run", a)})


def test_plot_accuracy_vs_parameters(tmp_path):
    res = sweep_results()
    fig = plots.plot_accuracy_vs_parameters(res)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    _labels_have_units(ax)
    assert sorted(_legend_texts(ax)) == ["dann-r (fitted)", "dann-r (leaky_relu)", "vann (leaky_relu)"]
    assert "2 seeds" in ax.get_title()
    line = [c for c in ax.containers if c.get_label() == "vann (leaky_relu)"][0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), [1000, 10000, 100000])
    np.testing.assert_allclose(line.get_ydata(), 100 * (0.83 + 0.01 * np.array([3, 4, 5]) + 0.003))
    _save(fig, tmp_path, "accuracy.png")


def test_sweep_uses_plots(tmp_path):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import fmnist_sweep
    finally:
        sys.path.pop(0)
    res = sweep_results()
    for k in fmnist_sweep.KEY + fmnist_sweep.SCALARS:
        if k not in res:
            res[k] = ("run", np.zeros(res.sizes["run"]))
    fmnist_sweep.write_table(res, str(tmp_path / "r.csv"), str(tmp_path / "acc.png"))
    _png_ok(tmp_path / "acc.png")
    assert (tmp_path / "r.csv").read_text().count("\n") == res.sizes["run"] + 1


def test_given_axes_and_backend(tmp_path):
    from matplotlib.figure import Figure

    backend = matplotlib.get_backend()
    fig = Figure()
    ax = fig.subplots()
    out = plots.plot_traces({"t_ms": [0, 1, 2], "v": [-70, -60, -70]}, ax=ax)
    assert out is fig and len(ax.lines) == 1
    assert matplotlib.get_backend() == backend
    assert plots.save_figure(ax, tmp_path / "deep" / "er" / "noext").suffix == ".png"
    _png_ok(tmp_path / "deep" / "er" / "noext.png")


def test_learning_curves_one_line_per_run(tmp_path):
    import xarray as xr
    from bridge.plots import plot_learning_curves, save_figure

    def run(acc, n):
        return xr.Dataset({"test_accuracy": ("epoch", np.asarray(acc))}, coords={"epoch": [1, 2, 3]},
                          attrs={"n_trainable_parameters": n})
    fig = plot_learning_curves({"leaky ReLU": run([0.5, 0.6, 0.7], 1000), "fitted": run([0.4, 0.55, 0.6], 1200)})
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2
    assert ax.get_ylabel() == "test accuracy (%)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["leaky ReLU (1,000 parameters)", "fitted (1,200 parameters)"]
    assert np.allclose(ax.get_lines()[0].get_ydata(), [50, 60, 70])
    path = save_figure(fig, tmp_path / "lc.png")
    assert path.stat().st_size > 1000
