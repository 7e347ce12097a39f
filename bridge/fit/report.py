"""What `bridge fit` prints, as data: the JSON written by ``bridge fit --report FILE.json``.

One object per whole-cell fit (``patterns``: the two-layer model of the units file;
``cluster_dispersion``: Poirazi, Brannon & Mel 2003's experiment), each with, per model,
the variance explained of every target on the held-out and the training runs, the number of
parameters fitted at the whole-cell stage (`bridge.fit.two_layer.n_parameters`), and the
numbers of train and test runs, so that scripts and benchmarks read the figures instead of
parsing text. NaN (a target that could not be fitted) is written as null, with its flag.
"""
from __future__ import annotations

import json
import math

import numpy as np

from bridge.fit.two_layer import TwoLayerResult, n_parameters

REPORT_SCHEMA = "bridge.fit_report"
REPORT_VERSION = 1


def _num(v):
    v = float(v)
    return None if math.isnan(v) else round(v, 6)


def two_layer_report(res: TwoLayerResult, *, subunit_source: list, extra: dict | None = None) -> dict:
    B = len(res.branch)
    models = {}
    for i, m in enumerate(res.models):
        models[m] = {
            "variance_explained_test": {t: _num(res.ve_test[i, j]) for j, t in enumerate(res.targets)},
            "variance_explained_train": {t: _num(res.ve_train[i, j]) for j, t in enumerate(res.targets)},
            "flags": {t: str(res.flags[i, j]) for j, t in enumerate(res.targets) if str(res.flags[i, j])},
            "n_parameters": n_parameters(m, B),
        }
    sources = {s: int(sum(1 for x in subunit_source if x == s)) for s in dict.fromkeys(subunit_source)}
    return {"n_train": int(res.n_train), "n_test": int(res.n_test), "n_subunits": B,
            "subunit_source": sources, "targets": list(res.targets), "models": models, **(extra or {})}


def fit_report(result, source: str) -> dict:
    """The report of a `bridge.fit.pipeline.FitResult`."""
    out = {"schema": REPORT_SCHEMA, "schema_version": REPORT_VERSION, "characterization": str(source)}
    groups = result.groups
    any_group = next(iter(groups.values()))
    out["cell"] = str(any_group.attrs.get("cell", ""))
    u = result.units
    if u is not None:
        fams = np.asarray(u["family"].values).astype(str)
        out["branches"] = {"n_fitted": int(u.sizes["branch"]), "n_skipped": len(result.skipped),
                           "families": {f: int(np.sum(fams == f)) for f in sorted(set(fams))},
                           "median_r2": _num(np.nanmedian(u["r2"].values)) if u.sizes["branch"] else None}
        tl = getattr(result, "two_layer", None)
        if tl is not None:
            out["patterns"] = two_layer_report(tl, subunit_source=result.subunit_source)
    d = result.dispersion
    if d is not None:
        out["cluster_dispersion"] = two_layer_report(
            d.result, subunit_source=["cluster_dispersion_curve"] * len(d.branch),
            extra={"n_runs": d.n_runs, "curve_context_synapses": d.curve_context, "subunit_families": {f: d.families.count(f) for f in sorted(set(d.families))},
                   "subunit_median_r2": _num(np.nanmedian(d.r2))})
    return out


def _clean(obj):
    """JSON-able: numpy scalars to Python numbers, NaN and infinities to null."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    return obj


def write_report(report: dict, path) -> None:
    """Write atomically (a temporary file, then rename), so a killed run leaves no half file."""
    from bridge.io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(_clean(report), fh, indent=2, allow_nan=False)
            fh.write("\n")
