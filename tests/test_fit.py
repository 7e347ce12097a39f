"""The fitting layer: families on synthetic curves with known parameters, flags, model
selection, the units file (schema v2), the two-layer model and `bridge fit`."""
import numpy as np
import pytest

from bridge.cli import main
from bridge.fit.branches import fit_integration, fit_timing
from bridge.fit.curves import fit_curves, fit_family, prepare, spline_knots
from bridge.fit.synthetic import TRUE_FAMILY, make_characterization, write_characterization
from bridge.schema import UNITS_SCHEMA_VERSION, check_units, make_units_dataset, open_units
from bridge.transfer import FAMILIES, SPLINE_KNOTS, evaluate
from dendritic_errors import InputError

X = np.linspace(0.9, 30.0, 30)           # expected input (mV), N = 30 synapses
TRUE = {
    "linear": dict(slope=0.8, offset=0.3),
    "sigmoid": dict(threshold=14.0, slope=2.2, amplitude=28.0, baseline=-0.4),
    "supralinear": dict(amplitude=1.8, scale=11.0),
    "saturating": dict(amplitude=14.0, scale=9.0),
}
NOISE = 0.3


def _noisy(family, params, n_curves=60, seed=0, x=X):
    rng = np.random.default_rng(seed)
    y = evaluate(family, x, params)[None, :] + rng.normal(0, NOISE, (n_curves, x.size))
    return np.broadcast_to(x, y.shape), y


@pytest.mark.parametrize("family", list(TRUE))
def test_family_recovered_within_uncertainty(family):
    x, y = _noisy(family, TRUE[family])
    sel = fit_curves(x, y, add_origin=False)
    chosen = np.array(sel.chosen)
    # the true family is chosen for (almost) every curve; a 2-parameter rival can win
    # for a few noisy linear curves (equal complexity, within the BIC margin)
    assert np.mean(chosen == family) >= (0.85 if family == "linear" else 0.95), dict(
        zip(*np.unique(chosen, return_counts=True)))
    fit = sel.candidates[family]
    assert not fit.failed.any()
    true = np.array([TRUE[family][n] for n in FAMILIES[family].param_names])
    z = (fit.params - true) / fit.std
    # the standard errors are honest: ~95 % of estimates within 2 SE, all within 4.5 SE
    assert np.all(np.isfinite(z))
    assert np.all(np.mean(np.abs(z) < 2, axis=0) >= 0.85), np.mean(np.abs(z) < 2, axis=0)
    assert np.all(np.abs(z) < 4.5)
    assert np.nanmedian(fit.r2) > 0.95
    assert np.allclose(np.median(fit.rmse), NOISE, rtol=0.25)


def test_spline_recovered_within_uncertainty():
    kx = spline_knots(X)
    ky = np.array([0.0, 0.5, 1.5, 4.0, 12.0, 20.0, 23.0, 24.0])
    assert kx.size == SPLINE_KNOTS == ky.size
    p = np.concatenate([kx, ky])
    rng = np.random.default_rng(3)
    y = evaluate("spline", X, p)[None, :] + rng.normal(0, NOISE, (60, X.size))
    xp, yp, wp = prepare(np.broadcast_to(X, y.shape), y, add_origin=False)
    fit = fit_family("spline", xp, yp, wp)
    assert fit.k == SPLINE_KNOTS          # knot values are counted as fitted parameters
    assert np.allclose(fit.params[:, :SPLINE_KNOTS], kx)
    assert np.all(fit.std[:, :SPLINE_KNOTS] == 0)
    z = (fit.params[:, SPLINE_KNOTS:] - ky) / fit.std[:, SPLINE_KNOTS:]
    assert np.mean(np.abs(z) < 2) >= 0.85 and np.all(np.abs(z) < 5)
    # monotone knot values, always
    assert np.all(np.diff(fit.params[:, SPLINE_KNOTS:], axis=1) >= -1e-9)


