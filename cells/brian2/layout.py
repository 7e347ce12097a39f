"""The compartment table's sections laid out as Brian2 sections, and sites on them.

Brian2's `SpatialNeuron` attaches children only at the end of a parent section, so NEURON's
soma (children attach at its centre) becomes two pieces: segments up to the centre, then
the rest. The soma's subtrees are ordered (axon, apical, basal) so that every channel spans
a short range of flat indices (update blocks run on index ranges).

Brian2's section ends are zero-area nodes, as NEURON's are; children of the soma attach to
its centre through a `SOMA_LINK_S` link (Brian2's own `Soma` convention). A site at a
section end (x = 0 or 1, a zero-area node in NEURON) is the neighbouring compartments,
weighted by their axial conductances (`Layout.site`).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from cells.compartments import CompartmentTable, SectionLayout
from cells.recipe import CellRecipe
from dendritic_errors import InputError

SOMA_LINK_S = 1.0       # conductance joining the soma centre to the node its children share


@dataclass(frozen=True)
class Piece:
    """A run of one section's segments that becomes one Brian2 section."""
    key: tuple
    lo: int
    hi: int                    # segments lo..hi-1
    parent: int                # index of the parent piece, -1 for the root


def _region_group(t: str) -> str:
    return "apical" if t in ("trunk", "oblique", "tuft") else t


