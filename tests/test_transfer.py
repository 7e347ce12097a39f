import numpy as np
import pytest
import torch

from bridge.nn import FittedTransfer
from bridge.schema import make_units_dataset
from bridge.transfer import FAMILIES, SPLINE_KNOTS, all_param_names, evaluate

torch.set_num_threads(1)

PARAMS = {
    "linear": dict(slope=0.8, offset=0.5),
    "sigmoid": dict(threshold=12.0, slope=2.5, amplitude=30.0, baseline=-0.2),
    "supralinear": dict(amplitude=1.5, scale=8.0),
    "saturating": dict(amplitude=15.0, scale=6.0),
    "spline": {**{f"knot_x{i}": 5.0 * i for i in range(SPLINE_KNOTS)},
               **{f"knot_y{i}": float(np.sqrt(5.0 * i) * 3) for i in range(SPLINE_KNOTS)}},
}


def test_registry():
    assert set(FAMILIES) == set(PARAMS)
    for name, fam in FAMILIES.items():
        assert fam.name == name and set(fam.param_names) == set(PARAMS[name])
    names = all_param_names()
    assert len(names) == len(set(names))


def test_formulas():
    x = np.linspace(-5, 40, 50)
    p = PARAMS["sigmoid"]
    assert np.allclose(evaluate("sigmoid", x, p),
                       p["baseline"] + p["amplitude"] / (1 + np.exp(-(x - p["threshold"]) / p["slope"])))
    assert np.allclose(evaluate("supralinear", x, PARAMS["supralinear"]), 1.5 * (np.exp(x / 8) - 1))
    assert np.allclose(evaluate("saturating", x, PARAMS["saturating"]), 15 * (1 - np.exp(-x / 6)))
    assert evaluate("supralinear", 0.0, PARAMS["supralinear"]) == 0
    # spline interpolates its knots and extrapolates linearly
    sp = PARAMS["spline"]
    kx = np.array([sp[f"knot_x{i}"] for i in range(SPLINE_KNOTS)])
    ky = np.array([sp[f"knot_y{i}"] for i in range(SPLINE_KNOTS)])
    xi = np.linspace(kx[0], kx[-1], 101)
    assert np.allclose(evaluate("spline", xi, sp), np.interp(xi, kx, ky))
    slope_end = (ky[-1] - ky[-2]) / (kx[-1] - kx[-2])
    assert np.isclose(evaluate("spline", kx[-1] + 3, sp), ky[-1] + 3 * slope_end)
    # extreme inputs do not overflow to nan
    assert np.all(np.isfinite(evaluate("sigmoid", np.array([-1e6, 1e6]), p)))


@pytest.mark.parametrize("family", list(PARAMS))
def test_fitted_transfer_matches_numpy(family):
    fam = FAMILIES[family]
    n = 5
    rng = np.random.default_rng(0)
    table = np.array([[PARAMS[family][k] for k in fam.param_names]] * n)
    if family != "spline":
        table = table * rng.uniform(0.8, 1.2, size=table.shape)
    x = rng.uniform(-0.5, 1.2, size=(7, n))
    act = FittedTransfer(family, table, input_scale=30.0, output_scale=4.0, center=False, dtype=torch.float64)
    y = act(torch.tensor(x)).numpy()
    expected = fam.fn_numpy(30.0 * x, *[table[:, i] for i in range(table.shape[1])]) / 4.0
    assert np.allclose(y, expected, rtol=1e-12, atol=1e-12)
    # centring subtracts f(0); clamping limits the mV input range
    act_c = FittedTransfer(family, table, input_scale=30.0, output_scale=4.0, center=True,
                           clamp=(0.0, 25.0), dtype=torch.float64)
    xm = np.clip(30.0 * x, 0.0, 25.0)
    cols = [table[:, i] for i in range(table.shape[1])]
    exp_c = (fam.fn_numpy(xm, *cols) - fam.fn_numpy(0.0, *cols)) / 4.0
    assert np.allclose(act_c(torch.tensor(x)).numpy(), exp_c, rtol=1e-12, atol=1e-12)
    # units-first layout gives the same
    assert np.allclose(act_c(torch.tensor(x.T.copy()), unit_dim=0).numpy().T, exp_c)


def test_frozen_and_trainable():
    act = FittedTransfer("saturating", dict(amplitude=[1.0, 2.0], scale=3.0))
    assert act.n_units == 2 and not act.trainable
    assert all(not p.requires_grad for p in act.parameters())
    act2 = FittedTransfer("saturating", dict(amplitude=[1.0, 2.0], scale=3.0), trainable=True)
    assert act2.trainable and act2.scale.shape == (2,)


def _units():
    rows = [dict(threshold=t, slope=2.0, amplitude=20.0, baseline=0.0) for t in (8.0, 10.0, 12.0, 14.0)]
    rows.append(dict(amplitude=5.0, scale=3.0))
    return make_units_dataset([0, 1, 2, 3, 4], ["basal"] * 4 + ["apical"],
                              ["sigmoid"] * 4 + ["saturating"], rows, input_range=(0.0, 30.0))


def test_from_units_median_and_sample():
    ds = _units()
    med = FittedTransfer.from_units(ds, "basal", 6, init="median")
    assert med.family == "sigmoid"
    assert torch.allclose(med.threshold, torch.full((6,), 11.0))
    assert float(med.input_scale) == 30.0 and med.clamp == (0.0, 30.0)
    # the median unit maps 0 -> 0 and 1 -> 1
    y = med(torch.tensor([[0.0] * 6, [1.0] * 6]))
    assert torch.allclose(y, torch.tensor([[0.0] * 6, [1.0] * 6]), atol=1e-6)
    s1 = FittedTransfer.from_units(ds, "basal", 50, init="sample", seed=1)
    s2 = FittedTransfer.from_units(ds, "basal", 50, init="sample", seed=1)
    assert torch.equal(s1.threshold, s2.threshold)
    assert set(s1.threshold.tolist()) <= {8.0, 10.0, 12.0, 14.0} and len(set(s1.threshold.tolist())) > 1
    from dendritic_errors import InputError
    with pytest.raises(InputError, match="oblique"):
        FittedTransfer.from_units(ds, "oblique", 3)
