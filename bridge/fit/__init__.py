"""The fitting layer: characterization -> per-branch transfer functions and a two-layer
cell model -> units file (`bridge fit`). numpy/scipy only; never imports NEURON or torch.

    curves.py     fit one family to many curves at once; flags; model selection
    branches.py   every branch, placement and condition of an `integration` group; `timing`
    two_layer.py  Poirazi-style two-layer model and point-neuron baseline on `patterns`
    export.py     the units dataset (schema v2, `bridge.schema`)
    pipeline.py   file -> units dataset (what `bridge fit` runs)
    summary.py    a units dataset as a text table (what `bridge fit` prints)
    synthetic.py  characterization datasets with known transfer functions (tests, benchmarks)
    dispersion.py subunit curves and the two-layer model on `cluster_dispersion`
    temporal.py   temporal neuron models on `invivo` (`bridge fit --temporal`)
    report.py     the --report JSON
"""
from importlib import import_module

# imported on first use, so the command line's parser (which reads bridge.fit.temporal's
# defaults) does not load scipy: `bridge --help` stays under a second
_EXPORTS = {"CRITERIA": "curves", "fit_curves": "curves", "fit_family": "curves",
            "fit_characterization": "pipeline", "summary_table": "summary"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"bridge.fit.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'bridge.fit' has no attribute {name!r}")
