"""The two-layer model on cluster_dispersion data (bridge.fit.dispersion), `bridge fit --report`,
and the patterns path using each branch's own fit only (issue 19)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from bridge.cli import main
from bridge.fit.dispersion import fit_dispersion
from dendritic_errors import InputError
from tests.test_fit import _write
from bridge.fit.synthetic import make_dispersion_group as dispersion_group
from bridge.fit.synthetic import write_dispersion_characterization as write_dispersion_file


def test_two_layer_recovers_a_two_layer_cell_and_the_point_neuron_cannot():
    g, truth = dispersion_group(seed=3)
    fit = fit_dispersion(g)
    r = fit.result
    ve = dict(zip(r.models, r.ve_test[:, list(r.targets).index("soma_rate_hz")]))
    assert ve["two_layer"] > 0.9, ve
    # the point neuron sees only the total, which is nearly the same in every run
    assert ve["point_neuron"] < ve["two_layer"] - 0.4, ve
    # each subunit is its own branch's curve, fitted closely
    assert len(fit.families) == len(fit.branch) and np.all(fit.r2 > 0.98)


def test_the_curve_context_is_subtracted():
    # curves measured on top of a context (the rest of the tree driven): the subunit is what the branch's own
    # synapses add, so a context offset per branch gives the same fit as the curves without it
    g, _ = dispersion_group(seed=3)
    offset = np.linspace(2.0, 9.0, g.sizes["branch"])
    shifted = g.copy(deep=True)
    shifted["curve_local_mean_mV"] = g["curve_local_mean_mV"] + offset[:, None] * xr.ones_like(g["curve_local_mean_mV"])
    shifted["curve_context_local_mean_mV"] = (("branch",), offset)
    shifted.attrs["param_dispersion_curve_context"] = 32
    a, b = fit_dispersion(g), fit_dispersion(shifted)
    assert (a.curve_context, b.curve_context) == (0, 32)
    np.testing.assert_allclose(b.mV_per_synapse, a.mV_per_synapse, rtol=1e-12)
    np.testing.assert_allclose(b.result.ve_test, a.result.ve_test, rtol=1e-9)
    # without the context variable the offset would be read as the branch's own response
    del shifted["curve_context_local_mean_mV"]
    assert not np.allclose(fit_dispersion(shifted).mV_per_synapse, a.mV_per_synapse)


def test_a_branch_without_its_own_fit_is_named():
    g, _ = dispersion_group(seed=4)
    flat = g.copy(deep=True)
    flat["curve_local_mean_mV"][2] = 0.0
    with pytest.raises(InputError, match=f"branch\\(es\\) {int(g.branch[2])}"):
        fit_dispersion(flat)


def test_fit_report_json(tmp_path, capsys):
    path = write_dispersion_file(tmp_path / "disp.nc", seed=5)
    report = tmp_path / "fit.json"
    assert main(["fit", str(path), "--report", str(report)]) == 0
    text = capsys.readouterr().out
    assert "cluster_dispersion: 12 subunits" in text and "point_neuron" in text
    assert "curves measured with the branch alone" in text
    rep = json.loads(report.read_text())
    cd = rep["cluster_dispersion"]
    assert rep["schema"] == "bridge.fit_report" and cd["n_subunits"] == 12
    assert cd["n_train"] + cd["n_test"] == cd["n_runs"] and cd["n_test"] > 0
    tl, pn = cd["models"]["two_layer"], cd["models"]["point_neuron"]
    assert tl["n_parameters"] == 12 + 3 and pn["n_parameters"] == 4
    assert tl["variance_explained_test"]["soma_rate_hz"] > pn["variance_explained_test"]["soma_rate_hz"]
    assert cd["subunit_source"] == {"cluster_dispersion_curve": 12} and cd["curve_context_synapses"] == 0
    # the same figures as printed
    assert f"{tl['variance_explained_test']['soma_rate_hz'] * 100:.1f} %" in text
    # an existing report is kept without --overwrite; a units file needs the integration group
    assert main(["fit", str(path), "--report", str(report)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["fit", str(path), "-o", str(tmp_path / "u.nc")]) == 2
    assert "no 'integration' protocol group" in capsys.readouterr().err
    assert main(["fit", str(path)]) == 2
    assert "--report" in capsys.readouterr().err
    assert not (tmp_path / "u.nc").exists()


def test_patterns_report_counts_own_fits(tmp_path, capsys):
    path, _, _ = _write(tmp_path, n_branches=6, seed=4, n_patterns=200)
    report, units = tmp_path / "r.json", tmp_path / "u.nc"
    assert main(["fit", str(path), "-o", str(units), "--report", str(report)]) == 0
    assert "6 of 6 pattern branches fitted on their own measurements" in capsys.readouterr().out
    rep = json.loads(report.read_text())
    assert rep["patterns"]["subunit_source"] == {"integration": 6}
    assert rep["branches"]["n_fitted"] == 6
    assert set(rep["patterns"]["models"]) == {"two_layer", "two_layer_refit", "point_neuron", "linear_weighted"}


def test_patterns_branch_without_own_fit_is_refused(tmp_path, capsys):
    from bridge.schema import open_characterization, write_characterization
    path, _, _ = _write(tmp_path, n_branches=6, seed=4, n_patterns=200)
    groups = open_characterization(path)
    # an old file whose pattern branches are not all in the integration group, without own curves
    groups["integration"] = groups["integration"].isel(branch=slice(0, 4))
    other = tmp_path / "old.nc"
    write_characterization(groups, groups["patterns"].attrs, other)
    assert main(["fit", str(other), "-o", str(tmp_path / "u.nc")]) == 2
    err = capsys.readouterr().err
    assert "have no fit of their own" in err and str(int(groups["patterns"].branch[4])) in err
    assert not (tmp_path / "u.nc").exists()
