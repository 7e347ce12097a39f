"""The interface every simulator backend of a cell implements (`NeuronCell`, `Brian2Cell`).

    from cells.contract import Cell
    cell = load_cell("l5pc", simulator="brian2")
    assert isinstance(cell, Cell)

`Cell` is a `typing.Protocol`: code that drives cells (validation, characterisation,
the equivalence comparison) is written against it and runs on either backend.
tests/test_contract.py checks that both backends implement every member with the same
parameter names and defaults, and that they return the same types.

Sites are (branch id, x in [0, 1]) on the morphology's branches; branch 0 is the soma.
Units are NEURON's: ms, mV, nA, uS, um.

Rest before t = 0 (`run`), the same procedure in both backends: initialise every state at
the recipe's `v_init_mV` (gates at their steady state, no synaptic conductance), then take
`SETTLE_STEPS` implicit steps of `SETTLE_DT_MS` with stimuli and synapses silent, and start
the recorded run from the settled state at t = 0.

Imports neither NEURON nor Brian2.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from cells.morphology import Morphology
from cells.recipe import CellRecipe

SETTLE_MS = 2000.0      # integrate to rest this long before t = 0 ...
SETTLE_DT_MS = 10.0     # ... with large implicit (backward Euler) steps: stable, and cheap
SETTLE_STEPS = int(round(SETTLE_MS / SETTLE_DT_MS))


@dataclass
class SynapseGroup:
    """Synapses placed together by `Cell.add_synapses`: one entry per location (x on
    `branch_id`), each with one synapse of every kind. Backends subclass it with their
    simulator objects."""
    branch_id: int
    positions: tuple[float, ...]
    kinds: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.positions)


@dataclass(frozen=True)
class CurrentClamp:
    """A current step injected by `Cell.add_step_current` (nA from delay_ms for dur_ms)."""
    branch_id: int
    x: float
    amp_nA: float
    delay_ms: float
    dur_ms: float


@dataclass(frozen=True)
class CurrentWaveform:
    """A current injected by `Cell.add_current_waveform`: samples (t_ms, amp_nA), linearly
    interpolated in between."""
    branch_id: int
    x: float
    t_ms: np.ndarray = field(repr=False)
    amp_nA: np.ndarray = field(repr=False)


@runtime_checkable
class Cell(Protocol):
    """A recipe on a morphology, built in one simulator."""

    simulator: str                      # "neuron" or "brian2"
    recipe: CellRecipe
    morphology: Morphology

    @property
    def n_compartments(self) -> int:
        """Number of compartments (NEURON segments) the cell is discretised into."""
        ...

    def path_distance_um(self, branch_id: int, x: float) -> float:
        """Path distance (um) from the soma of site (branch_id, x)."""
        ...

    def add_synapses(self, branch_id: int, positions, kinds=("ampa", "nmda"),
                     weight_scale: float = 1.0) -> SynapseGroup:
        """One synapse of each kind (recipe synapse names) at every position x of a branch,
        with the recipe's peak conductance times weight_scale. Keep the group referenced
        until `run` has returned (NEURON deletes unreferenced synapses)."""
        ...

    def activate(self, group: SynapseGroup, times_ms) -> None:
        """Schedule one presynaptic event per location (one time, or one per location) for the
        next `run`; all kinds at a location fire together."""
        ...

    def get_synapse_weights(self, group: SynapseGroup, kind: str) -> np.ndarray:
        """Peak conductance (uS) of one kind at each location of a group."""
        ...

    def set_synapse_weights(self, group: SynapseGroup, kind: str, weight_uS) -> None:
        """Set the peak conductance (uS) of one kind: one value, or one per location."""
        ...

    def scale_density(self, mechanism: str, factor: float, branch_types=None) -> None:
        """Multiply a channel's gbar in some branch types (all when None); 0 blocks it."""
        ...

    def add_step_current(self, branch_id: int, x: float, amp_nA: float, delay_ms: float,
                         dur_ms: float) -> CurrentClamp:
        """Inject a current step at a site; it stays for every later `run`."""
        ...

    def add_current_waveform(self, branch_id: int, x: float, t_ms, amp_nA) -> CurrentWaveform:
        """Inject a sampled current (linear interpolation) at a site; it stays for every later `run`."""
        ...

    def record(self, name: str, branch_id: int, x: float, variable: str = "v") -> None:
        """Record a variable at a site under `name` (v in mV; others in NEURON's units)."""
        ...

    def clear_recordings(self) -> None:
        """Forget every recording."""
        ...

    def run(self, tstop_ms: float, dt_ms: float = 0.025) -> dict[str, np.ndarray]:
        """Settle to rest (module docstring), simulate [0, tstop_ms] with fixed steps of dt_ms;
        returns {"t_ms": times, name: trace, ...}. Scheduled events are consumed."""
        ...

    def close(self) -> None:
        """Release the simulator objects of this cell."""
        ...
