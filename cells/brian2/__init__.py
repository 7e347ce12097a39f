"""The Brian2 backend: a cell recipe as a Brian2 `SpatialNeuron`, implementing `cells.contract.Cell`.

    cell = load_cell("l5pc", simulator="brian2")    # or Brian2Cell(recipe, morphology)
    syn = cell.add_synapses(branch_id=12, positions=[0.4, 0.5, 0.6])
    cell.activate(syn, times_ms=[10.0, 10.0, 10.0])
    cell.record("soma", 0, 0.5)
    traces = cell.run(tstop_ms=200)                 # {"t_ms": ..., "soma": ...}, starts at rest

Equivalence with NEURON, by construction:
- compartments: NEURON's segments (d_lambda nseg, centres at (i + 0.5)/nseg), with NEURON's
  areas and half-segment axial resistances (`cells.compartments`) written into Brian2's
  `area`, `r_length_1`, `r_length_2` (Ri = 1 ohm m, so r_length is the conductance in S).
  Brian2's section ends are zero-area nodes, as NEURON's are; children of the soma attach
  to its centre through a 1 S link (Brian2's own `Soma` convention).
- time stepping: Brian2's cable solver is backward Euler, like NEURON's default. Per step,
  in NEURON's order: synaptic events (slot 'start') -> currents linearised at v(t) and the
  implicit voltage solve (slot 'groups') -> gates by cnexp at the new v, CaDyn with the Ca
  current of this step, eca by Nernst, SK with the new cai, synaptic decay (slot 'end').
  Stimulus currents take their value at t + dt/2 and events are delivered at the first step
  with t + dt/2 >= event time, as NEURON's fixed step does.
- rest: the procedure of `cells.contract` (SETTLE_MS in SETTLE_DT_MS implicit steps), as in
  `NeuronCell.run`; the settled state is kept until densities change.
Sites at a section end (x = 0 or 1, a zero-area node in NEURON): an injected current is
split over the neighbouring compartments in proportion to their axial conductances and the
node voltage is rebuilt from them by Kirchhoff's law (both exact). The one remaining
difference: a synapse placed exactly there is split the same way, which is only a first-order
approximation of NEURON's conductance on the node (tests/test_brian2_equivalence.py).

Generated Cython code is cached in `<cache root>/brian2/` (see `brian2_cache_dir`), so only
the first build of a cell type on a machine compiles (docs/simulators.md gives the cost).
"""
# Modules, by concern:
#   layout.py     compartment table -> Brian2 sections (pieces), flat order, sites
#   equations.py  membrane/synapse equations with units, NEURON's per-step update code
#   stimulus.py   stimulus table (bridge_stim) and synaptic event scheduling
#   config.py     Brian2 preferences and the Cython cache
#   cell.py       Brian2Cell
from cells.brian2.cell import Brian2Cell, Brian2SynapseGroup
from cells.brian2.config import brian2_cache_dir

__all__ = ["Brian2Cell", "Brian2SynapseGroup", "brian2_cache_dir"]
