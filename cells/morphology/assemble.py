"""Samples (SWC-like points) -> branches -> Morphology.

Input is a validated sample tree: `kinds[i]` in {1 soma, 2 axon, 3 basal, 4 apical}
(already resolved for custom types), `xyzr[i]` x, y, z, radius (um), `parent[i]` the
index of the parent sample (-1 for the root, which is a soma sample).

Conventions (see also tree.py):
- The soma is the connected group of soma samples containing the root. A single sample
  of radius r becomes a cylinder of length and diameter 2r along y, centred on it (the
  area of the sphere). Several samples become one branch along the longest path through
  the group (soma samples off that path only contribute their attachments); the
  NeuroMorpho 3-point soma (centre, centre - r, centre + r) is the cylinder it stands for.
- A contour soma (an outline traced around the cell body: a chain of >= 4 soma samples
  that is more than CONTOUR_RATIO times longer along the chain than across, end to end)
  becomes the cylinder of a single sample centred on the outline's centroid with r the
  mean distance of the outline from it; a warning says so.
- A branch ends at a sample with several children, at a tip, or where the SWC type
  changes. A child of a non-soma branch starts at its parent's last point with its own
  first sample's radius; a child of the soma starts at its own first sample (the soma
  centre is prepended only when the branch would otherwise have a single point).
- Children of the soma attach at parent_x 0.5, others at 1.0. `order` is 1 for branches
  leaving the soma and grows by one at each branch point (not at a type change).
- A dendrite that hangs off the axon (seen in real CA1 reconstructions) is reattached to
  the soma, since both simulators replace the axon by the recipe's stub: it keeps its
  points (starting at the axon sample it hung off), attaches at the soma's 0.5 with
  order 1 and path distance 0, and a warning says so. The axon branches stay in the
  Morphology (summaries, plots); no non-axon branch has an axon parent.
"""
from __future__ import annotations

import numpy as np

from .apical import classify_apical
from .tree import Branch, Morphology

KIND_NAMES = {1: "soma", 2: "axon", 3: "basal", 4: "apical"}
CONTOUR_RATIO = 2.0   # a line of samples has ratio ~1, a traced outline ~pi


def _children_lists(parent: np.ndarray) -> list[list[int]]:
    children: list[list[int]] = [[] for _ in range(len(parent))]
    for i, p in enumerate(parent):
        if p >= 0:
            children[p].append(i)
    return children


def _longest_path(nodes: list[int], parent: np.ndarray, xyz: np.ndarray) -> list[int]:
    """Longest (by Euclidean length) path through a small tree of samples, end to end."""
    node_set = set(nodes)
    adj: dict[int, list[int]] = {n: [] for n in nodes}
    for n in nodes:
        p = int(parent[n])
        if p in node_set:
            adj[n].append(p)
            adj[p].append(n)

    def farthest(start: int) -> tuple[int, dict[int, int]]:
        dist, prev, stack = {start: 0.0}, {start: -1}, [start]
        while stack:
            u = stack.pop()
            for v in adj[u]:
                if v not in dist:
                    dist[v] = dist[u] + float(np.linalg.norm(xyz[u] - xyz[v]))
                    prev[v] = u
                    stack.append(v)
        end = max(sorted(dist), key=lambda n: dist[n])
        return end, prev

    a, _ = farthest(nodes[0])
    b, prev = farthest(a)
    path = [b]
    while prev[path[-1]] != -1:
        path.append(prev[path[-1]])
    return path


def _cylinder(x: float, y: float, z: float, r: float) -> np.ndarray:
    return np.array([[x, y - r, z, r], [x, y + r, z, r]])


def _soma_points(soma: list[int], parent: np.ndarray, xyzr: np.ndarray) -> tuple[np.ndarray, str | None]:
    """The soma branch's points and, for a contour soma, what was made of it."""
    if len(soma) == 1:
        return _cylinder(*xyzr[soma[0]]), None
    path = _longest_path(soma, parent, xyzr[:, :3])
    xyz = xyzr[path, :3]
    along = float(np.sum(np.linalg.norm(np.diff(xyz, axis=0), axis=1)))
    across = float(np.max(np.linalg.norm(xyz[:, None] - xyz[None], axis=2)))
    if len(path) == len(soma) >= 4 and along > CONTOUR_RATIO * across:
        centre = xyz.mean(axis=0)
        r = float(np.mean(np.linalg.norm(xyz - centre, axis=1)))
        note = (f"soma is a contour of {len(soma)} samples ({along:.1f} um around, {across:.1f} um across); "
                f"replaced by a cylinder of length and diameter {2 * r:.1f} um at its centroid")
        return _cylinder(*centre, r), note
    return xyzr[path], None


