"""The fitting layer: characterization -> per-branch transfer functions and a two-layer
cell model -> units file (`bridge fit`). numpy/scipy only; never imports NEURON or torch.

    curves.py     fit one family to many curves at once; flags; model selection
    branches.py   every branch, placement and condition of an `integration` group; `timing`
    two_layer.py  Poirazi-style two-layer model and point-neuron baseline on `patterns`
    export.py     the units dataset (schema v2, `bridge.schema`)
    pipeline.py   file -> units dataset (what `bridge fit` runs)
    summary.py    a units dataset as a text table (what `bridge fit` prints)
    synthetic.py  characterization datasets with known transfer functions (tests, benchmarks)
"""
from bridge.fit.curves import CRITERIA, fit_curves, fit_family
from bridge.fit.pipeline import fit_characterization
from bridge.fit.summary import summary_table

__all__ = ["CRITERIA", "fit_curves", "fit_family", "fit_characterization", "summary_table"]