def test_selection_flags_and_force():
    rng = np.random.default_rng(1)
    flat = np.full(X.size, 0.01) + rng.normal(0, 0.001, X.size)
    nanc = np.full(X.size, np.nan)
    nonmono = evaluate("linear", X, TRUE["linear"]).copy()
    nonmono[15:] -= 8.0
    lin = evaluate("linear", X, TRUE["linear"]) + rng.normal(0, NOISE, X.size)
    y = np.stack([flat, nanc, nonmono, lin])
    sel = fit_curves(np.broadcast_to(X, y.shape), y)
    assert "flat" in sel.flags(0)
    assert "empty" in sel.flags(1) and "failed" in sel.flags(1) and sel.chosen[1] == ""
    assert "non_monotone" in sel.flags(2)
    assert sel.chosen[3] == "linear"
    # curved families on straight lines are not identifiable: flagged, never hidden
    xl, yl = _noisy("linear", dict(slope=0.8, offset=0.0), n_curves=20, seed=7)
    lines = fit_curves(xl, yl)
    for fam in ("sigmoid", "supralinear", "saturating"):
        flagged = [bool(f & {"poorly_constrained", "at_bound"}) for f in lines.candidates[fam].flags]
        assert np.mean(flagged) >= 0.5, fam      # noise lends some curves a real curvature
    forced = fit_curves(np.broadcast_to(X, y.shape), y, force="saturating")
    assert forced.chosen[3] == "saturating" and forced.chosen[1] == ""


def test_integration_and_timing_fits():
    attrs, groups, truth = make_characterization(n_branches=8, seed=2, patterns=False)
    fits = fit_integration(groups["integration"])
    # default curve (clustered, control): the generating family of each branch
    assert list(fits.expected.family[:, 0, 0]) == [TRUE_FAMILY[t] for t in truth["branch_type"]]
    # distributed input sums linearly in the synthetic cell, NMDA block saturates
    # (2-parameter rivals of the line may win a few noisy curves within the BIC margin)
    assert np.mean(fits.expected.family[:, 1, 0] == "linear") >= 0.75
    assert np.mean(fits.expected.family[:, 0, 1] == "saturating") >= 0.75
    assert fits.count.family.shape == (8, 2, 3) and np.all(fits.count.r2[fits.count.family != ""] > 0.9)
    tim = fit_timing(groups["timing"])
    z = (tim.params[:, 1] - truth["tau_ms"]) / tim.std[:, 1]
    # 7 intervals, 3 parameters: 4 degrees of freedom, Student-t tails
    assert np.all(np.abs(z) < 8) and np.median(np.abs(z)) < 1.5


def _write(tmp_path, **kw):
    attrs, groups, truth = make_characterization(**kw)
    path = tmp_path / "char.nc"
    write_characterization(path, attrs, groups)
    return path, groups, truth


def test_bridge_fit_end_to_end_synthetic(tmp_path, capsys):
    path, groups, truth = _write(tmp_path, n_branches=12, seed=4, n_patterns=300)
    out = tmp_path / "units.nc"
    figs = tmp_path / "figs"
    assert main(["fit", str(path), "-o", str(out), "--plots", str(figs)]) == 0
    text = capsys.readouterr().out
    assert "variance explained" in text and "point_neuron" in text and "91 %" in text
    u = open_units(out)
    assert u.attrs["schema_version"] == UNITS_SCHEMA_VERSION and u.attrs["cell"] == "synthetic"
    assert u.attrs["default_placement"] == "clustered" and u.attrs["selection_criterion"] == "bic"
    assert set(u["type_family"].values) == set(TRUE_FAMILY.values())
    assert u["curve_params"].dims == ("branch", "placement", "condition", "param")
    assert np.all(np.isfinite(u["timing_tau_ms"].values))
    ve = u["two_layer_variance_explained"].sel(target="soma_peak_mV")
    assert float(ve.sel(model="two_layer")) > 0.9
    assert float(ve.sel(model="two_layer")) > float(ve.sel(model="point_neuron"))
    assert sorted(p.name for p in figs.glob("*.png"))[:2] == ["fits_basal.png", "fits_oblique.png"]
    # the torch layers read it
    from bridge.nn import FittedTransfer
    act = FittedTransfer.from_units(out, "basal", 4)
    assert act.family == "sigmoid"


def test_units_v3_checked(tmp_path):
    path, _, _ = _write(tmp_path, n_branches=4, seed=5, patterns=False)
    out = tmp_path / "u.nc"
    assert main(["fit", str(path), "-o", str(out), "--no-two-layer"]) == 0
    u = open_units(out)
    assert "two_layer_weight" not in u
    with pytest.raises(InputError, match="missing variable 'curve_flags'"):
        check_units(u.drop_vars("curve_flags"), source="x.nc")
    bad = u.copy()
    del bad.attrs["default_condition"]
    with pytest.raises(InputError, match="missing attribute 'default_condition'"):
        check_units(bad, source="x.nc")
    with pytest.raises(InputError, match="timing_tau_ms"):
        check_units(u.drop_vars("timing_tau_ms"), source="x.nc")
    with pytest.raises(InputError, match="'count_param_units'"):
        check_units(u.drop_vars("count_param_units"), source="x.nc")
    # the diagnostics and two_layer groups are optional: a transfer-only dataset is valid
    minimal = make_units_dataset([1], ["basal"], ["linear"], [dict(slope=1, offset=0)])
    assert check_units(minimal).attrs["schema_version"] == UNITS_SCHEMA_VERSION


