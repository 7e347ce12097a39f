"""Split the apical tree into trunk, oblique and tuft branches and find the nexus.

Rule (documented in the package docstring, tuned on Hay et al. 2011 cell1, CA1 n120 and
both built-in cells):

1. The main apical root is the apical child of the soma with the largest subtree length;
   other apical children of the soma are obliques.
2. The trunk follows, at each branch point, the child with the largest proximal diameter
   (length-weighted mean over its first PROXIMAL_UM); children whose proximal diameter is
   within TIE_RATIO of the largest count as tied and the larger subtree length wins.
3. The main bifurcation (nexus) is the end of the first trunk branch where the largest
   side child is trunk-like: proximal diameter >= NEXUS_DIAM_RATIO x the continuation's
   and subtree length >= NEXUS_SUBTREE_RATIO x the continuation's.
4. Trunk branches up to and including the one ending at the nexus are `trunk`; all of
   the nexus's descendants are `tuft`; side branches leaving the trunk before the nexus
   (and their descendants) are `oblique`. If no branch point qualifies the whole trunk
   path is `trunk`, there is no tuft, and the nexus is the last trunk branch point (the
   end of the trunk's last branch that has children), or None for an unbranched trunk.

Calibration (side/continuation ratios of proximal diameter, subtree length): at the
nexus, Hay cell1 1.00/0.40 (627 um) and CA1 n120 0.60/0.59 (570 um); before it, no
trunk branch point has both ratios above 0.5/0.3 (closest: n120 at 288 um 0.39/0.26,
at 296 um 0.52/0.15; cell1 at 253 um 0.52/0.11). The builtins split evenly at the nexus.
"""
from __future__ import annotations

import numpy as np

PROXIMAL_UM = 20.0
TIE_RATIO = 0.95
NEXUS_DIAM_RATIO = 0.5
NEXUS_SUBTREE_RATIO = 0.3


def _proximal_diameter(pts: np.ndarray) -> float:
    """Length-weighted mean diameter (um) over the first PROXIMAL_UM of a branch."""
    seg = np.linalg.norm(np.diff(pts[:, :3], axis=0), axis=1)
    d = pts[:-1, 3] + pts[1:, 3]                  # mean diameter of each segment
    start = np.concatenate([[0.0], np.cumsum(seg)[:-1]])
    w = np.clip(PROXIMAL_UM - start, 0.0, seg)
    if w.sum() <= 0.0:
        return float(d.mean())
    return float(np.sum(w * d) / w.sum())


def classify_apical(parent_ids: list[int | None], points: list[np.ndarray],
                    types: list[str]) -> tuple[list[str], int | None]:
    """Return branch types with each "apical" replaced by trunk/oblique/tuft, and the id
    of the trunk branch ending at the nexus (None without an apical tree).

    Branch ids are list indices; parents precede children."""
    n = len(types)
    children: list[list[int]] = [[] for _ in range(n)]
    for i, p in enumerate(parent_ids):
        if p is not None:
            children[p].append(i)
    lengths = [float(np.sum(np.linalg.norm(np.diff(p[:, :3], axis=0), axis=1))) for p in points]
    subtree = list(lengths)
    for i in range(n - 1, 0, -1):
        subtree[parent_ids[i]] += subtree[i]
    diam = [_proximal_diameter(p) for p in points]

    out = list(types)
    roots = [c for c in children[0] if types[c] == "apical"]
    if not roots:
        return out, None

    def mark(i: int, label: str) -> None:
        stack = [i]
        while stack:
            j = stack.pop()
            out[j] = label
            stack.extend(children[j])

    def rank(c: int, best_diam: float) -> tuple[bool, float, float]:
        return (diam[c] >= TIE_RATIO * best_diam, subtree[c], diam[c])

    main = max(roots, key=lambda c: (subtree[c], diam[c]))
    for r in roots:
        if r != main:
            mark(r, "oblique")

    trunk, nexus, last_branching = main, None, None
    while True:
        out[trunk] = "trunk"
        kids = children[trunk]
        if not kids:
            break
        last_branching = trunk
        best_diam = max(diam[c] for c in kids)
        cont = max(kids, key=lambda c: rank(c, best_diam))
        sides = [c for c in kids if c != cont]
        if sides:
            side = max(sides, key=lambda c: (diam[c], subtree[c]))
            if (diam[side] >= NEXUS_DIAM_RATIO * diam[cont]
                    and subtree[side] >= NEXUS_SUBTREE_RATIO * subtree[cont]):
                nexus = trunk
                for c in kids:
                    mark(c, "tuft")
                break
        for c in sides:
            mark(c, "oblique")
        trunk = cont
    if nexus is None:
        nexus = last_branching
    return out, nexus
