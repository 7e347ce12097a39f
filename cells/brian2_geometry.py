"""NEURON's compartments, computed without NEURON: the layout the Brian2 backend reproduces.

`NeuronCell` gives every section `nseg` segments by the d_lambda rule and NEURON derives,
from the 3-d points, each segment's membrane area and the axial resistance of its two
halves (frusta with linearly interpolated diameter, integrated exactly; Hines & Carnevale,
The NEURON Book ch. 5). This module repeats that computation from a `Morphology` and a
recipe, so `Brian2Cell` can give Brian2's `SpatialNeuron` the same compartment centres,
areas and axial conductances (tests/test_brian2_equivalence.py holds them against NEURON's
`seg.area()` and `seg.ri()`).

NEURON stores 3-d points in single precision; so do we here, before integrating.

Units: um, um2, MOhm.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cells.morphology import Morphology, nseg_cable
from cells.recipe import CellRecipe


@dataclass(frozen=True)
class SectionLayout:
    """One NEURON section: `nseg` segments with centres at (i + 0.5) / nseg.

    `r_left_MOhm[i]` is the axial resistance from the start of segment i to its centre,
    `r_right_MOhm[i]` from its centre to its end. `key` is ("branch", id) or ("axon", i);
    `parent` is the parent's key and `parent_x` where it attaches (None for the soma).
    """
    key: tuple
    branch_type: str
    nseg: int
    length_um: float
    area_um2: np.ndarray
    r_left_MOhm: np.ndarray
    r_right_MOhm: np.ndarray
    parent: tuple | None
    parent_x: float
    cm_uF_per_cm2: float

    def segment_index(self, x: float) -> int:
        """The segment holding x (0 < x < 1), as NEURON's sec(x) chooses it."""
        return min(int(x * self.nseg), self.nseg - 1)


def _float32_points(xyzr_um: np.ndarray) -> np.ndarray:
    return np.asarray(xyzr_um, dtype=np.float32).astype(np.float64)


def _arc_and_diam(xyzr_um: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pts = _float32_points(xyzr_um)
    steps = np.sqrt(np.sum(np.diff(pts[:, :3], axis=0) ** 2, axis=1))
    arc = np.concatenate([[0.0], np.cumsum(steps)]).astype(np.float32).astype(np.float64)
    return arc, 2.0 * pts[:, 3]


def _integrate(arc: np.ndarray, diam: np.ndarray, a: float, b: float) -> tuple[float, float, float]:
    """Lateral area (um2), integral of dx / d^2 (1/um) and of d dx (um2) over arc [a, b],
    diameters linear in arc length between points."""
    inside = arc[(arc > a) & (arc < b)]
    xs = np.concatenate([[a], inside, [b]])
    ds = np.interp(xs, arc, diam)
    dx = np.diff(xs)
    d0, d1 = ds[:-1], ds[1:]
    area = float(np.sum(math.pi * (d0 + d1) / 2.0 * np.sqrt(dx ** 2 + ((d1 - d0) / 2.0) ** 2)))
    keep = d0 * d1 > 0
    inv = float(np.sum(dx[keep] / (d0[keep] * d1[keep])))
    mean_d = float(np.sum((d0 + d1) / 2.0 * dx))
    return area, inv, mean_d


def _resistance_MOhm(Ra_ohm_cm: float, integral_per_um: float) -> float:
    # R = Ra * 4 / pi * integral(dx / d^2); Ra in ohm cm, x and d in um -> 1e-2 MOhm
    return Ra_ohm_cm * 4.0 / math.pi * integral_per_um * 1e-2


def section_layouts(recipe: CellRecipe, morphology: Morphology) -> list[SectionLayout]:
    """Every section NeuronCell builds (branches without the axon, then the axon stub), with
    NEURON's nseg, segment areas and half-segment axial resistances."""
    out = []
    for branch in morphology.branches:
        if branch.type == "axon":
            continue
        passive = recipe.passive_for(branch.type)
        arc, diam = _arc_and_diam(branch.xyzr_um)
        length = float(arc[-1])
        _, _, total_d = _integrate(arc, diam, 0.0, length)
        mean_diam = total_d / length if length > 0 else float(np.mean(diam))
        nseg = nseg_cable(length, mean_diam, passive.Ra_ohm_cm, passive.cm_uF_per_cm2,
                          recipe.d_lambda, recipe.d_lambda_freq_hz)
        area, r_left, r_right = np.zeros(nseg), np.zeros(nseg), np.zeros(nseg)
        ds = length / nseg
        for i in range(nseg):
            a0, a1, _ = _integrate(arc, diam, i * ds, (i + 0.5) * ds)
            b0, b1, _ = _integrate(arc, diam, (i + 0.5) * ds, (i + 1) * ds)
            area[i] = a0 + b0
            r_left[i] = _resistance_MOhm(passive.Ra_ohm_cm, a1)
            r_right[i] = _resistance_MOhm(passive.Ra_ohm_cm, b1)
        parent = ("branch", branch.parent_id) if branch.parent_id is not None else None
        out.append(SectionLayout(("branch", branch.id), branch.type, nseg, length, area, r_left, r_right,
                                 parent, branch.parent_x, passive.cm_uF_per_cm2))
    stub = recipe.axon
    passive = recipe.passive_for("axon")
    length = float(np.float32(stub.length_um))
    d = float(np.float32(stub.diam_um))
    nseg = nseg_cable(length, d, passive.Ra_ohm_cm, passive.cm_uF_per_cm2, recipe.d_lambda, recipe.d_lambda_freq_hz)
    half = _resistance_MOhm(passive.Ra_ohm_cm, length / nseg / 2.0 / d ** 2)
    parent, parent_x = ("branch", 0), 0.5
    for i in range(stub.n_sections):
        out.append(SectionLayout(("axon", i), "axon", nseg, length, np.full(nseg, math.pi * d * length / nseg),
                                 np.full(nseg, half), np.full(nseg, half), parent, parent_x,
                                 passive.cm_uF_per_cm2))
        parent, parent_x = ("axon", i), 1.0
    return out
