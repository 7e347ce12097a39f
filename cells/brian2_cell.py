"""Build a cell recipe in Brian2 (a `SpatialNeuron`) behind the same interface as `NeuronCell`.

    cell = load_cell("l5pc", simulator="brian2")    # or Brian2Cell(recipe, morphology)
    syn = cell.add_synapses(branch_id=12, positions=[0.4, 0.5, 0.6])
    cell.activate(syn, times_ms=[10.0, 10.0, 10.0])
    cell.record("soma", 0, 0.5)
    traces = cell.run(tstop_ms=200)                 # {"t_ms": ..., "soma": ...}, starts at rest

Equivalence with NEURON, by construction:
- compartments: NEURON's segments (d_lambda nseg, centres at (i + 0.5)/nseg), with NEURON's
  areas and half-segment axial resistances (`cells.brian2_geometry`) written into Brian2's
  `area`, `r_length_1`, `r_length_2` (Ri = 1 ohm m, so r_length is the conductance in S).
  Brian2's section ends are zero-area nodes, as NEURON's are; children of the soma attach
  to its centre through a 1 S link (Brian2's own `Soma` convention).
- time stepping: Brian2's cable solver is backward Euler, like NEURON's default. Per step,
  in NEURON's order: synaptic events (slot 'start') -> currents linearised at v(t) and the
  implicit voltage solve (slot 'groups') -> gates by cnexp at the new v, CaDyn with the Ca
  current of this step, eca by Nernst, SK with the new cai, synaptic decay (slot 'end').
  Stimulus currents take their value at t + dt/2 and events are delivered at the first step
  with t + dt/2 >= event time, as NEURON's fixed step does.
- rest: like `NeuronCell.run`, states are initialised at v_init and integrated 2 s with
  10 ms implicit steps before t = 0 (the settled state is kept until densities change).
Sites at a section end (x = 0 or 1, a zero-area node in NEURON): an injected current is
split over the neighbouring compartments in proportion to their axial conductances and the
node voltage is rebuilt from them by Kirchhoff's law (both exact). The one remaining
difference: a synapse placed exactly there is split the same way, which is only a first-order
approximation of NEURON's conductance on the node (tests/test_brian2_equivalence.py).

Generated Cython code is cached in `<cache root>/brian2/` (see `brian2_cache_dir`), so only
the first build of a cell type on a machine compiles (see README for the cost).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cells.compartments import SectionLayout, section_layouts
from cells.brian2_kinetics import (CA_DYNAMICS, CADYN_DEFAULTS, CAO_MM, FARADAY_C_PER_MOL, GAS_CONSTANT_J_PER_K_MOL,
                                   MECHANISMS, SynapseKinetics, cadyn_drive, gate_tau_name, mg_block, rate_code,
                                   steady_states)
from dendritic_errors import InputError
from cells.mechanisms import cache_root
from cells.morphology import Morphology
from cells.recipe import CellRecipe

SETTLE_MS = 2000.0      # as NeuronCell: integrate to rest before t = 0 with large implicit steps
SETTLE_DT_MS = 10.0
SOMA_LINK_S = 1.0       # conductance joining the soma centre to the node its children share
SYNAPSE_MECHANISMS = ("AMPA", "NMDA", "GABAA")
CA_READERS = ("CaHVA", "CaLVA", "SK")

_CONFIGURED = False


def brian2_cache_dir() -> Path:
    """Where Brian2's compiled Cython code is kept: <cache root>/brian2/cython-<brian2 version>."""
    from importlib import metadata

    return cache_root() / "brian2" / f"cython-{metadata.version('brian2')}"


def _configure_brian2() -> None:
    global _CONFIGURED
    if _CONFIGURED:
        return
    from brian2 import prefs
    from brian2.utils.logger import BrianLogger

    prefs.codegen.target = "cython"
    prefs.codegen.runtime.cython.cache_dir = str(brian2_cache_dir())
    prefs.logging.file_log = False
    BrianLogger.log_level_warn()
    _CONFIGURED = True


# ---------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class _Piece:
    """A run of one section's segments that becomes one Brian2 section."""
    key: tuple
    lo: int
    hi: int                    # segments lo..hi-1
    parent: int                # index of the parent piece, -1 for the root


@dataclass
class _Flat:
    pieces: list
    start: dict                # section key -> flat index of its segment 0
    n: int
    area_m2: np.ndarray
    r_length_1: np.ndarray     # conductance (S) node -> centre, as Brian2 r_length with Ri = 1 ohm m
    r_length_2: np.ndarray
    cm: np.ndarray             # uF/cm2
    length_um: np.ndarray
    branch_type: list
    distance_um: np.ndarray    # path distance of each centre (the axon stub sits at 0, as in NeuronCell)


def _region_group(t: str) -> str:
    return "apical" if t in ("trunk", "oblique", "tuft") else t


