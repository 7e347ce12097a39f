"""The declared schemas (bridge.schema): checkers, writers and docs all come from them."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from bridge.fit.synthetic import make_characterization
from bridge.nn import FittedTransfer
from bridge.nn.nonlinearities import TORCH_OPS
from bridge.schema import (CHARACTERIZATION_GROUPS, CHARACTERIZATION_SCHEMA_VERSION, UNITS_GROUPS, UNITS_SCHEMA_VERSION,
                           apply_spec, check_characterization_group, check_units, make_units_dataset,
                           open_characterization, open_units, schema_markdown, write_characterization, write_units)
from bridge.transfer import FAMILIES, NUMPY_OPS, all_param_names
from dendritic_errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def _bac(**overrides):
    data = {"soma_spikes": ("stimulus", np.array([1, 0, 3])),
            "dend_peak_mV": ("stimulus", np.array([-30.0, -45.0, 10.0])),
            "dend_above_plateau_ms": ("stimulus", np.array([0.0, 0.0, 12.5]))}
    data.update(overrides)
    return xr.Dataset(data, coords={"stimulus": ("stimulus", np.array(["soma", "dendrite", "both"], dtype=object))})


def _char():
    attrs, groups, _ = make_characterization(n_branches=4, seed=1, patterns=False)
    return attrs, {**groups, "bac": _bac()}


# --- the checker ------------------------------------------------------------------------

@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.drop_vars("dend_above_plateau_ms"), "missing variable 'dend_above_plateau_ms'"),
    (lambda d: d.assign(dend_peak_mV=(("x",), np.zeros(3), {"units": "mV"})), "'dend_peak_mV' has dims"),
    (lambda d: d.assign(dend_peak_mV=("stimulus", np.zeros(3), {"units": "V"})), "has units 'V', expected 'mV'"),
    (lambda d: d.assign(dend_peak_mV=("stimulus", np.zeros(3))), "'dend_peak_mV' has no 'units'"),
    (lambda d: d.assign(dend_peak_mV=("stimulus", np.array(["a", "b", "c"], dtype=object), {"units": "mV"})),
     "expected a number"),
])
def test_checker_refuses(mutate, message):
    good = apply_spec(_bac(), [CHARACTERIZATION_GROUPS["bac"]])
    check_characterization_group(good, "bac")
    with pytest.raises(InputError, match=message):
        check_characterization_group(mutate(good), "bac", source="c.nc")


def test_units_checker_refuses_wrong_units():
    ds = make_units_dataset([1], ["basal"], ["linear"], [dict(slope=1, offset=0)])
    ds["rmse_mV"].attrs["units"] = "V"
    with pytest.raises(InputError, match="'rmse_mV' has units 'V', expected 'mV'"):
        check_units(ds, source="u.nc")


# --- the writers take units and long names from the declarations ------------------------

def test_writer_fills_attrs(tmp_path):
    attrs, groups = _char()
    assert "units" not in groups["bac"]["dend_peak_mV"].attrs
    write_characterization(groups, attrs, tmp_path / "c.nc")
    back = open_characterization(tmp_path / "c.nc")
    spec = CHARACTERIZATION_GROUPS["bac"].var("dend_above_plateau_ms")
    assert back["bac"]["dend_above_plateau_ms"].attrs["units"] == "ms"
    assert back["bac"]["dend_above_plateau_ms"].attrs["long_name"] == spec.long_name
    assert "param_plateau_level_mV" in spec.long_name
    u = make_units_dataset([1, 2], ["basal"] * 2, ["linear"] * 2, [dict(slope=1, offset=0)] * 2)
    for g in UNITS_GROUPS.values():
        for v in g.vars:
            if v.name in u.variables:
                assert u[v.name].attrs["long_name"] == v.long_name
                assert u[v.name].attrs["units"] == v.units


def test_writer_with_other_units_is_an_error(tmp_path):
    attrs, groups = _char()
    groups["bac"] = _bac(dend_peak_mV=("stimulus", np.zeros(3), {"units": "V", "long_name": "mine"}))
    with pytest.raises(ValueError, match="'dend_peak_mV': the writer gives units 'V'"):
        write_characterization(groups, attrs, tmp_path / "c.nc")
    # agreeing units and extra attributes of the assembler are kept
    groups["bac"] = _bac(dend_peak_mV=("stimulus", np.zeros(3), {"units": "mV", "note": "kept"}))
    write_characterization(groups, attrs, tmp_path / "c.nc")
    assert open_characterization(tmp_path / "c.nc")["bac"]["dend_peak_mV"].attrs["note"] == "kept"


# --- documentation ----------------------------------------------------------------------

def test_markdown_lists_every_variable_and_docs_are_current():
    md = schema_markdown()
    for groups in (UNITS_GROUPS, CHARACTERIZATION_GROUPS):
        for g in groups.values():
            assert f"### Group `{g.name}`" in md
            for v in g.vars:
                assert f"| `{v.name}`" in md, v.name
    for fam in FAMILIES.values():
        assert f"| `{fam.name}` |" in md
    assert (ROOT / "docs" / "schema.md").read_text() == md, "regenerate with: python -m bridge.schema"


# --- units file: groups, old versions --------------------------------------------------

def _fitted_units(tmp_path):
    from bridge.fit.pipeline import fit_characterization
    from bridge.fit.synthetic import write_characterization as write_char
    attrs, groups, _ = make_characterization(n_branches=4, seed=2, n_patterns=120)
    write_char(tmp_path / "c.nc", attrs, groups)
    return fit_characterization(tmp_path / "c.nc").units


def test_units_groups_round_trip(tmp_path):
    u = _fitted_units(tmp_path)
    write_units(u, tmp_path / "u.nc")
    tree = xr.open_datatree(tmp_path / "u.nc", engine="h5netcdf")
    assert set(tree.children) == {"transfer", "diagnostics", "two_layer"}
    assert not tree.to_dataset().data_vars
    for name, g in UNITS_GROUPS.items():
        declared = {v.name for v in g.vars if not v.coord}
        assert set(tree[name].to_dataset().data_vars) == declared
    assert tree.attrs["schema_version"] == UNITS_SCHEMA_VERSION
    back = open_units(tmp_path / "u.nc")
    xr.testing.assert_identical(back, u)
    # a version-3 file (same groups, no temporal models) is read and marked converted
    tree.attrs["schema_version"] = 3
    tree.to_netcdf(tmp_path / "v3.nc", engine="h5netcdf")
    v3 = open_units(tmp_path / "v3.nc")
    assert v3.attrs["schema_version"] == UNITS_SCHEMA_VERSION and v3.attrs["converted_from_schema_version"] == 3
    xr.testing.assert_equal(v3, u)


def test_old_flat_units_files_are_converted(tmp_path):
    u = _fitted_units(tmp_path)
    flat = u.drop_vars(["param_units", "count_param_units", "family_name"]).assign_attrs(schema_version=2)
    for v in ("params", "curve_params", "type_params_median"):
        flat[v].attrs["units"] = "family-specific (see bridge.transfer)"
    flat.to_netcdf(tmp_path / "v2.nc", engine="h5netcdf")
    back = open_units(tmp_path / "v2.nc")
    assert back.attrs["schema_version"] == UNITS_SCHEMA_VERSION and back.attrs["converted_from_schema_version"] == 2
    xr.testing.assert_equal(back["param_units"], u["param_units"])
    assert back["params"].attrs["units"] == u["params"].attrs["units"]
    # the committed demo units (version 2) still drive the torch layers
    demo = open_units(ROOT / "benchmarks" / "results" / "units_l5pc_demo.nc")
    assert FittedTransfer.from_units(demo, "basal", 3).family == str(demo["type_family"].sel(branch_type="basal").values)


def test_characterization_v1(tmp_path):
    attrs, groups = _char()
    write_characterization(groups, attrs, tmp_path / "c.nc")
    tree = xr.open_datatree(tmp_path / "c.nc", engine="h5netcdf").load()
    tree.attrs["schema_version"] = 1
    tree.to_netcdf(tmp_path / "v1.nc", engine="h5netcdf")
    with pytest.raises(InputError, match=r"v1 file.*regenerate it with `bridge characterize synthetic "
                                         r"--protocols integration,timing,bac -o v1.nc`") as err:
        open_characterization(tmp_path / "v1.nc")
    assert "\n" not in str(err.value)
    # without a bac group nothing changed between versions 1 and 2: read
    del groups["bac"]
    write_characterization(groups, attrs, tmp_path / "c.nc")
    tree = xr.open_datatree(tmp_path / "c.nc", engine="h5netcdf").load()
    tree.attrs["schema_version"] = 1
    tree.to_netcdf(tmp_path / "v1.nc", engine="h5netcdf")
    assert set(open_characterization(tmp_path / "v1.nc")) == {"integration", "timing"}
    assert CHARACTERIZATION_SCHEMA_VERSION == 2


# --- parameter units per family ---------------------------------------------------------

def test_param_units_per_family(tmp_path):
    for fam in FAMILIES.values():
        assert len(fam.param_units()) == len(fam.param_names)
        assert all(fam.param_units())
    units = dict(zip(FAMILIES["sigmoid"].param_names, FAMILIES["sigmoid"].param_units()))
    assert units == {"threshold": "mV", "slope": "mV", "amplitude": "mV", "baseline": "mV"}
    assert FAMILIES["linear"].param_units() == ("mV/mV", "mV")
    assert FAMILIES["supralinear"].param_units("synapses", "mV") == ("mV", "synapses")
    u = _fitted_units(tmp_path)
    for fam in FAMILIES.values():
        row = u["param_units"].sel(family_name=fam.name)
        assert tuple(row.sel(param=list(fam.param_names)).values) == fam.param_units()
        others = [p for p in all_param_names() if p not in fam.param_names]
        assert set(row.sel(param=others).values) <= {""}
        count = u["count_param_units"].sel(family_name=fam.name, param=list(fam.param_names)).values
        assert tuple(count) == fam.param_units("synapses", "mV")


# --- one Family object for fitting and torch --------------------------------------------

@pytest.mark.parametrize("name", list(FAMILIES))
def test_numpy_and_torch_evaluate_the_same_family(name):
    fam = FAMILIES[name]
    rng = np.random.default_rng(0)
    x = rng.uniform(-5, 40, 50)
    if name == "spline":
        p = list(np.linspace(0, 40, 8)) + list(np.cumsum(rng.uniform(0, 3, 8)))
    else:
        p = [rng.uniform(1, 10) * (1 if q.positive else rng.choice([-1, 1])) for q in fam.params]
    expected = fam.fn_numpy(x, *p)
    got = fam.formula(torch.as_tensor(x), *[torch.tensor(v, dtype=torch.float64) for v in p], ops=TORCH_OPS)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)
    act = FittedTransfer(name, np.array(p), center=False, dtype=torch.float64)
    assert act.fam is fam
    np.testing.assert_allclose(act(torch.as_tensor(x)[:, None]).detach().numpy()[:, 0], expected, rtol=1e-12)
    if fam.jacobian is not None:   # the fit's Jacobian is the derivative of this very formula
        nat = np.array(p)[None, :]
        _, J = fam.model(x[None, :], nat)
        for i in range(len(p)):
            h = 1e-6 * max(1.0, abs(p[i]))
            up, dn = nat.copy(), nat.copy()
            up[0, i] += h
            dn[0, i] -= h
            fd = (fam.formula(x[None, :], *up.T[:, :, None], ops=NUMPY_OPS)
                  - fam.formula(x[None, :], *dn.T[:, :, None], ops=NUMPY_OPS)) / (2 * h)
            np.testing.assert_allclose(J[0, :, i], fd[0], rtol=1e-5, atol=1e-6)


def test_bridge_nn_imports_no_simulator():
    code = ("import sys, bridge.nn; bad = [m for m in ('cells', 'neuron', 'brian2') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


# --- corruption: every array is written with a Fletcher-32 checksum, a mismatch is refused ---

def _h5_arrays(path):
    """name -> h5py dataset of the netCDF variables (not h5netcdf's phony dimension scales)."""
    import h5py

    out = {}
    f = h5py.File(path, "r")

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and b"not a netCDF variable" not in bytes(
                obj.attrs.get("NAME", b"")):
            out[name] = obj
    f.visititems(visit)
    return f, out


def _flip_byte(path, var, at=3):
    """Corrupt one byte inside the first stored chunk of `var` (a path inside the file)."""
    import h5py

    with h5py.File(path, "r") as f:
        dset = f[var]
        offset = dset.id.get_chunk_info(0).byte_offset if dset.chunks else dset.id.get_offset()
    with open(path, "r+b") as fh:
        fh.seek(offset + at)
        byte = fh.read(1)[0]
        fh.seek(offset + at)
        fh.write(bytes([byte ^ 0xFF]))


def _written_files(tmp_path):
    attrs, groups = _char()
    write_characterization(groups, attrs, tmp_path / "c.nc")
    units = make_units_dataset([1, 2, 3], ["basal", "basal", "tuft"], ["linear", "sigmoid", "linear"],
                               [dict(slope=1, offset=0), dict(threshold=5, slope=1, amplitude=9, baseline=0),
                                dict(slope=2, offset=1)])
    write_units(units, tmp_path / "u.nc")
    return {"characterization": tmp_path / "c.nc", "units": tmp_path / "u.nc"}


def test_every_array_is_written_with_a_checksum(tmp_path):
    for path in _written_files(tmp_path).values():
        f, arrays = _h5_arrays(path)
        with f:
            checked = {n for n, d in arrays.items() if d.fletcher32}
            # HDF5 allows no filters on scalars and variable-length strings (labels)
            exempt = {n for n, d in arrays.items() if d.ndim == 0 or d.dtype.kind == "O"}
            assert checked and set(arrays) - exempt == checked, (path, set(arrays) - exempt - checked)
            assert all(arrays[n].chunks for n in checked)
    f, arrays = _h5_arrays(tmp_path / "c.nc")
    with f:
        assert arrays["integration/measured_local_mV"].fletcher32
        assert arrays["integration/branch"].fletcher32               # coordinates too


@pytest.mark.parametrize("kind,var", [("characterization", "integration/measured_local_mV"),
                                      ("units", "transfer/params")])
def test_a_corrupted_file_is_refused_in_one_line(tmp_path, kind, var):
    path = _written_files(tmp_path)[kind]
    opener = {"characterization": open_characterization, "units": open_units}[kind]
    opener(path)                                          # intact: reads
    _flip_byte(path, var)
    with pytest.raises(InputError) as err:
        opener(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{path}: corrupted {kind} file") and "checksum" in msg


def test_without_checksums_the_same_corruption_would_be_read_silently(tmp_path):
    """Why the checksums: HDF5 itself notices nothing. Files written before them still open."""
    attrs, groups = _char()
    write_characterization(groups, attrs, tmp_path / "c.nc")
    tree = xr.open_datatree(tmp_path / "c.nc", engine="h5netcdf").load()
    for node in tree.subtree:
        for v in node.variables.values():
            v.encoding = {}
    tree.to_netcdf(tmp_path / "old.nc", engine="h5netcdf")          # as written before: no checksums
    f, arrays = _h5_arrays(tmp_path / "old.nc")
    with f:
        assert not any(d.fletcher32 for d in arrays.values())
    good = open_characterization(tmp_path / "old.nc")["integration"]["measured_local_mV"].values
    _flip_byte(tmp_path / "old.nc", "integration/measured_local_mV", at=6)
    bad = open_characterization(tmp_path / "old.nc")["integration"]["measured_local_mV"].values
    assert not np.array_equal(good, bad, equal_nan=True)


def test_cli_refuses_a_corrupted_input(tmp_path, capsys):
    from bridge.cli import main

    path = _written_files(tmp_path)["characterization"]
    _flip_byte(path, "integration/measured_local_mV")
    out = tmp_path / "units_out.nc"
    assert main(["fit", str(path), "-o", str(out), "--no-two-layer"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"bridge fit: error: {path}: corrupted characterization file")
    assert not out.exists()