def build_morphology(name: str, source: str, sha256: str, kinds: np.ndarray,
                     xyzr: np.ndarray, parent: np.ndarray, lines: np.ndarray | None = None) -> Morphology:
    """Split a validated sample tree into branches, type them and return the Morphology.

    `lines` (the file line of each sample) only makes the warnings (`Morphology.warnings`,
    "source:line: what was changed") point into the file."""
    kinds = np.asarray(kinds, dtype=int)
    xyzr = np.asarray(xyzr, dtype=float)
    parent = np.asarray(parent, dtype=int)
    children = _children_lists(parent)
    root = int(np.flatnonzero(parent < 0)[0])

    soma, stack = [], [root]           # soma group: soma samples connected to the root
    while stack:
        s = stack.pop()
        soma.append(s)
        stack.extend(c for c in children[s] if kinds[c] == 1)
    soma.sort()
    in_soma = set(soma)

    def where(i: int) -> str:
        return f"{source}:{lines[i]}" if lines is not None else source

    warnings = []
    soma_points, note = _soma_points(soma, parent, xyzr)
    if note:
        warnings.append(f"{where(soma[0])}: {note}")
    # Raw branches: (parent branch id, points, kind, path distance, order).
    raw = [(None, soma_points, 1, 0.0, 0)]
    starts = [c for s in soma for c in children[s] if c not in in_soma]
    reattached = []                          # first samples of dendrites moved off the axon
    # Depth-first: a stack of (first sample, parent branch id, order), earliest sample first.
    pending = [(c, 0, 1) for c in sorted(starts, reverse=True)]
    while pending:
        first, pid, order = pending.pop()
        chain = [first]
        while len(children[chain[-1]]) == 1 and kinds[children[chain[-1]][0]] == kinds[first]:
            chain.append(children[chain[-1]][0])
        pts = xyzr[chain]
        p = int(parent[first])
        if pid != 0 or len(chain) == 1 or kinds[p] != 1:     # start at the attachment point
            start = np.concatenate([xyzr[p, :3], xyzr[first, 3:]])
            pts = np.vstack([start, pts])
        if pid == 0:
            dist = 0.0
        else:
            ppts = raw[pid][1]
            dist = raw[pid][3] + float(np.sum(np.linalg.norm(np.diff(ppts[:, :3], axis=0), axis=1)))
        bid = len(raw)
        raw.append((pid, pts, int(kinds[first]), dist, order))
        kids = children[chain[-1]]
        child_order = order + 1 if len(kids) > 1 else order
        for c in sorted(kids, reverse=True):
            if kinds[first] == 2 and kinds[c] != 2:     # a dendrite on the axon: onto the soma
                reattached.append(c)
                pending.append((c, 0, 1))
            else:
                pending.append((c, bid, child_order))
    if reattached:
        reattached.sort()                        # samples are in file order
        n = len(reattached)
        at = (f" (first samples on lines {', '.join(str(lines[i]) for i in reattached[:5])}"
              f"{f' and {n - 5} more' if n > 5 else ''})") if lines is not None else ""
        warnings.append(f"{where(reattached[0])}: {n} dendrite branch{'es' if n > 1 else ''} "
                        f"{'hang' if n > 1 else 'hangs'} off the axon{at}; reattached to the soma "
                        "(path distances start there)")

    types = [KIND_NAMES[k] for _, _, k, _, _ in raw]
    apical_types, nexus = classify_apical([r[0] for r in raw], [r[1] for r in raw], types)
    branches = tuple(
        Branch(id=i, type=apical_types[i], parent_id=pid,
               parent_x=(0.5 if pid == 0 else 1.0) if pid is not None else 0.0,
               xyzr_um=pts, path_distance_um=dist, order=order)
        for i, (pid, pts, _, dist, order) in enumerate(raw))
    return Morphology(name=name, source=source, sha256=sha256, branches=branches,
                      main_bifurcation_id=nexus, warnings=tuple(warnings))
