"""Wall time of the same 100 ms simulation (somatic step current, soma recorded) of each
cell in NEURON and in Brian2, the Brian2 time split into first use and cached use.

    .venv/bin/python benchmarks/brian2_speed.py [--repeats 3] [--cold] [--markdown [FILE]]

Per cell, each Brian2 figure measured in a fresh process:
- `build`: Brian2Cell construction (equations, morphology, code setup; no compilation),
- `first run`: the first `run(100)` of a process with the compiled code cached (code
  generation, loading the compiled modules, settling to rest),
- `run`: median of later `run(100)` calls in that process (the cached steady state),
- with --cold, `cold`: build + first run with an empty cache (compiles every code object
  with Cython; minutes), in a temporary $BRIDGE_CACHE_DIR.
NEURON: build, and the median `NeuronCell.run(100)`. Goal (issue 3): cached Brian2 run
within 2x of NEURON's.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

TSTOP_MS = 100.0

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _markdown  # noqa: E402


def _simulate(simulator: str, name: str, repeats: int) -> dict:
    from cells import load_cell

    start = time.perf_counter()
    cell = load_cell(name, simulator=simulator)
    build = time.perf_counter() - start
    cell.add_step_current(0, 0.5, amp_nA=1.0, delay_ms=20.0, dur_ms=60.0)
    cell.record("soma", 0, 0.5)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        cell.run(TSTOP_MS)
        times.append(time.perf_counter() - start)
    n = cell.n_compartments
    cell.close()
    return {"build": build, "first": times[0], "run": float(np.median(times[1:])), "compartments": n}


def _child(simulator: str, name: str, repeats: int, cache_dir: str | None) -> dict:
    env = dict(os.environ)
    if cache_dir:
        env["BRIDGE_CACHE_DIR"] = cache_dir
    code = (f"import json, sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"import brian2_speed as b; print(json.dumps(b._simulate({simulator!r}, {name!r}, {repeats})))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="also time a Brian2 first use with an empty cache")
    _markdown.add_argument(parser, "brian2_speed")
    args = parser.parse_args()
    host = _markdown.machine()
    rows = []
    print(f"{'cell':5s} {'comp':>5s} | {'NEURON build':>12s} {'run':>6s} | {'Brian2 build':>12s} "
          f"{'first run':>9s} {'run':>6s} {'ratio':>6s}" + (f" | {'cold':>7s}" if args.cold else ""))
    for name in ("l5pc", "ca1"):
        nrn = _child("neuron", name, args.repeats, None)
        b2 = _child("brian2", name, args.repeats, None)
        row = [name, nrn["compartments"], f"{nrn['build']:.2f}", f"{nrn['run']:.2f}", f"{b2['build']:.2f}",
               f"{b2['first']:.2f}", f"{b2['run']:.2f}", f"{b2['run'] / nrn['run']:.2f}x"]
        line = (f"{name:5s} {nrn['compartments']:5d} | {nrn['build']:11.2f}s {nrn['run']:5.2f}s | "
                f"{b2['build']:11.2f}s {b2['first']:8.2f}s {b2['run']:5.2f}s {b2['run'] / nrn['run']:5.2f}x")
        if args.cold:
            with tempfile.TemporaryDirectory(prefix="bridge-cold-") as tmp:
                cold = _child("brian2", name, 0, tmp)
            line += f" | {cold['build'] + cold['first']:6.0f}s"
            row.append(f"{cold['build'] + cold['first']:.0f}")
        print(line, flush=True)
        rows.append(row)
    header = ["cell", "compartments", "NEURON build (s)", "NEURON run (s)", "Brian2 build (s)",
              "Brian2 first run (s)", "Brian2 run (s)", "Brian2 / NEURON"] + (["Brian2 cold (s)"] if args.cold else [])
    _markdown.write(args.markdown, "NEURON against Brian2 (`benchmarks/brian2_speed.py`)",
                    _markdown.table(header, rows),
                    [f"{TSTOP_MS:g} ms with a somatic step, soma recorded; each simulator in a fresh process, "
                     f"median of {args.repeats}. Goal: cached Brian2 run within 2x of NEURON."], host)


if __name__ == "__main__":
    main()