class Layout:
    """Flat (Brian2) compartment order of a compartment table, with the axial conductances
    Brian2 takes (`r_length_1/2` in S, with Ri = 1 ohm m) and the site lookup."""

    def __init__(self, recipe: CellRecipe, table: CompartmentTable, morphology_name: str = ""):
        self.table = table
        self.by_key = {lay.key: lay for lay in table.sections}
        self.children = {lay.key: [c for c in table.sections if c.parent == lay.key] for lay in table.sections}
        self.morphology_name = morphology_name
        soma = self.by_key[("branch", 0)]
        j_soma = soma.segment_index(0.5)
        for lay in table.sections:
            if lay.parent == soma.key and soma.segment_index(lay.parent_x) != j_soma:
                raise InputError(f"{morphology_name}: the brian2 backend needs every child of the soma at its centre "
                                 f"(branch {lay.key[1]} attaches at x = {lay.parent_x})")
            if lay.parent is not None and lay.parent != soma.key and lay.parent_x != 1.0:
                raise InputError(f"{morphology_name}: the brian2 backend needs children at x = 1 of their parent "
                                 f"({lay.key} attaches at x = {lay.parent_x})")
        groups = sorted({_region_group(c.branch_type) for c in self.children[soma.key]})
        best = None
        for perm in itertools.permutations(groups):
            order = self._dfs(soma, j_soma, perm)
            waste = _range_waste(recipe, order, self.by_key)
            if best is None or waste < best[0]:
                best = (waste, order)
        self.pieces: list[Piece] = best[1]

        self.start: dict[tuple, int] = {}      # section key -> flat index of its segment 0
        n = 0
        for p in self.pieces:
            if p.lo == 0:
                self.start[p.key] = n
            n += p.hi - p.lo
        self.n = n
        # flat index -> table row
        self.row = np.concatenate([np.arange(table.first_row[p.key] + p.lo, table.first_row[p.key] + p.hi)
                                   for p in self.pieces])
        self.r_length_1_S = 1.0 / (table.r_left_MOhm[self.row] * 1e6)
        self.r_length_2_S = 1.0 / (table.r_right_MOhm[self.row] * 1e6)
        for p in self.pieces:
            if p.key == soma.key and p.hi == j_soma + 1:
                self.r_length_2_S[self.start[p.key] + j_soma] = SOMA_LINK_S   # the node its children share
            if p.key == soma.key and p.lo == j_soma + 1:                      # rest of a multi-segment soma
                self.r_length_1_S[self.start[p.key] + p.lo] = 1.0 / ((soma.r_right_MOhm[j_soma]
                                                                      + soma.r_left_MOhm[p.lo]) * 1e6)
        self.branch_type = [table.branch_type[r] for r in self.row]

    def column(self, values: np.ndarray) -> np.ndarray:
        """A per-row table column in flat order."""
        return np.asarray(values)[self.row]

    def _dfs(self, soma: SectionLayout, j_soma: int, group_order) -> list[Piece]:
        pieces = [Piece(soma.key, 0, j_soma + 1, -1)]
        if j_soma + 1 < soma.nseg:
            pieces.append(Piece(soma.key, j_soma + 1, soma.nseg, 0))

        def visit(lay: SectionLayout, parent: int):
            pieces.append(Piece(lay.key, 0, lay.nseg, parent))
            me = len(pieces) - 1
            for child in self.children[lay.key]:
                visit(child, me)

        for group in group_order:
            for child in self.children[soma.key]:
                if _region_group(child.branch_type) == group:
                    visit(child, 0)
        return pieces

    # ------------------------------------------------------------------ sites
    def section_key(self, branch_id: int) -> tuple:
        key = ("branch", branch_id)
        if key not in self.by_key:
            raise ValueError(f"no branch {branch_id} in {self.morphology_name} (axon branches are replaced by a stub)")
        return key

    def comp(self, key: tuple, i: int) -> int:
        return self.start[key] + i

    def node(self, key: tuple) -> list[tuple[int, float]]:
        """Compartments around the 1-end node of a section, weighted by axial conductance."""
        pairs = self.node_links(key)
        total = sum(g for _, g in pairs)
        return [(c, g / total) for c, g in pairs]

    def node_links(self, key: tuple) -> list[tuple[int, float]]:
        """(compartment, conductance in uS) of every link of a section's 1-end node."""
        lay = self.by_key[key]
        pairs = [(self.comp(key, lay.nseg - 1), 1.0 / lay.r_right_MOhm[-1])]
        pairs += [(self.comp(c.key, 0), 1.0 / c.r_left_MOhm[0]) for c in self.children[key] if c.parent_x == 1.0]
        return pairs

    def node_of(self, branch_id: int, x: float) -> tuple | None:
        """The section whose zero-area 1-end node NEURON's sec(x) is, or None for a segment."""
        key = self.section_key(branch_id)
        lay = self.by_key[key]
        if 0.0 < x < 1.0:
            return None
        if x == 1.0:
            return key
        if lay.parent is None or 0.0 < lay.parent_x < 1.0:
            return None
        return lay.parent

    def site(self, branch_id: int, x: float) -> list[tuple[int, float]]:
        """The compartment(s) NEURON's sec(x) refers to, as (flat index, weight) pairs: one
        segment, or the neighbours of a zero-area node weighted by axial conductance."""
        key = self.section_key(branch_id)
        x = float(x)
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"x must be in [0, 1], got {x}")
        lay = self.by_key[key]
        node = self.node_of(branch_id, x)
        if node is not None:
            return self.node(node)
        if 0.0 < x < 1.0:
            return [(self.comp(key, lay.segment_index(x)), 1.0)]
        if lay.parent is None:                       # the soma's own ends: its end segments
            return [(self.comp(key, 0 if x == 0.0 else lay.nseg - 1), 1.0)]
        parent = self.by_key[lay.parent]             # x = 0 of a child of the soma: the soma centre
        return [(self.comp(parent.key, parent.segment_index(lay.parent_x)), 1.0)]


def _range_waste(recipe: CellRecipe, pieces: list[Piece], by_key: dict) -> int:
    types = []
    for p in pieces:
        types += [by_key[p.key].branch_type] * (p.hi - p.lo)
    waste = 0
    for mech in recipe.mechanisms:
        idx = [i for i, t in enumerate(types) if any(c.mechanism == mech for c in recipe.channels_for(t))]
        if idx:
            waste += idx[-1] - idx[0] + 1 - len(idx)
    return waste
