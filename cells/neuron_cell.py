"""Build a cell recipe in NEURON and run it through the project's simulation interface.

    cell = load_cell("l5pc")                       # cells.load_cell: recipe + morphology -> NeuronCell
    syn = cell.add_synapses(branch_id=12, positions=[0.4, 0.5, 0.6])
    cell.activate(syn, times_ms=[10.0, 10.0, 10.0])
    cell.add_step_current(0, 0.5, amp_nA=0.5, delay_ms=20, dur_ms=100)
    cell.record("soma", 0, 0.5)
    traces = cell.run(tstop_ms=200)                 # {"t_ms": ..., "soma": ...} numpy arrays

Implements `cells.contract.Cell`. Sites are (branch id, x in [0, 1]) on the morphology's
branches (`cells.morphology`); branch 0 is the soma. Segments, passive properties and
densities come from the compartment table (`cells.compartments`), which the Brian2 backend
builds from too, so both simulators discretise and place densities identically.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cells.compartments import compartment_table
from cells.contract import (SETTLE_DT_MS, SETTLE_MS, SETTLE_STEPS, CurrentClamp,  # noqa: F401 (SETTLE_* re-exported)
                            CurrentWaveform, SynapseGroup)
from cells.distributions import MorphologyContext, morphology_context  # noqa: F401 (re-exported)
from cells.mechanisms import load_mechanisms
from cells.morphology import Morphology
from cells.recipe import CellRecipe


@dataclass
class NeuronSynapseGroup(SynapseGroup):
    """A `SynapseGroup` with its NEURON objects."""
    point_processes: list          # [location][kind] -> NEURON point process
    netcons: list                  # [location][kind] -> NetCon with no source


class NeuronCell:
    """A recipe instantiated in NEURON. One process may hold several; `run` runs them all."""

    simulator = "neuron"

    def __init__(self, recipe: CellRecipe, morphology: Morphology):
        from neuron import h

        load_mechanisms()
        h.load_file("stdrun.hoc")
        self.h = h
        self.recipe = recipe
        self.morphology = morphology
        self.table = compartment_table(recipe, morphology)
        self.context = self.table.context
        self.sections: dict[int, object] = {}
        self.axon: list = []
        self._events: list[tuple[object, float]] = []
        self._recordings: dict[str, object] = {}
        self._keep: list = []       # stimuli and vectors that must outlive the call that made them
        self._build_sections()
        self._insert_biophysics()

    # ------------------------------------------------------------------ construction
    def _build_sections(self) -> None:
        h = self.h
        for branch in self.morphology.branches:
            if branch.type == "axon":
                continue  # replaced by the recipe's stub below
            sec = h.Section(name=f"{branch.type}_{branch.id}", cell=self)
            h.pt3dclear(sec=sec)
            for x, y, z, r in branch.xyzr_um:
                h.pt3dadd(float(x), float(y), float(z), 2.0 * float(r), sec=sec)
            if branch.parent_id is not None:
                sec.connect(self.sections[branch.parent_id](branch.parent_x), 0.0)
            self.sections[branch.id] = sec
        stub = self.recipe.axon
        parent = self.sections[0](0.5)
        for i in range(stub.n_sections):
            sec = h.Section(name=f"axon_stub_{i}", cell=self)
            sec.L, sec.diam = stub.length_um, stub.diam_um
            sec.connect(parent, 0.0)
            parent = sec(1.0)
            self.axon.append(sec)

    def _typed_sections(self):
        """(section, branch type, table rows) of every section, in the table's order."""
        for lay in self.table.sections:
            kind, i = lay.key
            sec = self.sections[i] if kind == "branch" else self.axon[i]
            yield sec, lay.branch_type, self.table.rows(lay.key)

    def _insert_biophysics(self) -> None:
        """nseg, passive properties and densities of every segment, from the compartment table."""
        h, recipe, table = self.h, self.recipe, self.table
        h.celsius = recipe.temperature_C
        for sec, _, rows in self._typed_sections():
            lay = table.sections[table.section[rows.start]]
            sec.Ra = lay.Ra_ohm_cm
            sec.cm = lay.cm_uF_per_cm2
            sec.nseg = lay.nseg
            segs = list(sec)               # segment i is table row rows.start + i
            sec.insert("pas")
            for seg, r in zip(segs, range(rows.start, rows.stop)):
                seg.g_pas = table.g_pas_S_per_cm2[r]
                seg.e_pas = table.e_pas_mV[r]
            for m in table.mechanisms:
                if not table.inserted[m][rows].any():
                    continue
                sec.insert(m)
                values = [(f"gbar_{m}", table.gbar_S_per_cm2[m])] if m in table.gbar_S_per_cm2 else []
                values += [(f"{name}_{m}", column) for name, column in table.params[m].items()]
                for seg, r in zip(segs, range(rows.start, rows.stop)):
                    for name, column in values:
                        if not math.isnan(column[r]):     # NaN: the recipe leaves the .mod default
                            setattr(seg, name, column[r])
            if h.ismembrane("na_ion", sec=sec):
                sec.ena = recipe.ena_mV
            if h.ismembrane("k_ion", sec=sec):
                sec.ek = recipe.ek_mV

    # ------------------------------------------------------------------ sites
    def segment(self, branch_id: int, x: float):
        if branch_id not in self.sections:
            raise ValueError(f"no branch {branch_id} in {self.morphology.name} (axon branches are replaced by a stub)")
        return self.sections[branch_id](x)

    def path_distance_um(self, branch_id: int, x: float) -> float:
        return self.morphology.branches[branch_id].path_distance_at(x)

    @property
    def n_compartments(self) -> int:
        return sum(sec.nseg for sec in self.all_sections)

    @property
    def all_sections(self) -> list:
        return list(self.sections.values()) + self.axon

    # ------------------------------------------------------------------ inputs
    def add_synapses(self, branch_id: int, positions, kinds=("ampa", "nmda"),
                     weight_scale: float = 1.0) -> NeuronSynapseGroup:
        """Put one synapse of each kind at every position (x in [0, 1]) of a branch.

        As in NEURON, the synapses exist as long as the returned group is referenced: keep
        it until `run` has returned; dropping it (``del group``) removes them from the cell."""
        h = self.h
        branch_type = self.morphology.branches[branch_id].type
        pps, ncs = [], []
        for x in positions:
            seg = self.segment(branch_id, float(x))
            row_pp, row_nc = [], []
            for kind in kinds:
                model = self.recipe.synapse(kind)
                pp = getattr(h, model.mechanism)(seg)
                pp.tau_rise, pp.tau_decay, pp.e = model.tau_rise_ms, model.tau_decay_ms, model.e_mV
                for name, value in model.params:
                    setattr(pp, name, value)
                nc = h.NetCon(None, pp)
                nc.weight[0] = model.weight_for(branch_type) * weight_scale
                row_pp.append(pp)
                row_nc.append(nc)
            pps.append(row_pp)
            ncs.append(row_nc)
        return NeuronSynapseGroup(branch_id, tuple(float(x) for x in positions), tuple(kinds), pps, ncs)

    def activate(self, group: NeuronSynapseGroup, times_ms) -> None:
        """Schedule one presynaptic event per location (all kinds at that location fire together)."""
        times = np.broadcast_to(np.asarray(times_ms, dtype=float), (len(group),))
        for row, t in zip(group.netcons, times):
            for nc in row:
                self._events.append((nc, float(t)))

    def get_synapse_weights(self, group: NeuronSynapseGroup, kind: str) -> np.ndarray:
        """Peak conductance (uS) of one kind at each location of a group."""
        k = group.kinds.index(kind)
        return np.array([row[k].weight[0] for row in group.netcons])

    def set_synapse_weights(self, group: NeuronSynapseGroup, kind: str, weight_uS) -> None:
        """Set the peak conductance of one kind in a group: one value, or one per location
        (0 blocks it, e.g. NMDA block by APV)."""
        k = group.kinds.index(kind)
        weights = np.broadcast_to(np.asarray(weight_uS, dtype=float), (len(group),))
        for row, w in zip(group.netcons, weights):
            row[k].weight[0] = float(w)

    def scale_density(self, mechanism: str, factor: float, branch_types=None) -> None:
        """Multiply a channel's gbar (e.g. factor 0 for a local TTX block) in some branch types."""
        for sec, branch_type, _ in self._typed_sections():
            if branch_types is not None and branch_type not in branch_types:
                continue
            if not self.h.ismembrane(mechanism, sec=sec):
                continue
            for seg in sec:
                name = f"gbar_{mechanism}"
                setattr(seg, name, getattr(seg, name) * factor)

    def add_step_current(self, branch_id: int, x: float, amp_nA: float, delay_ms: float,
                         dur_ms: float) -> CurrentClamp:
        stim = self.h.IClamp(self.segment(branch_id, x))
        stim.amp, stim.delay, stim.dur = amp_nA, delay_ms, dur_ms
        self._keep.append(stim)
        return CurrentClamp(branch_id, float(x), float(amp_nA), float(delay_ms), float(dur_ms))

    def add_current_waveform(self, branch_id: int, x: float, t_ms, amp_nA) -> CurrentWaveform:
        """Inject an arbitrary current waveform (linear interpolation between samples)."""
        h = self.h
        stim = h.IClamp(self.segment(branch_id, x))
        stim.delay, stim.dur = 0.0, 1e9
        t_ms, amp_nA = np.asarray(t_ms, float).copy(), np.asarray(amp_nA, float).copy()
        tvec, ivec = h.Vector(t_ms), h.Vector(amp_nA)
        ivec.play(stim._ref_amp, tvec, 1)
        self._keep += [stim, tvec, ivec]
        return CurrentWaveform(branch_id, float(x), t_ms, amp_nA)

    # ------------------------------------------------------------------ outputs
    def record(self, name: str, branch_id: int, x: float, variable: str = "v") -> None:
        vec = self.h.Vector()
        vec.record(getattr(self.segment(branch_id, x), f"_ref_{variable}"))
        self._recordings[name] = vec

    def clear_recordings(self) -> None:
        self._recordings.clear()

    def run(self, tstop_ms: float, dt_ms: float = 0.025) -> dict[str, np.ndarray]:
        """Settle to rest (cells.contract), then simulate [0, tstop_ms] with fixed steps; returns
        recorded traces."""
        h = self.h
        h.cvode_active(0)
        h.dt = dt_ms
        h.steps_per_ms = 1.0 / dt_ms
        tvec = h.Vector()
        tvec.record(h._ref_t)
        h.finitialize(self.recipe.v_init_mV)
        h.t = -SETTLE_MS
        h.dt = SETTLE_DT_MS
        for _ in range(SETTLE_STEPS):
            h.fadvance()
        h.t, h.dt = 0.0, dt_ms
        h.fcurrent()
        h.frecord_init()
        for nc, t in self._events:
            nc.event(t)
        h.continuerun(tstop_ms)
        out = {"t_ms": tvec.as_numpy().copy()}
        for name, vec in self._recordings.items():
            out[name] = vec.as_numpy().copy()
        self._events.clear()
        return out

    def close(self) -> None:
        """Delete this cell's sections and stimuli from NEURON."""
        self._keep.clear()
        self._recordings.clear()
        self._events.clear()
        self.sections.clear()
        self.axon.clear()

