"""Reading units files for the torch layers (the schema lives in `bridge.schema`)."""
from __future__ import annotations

import os

import xarray as xr

from bridge.schema import check_units, open_units


def load_units(path_or_ds) -> xr.Dataset:
    """A units dataset checked by `bridge.schema.check_units` (path or dataset)."""
    if isinstance(path_or_ds, xr.Dataset):
        return check_units(path_or_ds)
    return open_units(os.fspath(path_or_ds))
