"""Wall time of one 100 ms simulation of each cell, and the overhead of the project's
simulation wrapper (NeuronCell.run: settle to rest, events, recordings) over a bare NEURON
`finitialize` / `continuerun` loop on the same cell, measured in the same process.

    .venv/bin/python benchmarks/simulation_speed.py [--repeats 5] [--markdown [FILE]]

Prints one line per cell. Target (issue 2): wrapper overhead under 10 %.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import _markdown
from cells import get_recipe, load_morphology
from cells.neuron_cell import NeuronCell


def bare_run(h, tstop_ms: float, dt_ms: float, v_init: float, seg) -> None:
    vec = h.Vector()
    vec.record(seg._ref_v)
    h.cvode_active(0)
    h.dt = dt_ms
    h.finitialize(v_init)
    h.continuerun(tstop_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tstop", type=float, default=100.0)
    _markdown.add_argument(parser, "simulation_speed")
    args = parser.parse_args()
    host = _markdown.machine()
    rows = []
    print(f"{'cell':6s} {'compartments':>12s} {'bare (s)':>9s} {'wrapper (s)':>11s} {'overhead':>8s}")
    for name in ("l5pc", "ca1"):
        cell = NeuronCell(get_recipe(name), load_morphology(name))
        h = cell.h
        soma = cell.segment(0, 0.5)
        cell.record("soma", 0, 0.5)
        bare, wrapped = [], []
        for _ in range(args.repeats):   # interleaved, so both see the same machine load
            t0 = time.perf_counter()
            bare_run(h, args.tstop, 0.025, cell.recipe.v_init_mV, soma)
            bare.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            cell.run(args.tstop)
            wrapped.append(time.perf_counter() - t0)
        b, w = float(np.median(bare)), float(np.median(wrapped))
        print(f"{name:6s} {cell.n_compartments:12d} {b:9.3f} {w:11.3f} {100 * (w / b - 1):7.1f}%")
        rows.append([name, cell.n_compartments, f"{b:.3f}", f"{w:.3f}", f"{100 * (w / b - 1):+.1f} %"])
        cell.close()
    _markdown.write(args.markdown, "NEURON simulation speed (`benchmarks/simulation_speed.py`)",
                    _markdown.table(["cell", "compartments", "bare loop (s)", "NeuronCell.run (s)", "overhead"], rows),
                    [f"One {args.tstop:g} ms simulation, median of {args.repeats} interleaved repeats. "
                     "Target: wrapper overhead under 10 %."], host)


if __name__ == "__main__":
    main()