def _flatten(recipe: CellRecipe, morphology: Morphology, layouts: list[SectionLayout]) -> _Flat:
    by_key = {lay.key: lay for lay in layouts}
    children: dict[tuple, list] = {lay.key: [] for lay in layouts}
    for lay in layouts:
        if lay.parent is not None:
            children[lay.parent].append(lay)
    soma = by_key[("branch", 0)]
    j_soma = soma.segment_index(0.5)
    for lay in layouts:
        if lay.parent == soma.key and soma.segment_index(lay.parent_x) != j_soma:
            raise InputError(f"{morphology.name}: the brian2 backend needs every child of the soma at its centre "
                             f"(branch {lay.key[1]} attaches at x = {lay.parent_x})")
        if lay.parent is not None and lay.parent != soma.key and lay.parent_x != 1.0:
            raise InputError(f"{morphology.name}: the brian2 backend needs children at x = 1 of their parent "
                             f"({lay.key} attaches at x = {lay.parent_x})")

    # order the soma's subtrees (axon, apical, basal) so each channel spans a short index range
    groups = sorted({_region_group(c.branch_type) for c in children[soma.key]})
    best = None
    for perm in itertools.permutations(groups):
        order = _dfs(soma, children, j_soma, perm)
        waste = _range_waste(recipe, order, by_key)
        if best is None or waste < best[0]:
            best = (waste, order)
    pieces = best[1]

    start, n = {}, 0
    for p in pieces:
        if p.lo == 0:
            start[p.key] = n
        n += p.hi - p.lo
    area, r1, r2 = np.zeros(n), np.zeros(n), np.zeros(n)
    cm, length, dist = np.zeros(n), np.zeros(n), np.zeros(n)
    types = [""] * n
    for p in pieces:
        lay = by_key[p.key]
        for i in range(p.lo, p.hi):
            c = start[p.key] + i
            area[c] = lay.area_um2[i] * 1e-12
            r1[c] = 1.0 / (lay.r_left_MOhm[i] * 1e6)
            r2[c] = 1.0 / (lay.r_right_MOhm[i] * 1e6)
            cm[c] = lay.cm_uF_per_cm2
            length[c] = lay.length_um / lay.nseg
            types[c] = lay.branch_type
            if p.key[0] == "branch":
                dist[c] = morphology.branches[p.key[1]].path_distance_at((i + 0.5) / lay.nseg)
        if p.key == soma.key and p.hi == j_soma + 1:
            r2[start[p.key] + j_soma] = SOMA_LINK_S         # the node its children share = the centre
        if p.key == soma.key and p.lo == j_soma + 1:        # rest of a multi-segment soma
            r1[start[p.key] + p.lo] = 1.0 / ((lay.r_right_MOhm[j_soma] + lay.r_left_MOhm[p.lo]) * 1e6)
    return _Flat(pieces, start, n, area, r1, r2, cm, length, types, dist)


def _dfs(soma: SectionLayout, children: dict, j_soma: int, group_order) -> list[_Piece]:
    pieces = [_Piece(soma.key, 0, j_soma + 1, -1)]
    if j_soma + 1 < soma.nseg:
        pieces.append(_Piece(soma.key, j_soma + 1, soma.nseg, 0))

    def visit(lay: SectionLayout, parent: int):
        pieces.append(_Piece(lay.key, 0, lay.nseg, parent))
        me = len(pieces) - 1
        for child in children[lay.key]:
            visit(child, me)

    for group in group_order:
        for child in children[soma.key]:
            if _region_group(child.branch_type) == group:
                visit(child, 0)
    return pieces


def _range_waste(recipe: CellRecipe, pieces: list[_Piece], by_key: dict) -> int:
    types = []
    for p in pieces:
        types += [by_key[p.key].branch_type] * (p.hi - p.lo)
    waste = 0
    for mech in recipe.mechanisms:
        idx = [i for i, t in enumerate(types) if any(c.mechanism == mech for c in recipe.channels_for(t))]
        if idx:
            waste += idx[-1] - idx[0] + 1 - len(idx)
    return waste


# ---------------------------------------------------------------------------- synapses
@dataclass
class Brian2SynapseGroup:
    """Synapses placed together: one entry per location; weights (uS) per location and kind."""
    branch_id: int
    positions: tuple[float, ...]
    kinds: tuple[str, ...]
    weights_uS: np.ndarray                 # (locations, kinds)
    location_of_synapse: np.ndarray        # Brian2 synapse -> location
    fraction: np.ndarray                   # Brian2 synapse -> share of the location (1 inside a segment)
    generator: object = field(repr=False, default=None)
    synapses: object = field(repr=False, default=None)

    def __len__(self) -> int:
        return len(self.positions)


