"""`Brian2Cell`: a recipe as a Brian2 `SpatialNeuron`, implementing `cells.contract.Cell`."""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np

from cells.brian2.config import configure_brian2
from cells.brian2.equations import CA_READERS, Model, to_neuron_units
from cells.brian2.layout import Layout
from cells.brian2.stimulus import StimulusTable, schedule_events
from cells.brian2_kinetics import CA_DYNAMICS, CADYN_DEFAULTS, MECHANISMS, steady_states
from cells.compartments import compartment_table
from cells.contract import SETTLE_DT_MS, SETTLE_STEPS, CurrentClamp, CurrentWaveform, SynapseGroup
from cells.morphology import Morphology
from cells.recipe import CellRecipe
from dendritic_errors import InputError

SYNAPSE_MECHANISMS = ("AMPA", "NMDA", "GABAA")


@dataclass
class Brian2SynapseGroup(SynapseGroup):
    """A `SynapseGroup` with its weights (uS) per location and kind and its Brian2 objects."""
    weights_uS: np.ndarray = None              # (locations, kinds)
    location_of_synapse: np.ndarray = None     # Brian2 synapse -> location
    fraction: np.ndarray = None                # Brian2 synapse -> share of the location (1 inside a segment)
    compartment: np.ndarray = None             # Brian2 synapse -> compartment
    serial: int = 0                            # unique per cell (ids of dropped objects are reused)


