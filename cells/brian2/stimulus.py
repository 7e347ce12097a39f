"""Injected currents and synaptic events, scheduled as NEURON's fixed step sees them.

Stimulus currents take their value at t + dt/2 (NEURON evaluates IClamp there) and are
tabulated per step and compartment before each run; the table is read by the `bridge_stim`
function in the membrane equations. A synaptic event is delivered at the first step whose
t + dt/2 reaches its time, as NEURON's NetCon.event does with a fixed step.
"""
from __future__ import annotations

import numpy as np

from cells.contract import CurrentClamp, CurrentWaveform
from dendritic_errors import InputError


class StimulusTable:
    """Per-step stimulus currents (nA) for the compartments that receive one.

    `meta` = (number of columns, number of steps, dt in s); `values` is the (step, column)
    table, flattened. Both arrays are shared with the compiled `bridge_stim` function, so
    they are updated in place or replaced before the function is built."""

    def __init__(self):
        self.meta = np.zeros(3)
        self.values = np.zeros(1)

    def silence(self) -> None:
        """No stimulus (while settling to rest)."""
        self.meta[:] = (0, 0, 1.0)

    def fill(self, stimuli: list, n_steps: int, dt_ms: float, n_compartments: int):
        """Tabulate `stimuli` ((CurrentClamp | CurrentWaveform, sites, node) each, sites as
        `Layout.site` gives them) for a run; returns (column of each compartment, -1 for
        none, and the current injected at each zero-area node)."""
        t_mid = (np.arange(n_steps) + 0.5) * dt_ms
        columns: dict[int, np.ndarray] = {}
        at_nodes: dict[tuple, np.ndarray] = {}
        for stim, sites, node in stimuli:
            if isinstance(stim, CurrentClamp):
                wave = np.where((t_mid >= stim.delay_ms) & (t_mid < stim.delay_ms + stim.dur_ms), stim.amp_nA, 0.0)
            elif isinstance(stim, CurrentWaveform):
                wave = np.interp(t_mid, stim.t_ms, stim.amp_nA)
            else:
                raise TypeError(f"not a stimulus: {stim!r}")
            for c, w in sites:
                columns[c] = columns.get(c, 0.0) + w * wave
            if node is not None:
                at_nodes[node] = at_nodes.get(node, 0.0) + wave
        cols = -np.ones(n_compartments, dtype=np.int32)
        table = np.zeros((n_steps, max(len(columns), 1)))
        for j, (c, wave) in enumerate(columns.items()):
            cols[c] = j
            table[:, j] = wave
        self.values = table.ravel().copy()
        self.meta[:] = (len(columns), n_steps, dt_ms * 1e-3)
        return cols, at_nodes

    def function(self):
        """The Brian2 `Function` bridge_stim(t, col) -> nA, in Python and Cython."""
        from brian2 import Function, second

        table = self

        def bridge_stim(t, col):
            t = np.asarray(t, float)
            col = np.asarray(col, int)
            ncols, nrows, dt = int(table.meta[0]), int(table.meta[1]), table.meta[2]
            out = np.zeros(np.broadcast(t, col).shape)
            if ncols == 0:
                return out
            k = np.floor(t / dt + 0.5).astype(int)
            ok = np.broadcast_to((col >= 0) & (col < ncols) & (t >= 0) & (k < nrows), out.shape)
            kk, cc = np.broadcast_to(k, out.shape)[ok], np.broadcast_to(col, out.shape)[ok]
            out[ok] = table.values[kk * ncols + cc]
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
        # the namespace is looked up at each run, so `values` may be replaced between runs
        f.implementations.add_dynamic_implementation(
            "cython", code=lambda owner: code,
            namespace=lambda owner: {"_bridge_stim_values": table.values, "_bridge_stim_meta": table.meta},
            name="bridge_stim")
        return f


def event_steps(times_ms: np.ndarray, dt_ms: float) -> np.ndarray:
    """The step at which NEURON delivers each event: the first with t + dt/2 >= its time."""
    return np.maximum(np.ceil((times_ms - 0.5 * dt_ms) / dt_ms - 1e-9), 0).astype(np.int64)


def schedule_events(generator, first: dict, events: list, n_steps: int, dt_ms: float) -> None:
    """Give the cell's one SpikeGeneratorGroup the steps of every event (`events`: (group,
    times per location) pairs, as `activate` collected them; `first`: id(group) -> the
    generator index of its first location). No generator (no synapses): nothing to do."""
    from brian2 import ms

    pairs = []
    for group, times in events:
        offset = first.get(id(group))
        if offset is None:          # a group with no locations: nothing to deliver
            continue
        pairs += [(int(offset) + loc, int(step)) for loc, step in enumerate(event_steps(times, dt_ms))
                  if step < n_steps]
    if generator is None:
        return
    unique = sorted(set(pairs), key=lambda p: (p[1], p[0]))
    if len(unique) != len(pairs):
        raise InputError("the brian2 backend delivers at most one event per synapse and time step")
    generator.set_spikes(np.array([p[0] for p in unique], dtype=int),
                         np.array([p[1] for p in unique], dtype=float) * dt_ms * ms)
