"""Recipe + morphology -> compartments, once, without a simulator: the compartment table.

Both backends build from this table: `NeuronCell` gives each section its `nseg` and writes
every segment's passive properties and channel densities from it; `Brian2Cell` writes its
`SpatialNeuron`'s areas, axial conductances and densities from it. Nothing here imports
NEURON or Brian2.

Geometry is NEURON's: every section gets `nseg` segments by the d_lambda rule and NEURON
derives, from the 3-d points, each segment's membrane area and the axial resistance of its
two halves (frusta with linearly interpolated diameter, integrated exactly; Hines &
Carnevale, The NEURON Book ch. 5). This module repeats that computation, so the Brian2
cell has the same compartment centres, areas and axial conductances
(tests/test_brian2_equivalence.py holds them against NEURON's `seg.area()` and `seg.ri()`).
NEURON stores 3-d points in single precision; so do we here, before integrating.

Densities: each channel's `gbar` distribution (cells.distributions) evaluated at the path
distance of every compartment centre; the axon stub sits at the soma (distance 0).

Units: um, um2, MOhm, S/cm2, mV, uF/cm2, ohm cm (the recipe's).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cells.distributions import MorphologyContext, morphology_context
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
    Ra_ohm_cm: float

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
                                 parent, branch.parent_x, passive.cm_uF_per_cm2, passive.Ra_ohm_cm))
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
                                 passive.cm_uF_per_cm2, passive.Ra_ohm_cm))
        parent, parent_x = ("axon", i), 1.0
    return out


@dataclass(frozen=True)
class CompartmentTable:
    """Every compartment of a cell, one row each, sections in `section_layouts` order and
    segments in order within a section.

    Densities: `gbar_S_per_cm2[m]` is 0 where mechanism m is not inserted and NaN where it
    is inserted but the recipe gives no density (the backend's default applies);
    `params[m][name]` is NaN wherever the recipe does not set that RANGE parameter.
    """
    sections: tuple[SectionLayout, ...]
    first_row: dict                 # section key -> row of its segment 0
    section: np.ndarray             # row -> index into `sections`
    segment: np.ndarray             # row -> segment index within its section
    branch_id: np.ndarray           # morphology branch id; -1 for the axon stub
    branch_type: tuple[str, ...]
    x: np.ndarray                   # centre, (segment + 0.5) / nseg
    distance_um: np.ndarray         # path distance of the centre from the soma
    length_um: np.ndarray
    area_um2: np.ndarray
    r_left_MOhm: np.ndarray         # axial resistance, segment start -> centre
    r_right_MOhm: np.ndarray        # centre -> segment end
    cm_uF_per_cm2: np.ndarray
    Ra_ohm_cm: np.ndarray
    g_pas_S_per_cm2: np.ndarray
    e_pas_mV: np.ndarray
    mechanisms: tuple[str, ...]     # the recipe's, in recipe order
    inserted: dict                  # mechanism -> bool per row
    gbar_S_per_cm2: dict            # mechanism with a density somewhere -> per row
    params: dict                    # mechanism -> {RANGE parameter -> per row}
    context: MorphologyContext

    @property
    def n(self) -> int:
        return len(self.x)

    def rows(self, key: tuple) -> slice:
        """The rows of one section, ("branch", id) or ("axon", i)."""
        start = self.first_row[key]
        return slice(start, start + self.sections[self.section[start]].nseg)


def compartment_table(recipe: CellRecipe, morphology: Morphology) -> CompartmentTable:
    """The recipe on the morphology, discretised as NEURON discretises it."""
    layouts = section_layouts(recipe, morphology)
    context = morphology_context(morphology)
    first_row, n = {}, 0
    for lay in layouts:
        first_row[lay.key] = n
        n += lay.nseg
    section = np.concatenate([np.full(lay.nseg, k) for k, lay in enumerate(layouts)])
    segment = np.concatenate([np.arange(lay.nseg) for lay in layouts])
    branch_id = np.array([lay.key[1] if lay.key[0] == "branch" else -1 for lay in layouts])[section]
    types = tuple(layouts[k].branch_type for k in section)
    x = np.array([(i + 0.5) / layouts[k].nseg for k, i in zip(section, segment)])
    distance = np.zeros(n)
    for r in range(n):
        if branch_id[r] >= 0:          # the axon stub sits at the soma: distance 0
            distance[r] = morphology.branches[branch_id[r]].path_distance_at(x[r])
    passive = [recipe.passive_for(t) for t in types]

    inserted = {m: np.zeros(n, bool) for m in recipe.mechanisms}
    gbar: dict[str, np.ndarray] = {}
    params: dict[str, dict[str, np.ndarray]] = {m: {} for m in recipe.mechanisms}
    for r in range(n):
        # later channel entries of the same mechanism override earlier ones, as inserting
        # them in order into a NEURON section does
        for channel in recipe.channels_for(types[r]):
            m = channel.mechanism
            if not inserted[m][r]:
                inserted[m][r] = True
                if m in gbar:
                    gbar[m][r] = math.nan
            if channel.gbar is not None:
                if m not in gbar:
                    gbar[m] = np.where(inserted[m], math.nan, 0.0)
                gbar[m][r] = channel.gbar(distance[r], context)
            for name, value in channel.params:
                params[m].setdefault(name, np.full(n, math.nan))[r] = value
    return CompartmentTable(
        sections=tuple(layouts), first_row=first_row, section=section, segment=segment, branch_id=branch_id,
        branch_type=types, x=x, distance_um=distance,
        length_um=np.array([layouts[k].length_um / layouts[k].nseg for k in section]),
        area_um2=np.concatenate([lay.area_um2 for lay in layouts]),
        r_left_MOhm=np.concatenate([lay.r_left_MOhm for lay in layouts]),
        r_right_MOhm=np.concatenate([lay.r_right_MOhm for lay in layouts]),
        cm_uF_per_cm2=np.array([p.cm_uF_per_cm2 for p in passive]),
        Ra_ohm_cm=np.array([p.Ra_ohm_cm for p in passive]),
        g_pas_S_per_cm2=np.array([p.g_pas_S_per_cm2 for p in passive]),
        e_pas_mV=np.array([p.e_pas_mV for p in passive]),
        mechanisms=recipe.mechanisms, inserted=inserted, gbar_S_per_cm2=gbar, params=params, context=context)


DENDRITE_TYPES = ("basal", "trunk", "oblique", "tuft")


def dendritic_load_nS(recipe: CellRecipe, morphology: Morphology) -> float:
    """The dendritic conductance load: the passive steady-state input conductance (nS) of all
    dendrites as seen from the soma (soma clamped, the soma's own membrane and the axon
    excluded), on NEURON's discretisation with the recipe's g_pas and Ra.

    The load that Hay, Schürmann, Markram & Segev 2013 (J Neurophysiol 109:2972) relate
    axo-somatic firing to; benchmarks/generalization.py reports it per tree. Every
    segment centre is a node; a section's 1-end is a node of its own (its children that
    attach at x = 1 meet there, as in NEURON); a child attaching at 0 < x < 1 joins the
    parent's segment centre holding x. Solved as one sparse linear system.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    layouts = [lay for lay in section_layouts(recipe, morphology)
               if lay.branch_type in DENDRITE_TYPES or lay.key == ("branch", 0)]
    soma = ("branch", 0)
    centre, end, n = {}, {}, 0
    for lay in layouts:
        if lay.key == soma:
            continue
        centre[lay.key] = n
        end[lay.key] = n + lay.nseg
        n += lay.nseg + 1
    if n == 0:
        return 0.0
    CLAMP = -1
    diag, rows, cols, vals = np.zeros(n), [], [], []
    rhs = np.zeros(n)
    to_soma = []                                    # (node, axial conductance nS)

    def connect(a: int, b: int, r_MOhm: float) -> None:
        g = 1e3 / r_MOhm                            # 1 / MOhm = 1000 nS
        for i, j in ((a, b), (b, a)):
            if i == CLAMP:
                continue
            diag[i] += g
            if j == CLAMP:
                rhs[i] += g                         # the soma held at 1 (any unit): I = G * 1
                to_soma.append((i, g))
            else:
                rows.append(i)
                cols.append(j)
                vals.append(-g)

    by_key = {lay.key: lay for lay in layouts}
    for lay in layouts:
        if lay.key == soma:
            continue
        first = centre[lay.key]
        g_pas = recipe.passive_for(lay.branch_type).g_pas_S_per_cm2
        diag[first:first + lay.nseg] += g_pas * lay.area_um2 * 10.0   # S/cm2 x um2 = 1e-8 S = 10 nS
        for i in range(lay.nseg - 1):
            connect(first + i, first + i + 1, lay.r_right_MOhm[i] + lay.r_left_MOhm[i + 1])
        connect(first + lay.nseg - 1, end[lay.key], lay.r_right_MOhm[-1])
        parent = by_key[lay.parent]
        if lay.parent == soma:
            node = CLAMP                            # the soma is clamped: isopotential
        elif lay.parent_x >= 1.0:
            node = end[lay.parent]
        else:
            node = centre[lay.parent] + parent.segment_index(max(lay.parent_x, 1e-9))
        connect(first, node, lay.r_left_MOhm[0])
    a = coo_matrix((np.concatenate([diag, vals]), (np.concatenate([np.arange(n), rows]),
                                                  np.concatenate([np.arange(n), cols]))), shape=(n, n)).tocsc()
    v = spsolve(a, rhs)
    return float(sum(g * (1.0 - v[i]) for i, g in to_soma))