class Brian2Cell:
    """A recipe instantiated as a Brian2 SpatialNeuron, with NeuronCell's interface."""

    simulator = "brian2"

    def __init__(self, recipe: CellRecipe, morphology: Morphology):
        configure_brian2()
        self.recipe = recipe
        self.morphology = morphology
        self.table = compartment_table(recipe, morphology)
        self.context = self.table.context
        self.layout = Layout(recipe, self.table, morphology.name)
        mechanisms = tuple(m for m in recipe.mechanisms if m != CA_DYNAMICS)
        for m in mechanisms:
            if m not in MECHANISMS:
                raise InputError(f"recipe {recipe.name!r}: mechanism {m!r} has no Brian2 kinetics "
                                 f"(cells/brian2_kinetics.py)")
        kinds = {}
        for kind, model in recipe.synapses:
            if model.mechanism not in SYNAPSE_MECHANISMS:
                raise InputError(f"recipe {recipe.name!r}: synapse mechanism {model.mechanism!r} has no Brian2 model")
            kinds[kind] = model
        self.model = Model(recipe, mechanisms, CA_DYNAMICS in recipe.mechanisms, kinds)
        self._inserted = {m: self.layout.column(v) for m, v in self.table.inserted.items()}
        # As in NEURON, a group's synapses exist while the caller holds the group (weak references
        # here). All live groups share one SpikeGeneratorGroup and one Synapses object, built at
        # `run` when the set of groups has changed, always under the same two names: the compiled
        # code (named after its objects) then comes from the cache, and a drive over hundreds of
        # branches costs two Brian2 objects, not two per branch.
        self._group_refs: list = []
        self._serial = 0
        self._pool = None              # (key, generator, synapses, first location of each group)
        self._events: list[tuple[Brian2SynapseGroup, np.ndarray]] = []
        self._stimuli: list[tuple] = []            # (CurrentClamp | CurrentWaveform, sites, node)
        self._recordings: dict[str, tuple] = {}
        self._settled: dict | None = None
        self._monitor = None
        self._stim = StimulusTable()
        self._build()

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        import brian2 as b2

        layout, table = self.layout, self.table
        # the Brian2 tree: one Cylinder per piece; geometry is overwritten with NEURON's below
        sections = []
        for i, p in enumerate(layout.pieces):
            n = p.hi - p.lo
            sec = b2.Cylinder(n=n, diameter=1 * b2.um, length=n * b2.um)
            if p.parent >= 0:
                sections[p.parent].children.add(f"p{i}", sec)
            sections.append(sec)
        self._clock = b2.Clock(dt=0.025 * b2.ms, name="bridge_clock*")
        self.neuron = b2.SpatialNeuron(sections[0], self.model.equations(), Cm=1 * b2.uF / b2.cm ** 2,
                                       Ri=1 * b2.ohm * b2.meter, method="exponential_euler", clock=self._clock,
                                       namespace={"bridge_stim": self._stim.function()}, name="bridge_cell*")
        nrn = self.neuron
        starts = np.asarray(nrn.flat_morphology.starts)
        mine = np.cumsum([0] + [p.hi - p.lo for p in layout.pieces[:-1]])
        if not np.array_equal(starts, mine):
            raise RuntimeError("Brian2 flattened the sections in an unexpected order")
        area_m2 = layout.column(table.area_um2) * 1e-12
        length_m = layout.column(table.length_um) * 1e-6
        nrn.area_ = area_m2
        nrn.r_length_1_ = layout.r_length_1_S
        nrn.r_length_2_ = layout.r_length_2_S
        nrn.length_ = length_m
        nrn.diameter_ = area_m2 / (math.pi * length_m)
        nrn.distance_ = layout.column(table.distance_um) * 1e-6
        nrn.Cm_ = layout.column(table.cm_uF_per_cm2) * 1e-2        # uF/cm2 -> F/m2
        nrn.stim_col_ = -np.ones(layout.n, dtype=np.int32)
        self._set_densities()
        self._net = b2.Network(nrn)
        for order, (lo, hi, code) in enumerate(self.model.update_blocks(self._index_range, layout.n)):
            runner = nrn[lo:hi].run_regularly(code, when="end", order=order, name=f"{nrn.name}_update{order}")
            self._net.add(runner)

    def _set_densities(self) -> None:
        """Passive properties, densities and RANGE parameters from the compartment table
        (recipe units -> SI: S/cm2 * 1e4 = S/m2, mV * 1e-3 = V)."""
        nrn, table, layout, recipe = self.neuron, self.table, self.layout, self.recipe
        has_cadyn = self._inserted.get(CA_DYNAMICS, np.zeros(layout.n, bool))
        for m in CA_READERS:
            if m in self._inserted and np.any(self._inserted[m] & ~has_cadyn):
                raise InputError(f"recipe {recipe.name!r}: {m} needs {CA_DYNAMICS} in the same compartments "
                                 f"(brian2 backend)")
        nrn.g_pas_ = layout.column(table.g_pas_S_per_cm2) * 1e4
        nrn.e_pas_ = layout.column(table.e_pas_mV) * 1e-3
        for m in self.model.mechanisms:
            gbar = layout.column(table.gbar_S_per_cm2.get(m, np.zeros(table.n)))
            if np.isnan(gbar).any():
                raise InputError(f"recipe {recipe.name!r}: {m} is inserted without a density (brian2 backend)")
            setattr(nrn, f"gbar_{m}_", gbar * 1e4)
        defaults = {m: MECHANISMS[m].range_params for m in self.model.mechanisms}
        if self.model.has_cadyn:
            defaults[CA_DYNAMICS] = CADYN_DEFAULTS
        for m, given in table.params.items():
            for name in given:
                if name not in defaults.get(m, {}):
                    raise InputError(f"recipe {recipe.name!r}: {m} has no parameter {name!r} "
                                     f"in cells/brian2_kinetics.py")
        for m, params in defaults.items():
            for name, default in params.items():
                values = layout.column(table.params[m].get(name, np.full(table.n, np.nan)))
                setattr(nrn, f"{name}_{m}_", np.where(np.isnan(values), default, values))

    def _index_range(self, mechanism: str) -> tuple[int, int]:
        idx = np.flatnonzero(self._inserted[mechanism])
        return int(idx[0]), int(idx[-1]) + 1

    # ------------------------------------------------------------------ sites
    def site(self, branch_id: int, x: float) -> list[tuple[int, float]]:
        """The compartment(s) NEURON's sec(x) refers to, as (flat index, weight) pairs."""
        return self.layout.site(branch_id, x)

    def path_distance_um(self, branch_id: int, x: float) -> float:
        return self.morphology.branches[branch_id].path_distance_at(x)

    @property
    def n_compartments(self) -> int:
        return self.layout.n

    # ------------------------------------------------------------------ inputs
    def add_synapses(self, branch_id: int, positions, kinds=("ampa", "nmda"),
                     weight_scale: float = 1.0) -> Brian2SynapseGroup:
        """Put one synapse of each kind at every position (x in [0, 1]) of a branch."""
        for kind in kinds:
            if kind not in self.model.kinds:
                raise InputError(f"recipe {self.recipe.name!r} has no synapse kind {kind!r}: "
                                 f"choose from {', '.join(self.model.kinds)}")
        positions = tuple(float(x) for x in positions)
        loc, comp, frac = [], [], []
        for i, x in enumerate(positions):
            for c, w in self.site(branch_id, x):
                loc.append(i), comp.append(c), frac.append(w)
        branch_type = self.morphology.branches[branch_id].type
        per_kind = [self.model.kinds[k].weight_for(branch_type) * weight_scale for k in kinds]
        weights = np.tile(per_kind, (len(positions), 1))   # (positions, kinds), also for none
        self._serial += 1
        group = Brian2SynapseGroup(branch_id, positions, tuple(kinds), weights, np.asarray(loc, int),
                                   np.asarray(frac, float), np.asarray(comp, int), self._serial)
        if positions:
            self._group_refs.append(weakref.ref(group))
        return group

    def _groups(self) -> list[Brian2SynapseGroup]:
        """The synapse groups a caller still holds (the others are forgotten)."""
        live = [g for g in (ref() for ref in self._group_refs) if g is not None]
        self._group_refs = [weakref.ref(g) for g in live]
        return live

    def _synapse_pool(self, groups: list):
        """One generator + one Synapses object for `groups` (rebuilt only when they changed),
        with every group's current weights; returns (generator, synapses, first location per group)."""
        import brian2 as b2

        key = tuple(g.serial for g in groups)
        if self._pool is None or self._pool[0] != key:
            if self._pool is not None and self._pool[1] is not None:
                self._net.remove(self._pool[1], self._pool[2])
            first = np.cumsum([0] + [len(g) for g in groups])
            gen = syn = None
            if groups:
                gen = b2.SpikeGeneratorGroup(int(first[-1]), [], [] * b2.ms, when="start", order=0,
                                             clock=self._clock, name="bridge_events")
                syn = b2.Synapses(gen, self.neuron, model=self.model.synapse_model(), on_pre=self.model.on_pre(),
                                  clock=self._clock, name="bridge_synapses")
                syn.connect(i=np.concatenate([f + g.location_of_synapse for f, g in zip(first, groups)]),
                            j=np.concatenate([g.compartment for g in groups]))
                syn.frac_ = np.concatenate([g.fraction for g in groups])
                syn.pre.when, syn.pre.order = "start", 1
                self._net.add(gen, syn)
            self._pool = (key, gen, syn, first[:-1])
        _, gen, syn, first = self._pool
        if syn is not None:
            for kind in self.model.kinds:       # uS -> S, per Brian2 synapse
                setattr(syn, f"w_{kind}_", 1e-6 * np.concatenate([
                    (g.weights_uS[:, g.kinds.index(kind)] if kind in g.kinds else np.zeros(len(g)))[g.location_of_synapse]
                    for g in groups]))
        return gen, syn, first

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

    def scale_density(self, mechanism: str, factor: float, branch_types=None) -> None:
        """Multiply a channel's gbar (e.g. factor 0 for a local TTX block) in some branch types."""
        if mechanism not in self.model.mechanisms:
            if mechanism in self.recipe.mechanisms or mechanism in MECHANISMS:
                return  # not inserted / no density: as NeuronCell, nothing to scale
            raise InputError(f"unknown mechanism {mechanism!r}")
        mask = self._inserted[mechanism].copy()
        if branch_types is not None:
            mask &= np.array([t in branch_types for t in self.layout.branch_type])
        name = f"gbar_{mechanism}_"
        values = np.array(getattr(self.neuron, name)[:])
        values[mask] *= factor
        setattr(self.neuron, name, values)
        self._settled = None

    def add_step_current(self, branch_id: int, x: float, amp_nA: float, delay_ms: float,
                         dur_ms: float) -> CurrentClamp:
        stim = CurrentClamp(branch_id, float(x), float(amp_nA), float(delay_ms), float(dur_ms))
        self._stimuli.append((stim, self.site(branch_id, x), self.layout.node_of(branch_id, float(x))))
        return stim

    def add_current_waveform(self, branch_id: int, x: float, t_ms, amp_nA) -> CurrentWaveform:
        """Inject an arbitrary current waveform (linear interpolation between samples)."""
        stim = CurrentWaveform(branch_id, float(x), np.asarray(t_ms, float).copy(), np.asarray(amp_nA, float).copy())
        self._stimuli.append((stim, self.site(branch_id, x), self.layout.node_of(branch_id, float(x))))
        return stim

    # ------------------------------------------------------------------ outputs
    def record(self, name: str, branch_id: int, x: float, variable: str = "v") -> None:
        """Record a variable; traces come back in NEURON's units (mV, S/cm2, mA/cm2, uS)."""
        sites = self.site(branch_id, x)
        if variable != "v":
            if variable not in self.neuron.variables or variable.startswith("_"):
                raise InputError(f"cannot record {variable!r} in the brian2 backend: not a variable of this cell")
            if len(sites) > 1:
                raise InputError(f"cannot record {variable!r} at a section end (x = {x}): no membrane there")
        self._recordings[name] = (variable, sites, self.layout.node_of(branch_id, float(x)))

    def clear_recordings(self) -> None:
        self._recordings.clear()

    def _initialise(self) -> None:
        """NEURON's finitialize(v_init): gates at steady state, cai = minCai, no synaptic conductance."""
        from brian2 import mV, prefs

        nrn = self.neuron
        target = prefs.codegen.target
        prefs.codegen.target = "numpy"          # evaluated once: no compilation
        try:
            nrn.v = self.recipe.v_init_mV * mV
            if self.model.has_cadyn:
                nrn.cai_ = np.array(nrn.minCai_CaDyn_[:])
                nrn.eca = self.model.eca_expression()
            for m in self.model.mechanisms:
                values = steady_states(MECHANISMS[m], self.recipe.temperature_C, self._initial_inputs(m))
                for g, value in values.items():
                    setattr(nrn, f"{g}_{m}_", value)
            for kind in self.model.kinds:
                setattr(nrn, f"r_{kind}_", 0.0)
                setattr(nrn, f"d_{kind}_", 0.0)
            for line in self.model.conductance_code().splitlines():
                lhs, rhs = (part.strip() for part in line.split("=", 1))
                setattr(nrn, lhs, rhs)
        finally:
            prefs.codegen.target = target

    def _initial_inputs(self, m: str) -> dict:
        nrn = self.neuron
        inputs = {"v": np.full(self.layout.n, self.recipe.v_init_mV)}
        if self.model.has_cadyn:
            inputs["cai"] = np.array(nrn.cai_[:])
        for p in MECHANISMS[m].range_params:
            inputs[p] = np.array(getattr(nrn, f"{p}_{m}_")[:])
        return inputs

    def _set_active(self, active: bool) -> None:
        if self._pool is not None and self._pool[1] is not None:
            self._pool[1].active = active
            self._pool[2].active = active

    def _settle(self) -> dict:
        """Rest as cells.contract describes it; returns the settled state (SI values)."""
        from brian2 import ms

        self._initialise()
        self._stim.silence()
        self._set_active(False)
        self._net.t_ = 0.0
        self._clock.dt = SETTLE_DT_MS * ms
        self._net.run(SETTLE_STEPS * SETTLE_DT_MS * ms, namespace={})
        return {name: np.array(getattr(self.neuron, name + "_")[:]) for name in self.model.state_names()}

    def run(self, tstop_ms: float, dt_ms: float = 0.025) -> dict[str, np.ndarray]:
        """Settle to rest (cells.contract), then simulate [0, tstop_ms] with fixed steps; returns
        recorded traces."""
        from brian2 import StateMonitor, ms

        if tstop_ms <= 0 or dt_ms <= 0:
            raise InputError(f"tstop_ms and dt_ms must be positive (got {tstop_ms}, {dt_ms})")
        if self._settled is None:
            self._settled = self._settle()
        for name, values in self._settled.items():
            setattr(self.neuron, name + "_", values)
        n_steps = int(round(tstop_ms / dt_ms))
        self.neuron.stim_col_, node_currents = self._stim.fill(self._stimuli, n_steps, dt_ms, self.layout.n)
        groups = self._groups()
        generator, _, first = self._synapse_pool(groups)
        schedule_events(generator, dict(zip(map(id, groups), first)), self._events, n_steps, dt_ms)
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
            scale = to_neuron_units(self.neuron.variables[variable].dim)
            values = getattr(self._monitor, variable + "_")
            trace = np.zeros(n_steps + 1)
            for c, w in sites:
                trace += w * np.concatenate([[initial[variable][c]], values[position[c]]]) * scale
            if node is not None and node in node_currents:   # KCL at the node: + I / sum(G)
                total_uS = sum(g for _, g in self.layout.node_links(node))
                trace[1:] += node_currents[node] / total_uS
            out[name] = trace
        self._events.clear()
        return out

    def close(self) -> None:
        """Drop this cell's Brian2 objects."""
        self._recordings.clear()
        self._events.clear()
        self._stimuli.clear()
        self._group_refs.clear()
        self._pool = None
        self._monitor = None
        self._net = None
        self.neuron = None
