"""Reading a characterization file for fitting (`bridge.schema.open_characterization`)."""
from __future__ import annotations

import os

from bridge.schema import PROVENANCE_ATTRS, open_characterization
from dendritic_errors import InputError


def read_characterization(path, required=("integration",), optional=("timing", "patterns")):
    """(provenance attributes, {protocol: dataset}) with the groups in `required` and those
    of `optional` that are present. Raises `InputError` naming the file and what is wrong:
    not a netCDF file, another kind of file (e.g. a units file), a missing protocol group,
    a missing or malformed variable (checked by `bridge.schema`)."""
    path = os.fspath(path)
    try:
        groups = open_characterization(path)
    except InputError as err:
        msg = str(err)
        if "schema='bridge.units'" in msg:
            raise InputError(f"{path}: this is a units file (the output of `bridge fit`), not a "
                             "characterization file; `bridge fit` reads the output of `bridge characterize`") from None
        raise
    for name in required:
        if name not in groups:
            have = ", ".join(groups) or "none"
            raise InputError(f"{path}: no {name!r} protocol group (protocols present: {have}); "
                             f"run `bridge characterize` with the {name} protocol")
    any_group = next(iter(groups.values()), None)
    attrs = {k: any_group.attrs[k] for k in PROVENANCE_ATTRS if any_group is not None and k in any_group.attrs}
    return attrs, {k: v for k, v in groups.items() if k in (*required, *optional)}
