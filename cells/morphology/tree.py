"""Branch and Morphology: an unbranched-cable view of a neuron reconstruction.

All lengths and coordinates are in um, areas in um2. A *branch* is an unbranched stretch
of samples from the soma or a branch point to the next branch point or tip; branch 0 is
the soma. Branches are numbered depth-first from the soma, so a parent always has a
smaller id than its children.

Path distances: children of the soma start at path distance 0 (the soma is treated as
a point electrically; the distance inside the soma is not counted). A child of any other
branch starts at its parent's path distance plus the parent's length.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

BRANCH_TYPES = ("soma", "axon", "basal", "trunk", "oblique", "tuft")


def _segment_lengths(xyzr: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum(np.diff(xyzr[:, :3], axis=0) ** 2, axis=1))


def _types(type: str | Iterable[str] | None) -> tuple[str, ...]:
    """Normalise a type selector: None (all), one type name, or several."""
    if type is None:
        return BRANCH_TYPES
    names = (type,) if isinstance(type, str) else tuple(type)
    for name in names:
        if name not in BRANCH_TYPES:
            raise ValueError(f"unknown branch type {name!r}; expected one of {BRANCH_TYPES}")
    return names


@dataclass(frozen=True, eq=False)
class Branch:
    """One unbranched cable. `xyzr_um` is (n_points >= 2, 4): x, y, z, radius (um); its
    first point is where the branch attaches to its parent. Compared by identity."""
    id: int
    type: str
    parent_id: int | None
    parent_x: float
    xyzr_um: np.ndarray
    path_distance_um: float
    order: int

    def __post_init__(self):
        xyzr = np.array(self.xyzr_um, dtype=float)
        if xyzr.ndim != 2 or xyzr.shape[0] < 2 or xyzr.shape[1] != 4:
            raise ValueError(f"branch {self.id}: xyzr_um must be (n>=2, 4), got {xyzr.shape}")
        if self.type not in BRANCH_TYPES:
            raise ValueError(f"branch {self.id}: unknown type {self.type!r}")
        xyzr.setflags(write=False)
        object.__setattr__(self, "xyzr_um", xyzr)

    @cached_property
    def length_um(self) -> float:
        """Length along the points (um)."""
        return float(np.sum(_segment_lengths(self.xyzr_um)))

    @property
    def diameters_um(self) -> np.ndarray:
        """Diameter at each point (um)."""
        return 2.0 * self.xyzr_um[:, 3]

    @cached_property
    def surface_area_um2(self) -> float:
        """Lateral area of the chain of frusta between points (um2), no end caps."""
        h = _segment_lengths(self.xyzr_um)
        r = self.xyzr_um[:, 3]
        r0, r1 = r[:-1], r[1:]
        return float(np.sum(math.pi * (r0 + r1) * np.sqrt(h ** 2 + (r0 - r1) ** 2)))

    def path_distance_at(self, x: float) -> float:
        """Path distance from the soma (um) at normalised position x in [0, 1]."""
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"x must be in [0, 1], got {x}")
        return self.path_distance_um + x * self.length_um


@dataclass(frozen=True, eq=False)
class Morphology:
    """A neuron as a tree of branches; `branches[i].id == i`, `branches[0]` is the soma.

    `main_bifurcation_id` is the trunk branch that ends at the main apical bifurcation
    (nexus), None without an apical tree. `sha256` identifies the geometry: compare
    morphologies by it (objects compare by identity). `warnings` are one-line notes on what
    the reader changed (contour soma, dendrites moved off the axon), "source:line: ...".
    """
    name: str
    source: str
    sha256: str
    branches: tuple[Branch, ...]
    main_bifurcation_id: int | None = None
    warnings: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "branches", tuple(self.branches))
        object.__setattr__(self, "warnings", tuple(self.warnings))
        if not self.branches or self.branches[0].type != "soma":
            raise ValueError("branches[0] must be the soma")
        for i, b in enumerate(self.branches):
            if b.id != i:
                raise ValueError(f"branches[{i}].id is {b.id}")
            if i and not (b.parent_id is not None and 0 <= b.parent_id < i):
                raise ValueError(f"branch {i}: parent {b.parent_id} must precede it")

    @property
    def soma(self) -> Branch:
        return self.branches[0]

    @cached_property
    def _children(self) -> dict[int, list[Branch]]:
        out: dict[int, list[Branch]] = {b.id: [] for b in self.branches}
        for b in self.branches[1:]:
            out[b.parent_id].append(b)
        return out

    def children(self, id: int) -> list[Branch]:
        """Branches attached to branch `id`, in id order."""
        return list(self._children[id])

    def of_type(self, type: str | Iterable[str]) -> list[Branch]:
        """Branches of one type (or any of several types), in id order."""
        names = _types(type)
        return [b for b in self.branches if b.type in names]

    def total_length_um(self, type: str | Iterable[str] | None = None) -> float:
        """Summed branch length (um) over all branches or those of the given type(s)."""
        return float(sum(b.length_um for b in self.of_type(_types(type))))

    def surface_area_um2(self, type: str | Iterable[str] | None = None) -> float:
        """Summed membrane area (um2) over all branches or those of the given type(s)."""
        return float(sum(b.surface_area_um2 for b in self.of_type(_types(type))))

    def max_path_distance_um(self, type: str | Iterable[str] | None = None) -> float:
        """Largest path distance from the soma (um) reached by branches of the type(s);
        0 when there are none."""
        return max((b.path_distance_at(1.0) for b in self.of_type(_types(type))), default=0.0)

    @property
    def nexus_distance_um(self) -> float:
        """Path distance (um) of the main apical bifurcation; NaN without one."""
        if self.main_bifurcation_id is None:
            return math.nan
        return self.branches[self.main_bifurcation_id].path_distance_at(1.0)

    def summary(self) -> str:
        """A few lines: counts, lengths, areas and furthest distance per type, and the nexus."""
        lines = [f"{self.name} ({self.source}, sha256 {self.sha256[:12]}): {len(self.branches)} branches"]
        lines.append(f"  {'type':8s} {'n':>4s} {'length_um':>10s} {'area_um2':>10s} {'max_dist_um':>11s}")
        for t in BRANCH_TYPES:
            bs = self.of_type(t)
            if bs:
                lines.append(f"  {t:8s} {len(bs):4d} {self.total_length_um(t):10.1f} "
                             f"{self.surface_area_um2(t):10.1f} {self.max_path_distance_um(t):11.1f}")
        if self.main_bifurcation_id is None:
            lines.append("  no main apical bifurcation")
        else:
            lines.append(f"  main apical bifurcation: end of branch {self.main_bifurcation_id}, "
                         f"{self.nexus_distance_um:.1f} um from the soma")
        return "\n".join(lines)
