"""Altered copies of a Morphology, for testing how well a fitted model generalises to
cells it was not fitted on.

- `scaled(m, trunk_length=, diameter=)`: apical trunk branches stretched along their own
  points (everything beyond them moves with them), dendritic radii multiplied.
- `pruned(m, fraction, seed)`: a seeded random `fraction` of the terminal dendritic
  branches removed (never trunk branches, so the apical path the protocols use remains).
- `without_axon(m)`: the axon branches removed.
- `variants(m, seed)`: a standard set of these, named.

Branch types and the nexus are kept as they are (a variant is the same cell, altered);
path distances are recomputed. A pruned parent left with one child keeps its two
sections in series rather than being merged. Each copy gets its own `sha256` (derived
from the original's and the change) and a name that says what was changed.

There is no "axon reattached" variant: every Morphology already has its dendrites that
hung off the axon reattached to the soma (assemble.py), and both simulators replace the
axon branches by the recipe's stub, so `without_axon` simulates the same cell; it is a
check of exactly that.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .tree import Branch, Morphology

DENDRITE_TYPES = ("basal", "trunk", "oblique", "tuft")


def _copy(m: Morphology, change: str, points: dict[int, np.ndarray], keep: list[int]) -> Morphology:
    """Branches `keep` (ids in increasing order, parents kept) with new points, renumbered,
    path distances recomputed from the soma."""
    new_id = {old: i for i, old in enumerate(keep)}
    branches: list[Branch] = []
    for old in keep:
        b = m.branches[old]
        pts = points.get(old, b.xyzr_um)
        if b.parent_id is None or b.parent_id == 0:
            dist = 0.0
        else:
            p = branches[new_id[b.parent_id]]
            dist = p.path_distance_um + p.length_um
        branches.append(Branch(id=new_id[old], type=b.type,
                               parent_id=None if b.parent_id is None else new_id[b.parent_id],
                               parent_x=b.parent_x, xyzr_um=pts, path_distance_um=dist, order=b.order))
    nexus = new_id.get(m.main_bifurcation_id) if m.main_bifurcation_id is not None else None
    sha = hashlib.sha256(f"{m.sha256}:{change}".encode()).hexdigest()
    return Morphology(name=f"{m.name}~{change}", source=m.source, sha256=sha, branches=tuple(branches),
                      main_bifurcation_id=nexus, warnings=m.warnings)


def scaled(m: Morphology, trunk_length: float = 1.0, diameter: float = 1.0) -> Morphology:
    """Trunk branches `trunk_length` times as long, dendritic diameters `diameter` times."""
    if trunk_length <= 0 or diameter <= 0:
        raise ValueError("trunk_length and diameter must be positive")
    points: dict[int, np.ndarray] = {}
    shift: dict[int, np.ndarray] = {0: np.zeros(3)}     # how far each branch's end moved
    for b in m.branches[1:]:
        pts = b.xyzr_um.copy()
        # the branch moves with its parent's end (soma children: the soma does not move)
        moved = shift[b.parent_id] if b.parent_id != 0 else np.zeros(3)
        if b.type == "trunk":
            steps = np.diff(pts[:, :3], axis=0) * trunk_length
            pts[1:, :3] = pts[0, :3] + np.cumsum(steps, axis=0)
        pts[:, :3] += moved
        shift[b.id] = pts[-1, :3] - b.xyzr_um[-1, :3]
        if b.type in DENDRITE_TYPES:
            pts[:, 3] *= diameter
        points[b.id] = pts
    change = f"trunk_x{trunk_length:g}_diam_x{diameter:g}"
    return _copy(m, change, points, list(range(len(m.branches))))


def pruned(m: Morphology, fraction: float, seed: int = 0) -> Morphology:
    """Without a seeded random `fraction` (0..1) of the terminal non-trunk dendrites."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    tips = [b.id for b in m.branches[1:]
            if b.type in ("basal", "oblique", "tuft") and not m.children(b.id)]
    n = int(round(fraction * len(tips)))
    drop = set(np.random.default_rng(seed).choice(tips, size=n, replace=False).tolist()) if n else set()
    keep = [b.id for b in m.branches if b.id not in drop]
    return _copy(m, f"pruned{fraction:g}_seed{seed}", {}, keep)


def without_axon(m: Morphology) -> Morphology:
    """Without the axon branches (no other branch hangs off them)."""
    keep = [b.id for b in m.branches if b.type != "axon"]
    return _copy(m, "no_axon", {}, keep)


def variants(m: Morphology, seed: int = 0) -> dict[str, Morphology]:
    """Trunk length and dendritic diameters x0.7 and x1.3, 20 % of the terminal branches
    pruned (seeded), and the axon removed; keyed by what was changed."""
    out = {f"trunk_x{f:g}": scaled(m, trunk_length=f) for f in (0.7, 1.3)}
    out.update({f"diam_x{f:g}": scaled(m, diameter=f) for f in (0.7, 1.3)})
    out["pruned_20%"] = pruned(m, 0.2, seed)
    out["no_axon"] = without_axon(m)
    return out