def _expect_error(tmp_path, capsys, args, *words):
    out = tmp_path / "bad_units.nc"
    assert main(["fit", *map(str, args), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bridge fit: error: ") and err.count("\n") == 1, err
    for w in words:
        assert w in err, err
    assert not out.exists() and not list(tmp_path.glob(".bad_units*"))


def test_bad_inputs(tmp_path, capsys):
    _expect_error(tmp_path, capsys, [tmp_path / "missing.nc"], "no such")
    txt = tmp_path / "t.nc"
    txt.write_text("hello")
    _expect_error(tmp_path, capsys, [txt], "cannot read")
    # a units file is the wrong kind of input
    units = tmp_path / "u.nc"
    from bridge.schema import write_units
    write_units(make_units_dataset([1], ["basal"], ["linear"], [dict(slope=1, offset=0)]), units)
    _expect_error(tmp_path, capsys, [units], "units file", "bridge characterize")
    # missing protocols
    path, groups, _ = _write(tmp_path, n_branches=4, patterns=False)
    _expect_error(tmp_path, capsys, [path], "'patterns'", "--no-two-layer")
    attrs = make_characterization(n_branches=4)[0]
    only_timing = tmp_path / "timing_only.nc"
    write_characterization(only_timing, attrs, {"timing": groups["timing"]})
    _expect_error(tmp_path, capsys, [only_timing, "--no-two-layer"], "'integration'")


@pytest.mark.parametrize("kind,words", [
    ("nan", ("branch 3", "clustered, control", "measured_local_mV", "finite points")),
    ("flat", ("branch 3", "flat response")),
    ("non_monotone", ("branch 3", "non-monotone")),
])
def test_bad_curves_named(tmp_path, capsys, kind, words):
    attrs, groups, _ = make_characterization(n_branches=4, seed=6)
    m = groups["integration"]["measured_local_mV"]
    sel = dict(branch=3, placement="clustered", condition="control")
    if kind == "nan":
        m.loc[sel] = np.nan
    elif kind == "flat":
        m.loc[sel] = 0.01
    else:
        m.loc[sel] = np.r_[np.linspace(1, 20, 15), np.linspace(5, 8, 15)]
    path = tmp_path / "c.nc"
    write_characterization(path, attrs, groups)
    _expect_error(tmp_path, capsys, [path], *words)
    # --skip-bad drops the branch and says so
    out = tmp_path / "ok.nc"
    assert main(["fit", str(path), "-o", str(out), "--skip-bad"]) == 0
    assert "skipped branch 3" in capsys.readouterr().err
    assert 3 not in open_units(out)["branch"].values


def test_empty_integration(tmp_path, capsys):
    attrs, groups, _ = make_characterization(n_branches=4, seed=6)
    groups["integration"] = groups["integration"].isel(branch=slice(0, 0))
    path = tmp_path / "c.nc"
    write_characterization(path, attrs, groups)
    _expect_error(tmp_path, capsys, [path], "no branches")


def test_all_nan_curves(tmp_path, capsys):
    attrs, groups, _ = make_characterization(n_branches=4, seed=6)
    groups["integration"]["measured_local_mV"][:] = np.nan
    path = tmp_path / "c.nc"
    write_characterization(path, attrs, groups)
    _expect_error(tmp_path, capsys, [path], "4 of 4 branches")
    assert main(["fit", str(path), "-o", str(tmp_path / "x.nc"), "--skip-bad"]) == 2
    assert "no branch can be fitted" in capsys.readouterr().err


# characterize -> `bridge fit` on the real l5pc: tests/test_cli.py::test_demo_end_to_end_small fits the
# characterization the demo wrote (the same path, without a second characterization run).


# ------------------------------------------------------------------------------ two-layer vs point neuron
def _two_layer_truth(n_patterns=600, n_branches=8, seed=11, noise_mV=0.3):
    """Patterns drawn as the `patterns` protocol draws them (`draw_pattern`: a total T spread
    over k branches, concentrated to dispersed), responses from a known two-layer cell:
    sigmoid subunits (threshold 12 synapses of 1 mV), a summed, weighted soma through an
    output sigmoid."""
    from bridge.characterize.protocols import draw_pattern
    rng = np.random.default_rng(seed)
    n = np.array([draw_pattern(np.random.default_rng([seed, i]), n_branches, 20, 80)[0] for i in range(n_patterns)])
    mv = np.ones(n_branches)
    sub = (12.0, 1.5, 40.0, 0.0)                       # threshold, slope, amplitude, baseline (mV)
    fam = FAMILIES["sigmoid"]
    s = np.column_stack([fam.fn_numpy(n[:, b] * mv[b], *sub) - fam.fn_numpy(0.0, *sub) for b in range(n_branches)])
    z = s @ rng.uniform(0.8, 1.2, n_branches) / 40.0
    y = 2.0 + 30.0 / (1.0 + np.exp(-(z - 1.5) / 0.4)) + rng.normal(0, noise_mV, n_patterns)
    split = np.where(rng.random(n_patterns) < 0.25, "test", "train")
    return n, mv, [sub] * n_branches, y, split


def test_two_layer_beats_point_neuron_on_concentrated_vs_dispersed_patterns():
    from bridge.fit.two_layer import MODELS, fit_two_layer
    n, mv, params, y, split = _two_layer_truth()
    B = n.shape[1]
    # equal totals, different concentration: the truth responds to concentration
    T = n.sum(1)
    assert len({tuple(sorted(row)) for row in n[(T == 30)]}) > 1
    r = fit_two_layer(n, split, {"soma_peak_mV": y}, mv, ["sigmoid"] * B, params, np.arange(B))
    ve = dict(zip(MODELS, r.ve_test[:, 0]))
    assert set(ve) == {"two_layer", "two_layer_refit", "point_neuron", "linear_weighted"}
    assert ve["two_layer"] > 0.95 and ve["two_layer_refit"] > 0.9
    # the point neuron only sees the total: clearly less on held-out patterns
    assert ve["point_neuron"] < ve["two_layer"] - 0.15, ve
    assert ve["linear_weighted"] < ve["two_layer"] - 0.1, ve
    # the point neuron's weight is one number shared by all subunits
    w = r.weights[MODELS.index("point_neuron"), 0]
    assert np.allclose(w, w[0])


def test_two_layer_is_fitted_on_train_patterns_only():
    from bridge.fit.two_layer import fit_two_layer
    n, mv, params, y, split = _two_layer_truth(n_patterns=300)
    B = n.shape[1]
    scrambled = y.copy()
    test = split == "test"
    scrambled[test] = np.random.default_rng(0).permutation(y[test]) + 50.0   # garbage on the test patterns
    a = fit_two_layer(n, split, {"y": y}, mv, ["sigmoid"] * B, params, np.arange(B))
    b = fit_two_layer(n, split, {"y": scrambled}, mv, ["sigmoid"] * B, params, np.arange(B))
    np.testing.assert_allclose(a.weights, b.weights, equal_nan=True)
    np.testing.assert_allclose(a.ve_train, b.ve_train, equal_nan=True)
    assert np.all(b.ve_test < 0) and np.all(a.ve_test > 0)


def test_fit_refuses_to_overwrite_without_flag(tmp_path, capsys, monkeypatch):
    path, _, _ = _write(tmp_path, n_branches=4, seed=5, patterns=False)
    out = tmp_path / "u.nc"
    out.write_bytes(b"an earlier result")
    import bridge.fit.pipeline

    real = bridge.fit.pipeline.fit_characterization
    calls = []

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)
    monkeypatch.setattr(bridge.fit.pipeline, "fit_characterization", spy)
    assert main(["fit", str(path), "-o", str(out), "--no-two-layer"]) == 2
    err = capsys.readouterr().err
    assert err == f"bridge fit: error: {out} already exists; pass --overwrite to replace it or choose another -o\n"
    assert out.read_bytes() == b"an earlier result" and not calls          # refused before any fitting
    assert main(["fit", str(path), "-o", str(out), "--no-two-layer", "--overwrite"]) == 0
    assert calls and open_units(out).sizes["branch"] == 4                  # replaced by a units file
    assert not list(tmp_path.glob(".u.nc*"))
    # a folder is never a valid output, with or without --overwrite
    (tmp_path / "dir.nc").mkdir()
    assert main(["fit", str(path), "-o", str(tmp_path / "dir.nc"), "--overwrite"]) == 2
    assert "is a folder" in capsys.readouterr().err
