import numpy as np
import pytest
import torch

from dendritic_errors import InputError
from bridge.nn import DendriticLayer, load_units
from bridge.schema import UNITS_SCHEMA_VERSION, check_units, make_units_dataset, open_units, write_units

torch.set_num_threads(1)


def _ds():
    return make_units_dataset(
        [3, 7, 9], ["basal", "basal", "apical"], ["sigmoid", "supralinear", "linear"],
        [dict(threshold=10, slope=2, amplitude=20, baseline=0), dict(amplitude=1, scale=5),
         dict(slope=1, offset=0)],
        path_distance_um=[50, 120, 300], r2=[0.99, 0.95, 0.9], rmse_mV=[0.2, 0.4, 0.1],
        provenance={"cell": "l5pc", "seed": 1})


def test_round_trip(tmp_path):
    ds = _ds()
    assert set(ds.dims) == {"branch", "param", "branch_type", "family_name"}
    assert all("units" in ds[v].attrs for v in ds.data_vars)
    assert np.isnan(ds["params"].sel(branch=9, param="threshold"))
    p = tmp_path / "u.nc"
    write_units(ds, p)
    back = open_units(p)
    assert back.attrs["cell"] == "l5pc" and back.attrs["schema_version"] == UNITS_SCHEMA_VERSION
    assert list(back["type_family"].values) == ["sigmoid", "linear"]
    assert load_units(p).sizes["branch"] == 3


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.drop_vars("r2"), "missing variable 'r2'"),
    (lambda d: d.assign(r2=("branch_type", [1.0, 1.0], {"units": "1"})), "dims"),
    (lambda d: d.assign_attrs(schema_version=UNITS_SCHEMA_VERSION + 1), "newer"),
    (lambda d: d.assign_attrs(schema="bridge.characterization"), "not a units file"),
    (lambda d: d.assign_attrs(input_range_max=-1.0), "input range"),
    (lambda d: d.assign(family=("branch", np.array(["sigmoid", "cubic", "linear"], dtype=object),
                                {"units": "1"})), "unknown transfer family 'cubic'"),
])
def test_check_errors(mutate, message):
    with pytest.raises(InputError, match=message) as err:
        check_units(mutate(_ds()), source="x.nc")
    assert str(err.value).startswith("x.nc: ") and "\n" not in str(err.value)


def test_missing_units_attr_and_params():
    ds = _ds()
    del ds["rmse_mV"].attrs["units"]
    with pytest.raises(InputError, match="units"):
        check_units(ds)
    ds = _ds()
    ds["params"].loc[dict(branch=3, param="slope")] = np.nan
    with pytest.raises(InputError, match="no value for parameter 'slope'"):
        check_units(ds)


def test_open_units_bad_files(tmp_path):
    with pytest.raises(InputError, match="no such"):
        open_units(tmp_path / "missing.nc")
    good = tmp_path / "u.nc"
    write_units(_ds(), good)
    bad = tmp_path / "truncated.nc"
    bad.write_bytes(good.read_bytes()[:300])
    with pytest.raises(InputError, match="cannot read"):
        open_units(bad)
    txt = tmp_path / "t.nc"
    txt.write_text("hello")
    with pytest.raises(InputError):
        open_units(txt)


def test_layer_from_units(tmp_path):
    p = tmp_path / "u.nc"
    write_units(_ds(), p)
    layer = DendriticLayer.from_units(p, 49, 4, 3, 5, branch_type="basal", trainable=False, seed=2)
    assert layer.dendrite_act.family in ("sigmoid", "supralinear")
    assert layer(torch.rand(2, 49)).shape == (2, 4)
    assert not any(p.requires_grad for p in layer.dendrite_act.parameters())