# ---------------------------------------------------------------------------- the cell
class Brian2Cell:
    """A recipe instantiated as a Brian2 SpatialNeuron, with NeuronCell's interface."""

    simulator = "brian2"

    def __init__(self, recipe: CellRecipe, morphology: Morphology):
        _configure_brian2()
        from cells.distributions import morphology_context

        self.recipe = recipe
        self.morphology = morphology
        self.context = morphology_context(morphology)
        self.layouts = section_layouts(recipe, morphology)
        self._by_key = {lay.key: lay for lay in self.layouts}
        self._children = {lay.key: [c for c in self.layouts if c.parent == lay.key] for lay in self.layouts}
        self.flat = _flatten(recipe, morphology, self.layouts)
        self._mechanisms = [m for m in recipe.mechanisms if m != CA_DYNAMICS]
        for m in self._mechanisms:
            if m not in MECHANISMS:
                raise InputError(f"recipe {recipe.name!r}: mechanism {m!r} has no Brian2 kinetics (cells/brian2_kinetics.py)")
        self._has_cadyn = CA_DYNAMICS in recipe.mechanisms
        self._kinds = {}
        for kind, model in recipe.synapses:
            if model.mechanism not in SYNAPSE_MECHANISMS:
                raise InputError(f"recipe {recipe.name!r}: synapse mechanism {model.mechanism!r} has no Brian2 model")
            self._kinds[kind] = model
        self._inserted: dict[str, np.ndarray] = {}
        self._groups: list[Brian2SynapseGroup] = []
        self._events: list[tuple[Brian2SynapseGroup, np.ndarray]] = []
        self._stimuli: list[tuple] = []
        self._recordings: dict[str, tuple[str, list]] = {}
        self._settled: dict | None = None
        self._monitor = None
        self._build()

    # ------------------------------------------------------------------ construction
    def _equations(self) -> str:
        lines = ["g_pas : 1 (constant)", "e_pas : 1 (constant)", "stim_col : integer (constant)",
                 "g_ion : 1", "gE_ion : 1"]   # sum of channel conductances (S/cm2) and of g * E (mA/cm2)
        for name in self._mechanisms:
            mech = MECHANISMS[name]
            lines.append(f"gbar_{name} : 1")
            lines += [f"{g}_{name} : 1" for g in mech.gates]
            lines += [f"{p}_{name} : 1" for p in mech.range_params]
        if self._has_cadyn:
            lines += ["cai : 1", "eca : 1", "ica : 1"]
            lines += [f"{p}_{CA_DYNAMICS} : 1" for p in CADYN_DEFAULTS]
        syn_terms = []
        for kind, model in self._kinds.items():
            lines += [f"r_{kind} : 1", f"d_{kind} : 1"]
            block = ""
            if model.mechanism == "NMDA":
                block = "*" + mg_block("v/mV", dict(model.params).get("mg", 1.0))
            syn_terms.append(f"(d_{kind} - r_{kind}){block}*(v/mV - {model.e_mV!r})")
        # channels are ohmic: i = g_ion v - gE_ion, with g_ion and gE_ion updated with the gates
        lines.append("Im = -(g_pas*(v/mV - e_pas) + g_ion*v/mV - gE_ion)*(mA/cm**2) : amp/meter**2")
        if syn_terms:
            lines.append(f"I_syn = -({' + '.join(syn_terms)})*nA : amp (point current)")
        lines.append("I_stim = bridge_stim(t, stim_col)*nA : amp (point current)")
        return "\n".join(lines)

    def _conductance(self, name: str) -> str:
        from brian2.utils.stringtools import word_substitute

        mech = MECHANISMS[name]
        return "(" + word_substitute(mech.conductance, {g: f"{g}_{name}" for g in mech.gates}) + ")"

    def _erev(self, name: str) -> str:
        erev = MECHANISMS[name].erev
        fixed = {"ena": self.recipe.ena_mV, "ek": self.recipe.ek_mV}
        if erev in fixed:
            return repr(float(fixed[erev]))
        if erev == "eca":
            return "eca"
        return f"{erev}_{name}"

    def _conductance_code(self) -> str:
        """g_ion, gE_ion (and ica) from the current gates: NEURON's BREAKPOINT currents."""
        g_terms, ge_terms = [], []
        for n in self._mechanisms:
            g = f"gbar_{n}*{self._conductance(n)}"
            g_terms.append(g)
            ge_terms.append(f"{g}*{self._erev(n)}")
        code = [f"g_ion = {' + '.join(g_terms) or '0'}", f"gE_ion = {' + '.join(ge_terms) or '0'}"]
        if self._has_cadyn:
            code.append(f"ica = {self._ica_expression()}")
        return "\n".join(code)

    def _ica_expression(self) -> str:
        terms = [f"gbar_{n}*{self._conductance(n)}*(v/mV - eca)" for n in self._mechanisms if MECHANISMS[n].ion == "ca"]
        return " + ".join(terms) if terms else "0"

    def _build(self) -> None:
        import brian2 as b2

        flat = self.flat
        # the Brian2 tree: one Cylinder per piece; geometry is overwritten with NEURON's below
        sections = []
        for i, p in enumerate(flat.pieces):
            n = p.hi - p.lo
            sec = b2.Cylinder(n=n, diameter=1 * b2.um, length=n * b2.um)
            if p.parent >= 0:
                sections[p.parent].children.add(f"p{i}", sec)
            sections.append(sec)
        self._clock = b2.Clock(dt=0.025 * b2.ms, name="bridge_clock*")
        self._stim_meta = np.zeros(3)
        self._stim_values = np.zeros(1)
        namespace = {"bridge_stim": self._stim_function()}
        self.neuron = b2.SpatialNeuron(sections[0], self._equations(), Cm=1 * b2.uF / b2.cm ** 2,
                                       Ri=1 * b2.ohm * b2.meter, method="exponential_euler", clock=self._clock,
                                       namespace=namespace, name="bridge_cell*")
        nrn = self.neuron
        starts = np.asarray(nrn.flat_morphology.starts)
        mine = np.cumsum([0] + [p.hi - p.lo for p in flat.pieces[:-1]])
        if not np.array_equal(starts, mine):
            raise RuntimeError("Brian2 flattened the sections in an unexpected order")
        nrn.area_ = flat.area_m2
        nrn.r_length_1_ = flat.r_length_1
        nrn.r_length_2_ = flat.r_length_2
        nrn.length_ = flat.length_um * 1e-6
        nrn.diameter_ = flat.area_m2 / (math.pi * flat.length_um * 1e-6)
        nrn.distance_ = flat.distance_um * 1e-6
        nrn.Cm_ = flat.cm * 1e-2
        nrn.stim_col_ = -np.ones(flat.n, dtype=np.int32)
        self._set_densities()
        self._net = b2.Network(nrn)
        self._add_update_blocks()

    def _set_densities(self) -> None:
        nrn, flat, recipe = self.neuron, self.flat, self.recipe
        g_pas, e_pas = np.zeros(flat.n), np.zeros(flat.n)
        gbar = {m: np.zeros(flat.n) for m in self._mechanisms}
        params = {m: {p: np.full(flat.n, v) for p, v in MECHANISMS[m].range_params.items()} for m in self._mechanisms}
        params[CA_DYNAMICS] = {p: np.full(flat.n, v) for p, v in CADYN_DEFAULTS.items()}
        inserted = {m: np.zeros(flat.n, bool) for m in recipe.mechanisms}
        for c in range(flat.n):
            t = flat.branch_type[c]
            passive = recipe.passive_for(t)
            g_pas[c], e_pas[c] = passive.g_pas_S_per_cm2, passive.e_pas_mV
            for channel in recipe.channels_for(t):
                m = channel.mechanism
                inserted[m][c] = True
                if channel.gbar is not None:
                    gbar[m][c] = channel.gbar(flat.distance_um[c], self.context)
                for name, value in channel.params:
                    if name not in params[m]:
                        raise InputError(f"recipe {recipe.name!r}: {m} has no parameter {name!r} in cells/brian2_kinetics.py")
                    params[m][name][c] = value
        for m in CA_READERS:
            if m in inserted and np.any(inserted[m] & ~inserted.get(CA_DYNAMICS, np.zeros(flat.n, bool))):
                raise InputError(f"recipe {recipe.name!r}: {m} needs {CA_DYNAMICS} in the same compartments (brian2 backend)")
        nrn.g_pas_, nrn.e_pas_ = g_pas, e_pas
        for m in self._mechanisms:
            setattr(nrn, f"gbar_{m}_", gbar[m])
        for m, ps in params.items():
            if m == CA_DYNAMICS and not self._has_cadyn:
                continue
            for p, values in ps.items():
                setattr(nrn, f"{p}_{m}_", values)
        self._inserted = inserted

    def _index_range(self, mechanism: str) -> tuple[int, int]:
        idx = np.flatnonzero(self._inserted[mechanism])
        return int(idx[0]), int(idx[-1]) + 1

    def _add_update_blocks(self) -> None:
        """NEURON's nrn_state, after the voltage solve of each step (slot 'end')."""
        from brian2.utils.stringtools import word_substitute

        nrn, order = self.neuron, 0
        blocks = []
        if self._has_cadyn:
            lo, hi = self._index_range(CA_DYNAMICS)
            drive = cadyn_drive("ica", "gamma_CaDyn", "depth_CaDyn")
            code = (f"cai_inf = minCai_CaDyn + decay_CaDyn*{drive}\n"
                    f"cai = cai_inf + (cai - cai_inf)*exp(-dt/(decay_CaDyn*ms))\n"
                    f"eca = {self._ktf2()!r}*log({CAO_MM!r}/cai)")
            blocks.append((lo, hi, code))
        for m in sorted(self._mechanisms, key=lambda m: (m == "SK", m)):   # SK reads the new cai
            mech = MECHANISMS[m]
            code = rate_code(mech, self.recipe.temperature_C, suffix=f"_{m}_r")
            code = [word_substitute(line, {f"{p}_{m}_r": f"{p}_{m}" for p in mech.range_params}) for line in code]
            for g in mech.gates:
                tau = f"{gate_tau_name(mech, g)}_{m}" + ("" if gate_tau_name(mech, g) in mech.range_params else "_r")
                code.append(f"{g}_{m} = {g}inf_{m}_r + ({g}_{m} - {g}inf_{m}_r)*exp(-dt/({tau}*ms))")
            blocks.append((*self._index_range(m), "\n".join(code)))
        decay = []
        for kind, model in self._kinds.items():
            k = SynapseKinetics(model.tau_rise_ms, model.tau_decay_ms)
            decay += [f"r_{kind} = r_{kind}*exp(-dt/({k.rise_ms!r}*ms))",
                      f"d_{kind} = d_{kind}*exp(-dt/({model.tau_decay_ms!r}*ms))"]
        if decay:
            blocks.append((0, self.flat.n, "\n".join(decay)))
        blocks.append((0, self.flat.n, self._conductance_code()))
        for lo, hi, code in blocks:
            runner = nrn[lo:hi].run_regularly(code, when="end", order=order, name=f"{nrn.name}_update{order}")
            self._net.add(runner)
            order += 1

    def _ktf2(self) -> float:
        return 1000.0 * GAS_CONSTANT_J_PER_K_MOL * (self.recipe.temperature_C + 273.15) / FARADAY_C_PER_MOL / 2.0

    def _stim_function(self):
        from brian2 import Function, second

        cell = self

        def bridge_stim(t, col):
            t = np.asarray(t, float)
            col = np.asarray(col, int)
            ncols, nrows, dt = int(cell._stim_meta[0]), int(cell._stim_meta[1]), cell._stim_meta[2]
            out = np.zeros(np.broadcast(t, col).shape)
            if ncols == 0:
                return out
            k = np.floor(t / dt + 0.5).astype(int)
            ok = np.broadcast_to((col >= 0) & (col < ncols) & (t >= 0) & (k < nrows), out.shape)
            kk, cc = np.broadcast_to(k, out.shape)[ok], np.broadcast_to(col, out.shape)[ok]
            out[ok] = cell._stim_values[kk * ncols + cc]
            return out

        f = Function(bridge_stim, arg_units=[second, 1], return_unit=1, arg_types=["float", "integer"],
                     return_type="float")
        code = """
        cdef double bridge_stim(double t, int col):
            global _namespace_bridge_stim_values
            global _namespace_bridge_stim_meta
            cdef int ncols = <int>_namespace_bridge_stim_meta[0]
            cdef int nrows = <int>_namespace_bridge_stim_meta[1]
            cdef double dt = _namespace_bridge_stim_meta[2]
            cdef int k
            if col < 0 or col >= ncols or t < 0:
                return 0.0
            k = <int>(t/dt + 0.5)
            if k >= nrows:
                return 0.0
            return _namespace_bridge_stim_values[k*ncols + col]
        """
        f.implementations.add_dynamic_implementation(
            "cython", code=lambda owner: code,
            namespace=lambda owner: {"_bridge_stim_values": cell._stim_values,
                                     "_bridge_stim_meta": cell._stim_meta},
            name="bridge_stim")
        return f

    # ------------------------------------------------------------------ sites
    def _section_key(self, branch_id: int) -> tuple:
        key = ("branch", branch_id)
        if key not in self._by_key:
            raise ValueError(f"no branch {branch_id} in {self.morphology.name} (axon branches are replaced by a stub)")
        return key

    def _comp(self, key: tuple, i: int) -> int:
        return self.flat.start[key] + i

    def _node(self, key: tuple) -> list[tuple[int, float]]:
        """Compartments around the 1-end node of a section, weighted by axial conductance."""
        pairs = self._node_links(key)
        total = sum(g for _, g in pairs)
        return [(c, g / total) for c, g in pairs]

    def _node_links(self, key: tuple) -> list[tuple[int, float]]:
        """(compartment, conductance in uS) of every link of a section's 1-end node."""
        lay = self._by_key[key]
        pairs = [(self._comp(key, lay.nseg - 1), 1.0 / lay.r_right_MOhm[-1])]
        pairs += [(self._comp(c.key, 0), 1.0 / c.r_left_MOhm[0]) for c in self._children[key] if c.parent_x == 1.0]
        return pairs

    def _node_of(self, branch_id: int, x: float) -> tuple | None:
        """The section whose zero-area 1-end node NEURON's sec(x) is, or None for a segment."""
        key = self._section_key(branch_id)
        lay = self._by_key[key]
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
        key = self._section_key(branch_id)
        x = float(x)
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"x must be in [0, 1], got {x}")
        lay = self._by_key[key]
        node = self._node_of(branch_id, x)
        if node is not None:
            return self._node(node)
        if 0.0 < x < 1.0:
            return [(self._comp(key, lay.segment_index(x)), 1.0)]
        if lay.parent is None:                       # the soma's own ends: its end segments
            return [(self._comp(key, 0 if x == 0.0 else lay.nseg - 1), 1.0)]
        parent = self._by_key[lay.parent]            # x = 0 of a child of the soma: the soma centre
        return [(self._comp(parent.key, parent.segment_index(lay.parent_x)), 1.0)]

    def path_distance_um(self, branch_id: int, x: float) -> float:
        return self.morphology.branches[branch_id].path_distance_at(x)

    @property
    def n_compartments(self) -> int:
        return self.flat.n

    # ------------------------------------------------------------------ inputs
    def add_synapses(self, branch_id: int, positions, kinds=("ampa", "nmda"), weight_scale: float = 1.0) -> Brian2SynapseGroup:
        """Put one synapse of each kind at every position (x in [0, 1]) of a branch."""
        import brian2 as b2

        for kind in kinds:
            if kind not in self._kinds:
                raise InputError(f"recipe {self.recipe.name!r} has no synapse kind {kind!r}: choose from {', '.join(self._kinds)}")
        positions = tuple(float(x) for x in positions)
        loc, comp, frac = [], [], []
        for i, x in enumerate(positions):
            for c, w in self.site(branch_id, x):
                loc.append(i), comp.append(c), frac.append(w)
        branch_type = self.morphology.branches[branch_id].type
        per_kind = [self._kinds[k].weight_for(branch_type) * weight_scale for k in kinds]
        weights = np.tile(per_kind, (len(positions), 1))   # (positions, kinds), also for none
        group = Brian2SynapseGroup(branch_id, positions, tuple(kinds), weights, np.asarray(loc), np.asarray(frac))
        if not positions:
            return group
        model = "\n".join(["frac : 1 (constant)"] + [f"w_{k} : 1" for k in self._kinds])
        on_pre = []
        for kind, syn_model in self._kinds.items():
            factor = SynapseKinetics(syn_model.tau_rise_ms, syn_model.tau_decay_ms).factor
            on_pre += [f"r_{kind}_post += frac*w_{kind}*{factor!r}", f"d_{kind}_post += frac*w_{kind}*{factor!r}"]
        gen = b2.SpikeGeneratorGroup(len(positions), [], [] * b2.ms, when="start", order=0, clock=self._clock,
                                     name="bridge_events*")
        syn = b2.Synapses(gen, self.neuron, model=model, on_pre="\n".join(on_pre), clock=self._clock,
                          name="bridge_synapses*")
        syn.connect(i=group.location_of_synapse, j=np.asarray(comp))
        syn.frac_ = group.fraction
        syn.pre.when, syn.pre.order = "start", 1
        group.generator, group.synapses = gen, syn
        self._push_weights(group)
        self._net.add(gen, syn)
        self._groups.append(group)
        return group

    def _push_weights(self, group: Brian2SynapseGroup) -> None:
        for kind in self._kinds:
            w = group.weights_uS[:, group.kinds.index(kind)] if kind in group.kinds else np.zeros(len(group))
            setattr(group.synapses, f"w_{kind}_", w[group.location_of_synapse])

    def activate(self, group: Brian2SynapseGroup, times_ms) -> None:
        """Schedule one presynaptic event per location (all kinds at that location fire together)."""
        times = np.broadcast_to(np.asarray(times_ms, dtype=float), (len(group),)).copy()
        self._events.append((group, times))

    def get_synapse_weights(self, group: Brian2SynapseGroup, kind: str) -> np.ndarray:
        """Peak conductance (uS) of one kind at each location of a group."""
        return group.weights_uS[:, group.kinds.index(kind)].copy()

    def set_synapse_weights(self, group: Brian2SynapseGroup, kind: str, weight_uS) -> None:
        """Set the peak conductance of one kind in a group: one value, or one per location
        (0 blocks it, e.g. NMDA block by APV)."""
        k = group.kinds.index(kind)
        group.weights_uS[:, k] = np.broadcast_to(np.asarray(weight_uS, dtype=float), (len(group),))
        if group.synapses is not None:
            self._push_weights(group)

    def scale_density(self, mechanism: str, factor: float, branch_types=None) -> None:
        """Multiply a channel's gbar (e.g. factor 0 for a local TTX block) in some branch types."""
        if mechanism not in self._mechanisms:
            if mechanism in self.recipe.mechanisms or mechanism in MECHANISMS:
                return  # not inserted / no density: as NeuronCell, nothing to scale
            raise InputError(f"unknown mechanism {mechanism!r}")
        mask = self._inserted[mechanism].copy()
        if branch_types is not None:
            mask &= np.array([t in branch_types for t in self.flat.branch_type])
        name = f"gbar_{mechanism}_"
        values = np.array(getattr(self.neuron, name)[:])
        values[mask] *= factor
        setattr(self.neuron, name, values)
        self._settled = None

    def add_step_current(self, branch_id: int, x: float, amp_nA: float, delay_ms: float, dur_ms: float):
        stim = ("step", self.site(branch_id, x), float(amp_nA), float(delay_ms), float(dur_ms),
                self._node_of(branch_id, float(x)))
        self._stimuli.append(stim)
        return stim

    def add_current_waveform(self, branch_id: int, x: float, t_ms, amp_nA):
        """Inject an arbitrary current waveform (linear interpolation between samples)."""
        stim = ("wave", self.site(branch_id, x), np.asarray(t_ms, float).copy(), np.asarray(amp_nA, float).copy(),
                self._node_of(branch_id, float(x)))
        self._stimuli.append(stim)
        return stim

    # ------------------------------------------------------------------ outputs
    def record(self, name: str, branch_id: int, x: float, variable: str = "v") -> None:
        sites = self.site(branch_id, x)
        if variable != "v":
            if variable not in self.neuron.variables or variable.startswith("_"):
                raise InputError(f"cannot record {variable!r} in the brian2 backend: not a variable of this cell")
            if len(sites) > 1:
                raise InputError(f"cannot record {variable!r} at a section end (x = {x}): no membrane there")
        self._recordings[name] = (variable, sites, self._node_of(branch_id, float(x)))

    def clear_recordings(self) -> None:
        self._recordings.clear()

    def _state_names(self) -> list[str]:
        names = ["v"]
        for m in self._mechanisms:
            names += [f"{g}_{m}" for g in MECHANISMS[m].gates]
        if self._has_cadyn:
            names += ["cai", "eca", "ica"]
        names += ["g_ion", "gE_ion"]
        for kind in self._kinds:
            names += [f"r_{kind}", f"d_{kind}"]
        return names

    def _initialise(self) -> None:
        """NEURON's finitialize(v_init): gates at steady state, cai = minCai, no synaptic conductance."""
        from brian2 import mV, prefs

        nrn = self.neuron
        target = prefs.codegen.target
        prefs.codegen.target = "numpy"          # evaluated once: no compilation
        try:
            nrn.v = self.recipe.v_init_mV * mV
            if self._has_cadyn:
                nrn.cai_ = np.array(nrn.minCai_CaDyn_[:])
                nrn.eca = f"{self._ktf2()!r}*log({CAO_MM!r}/cai)"
            for m in self._mechanisms:
                values = steady_states(MECHANISMS[m], self.recipe.temperature_C, self._initial_inputs(m))
                for g, value in values.items():
                    setattr(nrn, f"{g}_{m}_", value)
            for kind in self._kinds:
                setattr(nrn, f"r_{kind}_", 0.0)
                setattr(nrn, f"d_{kind}_", 0.0)
            for line in self._conductance_code().splitlines():
                lhs, rhs = (part.strip() for part in line.split("=", 1))
                setattr(nrn, lhs, rhs)
        finally:
            prefs.codegen.target = target

    def _initial_inputs(self, m: str) -> dict:
        nrn = self.neuron
        inputs = {"v": np.full(self.flat.n, self.recipe.v_init_mV)}
        if self._has_cadyn:
            inputs["cai"] = np.array(nrn.cai_[:])
        for p in MECHANISMS[m].range_params:
            inputs[p] = np.array(getattr(nrn, f"{p}_{m}_")[:])
        return inputs

    def _set_active(self, active: bool) -> None:
        for group in self._groups:
            group.generator.active = active
            group.synapses.active = active

    def _settle(self) -> dict:
        from brian2 import ms

        self._initialise()
        self._stim_meta[:] = (0, 0, 1.0)
        self._set_active(False)
        self._net.t_ = 0.0
        self._clock.dt = SETTLE_DT_MS * ms
        self._net.run(SETTLE_MS * ms, namespace={})
        return {name: np.array(getattr(self.neuron, name + "_")[:]) for name in self._state_names()}

    def _stimulus_table(self, n_steps: int, dt_ms: float) -> dict:
        """Per-step stimulus currents (nA at t + dt/2, NEURON's evaluation time) into the
        table bridge_stim reads; returns the current injected at each zero-area node."""
        t_mid = (np.arange(n_steps) + 0.5) * dt_ms
        columns: dict[int, np.ndarray] = {}
        at_nodes: dict[tuple, np.ndarray] = {}
        for stim in self._stimuli:
            if stim[0] == "step":
                _, sites, amp, delay, dur, node = stim
                wave = np.where((t_mid >= delay) & (t_mid < delay + dur), amp, 0.0)
            else:
                _, sites, t_ms, amp, node = stim
                wave = np.interp(t_mid, t_ms, amp)
            for c, w in sites:
                columns[c] = columns.get(c, 0.0) + w * wave
            if node is not None:
                at_nodes[node] = at_nodes.get(node, 0.0) + wave
        cols = -np.ones(self.flat.n, dtype=np.int32)
        table = np.zeros((n_steps, max(len(columns), 1)))
        for j, (c, wave) in enumerate(columns.items()):
            cols[c] = j
            table[:, j] = wave
        self.neuron.stim_col_ = cols
        self._stim_values = table.ravel().copy()
        self._stim_meta[:] = (len(columns), n_steps, dt_ms * 1e-3)
        return at_nodes

    def _schedule_events(self, n_steps: int, dt_ms: float) -> None:
        from brian2 import ms

        per_group: dict[int, list] = {id(g): [] for g in self._groups}
        for group, times in self._events:
            # NEURON delivers an event at the first step whose t + dt/2 reaches its time
            k = np.maximum(np.ceil((times - 0.5 * dt_ms) / dt_ms - 1e-9), 0).astype(np.int64)
            for loc, step in enumerate(k):
                if step < n_steps:
                    per_group[id(group)].append((loc, int(step)))
        for group in self._groups:
            pairs = sorted(set(per_group[id(group)]), key=lambda p: (p[1], p[0]))
            if len(pairs) != len(per_group[id(group)]):
                raise InputError("the brian2 backend delivers at most one event per synapse and time step")
            idx = np.array([p[0] for p in pairs], dtype=int)
            steps = np.array([p[1] for p in pairs], dtype=float)
            group.generator.set_spikes(idx, steps * dt_ms * ms)

    def run(self, tstop_ms: float, dt_ms: float = 0.025) -> dict[str, np.ndarray]:
        """Settle to rest, then simulate [0, tstop_ms] with fixed steps; returns recorded traces."""
        from brian2 import StateMonitor, ms

        if tstop_ms <= 0 or dt_ms <= 0:
            raise InputError(f"tstop_ms and dt_ms must be positive (got {tstop_ms}, {dt_ms})")
        if self._settled is None:
            self._settled = self._settle()
        for name, values in self._settled.items():
            setattr(self.neuron, name + "_", values)
        n_steps = int(round(tstop_ms / dt_ms))
        node_currents = self._stimulus_table(n_steps, dt_ms)
        self._schedule_events(n_steps, dt_ms)
        self._set_active(True)
        if self._monitor is not None:
            self._net.remove(self._monitor)
            self._monitor = None
        rows: dict[tuple[str, int], int] = {}
        for variable, sites, _ in self._recordings.values():
            for c, _ in sites:
                rows.setdefault((variable, c), len(rows))
        variables = sorted({v for v, _ in rows})
        record = sorted({c for _, c in rows})
        if record:
            self._monitor = StateMonitor(self.neuron, variables, record=record, when="end", order=1000,
                                         clock=self._clock, name="bridge_monitor*")
            self._net.add(self._monitor)
        initial = {var: np.array(getattr(self.neuron, var + "_")[:]) for var in variables}
        self._net.t_ = 0.0
        self._clock.dt = dt_ms * ms
        self._net.run(n_steps * dt_ms * ms, namespace={})
        # NEURON's clock: t += dt/2 twice per step, so sample times match NEURON's to the bit
        out = {"t_ms": np.concatenate([[0.0], np.add.accumulate(np.full(2 * n_steps, 0.5 * dt_ms))[1::2]])}
        position = {c: i for i, c in enumerate(record)}
        for name, (variable, sites, node) in self._recordings.items():
            scale = 1e3 if variable == "v" else 1.0
            values = getattr(self._monitor, variable + "_")
            trace = np.zeros(n_steps + 1)
            for c, w in sites:
                trace += w * np.concatenate([[initial[variable][c]], values[position[c]]]) * scale
            if node is not None and node in node_currents:   # KCL at the node: + I / sum(G)
                total_uS = sum(g for _, g in self._node_links(node))
                trace[1:] += node_currents[node] / total_uS
            out[name] = trace
        self._events.clear()
        return out

    def close(self) -> None:
        """Drop this cell's Brian2 objects."""
        self._recordings.clear()
        self._events.clear()
        self._stimuli.clear()
        self._groups.clear()
        self._monitor = None
        self._net = None
        self.neuron = None
