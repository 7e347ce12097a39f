"""Helpers shared by the characterization tests (test_characterize, test_long_protocols)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from bridge.schema import open_characterization


def cli(args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "bridge.cli", "characterize", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, **kw)


def assert_same_data(a, b):
    """Identical variables, coordinates and attributes, except the creation time."""
    ga, gb = open_characterization(a), open_characterization(b)
    assert ga.keys() == gb.keys()
    for name in ga:
        xr.testing.assert_identical(ga[name].drop_attrs(), gb[name].drop_attrs())
        attrs_a = {k: v for k, v in ga[name].attrs.items() if k != "created"}
        attrs_b = {k: v for k, v in gb[name].attrs.items() if k != "created"}
        assert attrs_a.keys() == attrs_b.keys()
        for k in attrs_a:
            np.testing.assert_array_equal(attrs_a[k], attrs_b[k])


def _reference_run(tmp_path_factory, name, args):
    out = tmp_path_factory.mktemp(name) / "ref.nc"
    proc = cli([*args, "-o", str(out)])
    assert proc.returncode == 0, proc.stderr
    return out


def _parts(out):
    return {p.stem for p in Path(f"{out}.parts").glob("*.npz")}
