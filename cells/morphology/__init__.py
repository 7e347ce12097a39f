"""Morphology layer of the detailed cells: pure Python + numpy (no simulator).

- `read_swc(path)`: strict SWC import (errors are `SWCError`, "path:line: problem"; what
  it changes, e.g. dendrites moved off the axon, is `Morphology.warnings` and a
  `MorphologyWarning`). docs/cells.md tabulates the outcome of each kind of file.
- `builtin_morphology("l5pc" | "ca1", seed)`: generated cells, no files needed.
- `Morphology` / `Branch`: unbranched cables (um), typed soma/axon/basal/trunk/oblique/tuft.
- `nseg_d_lambda`: the d_lambda rule for the number of segments per branch.
- `variants.variants(m, seed)`: scaled, pruned and axon-less copies for generalisation tests.

Path distances start at 0 for the first point of every child of the soma. The apical
tree is split into trunk/oblique/tuft by the rule in `apical.py`: the trunk follows the
thicker child; the nexus is the first trunk branch point whose side child has >= 0.5 x
the continuation's proximal diameter and >= 0.3 x its subtree length.
"""
from .tree import BRANCH_TYPES, Branch, Morphology
from .swc import MorphologyWarning, SWCError, parse_swc, read_swc
from .builtin import BUILTIN_NAMES, builtin_morphology
from .compartments import lambda_f_um, mean_diameter_um, nseg_cable, nseg_d_lambda

__all__ = [
    "BRANCH_TYPES", "BUILTIN_NAMES", "Branch", "Morphology", "MorphologyWarning", "SWCError",
    "builtin_morphology", "lambda_f_um", "mean_diameter_um", "nseg_cable", "nseg_d_lambda",
    "parse_swc", "read_swc",
]
